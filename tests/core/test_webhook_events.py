"""Which events reach webhooks (issue 7, R10.1 / R10.2).

- every verb written to the audit trail by ``src`` is a subscribable webhook type, an alias of
  one, or of a kind listed in ``webhooks.NOT_FOR_WEBHOOKS`` — so new verbs cannot drift;
- every subscribable type is documented in docs/webhooks.md;
- customers imported or converted from a lead reach ``customer.created`` subscribers (W1);
- approval, ticket, article and campaign events are subscribable; approval payloads name the
  subject, step, decision and actor (W2, W7);
- the confidentiality of customers and opportunities is an event type and its payloads are
  built as the endpoint's creator may see them (W4).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from crm.core import webhooks
from crm.core.audit import VERB_LABELS
from crm.core.models import Event, WebhookDelivery
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.org.models import User

SRC = Path(__file__).resolve().parents[2] / "src" / "crm"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
VERB_RE = re.compile(r"^([a-z][a-z_]*)\.([a-z0-9_]+)$")
AUDIT_CALLS = {"record", "record_created", "event_for"}

#: R10.2: notification kinds (``notify(verb=…)``), not audit verbs: they never enter the outbox
NOTIFICATION_KINDS = {
    "approval.requested",
    "approval.progress",
    "contact.birthday",
    "customer.return_warning",
    "ticket.assigned",
}

#: R10.2: every audit call whose verb is an f-string, with the verbs it can write. A new dynamic
#: call site fails ``test_every_audit_verb_is_a_webhook_type_or_not_for_webhooks`` until listed.
DYNAMIC: dict[str, set[str]] = {
    "f'approval.{status}'": {"approval.approved", "approval.rejected", "approval.withdrawn"},
    "f'campaign.{status}'": {
        "campaign.planned",
        "campaign.active",
        "campaign.completed",
        "campaign.cancelled",
    },
    "f'contract.amendment_{status}'": {
        "contract.amendment_rejected",
        "contract.amendment_withdrawn",
    },
    "f'ticket.{kind}_overdue'": {"ticket.response_overdue", "ticket.resolution_overdue"},
    "f'ticket.{status}'": {
        "ticket.in_progress",
        "ticket.waiting_customer",
        "ticket.resolved",
        "ticket.closed",
    },
    "f'visitplan.{status}'": {"visitplan.missed", "visitplan.cancelled"},
    "f'writeoff.{status}'": {"writeoff.rejected", "writeoff.withdrawn"},
    "f'order.{status}'": {"order.shipped", "order.delivered", "order.cancelled"},
    "f'{model._meta.model_name}.confidentiality'": {
        "customer.confidentiality",
        "opportunity.confidentiality",
    },
    "f'reminder.{KIND}'": set(),
    "f'reminder.{rule.kind}'": set(),
}

#: audit calls whose verb is a variable or a call: the verbs reach them as string literals
#: elsewhere in src (helpers such as ``_transition(verb="contract.submitted")``), which the
#: literal scan below checks; or as a constant of a kind that is never sent.
INDIRECT = {
    "EXPORT_VERB",
    "verb",
    "_verb(stage, 'deleted')",
    "_verb(stage, 'restored' if active else 'retired')",
    "_verb(stage, 'updated')",
    "source_event or 'customer.created'",
}


def _sources() -> list[tuple[Path, ast.AST]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _verb_expressions() -> list[tuple[str, ast.expr]]:
    """``(where, expression)`` of the verb of every audit.record / record_created / event_for."""
    found: list[tuple[str, ast.expr]] = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in AUDIT_CALLS:
                continue
            for keyword in node.keywords:
                if keyword.arg == "verb":
                    found.append((f"{path.relative_to(SRC)}:{node.lineno}", keyword.value))
    return found


def _classify(verb: str) -> str | None:
    """Why ``verb`` is fine (None: it is neither sent nor declared as never sent)."""
    family = verb.partition(".")[0]
    if verb in webhooks.WEBHOOK_ALIASES:
        return "alias"
    if family in webhooks.FAMILIES and verb in webhooks.event_types():
        return "subscribable"
    if family in webhooks.NOT_FOR_WEBHOOKS:
        return "not for webhooks"
    return None


def test_every_audit_verb_is_a_webhook_type_or_not_for_webhooks() -> None:
    """R10.2: a verb written to the outbox is either listed by GET /webhooks/event-types (or
    delivered as the type it aliases) or of a kind in ``NOT_FOR_WEBHOOKS``."""
    verbs: dict[str, str] = {}
    unknown_sites: list[str] = []
    for where, expr in _verb_expressions():
        text = ast.unparse(expr)
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            verbs[expr.value] = where
        elif isinstance(expr, ast.IfExp) and all(
            isinstance(e, ast.Constant) for e in (expr.body, expr.orelse)
        ):
            verbs[expr.body.value] = verbs[expr.orelse.value] = where  # type: ignore[attr-defined]
        elif isinstance(expr, ast.JoinedStr) or (
            isinstance(expr, ast.IfExp) and isinstance(expr.body, ast.JoinedStr)
        ):
            joined = expr if isinstance(expr, ast.JoinedStr) else expr.body
            key = ast.unparse(joined)
            if key not in DYNAMIC:
                unknown_sites.append(f"{where} {key}")
            for verb in DYNAMIC.get(key, set()):
                verbs[verb] = where
            if isinstance(expr, ast.IfExp) and isinstance(expr.orelse, ast.Constant):
                verbs[expr.orelse.value] = where
            prefix = key[2:].partition("{")[0].partition(".")[0]
            if prefix and prefix not in set(webhooks.FAMILIES) | webhooks.NOT_FOR_WEBHOOKS:
                unknown_sites.append(f"{where} {key}: kind {prefix!r} unclassified")
        elif text not in INDIRECT:
            unknown_sites.append(f"{where} {text}")
    assert not unknown_sites, f"audit verbs the test cannot resolve: {unknown_sites}"
    # verbs handed to helpers as literals (``_transition(verb="contract.signed")``, …) of the
    # subscribable kinds
    for path, tree in _sources():
        parts = {
            id(value)
            for joined in ast.walk(tree)
            if isinstance(joined, ast.JoinedStr)
            for value in joined.values
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in parts
            ):
                match = VERB_RE.match(node.value)
                if match and match.group(1) in webhooks.FAMILIES:
                    verbs.setdefault(node.value, f"{path.relative_to(SRC)}:{node.lineno}")
    problems = [
        f"{verb} ({where})"
        for verb, where in sorted(verbs.items())
        if verb not in NOTIFICATION_KINDS and _classify(verb) is None
    ]
    assert not problems, f"register these as webhook types or in NOT_FOR_WEBHOOKS: {problems}"


def test_every_registered_verb_is_classified() -> None:
    """R10.2: each verb with a label (audit pages) is subscribable, an alias or never sent."""
    missing = sorted(v for v in VERB_LABELS if _classify(v) is None)
    assert not missing, missing
    assert not set(webhooks.FAMILIES) & webhooks.NOT_FOR_WEBHOOKS


def test_every_subscribable_type_is_documented() -> None:
    """R10.2 (W3): docs/webhooks.md names every type GET /webhooks/event-types lists."""
    text = DOCS.read_text(encoding="utf-8")
    undocumented = sorted(v for v in webhooks.event_types() if f"`{v}`" not in text)
    assert not undocumented, undocumented
    for family in webhooks.FAMILIES:
        assert f"`{family}`" in text, family


def test_new_kinds_and_confidentiality_are_listed_by_the_api(world: World, api_client: Any) -> None:
    """R10.2 (W2, W4, W7): approvals, tickets, articles, campaigns and the confidentiality of
    customers and opportunities can be subscribed to; the aliases are not separate types."""
    values = {
        t["value"] for t in api_client(world.admin).get("/api/v1/webhooks/event-types").json()
    }
    assert {
        "approval.*",
        "approval.submitted",
        "approval.approved",
        "approval.rejected",
        "approval.withdrawn",
        "ticket.*",
        "ticket.created",
        "article.published",
        "campaign.created",
        "customer.confidentiality",
        "opportunity.confidentiality",
    } <= values
    assert "customer.imported" not in values and "customer.created_from_lead" not in values
    assert not any(v.startswith(("approval_flow.", "emailcampaign.", "user.")) for v in values)
    assert webhooks.clean_event_types(["approval.*", "ticket.closed"]) == [
        "approval.*",
        "ticket.closed",
    ]


def _endpoint(world: World, types: list[str]) -> Any:
    endpoint, _secret = webhooks.create_endpoint(
        actor=world.admin,
        data={"name": "ERP", "url": "https://hooks.example.invalid/crm", "event_types": types},
    )
    return endpoint


def _delivered(endpoint: Any) -> list[Event]:
    webhooks.fan_out(endpoint.org_id)
    ids = WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)
    return list(Event.objects.filter(pk__in=list(ids)).order_by("pk"))


@pytest.mark.parametrize(
    ("verb", "source"), [("customer.imported", "import"), ("customer.created_from_lead", "lead")]
)
def test_imported_and_converted_customers_reach_customer_created_subscribers(
    world: World, verb: str, source: str
) -> None:
    """R10.2 (W1): a customer.created subscriber receives imported and converted customers as
    ``customer.created`` with ``data.source``; the audit trail keeps the precise verb."""
    created = _endpoint(world, ["customer.created"])
    others = _endpoint(world, ["customer.updated"])
    customer = customer_services.create_customer(
        actor=world.admin, data={"name": f"来源客户{source}"}, source_event=verb
    )
    (event,) = _delivered(created)
    assert event.verb == verb and event.object_id == str(customer.pk)
    assert _delivered(others) == []
    body, headers = webhooks.signed_request(created, event)
    body_json = __import__("json").loads(body)
    assert body_json["type"] == "customer.created" == headers["X-CRM-Event"]
    assert body_json["data"]["source"] == source
    assert body_json["changes"]["name"] == [None, f"来源客户{source}"]
    plain = customer_services.create_customer(actor=world.admin, data={"name": "直接客户"})
    event = _delivered(created)[-1]
    assert event.object_id == str(plain.pk)
    assert "source" not in webhooks.payload(event)["data"]


def test_approval_events_are_delivered_with_subject_step_decision_and_actor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R10.2 (W2): approval.submitted / approved / rejected / withdrawn reach ``approval.*``
    subscribers with the subject, the step, the decision and who made it."""
    from crm.sales import approvals
    from crm.sales.choices import ApprovalSubject
    from crm.sales.models import ApprovalFlow, ApprovalStep

    monkeypatch.setitem(
        approvals.OUTCOMES,
        ApprovalSubject.RETURN,
        approvals.Outcomes(approved=lambda r, a: None, rejected=lambda r, a: None),
    )
    flow = ApprovalFlow.objects.create(org=world.org, name="退货审批", subject="return")
    ApprovalStep.objects.create(
        org=world.org,
        flow=flow,
        sort_order=0,
        name="主管审批",
        approver_kind="user",
        user=world.admin,
    )
    endpoint = _endpoint(world, ["approval.*"])
    rep = User.objects.get(pk=world.users["rep_east"].pk)
    record = customer_services.create_customer(actor=rep, data={"name": "审批钩子客户"})
    request = approvals.submit(actor=rep, subject="return", obj=record, comment="请批")
    assert request is not None
    approvals.approve(actor=User.objects.get(pk=world.admin.pk), request=request, comment="同意")
    events = _delivered(endpoint)
    assert [e.verb for e in events] == ["approval.submitted", "approval.approved"]
    submitted, approved = (webhooks.payload(e) for e in events)
    assert submitted["type"] == "approval.submitted"
    assert submitted["object"]["id"] == str(record.pk)
    assert submitted["data"]["decision"] == "submitted"
    assert submitted["data"]["actor"]["id"] == rep.pk
    assert submitted["data"]["subject"] == {"kind": "return", "id": str(record.pk)}
    assert submitted["data"]["step"] == 0 and submitted["data"]["step_name"] == "主管审批"
    assert approved["data"]["decision"] == "approved"
    assert approved["data"]["actor"]["id"] == world.admin.pk
    assert approved["data"]["request"] == request.pk and approved["data"]["comment"] == "同意"
    # nothing of the organisation's set-up (the flow) is sent
    assert not Event.objects.filter(pk__in=[e.pk for e in events], verb__startswith="approval_")


def test_confidentiality_events_are_delivered_and_redacted_like_the_record(
    world: World,
) -> None:
    """R10.2 (W4): ``customer.confidentiality`` reaches subscribers; the payload of a
    confidential record goes through the endpoint creator's field rules like every other."""
    from crm.core import confidential

    endpoint = _endpoint(world, ["customer.confidentiality", "customer.updated"])
    admin = User.objects.get(pk=world.admin.pk)
    customer = customer_services.create_customer(
        actor=admin, owner=admin, data={"name": "机密钩子客户"}
    )
    confidential.set_confidential(actor=admin, record=customer, is_confidential=True)
    customer.refresh_from_db()
    customer_services.update_customer(actor=admin, customer=customer, data={"phone": "13912345678"})
    events = _delivered(endpoint)
    assert [e.verb for e in events] == ["customer.confidentiality", "customer.updated"]
    body = webhooks.payload(events[0])
    assert body["changes"] == {"is_confidential": [False, True]}
    called: list[Any] = []
    from crm.core import fieldaccess

    original = fieldaccess.redact_payload

    def spy(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
        called.append((user.pk, payload["type"]))
        return original(user, payload)

    import unittest.mock

    with unittest.mock.patch.object(fieldaccess, "redact_payload", spy):
        for event in events:
            webhooks.signed_request(endpoint, event)
    assert called == [
        (world.admin.pk, "customer.confidentiality"),
        (world.admin.pk, "customer.updated"),
    ]
    # a creator who is gone: every protectable field of the confidential record is hidden
    admin.is_active = False
    endpoint.created_by = admin
    body_bytes, _headers = webhooks.signed_request(endpoint, events[1])
    assert b"13912345678" not in body_bytes
