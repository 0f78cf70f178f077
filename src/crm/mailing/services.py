"""Every write of the e-mail campaign module (R9.3): campaigns (compose, schedule, send,
cancel), their segment over contacts, recipients, and the unsubscribe list.

The segment is evaluated **as the sender** (the campaign's owner): only contacts of customers
the sender may see are reached. Sending materialises one recipient per distinct normalised
address; invalid and unsubscribed addresses are recorded as skipped with the reason. The
unsubscribe list is checked again when each mail goes out (see :mod:`crm.mailing.sending`), so
an address that unsubscribes while a campaign runs gets nothing more.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.locking import check_version
from crm.customers.models import Contact, Tag
from crm.knowledge.html import from_text, plain_text, sanitize
from crm.org.models import Department, Organization, User

from .models import (
    CampaignStatus,
    EmailCampaign,
    Recipient,
    RecipientStatus,
    Unsubscribe,
    UnsubscribeSource,
)

MAX_SUBJECT = 200
MAX_FROM_NAME = 100
MAX_BODY = 100_000
MAX_RATE = 1000
DEFAULT_RATE = 60
MAX_SEGMENT_VALUES = 50
MAX_SEGMENT_VALUE = 60
PREVIEW_SIZE = 10
#: segment keys over the customer's text fields -> the Contact lookup
TEXT_FILTERS = {
    "industries": "customer__industry__in",
    "regions": "customer__region__in",
    "grades": "customer__grade__in",
    "customer_types": "customer__customer_type__in",
}
ID_FILTERS = ("tag_ids", "department_ids")
LINK_SALT = "crm.mailing.unsubscribe"
REF_SALT = "crm.mailing.recipient"
#: a signed recipient reference as the sending job writes it into ``X-CRM-Recipient`` and the
#: ``Message-ID``: ``crm-<org>-<campaign>-<recipient>.<signature>``
RECIPIENT_REF = re.compile(r"crm-(\d{1,19})-(\d{1,19})-(\d{1,19})\.([A-Za-z0-9_-]{20,100})")
MAX_REASON = 200
# a domain with at least one dot and letters-only top level: "MX-less" syntax check
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _require(actor: User, action: str) -> int:
    """The actor's organisation id, when the actor holds ``marketing:<action>``."""
    if not actor.org_id or not actor.can("marketing", action):
        raise PermissionDenied()
    return int(actor.org_id)


def org_rate_limit() -> int:
    """Mails per minute per organisation: the ``CRM_MAIL_RATE_PER_MINUTE`` setting or
    environment variable (default 60)."""
    value = getattr(settings, "CRM_MAIL_RATE_PER_MINUTE", None)
    if value is None:
        value = os.environ.get("CRM_MAIL_RATE_PER_MINUTE") or DEFAULT_RATE
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return DEFAULT_RATE


# --- addresses ---------------------------------------------------------------------------------
def normalize_email(value: str) -> str:
    """The form addresses are compared in: surrounding whitespace removed, lower case."""
    return (value or "").strip().lower()


def is_valid_email(value: str) -> bool:
    """Django's validator plus a syntax check of the domain (no DNS lookup): a dotted host
    name with an alphabetic top-level domain, no IP literals, no spaces."""
    email = normalize_email(value)
    if not email or len(email) > 254 or any(c.isspace() for c in email):
        return False
    try:
        validate_email(email)
    except ValidationError:
        return False
    domain = email.rpartition("@")[2]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_DOMAIN.match(domain))


def is_unsubscribed(org_id: int, email: str) -> bool:
    return Unsubscribe.objects.filter(org_id=org_id, email=normalize_email(email)).exists()


# --- unsubscribe tokens ------------------------------------------------------------------------
def unsubscribe_token(recipient: Recipient) -> str:
    """A signed token naming the organisation, the address and the campaign (no expiry:
    the link keeps working forever)."""
    return signing.dumps(
        {"o": recipient.org_id, "e": recipient.email, "c": recipient.email_campaign_id},
        salt=LINK_SALT,
        compress=True,
    )


def _ref_signer() -> signing.Signer:
    return signing.Signer(salt=REF_SALT, sep=".")


def recipient_ref(recipient: Recipient) -> str:
    """A signed reference to one recipient, carried in the headers of its mail so that a bounce
    that quotes them names the recipient (and nothing forged can)."""
    value = f"crm-{recipient.org_id}-{recipient.email_campaign_id}-{recipient.pk}"
    return _ref_signer().sign(value)


def read_recipient_refs(text: str) -> list[tuple[int, int, int]]:
    """The verified ``(org id, campaign id, recipient id)`` references found in ``text``, in
    order of appearance, each once; references with a bad signature are ignored."""
    found: list[tuple[int, int, int]] = []
    signer = _ref_signer()
    for match in RECIPIENT_REF.finditer(text):
        try:
            signer.unsign(match.group(0))
        except signing.BadSignature:
            continue
        ref = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if ref not in found:
            found.append(ref)
    return found


def token_org(data: dict[str, Any] | None) -> Organization | None:
    """The organisation a verified unsubscribe token names (None for a bad token or a removed
    organisation). The public unsubscribe page has no user: the signature is the credential."""
    if data is None:
        return None
    return Organization.objects.filter(pk=data["org_id"]).first()


def read_token(token: str) -> dict[str, Any] | None:
    """The token's content, or None when it is forged, tampered or malformed."""
    try:
        data = signing.loads(token, salt=LINK_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        return None
    if not isinstance(data, dict):
        return None
    org_id, email, campaign_id = data.get("o"), data.get("e"), data.get("c")
    if not isinstance(org_id, int) or not isinstance(email, str) or not email:
        return None
    if campaign_id is not None and not isinstance(campaign_id, int):
        return None
    return {"org_id": org_id, "email": normalize_email(email), "campaign_id": campaign_id}


def unsubscribe_url(recipient: Recipient) -> str:
    path = reverse("mailing:unsubscribe", args=[unsubscribe_token(recipient)])
    return f"{settings.CRM_BASE_URL.rstrip('/')}{path}"


def record_unsubscribe(
    *,
    org_id: int,
    email: str,
    source: str,
    campaign_id: int | None = None,
    actor: User | None = None,
    note: str = "",
) -> tuple[Unsubscribe, bool]:
    """Add ``email`` to the organisation's unsubscribe list (idempotent); returns the row and
    whether it is new. Queued mails of running campaigns to the address are skipped at once."""
    address = normalize_email(email)
    with transaction.atomic():
        found = Unsubscribe.objects.filter(org_id=org_id, email=address).first()
        if found is not None:
            return found, False
        campaign = (
            EmailCampaign.objects.filter(org_id=org_id, pk=campaign_id).first()
            if campaign_id
            else None
        )
        try:
            with transaction.atomic():
                row = Unsubscribe.objects.create(
                    org_id=org_id,
                    email=address,
                    source=source,
                    email_campaign=campaign,
                    created_by=actor,
                    note=note[:200],
                )
        except IntegrityError:
            return Unsubscribe.objects.get(org_id=org_id, email=address), False
        Recipient.objects.filter(
            org_id=org_id, email=address, status=RecipientStatus.QUEUED
        ).update(status=RecipientStatus.SKIPPED_UNSUBSCRIBED, error="")
        audit.record(
            actor=actor,
            obj=row,
            verb="mailing.unsubscribed",
            data={"source": source},
            org_id=org_id,
        )
    return row, True


def add_unsubscribe(*, actor: User, email: str, note: str = "") -> Unsubscribe:
    """A marketing administrator adds an address to the list by hand (e.g. asked by phone)."""
    org_id = _require(actor, "configure")
    if not is_valid_email(email):
        raise ValidationFailed(field_errors={"email": [_("Enter a valid e-mail address.")]})
    if len(note) > 200:
        raise ValidationFailed(field_errors={"note": [_("At most 200 characters.")]})
    row, _new = record_unsubscribe(
        org_id=org_id, email=email, source=UnsubscribeSource.MANUAL, actor=actor, note=note
    )
    return row


def remove_unsubscribe(*, actor: User, row: Unsubscribe, reason: str) -> None:
    """Take an address off the organisation's suppression list (e.g. the person asked to be
    mailed again, or a bounce was a mistake). Needs ``marketing:configure`` and a reason; the
    audit trail keeps who, when, why and how the address had got there. Later campaigns mail
    the address again; mail already recorded as skipped stays skipped."""
    org_id = _require(actor, "configure")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the address may be mailed.")]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed(field_errors={"reason": [_("At most 200 characters.")]})
    with transaction.atomic():
        found = Unsubscribe.objects.select_for_update().filter(org_id=org_id, pk=row.pk).first()
        if found is None:
            raise NotFound()
        audit.record(
            actor=actor,
            obj=found,
            verb="mailing.unsubscribe_removed",
            data={
                "email": found.email,
                "source": found.source,
                "since": found.created_at.isoformat(),
                "reason": reason,
            },
        )
        found.delete()


# --- segment -----------------------------------------------------------------------------------
def clean_segment(actor: User, raw: Any) -> dict[str, list[Any]]:
    """Validate segment filters: lists of short texts, and ids of the actor's organisation's
    tags and departments. Empty lists are dropped."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ValidationFailed(field_errors={"segment": [_("The segment is not valid.")]})
    unknown = set(raw) - set(TEXT_FILTERS) - set(ID_FILTERS)
    if unknown:
        raise ValidationFailed(
            field_errors={"segment": [_("Unknown filter: %(name)s") % {"name": sorted(unknown)[0]}]}
        )
    result: dict[str, list[Any]] = {}
    for key in TEXT_FILTERS:
        values = raw.get(key) or []
        if not isinstance(values, list) or len(values) > MAX_SEGMENT_VALUES:
            raise ValidationFailed(field_errors={key: [_("Choose at most 50 values.")]})
        texts = []
        for value in values:
            if not isinstance(value, str) or len(value) > MAX_SEGMENT_VALUE:
                raise ValidationFailed(field_errors={key: [_("The value is not valid.")]})
            if value.strip():
                texts.append(value.strip())
        if texts:
            result[key] = sorted(set(texts))
    models_of: dict[str, Any] = {"tag_ids": Tag, "department_ids": Department}
    for key in ID_FILTERS:
        values = raw.get(key) or []
        if not isinstance(values, list) or len(values) > MAX_SEGMENT_VALUES:
            raise ValidationFailed(field_errors={key: [_("Choose at most 50 values.")]})
        try:
            ids = sorted({int(v) for v in values})
        except (TypeError, ValueError):
            raise ValidationFailed(field_errors={key: [_("The value is not valid.")]}) from None
        if not ids:
            continue
        found = models_of[key].objects.filter(org_id=actor.org_id, pk__in=ids).count()
        if found != len(ids):
            raise ValidationFailed(field_errors={key: [_("The value is not valid.")]})
        result[key] = ids
    return result


def segment_contacts(sender: User, segment: dict[str, Any]) -> QuerySet[Contact]:
    """Contacts with an e-mail address, of live customers the sender may see, matching every
    filter of the segment (values of one filter are alternatives)."""
    qs = Contact.objects.visible_to(sender).filter(customer__merged_into__isnull=True)
    qs = qs.exclude(email="")
    for key, lookup in TEXT_FILTERS.items():
        if segment.get(key):
            qs = qs.filter(**{lookup: segment[key]})
    if segment.get("tag_ids"):
        qs = qs.filter(customer__tags__in=segment["tag_ids"])
    if segment.get("department_ids"):
        qs = qs.filter(customer__owner__department_id__in=segment["department_ids"])
    return qs.distinct().order_by("pk")


def _classify(org_id: int, contacts: list[Contact]) -> list[tuple[Contact, str, str]]:
    """(contact, normalised address, recipient status) per distinct address, first wins."""
    suppressed = set(
        Unsubscribe.objects.filter(
            org_id=org_id, email__in={normalize_email(c.email) for c in contacts}
        ).values_list("email", flat=True)
    )
    seen: set[str] = set()
    rows: list[tuple[Contact, str, str]] = []
    for contact in contacts:
        address = normalize_email(contact.email)
        if address in seen:
            continue
        seen.add(address)
        if not is_valid_email(address):
            status = RecipientStatus.SKIPPED_INVALID
        elif address in suppressed:
            status = RecipientStatus.SKIPPED_UNSUBSCRIBED
        else:
            status = RecipientStatus.QUEUED
        rows.append((contact, address, status))
    return rows


def preview(sender: User, segment: dict[str, Any]) -> dict[str, Any]:
    """How many addresses the segment reaches now, how many are skipped and why, and the first
    recipients."""
    contacts = list(segment_contacts(sender, segment).select_related("customer"))
    rows = _classify(int(sender.org_id or 0), contacts)
    queued = [r for r in rows if r[2] == RecipientStatus.QUEUED]
    return {
        "contacts": len(contacts),
        "addresses": len(rows),
        "to_send": len(queued),
        "unsubscribed": sum(r[2] == RecipientStatus.SKIPPED_UNSUBSCRIBED for r in rows),
        "invalid": sum(r[2] == RecipientStatus.SKIPPED_INVALID for r in rows),
        "sample": [
            {"name": c.name, "email": address, "customer": c.customer.name}
            for c, address, _s in queued[:PREVIEW_SIZE]
        ],
    }


# --- campaigns ---------------------------------------------------------------------------------
def _clean(actor: User, data: dict[str, Any], campaign: EmailCampaign | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    subject = (data.get("subject") or "").strip()
    if not subject:
        errors["subject"] = [_("Enter a subject.")]
    elif len(subject) > MAX_SUBJECT:
        errors["subject"] = [_("At most 200 characters.")]
    from_name = (data.get("from_name") or "").strip()
    if len(from_name) > MAX_FROM_NAME or any(c in from_name for c in '\r\n<>"'):
        errors["from_name"] = [_('At most 100 characters, without line breaks or <>".')]
    raw_html = data.get("body_html") or ""
    raw_text = data.get("body_text") or ""
    if len(raw_html) > MAX_BODY or len(raw_text) > MAX_BODY:
        errors["body_html"] = [_("The message is too long.")]
    body_html = sanitize(raw_html) if raw_html.strip() else from_text(raw_text)
    body_text = raw_text.strip() or plain_text(body_html)
    if not body_text.strip() and "body_html" not in errors:
        errors["body_html"] = [_("Write the message.")]
    try:
        rate = int(data.get("rate_per_minute") or org_rate_limit())
    except (TypeError, ValueError):
        rate = 0
    if not 1 <= rate <= MAX_RATE:
        errors["rate_per_minute"] = [_("Between 1 and 1000 mails per minute.")]
    campaign_obj = data.get("campaign")
    if campaign_obj is not None and campaign_obj.org_id != actor.org_id:
        errors["campaign"] = [_("Choose a campaign.")]
    try:
        segment = clean_segment(actor, data.get("segment"))
    except ValidationFailed as exc:
        errors.update(exc.field_errors)
        segment = {}
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {
        "subject": subject,
        "from_name": from_name,
        "body_html": body_html,
        "body_text": body_text,
        "rate_per_minute": rate,
        "campaign": campaign_obj,
        "segment": segment,
    }


@transaction.atomic
def create_campaign(*, actor: User, data: dict[str, Any]) -> EmailCampaign:
    """A draft campaign owned by the actor."""
    org_id = _require(actor, "create")
    values = _clean(actor, data, None)
    campaign = EmailCampaign.objects.create(org_id=org_id, owner=actor, created_by=actor, **values)
    audit.record(actor=actor, obj=campaign, verb="emailcampaign.created")
    return campaign


@transaction.atomic
def update_campaign(
    *, actor: User, campaign: EmailCampaign, data: dict[str, Any], version: int | None = None
) -> EmailCampaign:
    """Change a draft (a scheduled campaign is cancelled first, then edited as a copy)."""
    _require(actor, "edit")
    campaign = EmailCampaign.objects.select_for_update().get(pk=campaign.pk)
    check_version(campaign, version)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidTransition(_("Only a draft can be changed."))
    before = audit.snapshot(campaign)
    for key, value in _clean(actor, data, campaign).items():
        setattr(campaign, key, value)
    campaign.version += 1
    campaign.save()
    audit.record(
        actor=actor,
        obj=campaign,
        verb="emailcampaign.updated",
        changes=audit.diff(before, audit.snapshot(campaign)),
    )
    return campaign


@transaction.atomic
def send_campaign(
    *, actor: User, campaign: EmailCampaign, when: datetime | None = None
) -> EmailCampaign:
    """Queue a draft for sending now, or at ``when``: the recipients are fixed now from the
    sender's segment (invalid and unsubscribed addresses recorded as skipped)."""
    _require(actor, "edit")
    campaign = EmailCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidTransition(_("Only a draft can be sent or scheduled."))
    now = timezone.now()
    if when is not None and when <= now:
        when = None
    sender = User.objects.get(pk=campaign.owner_id)
    if not sender.is_active or not sender.can("marketing", "edit"):
        raise ValidationFailed(_("The sender can no longer send campaigns."))
    contacts = list(segment_contacts(sender, campaign.segment or {}))
    rows = _classify(campaign.org_id, contacts)
    if not any(status == RecipientStatus.QUEUED for _c, _a, status in rows):
        raise ValidationFailed(_("Nobody in the segment can be mailed."))
    Recipient.objects.bulk_create(
        [
            Recipient(
                org_id=campaign.org_id,
                email_campaign=campaign,
                contact=contact,
                name=contact.name[:100],
                email=address,
                status=status,
                error=_("Not a valid e-mail address.")
                if status == RecipientStatus.SKIPPED_INVALID
                else "",
            )
            for contact, address, status in rows
        ]
    )
    campaign.status = CampaignStatus.SCHEDULED if when else CampaignStatus.SENDING
    campaign.scheduled_at = when or now
    campaign.started_at = None if when else now
    campaign.version += 1
    campaign.save()
    audit.record(
        actor=actor,
        obj=campaign,
        verb="emailcampaign.scheduled" if when else "emailcampaign.sending",
        data={"recipients": len(rows), "scheduled_at": when.isoformat() if when else None},
    )
    return campaign


@transaction.atomic
def cancel_campaign(*, actor: User, campaign: EmailCampaign) -> EmailCampaign:
    """Stop a scheduled or running campaign: mails not yet sent are never sent."""
    _require(actor, "edit")
    campaign = EmailCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        raise InvalidTransition(_("Only a scheduled or running campaign can be cancelled."))
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = timezone.now()
    campaign.version += 1
    campaign.save()
    audit.record(actor=actor, obj=campaign, verb="emailcampaign.cancelled")
    return campaign


@transaction.atomic
def delete_campaign(*, actor: User, campaign: EmailCampaign) -> None:
    """Delete a draft (campaigns that went out stay, with their delivery record)."""
    _require(actor, "delete")
    campaign = EmailCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidTransition(_("Only a draft can be deleted."))
    audit.record(actor=actor, obj=campaign, verb="emailcampaign.deleted")
    campaign.delete()


def status_counts(campaign: EmailCampaign) -> dict[str, int]:
    """Recipients per status (every status present, zeros included)."""
    from django.db.models import Count

    found = dict(
        Recipient.objects.filter(org_id=campaign.org_id, email_campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: found.get(status, 0) for status in RecipientStatus.values}
