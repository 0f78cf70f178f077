"""Webhooks: subscriptions (administrators only), fan-out from the event outbox, signed delivery
with retries, manual redelivery (issue 7, R10.1/R10.2). See ``docs/webhooks.md``.

- **Fan-out** (:func:`fan_out`) turns the organisation's events after each endpoint's cursor into
  one :class:`WebhookDelivery` per (endpoint, event): set-based (one read, one insert that ignores
  rows already there), so running it twice, or twice at once, creates each delivery once. It also
  looks back :data:`LATE_COMMIT` for events whose transaction committed after a newer one.
  Events of a rolled-back transaction never exist, so they are never sent.
- **Sending** (:func:`send_due`) claims each due delivery with a conditional UPDATE (status and
  ``next_attempt_at`` as read) before posting it, so concurrent senders never post one twice;
  a crashed sender's claim lapses after :data:`CLAIM_LEASE`.
- Every request goes through :mod:`crm.core.ssrf` (public addresses only, pinned, no redirects).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import re
import secrets
import ssl
import time
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import audit, ssrf
from .errors import PermissionDenied, ValidationFailed
from .models import Event
from .webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("crm.webhooks")

#: waits after the 1st, 2nd… failed attempt; after the last one the delivery is dead
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
#: how long a claimed delivery is reserved for its sender (longer than one request can take)
CLAIM_LEASE = dt.timedelta(minutes=2)
#: events are looked at again this long after they were written, in case their transaction
#: committed after a newer event's (ids are handed out before commit)
LATE_COMMIT = dt.timedelta(minutes=10)
FAN_OUT_BATCH = 1000
SEND_BATCH = 100
USER_AGENT = "CRM-Webhooks/1.0"

#: the record kinds whose events may be subscribed to (never users, tokens, roles, settings)
FAMILIES: dict[str, Any] = {
    "customer": _("Customers"),
    "contact": _("Contacts"),
    "lead": _("Leads"),
    "opportunity": _("Opportunities"),
    "followup": _("Follow-ups"),
    "visitplan": _("Visit plans"),
    "quote": _("Quotes"),
    "contract": _("Contracts"),
    "order": _("Orders"),
    "return": _("Returns and refunds"),
    "receivable": _("Receivable plans"),
    "receipt": _("Receipts"),
    "writeoff": _("Write-offs"),
    "invoice": _("Invoices"),
    # R10.2: approval requests of quotes, contracts, returns, write-offs… (subject in ``data``)
    "approval": _("Approvals"),
    "ticket": _("Service tickets"),
    "article": _("Knowledge articles"),
    "campaign": _("Marketing campaigns"),
}
#: R10.2: kinds of event that are never sent: they are about the organisation's set-up, people,
#: access or the system itself, not business records (``tests/core/test_webhook_events.py``
#: checks that every verb written to the audit trail is subscribable or listed here)
NOT_FOR_WEBHOOKS: frozenset[str] = frozenset(
    {
        # people, access and the organisation
        "user",
        "role",
        "token",
        "org",
        "department",
        "webhook",
        # configuration
        "approval_flow",
        "custom_field",
        "dictionary",
        "documenttemplate",
        "pipeline",
        "stage",
        "node",
        "pool",
        "leadpool",
        "leadrule",
        "leadscoring",
        "reminderrule",
        "product",
        "pricelist",
        "category",
        "service",
        "target",
        "savedquery",
        "report",
        "winmodel",
        "maven",
        # collaboration, reminders and bulk jobs (the records they touch have their own events)
        "comment",
        "attachment",
        "reminder",
        "returnvisit",
        "forecast",
        "import",
        "export",
        # e-mail marketing (recipients' addresses and unsubscribes stay inside the CRM)
        "emailcampaign",
        "mailing",
    }
)
#: R10.2 (W1): audit verbs delivered to webhooks as another type. A customer imported from a
#: file or converted from a lead is a ``customer.created`` for receivers, with ``data.source``
#: saying where it came from; the audit trail keeps the precise verb.
WEBHOOK_ALIASES: dict[str, tuple[str, str]] = {
    "customer.imported": ("customer.created", "import"),
    "customer.created_from_lead": ("customer.created", "lead"),
}
ALL = "*"
_TYPE_RE = re.compile(r"^([a-z_]+)\.(\*|[a-z_]+)$")
MAX_TYPES = 100


# --- Event types -----------------------------------------------------------------------------
def event_type_choices() -> list[tuple[str, str]]:
    """``(value, label)`` of what may be subscribed: everything, a whole family, one verb."""
    from .audit import VERB_LABELS

    choices: list[tuple[str, str]] = [(ALL, gettext("All business events"))]
    for family, label in FAMILIES.items():
        choices.append((f"{family}.*", gettext("%(family)s: all events") % {"family": label}))
        for verb in sorted(v for v in VERB_LABELS if v.startswith(f"{family}.")):
            if verb not in WEBHOOK_ALIASES:  # sent as the type they stand for
                choices.append((verb, f"{label}: {VERB_LABELS[verb]}"))
    return choices


def event_types() -> set[str]:
    """Every single verb a webhook may subscribe to (without ``*`` and ``family.*``)."""
    return {v for v, _label in event_type_choices() if v != ALL and not v.endswith(".*")}


def webhook_type(verb: str) -> str:
    """The ``type`` a receiver sees for an event of ``verb`` (an alias's target, else itself)."""
    alias = WEBHOOK_ALIASES.get(verb)
    return alias[0] if alias else verb


def clean_event_types(values: Iterable[Any]) -> list[str]:
    """The subscribed types, checked: ``*``, ``family.*`` or ``family.verb`` of a known family."""
    result: list[str] = []
    for value in values:
        text = str(value).strip().lower() if isinstance(value, str) else ""
        match = _TYPE_RE.match(text)
        if text != ALL and (match is None or match.group(1) not in FAMILIES):
            raise ValidationFailed(
                field_errors={
                    "event_types": [
                        gettext("“%(value)s” is not an event type you can subscribe to.")
                        % {"value": str(value)[:50]}
                    ]
                }
            )
        if text not in result:
            result.append(text)
    if not result:
        raise ValidationFailed(
            field_errors={"event_types": [gettext("Choose at least one event type.")]}
        )
    if len(result) > MAX_TYPES:
        raise ValidationFailed(
            field_errors={
                "event_types": [gettext("Choose at most %(n)d event types.") % {"n": MAX_TYPES}]
            }
        )
    return [ALL] if ALL in result else result


def verb_filter(event_types: Iterable[str]) -> Q | None:
    """The events an endpoint subscribes to, as a filter on ``Event.verb`` (None: nothing)."""
    parts: list[Q] = []
    for value in event_types:
        if value == ALL:
            parts.extend(Q(verb__startswith=f"{family}.") for family in FAMILIES)
            continue
        match = _TYPE_RE.match(value)
        if match is None or match.group(1) not in FAMILIES:
            continue
        if match.group(2) == "*":
            parts.append(Q(verb__startswith=f"{match.group(1)}."))
        else:
            aliases = [v for v, (target, _source) in WEBHOOK_ALIASES.items() if target == value]
            parts.append(Q(verb__in=[value, *aliases]) if aliases else Q(verb=value))
    return reduce(or_, parts) if parts else None


# --- Endpoints (administrators only) -------------------------------------------------------------
def _require_admin(actor: Any) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.can("settings", "configure"):
        raise PermissionDenied()


def _same_org(actor: Any, endpoint: WebhookEndpoint) -> None:
    from .errors import NotFound

    if endpoint.org_id != actor.org_id:
        raise NotFound()


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _active_key(org_id: int) -> str:
    return f"webhooks:active:{org_id}"


def has_active_endpoints(org_id: int) -> bool:
    """Does the organisation have an active webhook? (cached a minute; cleared on changes)"""
    key = _active_key(org_id)
    value = cache.get(key)
    if value is None:
        value = WebhookEndpoint.objects.filter(org_id=org_id, is_active=True).exists()
        cache.set(key, value, 60)
    return bool(value)


def _forget_active(org_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(_active_key(org_id)))


def _last_event_id(org_id: int) -> int:
    return Event.objects.filter(org_id=org_id).aggregate(m=Max("pk"))["m"] or 0


def _clean(data: dict[str, Any], endpoint: WebhookEndpoint | None) -> dict[str, Any]:
    """Validate the editable fields present in ``data`` (all of them when creating)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    creating = endpoint is None
    if creating or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors.setdefault("name", []).append(gettext("Enter a name."))
        elif len(name) > 100:
            errors.setdefault("name", []).append(gettext("At most 100 characters."))
        clean["name"] = name
    if creating or "event_types" in data:
        raw = data.get("event_types")
        try:
            clean["event_types"] = clean_event_types(raw if isinstance(raw, list | tuple) else [])
        except ValidationFailed as exc:
            for field, msgs in exc.field_errors.items():
                errors.setdefault(field, []).extend(str(m) for m in msgs)
    for flag in ("is_active", "allowed_private_host"):
        if flag in data and data[flag] is not None:
            clean[flag] = bool(data[flag])
    if creating or "url" in data or "allowed_private_host" in clean:
        url = str(data.get("url") if "url" in data else endpoint.url if endpoint else "").strip()
        allow = clean.get(
            "allowed_private_host", endpoint.allowed_private_host if endpoint else False
        )
        try:
            ssrf.check_url(url, allow, resolve_names=False)
        except ssrf.BlockedURL as exc:
            errors.setdefault("url", []).append(str(exc.message))
        clean["url"] = url
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return audit.snapshot(
        endpoint, ["name", "url", "event_types", "is_active", "allowed_private_host"]
    )


@transaction.atomic
def create_endpoint(*, actor: Any, data: dict[str, Any]) -> tuple[WebhookEndpoint, str]:
    """Subscribe a URL. Returns the endpoint and its signing secret (show it once)."""
    _require_admin(actor)
    clean = _clean(data, None)
    last = _last_event_id(actor.org_id)
    endpoint = WebhookEndpoint(
        org_id=actor.org_id,
        created_by=actor,
        secret=new_secret(),
        start_after=last,
        cursor=last,
        **clean,
    )
    endpoint.save()
    audit.record(
        actor=actor,
        obj=endpoint,
        verb="webhook.created",
        changes=audit.diff({}, _snapshot(endpoint)),
        data={"private_host_allowed": True} if endpoint.allowed_private_host else None,
    )
    _forget_active(endpoint.org_id)
    return endpoint, endpoint.secret


@transaction.atomic
def update_endpoint(
    *, actor: Any, endpoint: WebhookEndpoint, data: dict[str, Any]
) -> WebhookEndpoint:
    """Change the fields present in ``data``. Re-activating skips the events of the pause."""
    _require_admin(actor)
    _same_org(actor, endpoint)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    clean = _clean(data, endpoint)
    before = _snapshot(endpoint)
    was_active = endpoint.is_active
    for field, value in clean.items():
        setattr(endpoint, field, value)
    if endpoint.is_active and not was_active:
        endpoint.cursor = max(endpoint.cursor, _last_event_id(endpoint.org_id))
        endpoint.start_after = endpoint.cursor
    changes = audit.diff(before, _snapshot(endpoint))
    endpoint.save()
    if changes:
        newly_private = "allowed_private_host" in changes and endpoint.allowed_private_host
        audit.record(
            actor=actor,
            obj=endpoint,
            verb="webhook.updated",
            changes=changes,
            data={"private_host_allowed": True} if newly_private else None,
        )
    _forget_active(endpoint.org_id)
    return endpoint


@transaction.atomic
def rotate_secret(*, actor: Any, endpoint: WebhookEndpoint) -> str:
    """A new signing secret (the old one stops working at once). Returns it: show it once."""
    _require_admin(actor)
    _same_org(actor, endpoint)
    secret = new_secret()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=secret, updated_at=timezone.now())
    endpoint.secret = secret
    audit.record(actor=actor, obj=endpoint, verb="webhook.secret_rotated")
    return secret


@transaction.atomic
def delete_endpoint(*, actor: Any, endpoint: WebhookEndpoint) -> None:
    """Unsubscribe: the endpoint and its delivery log go."""
    _require_admin(actor)
    _same_org(actor, endpoint)
    audit.record(
        actor=actor,
        obj=endpoint,
        verb="webhook.deleted",
        changes=audit.diff(_snapshot(endpoint), {}),
    )
    endpoint.delete()
    _forget_active(endpoint.org_id)


@transaction.atomic
def redeliver(*, actor: Any, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (sent, failed or dead): a fresh series of attempts, same event id."""
    _require_admin(actor)
    if delivery.org_id != actor.org_id:
        from .errors import NotFound

        raise NotFound()
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    delivery.refresh_from_db()
    audit.record(
        actor=actor,
        obj=delivery.endpoint,
        verb="webhook.redelivered",
        data={"event": delivery.event_id, "delivery": delivery.pk},
    )
    org_id = delivery.org_id
    transaction.on_commit(lambda: _kick(org_id), robust=True)
    return delivery


def _kick(org_id: int) -> None:
    from .webhook_tasks import deliver_org

    deliver_org(org_id)


# --- Fan-out -------------------------------------------------------------------------------------
def fan_out(org_id: int | None = None, *, limit: int = FAN_OUT_BATCH) -> int:
    """Create the deliveries of new events for every active endpoint (of one organisation).

    Idempotent and safe to run concurrently (the unique (endpoint, event) pair). Returns the
    number of events looked at that matched.
    """
    endpoints = WebhookEndpoint.objects.filter(is_active=True)
    if org_id is not None:
        endpoints = endpoints.filter(org_id=org_id)
    total = 0
    highs: dict[int, int] = {}
    now = timezone.now()
    for endpoint in endpoints.only("pk", "org_id", "event_types", "cursor", "start_after"):
        if endpoint.org_id not in highs:
            highs[endpoint.org_id] = _last_event_id(endpoint.org_id)
        high = highs[endpoint.org_id]
        verbs = verb_filter(endpoint.event_types)
        if verbs is None:
            continue
        already = WebhookDelivery.objects.filter(endpoint_id=endpoint.pk, event_id=OuterRef("pk"))
        ids = list(
            Event.objects.filter(org_id=endpoint.org_id, pk__gt=endpoint.start_after, pk__lte=high)
            .filter(Q(pk__gt=endpoint.cursor) | Q(created_at__gte=now - LATE_COMMIT))
            .filter(verbs)
            .exclude(Exists(already))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        org_id=endpoint.org_id,
                        endpoint_id=endpoint.pk,
                        event_id=event_id,
                        next_attempt_at=now,
                    )
                    for event_id in ids
                ],
                ignore_conflicts=True,
            )
        cursor = high if len(ids) < limit else max(endpoint.cursor, ids[-1])
        WebhookEndpoint.objects.filter(pk=endpoint.pk, cursor__lt=cursor).update(cursor=cursor)
        total += len(ids)
    return total


# --- Sending -------------------------------------------------------------------------------------
def _approval_facts(event: Event) -> dict[str, Any]:
    """R10.2 (W2): what an ``approval.*`` receiver needs besides the subject record (``object``):
    the request, its subject, the step it was at, the decision and who made it."""
    from crm.sales.models import ApprovalRequest, ApprovalTask

    data = event.data if isinstance(event.data, dict) else {}
    decision = event.verb.partition(".")[2]
    facts: dict[str, Any] = {
        "decision": decision,
        "actor": {"id": event.actor_id, "label": event.actor_label or None},
    }
    request_id = data.get("request")
    request = (
        ApprovalRequest._base_manager.filter(org_id=event.org_id, pk=request_id)
        .only("pk", "subject", "subject_id", "step")
        .first()
        if isinstance(request_id, int)
        else None
    )
    if request is not None:
        # a decision ends the request at the step it was on; a submission starts at the first
        step = 0 if decision == "submitted" else request.step
        facts["subject"] = {"kind": request.subject, "id": request.subject_id}
        facts["step"] = step
        facts["step_name"] = (
            ApprovalTask._base_manager.filter(request_id=request.pk, step=step)
            .values_list("step_name", flat=True)
            .first()
        ) or ""
    return facts


def payload(event: Event) -> dict[str, Any]:
    """What a receiver gets for ``event`` (documented in docs/webhooks.md)."""
    data = dict(event.data) if isinstance(event.data, dict) else event.data
    alias = WEBHOOK_ALIASES.get(event.verb)
    if alias is not None and isinstance(data, dict):
        data["source"] = alias[1]
    if event.verb.startswith("approval.") and isinstance(data, dict):
        data.update(_approval_facts(event))
    return {
        "id": event.pk,
        "type": webhook_type(event.verb),
        "created_at": event.created_at.isoformat(),
        "org": event.org_id,
        "object": {"type": event.object_type, "id": event.object_id, "repr": event.object_repr},
        "changes": event.changes,
        "data": data,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    ).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_request(endpoint: WebhookEndpoint, event: Event) -> tuple[bytes, dict[str, str]]:
    from .fieldaccess import redact_payload  # H-FIELD: built as the endpoint's creator sees it

    body = encode(redact_payload(endpoint.created_by, payload(event)))
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-CRM-Event": webhook_type(event.verb),
        "X-CRM-Delivery": str(event.pk),
        "X-CRM-Timestamp": timestamp,
        "X-CRM-Signature": sign(endpoint.secret, timestamp, body),
    }
    return body, headers


def _claim(pk: int, now: dt.datetime) -> bool:
    """Reserve a due delivery for this sender; False when another one has it (or it's not due).

    Only columns of the delivery row itself are in the condition (no join): PostgreSQL
    re-checks them on the row a concurrent sender has just updated, so exactly one UPDATE
    matches. (A join makes Django write ``id IN (SELECT …)``, which is not re-checked.)
    """
    active = WebhookEndpoint.objects.filter(is_active=True).values("pk")
    claimed = WebhookDelivery.objects.filter(
        pk=pk,
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED),
        next_attempt_at__lte=now,
        endpoint_id__in=active,
    ).update(
        next_attempt_at=now + CLAIM_LEASE,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        updated_at=now,
    )
    return claimed == 1


def _attempt(endpoint: WebhookEndpoint, event: Event) -> tuple[int | None, str]:
    """Post one event: ``(response code or None, error text or "")``. Never raises."""
    try:
        body, headers = signed_request(endpoint, event)
        answer = ssrf.post(endpoint.url, body, headers, allow_private=endpoint.allowed_private_host)
    except ssrf.BlockedURL as exc:
        return None, str(exc.message)
    except TimeoutError:
        return None, gettext("Timed out after %(s)d seconds.") % {"s": int(ssrf.TIMEOUT)}
    except ConnectionRefusedError:
        return None, gettext("Connection refused.")
    except ssl.SSLError as exc:
        return None, gettext("TLS error: %(reason)s") % {"reason": (exc.reason or "")[:80]}
    except (OSError, http.client.HTTPException) as exc:
        return None, gettext("Network error: %(kind)s") % {"kind": type(exc).__name__}
    if 200 <= answer.status < 300:
        return answer.status, ""
    if 300 <= answer.status < 400:
        return answer.status, gettext("Redirect not followed (HTTP %(code)d).") % {
            "code": answer.status
        }
    return answer.status, gettext("HTTP %(code)d") % {"code": answer.status}


def send_delivery(pk: int, now: dt.datetime | None = None) -> bool | None:
    """Claim and send one delivery: True sent, False failed, None not claimed (not due or taken)."""
    now = now or timezone.now()
    if not _claim(pk, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=pk)
    code, error = _attempt(delivery.endpoint, delivery.event)
    done = timezone.now()
    mine = WebhookDelivery.objects.filter(pk=pk, attempts=delivery.attempts)
    if not error:
        mine.update(
            status=DeliveryStatus.SENT,
            last_response_code=code,
            last_error="",
            delivered_at=done,
            next_attempt_at=None,
            updated_at=done,
        )
        return True
    if delivery.attempts >= MAX_ATTEMPTS:
        status, next_at = DeliveryStatus.DEAD, None
    else:
        status, next_at = DeliveryStatus.FAILED, done + BACKOFF[delivery.attempts - 1]
    mine.update(
        status=status,
        last_response_code=code,
        last_error=error[:300],
        next_attempt_at=next_at,
        updated_at=done,
    )
    log.info("webhook delivery %s attempt %s failed: %s", pk, delivery.attempts, error)
    return False


def send_due(org_id: int | None = None, *, limit: int = SEND_BATCH) -> tuple[int, int]:
    """Send the deliveries that are due (of one organisation): ``(sent, failed)``."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED),
        next_attempt_at__lte=now,
        endpoint__is_active=True,
    )
    if org_id is not None:
        due = due.filter(org_id=org_id)
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    sent = failed = 0
    for pk in ids:
        result = send_delivery(pk)
        if result is True:
            sent += 1
        elif result is False:
            failed += 1
    return sent, failed


def sweep(org_id: int | None = None) -> str:
    """Fan out new events, then send what is due."""
    matched = fan_out(org_id)
    sent, failed = send_due(org_id)
    return f"events {matched}, sent {sent}, failed {failed}"
