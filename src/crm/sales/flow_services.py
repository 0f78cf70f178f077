"""Settings of the approval flows (R9.1): flows per subject with conditions (amount range, least
discount), ordered steps (a named person, the submitter's manager, or everyone with a role; any
one or all of them), activate and deactivate, reorder. The engine that runs them is
``crm.sales.approvals``.

Whoever may configure sales (``sales:configure``) or the organisation (``settings:configure``)
edits them. A flow already used by requests is never deleted (deactivate it); requests under way
keep the approvers they were given when submitted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.money import parse_money
from crm.org.models import Role, User

from .choices import ApprovalMode, ApprovalSubject, ApproverKind
from .models import ApprovalFlow, ApprovalStep

OFFSETS = {"up": -1, "down": 1}


def may_configure(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and (user.can("sales", "configure") or user.can("settings", "configure"))
    )


def configure_action(user: Any) -> str:
    """The action settings pages read flows with (``configure``, or ``view`` for an
    organisation administrator without the sales permission); 403 for anyone else."""
    if user.can("sales", "configure"):
        return "configure"
    if user.can("settings", "configure"):
        return "view"
    raise PermissionDenied()


def _require(actor: User) -> None:
    if not may_configure(actor):
        raise PermissionDenied()


def _same_org(actor: User, obj: Any) -> None:
    if obj is not None and obj.org_id != actor.org_id:
        raise PermissionDenied()


def _percent(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = parse_money(value)
    except ValueError:
        number = None
    if number is None or number > 100:
        errors["min_discount_percent"] = [_("Enter a percentage from 0 to 100.")]
        return None
    return number


def _money(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        return parse_money(value)
    except ValueError:
        errors[field] = [_("Enter an amount of 0 or more, with at most two decimals.")]
        return None


@transaction.atomic
def save_flow(
    *, actor: User, data: dict[str, Any], flow: ApprovalFlow | None = None
) -> ApprovalFlow:
    """Create or edit a flow: name, subject, amount range, least discount, active."""
    _require(actor)
    _same_org(actor, flow)
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most %(n)s characters.") % {"n": 100}]
    subject = data.get("subject", flow.subject if flow else "")
    if subject not in ApprovalSubject.values:
        errors["subject"] = [_("Choose what the flow approves.")]
    low = _money(data.get("min_amount"), "min_amount", errors)
    high = _money(data.get("max_amount"), "max_amount", errors)
    if low is not None and high is not None and high < low:
        errors["max_amount"] = [_("The upper amount is below the lower one.")]
    discount = _percent(data.get("min_discount_percent"), errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    values = {
        "name": name,
        "subject": subject,
        "min_amount": low,
        "max_amount": high,
        "min_discount_percent": discount,
        "is_active": bool(data.get("is_active", True)),
    }
    if flow is None:
        assert actor.org_id is not None
        last = ApprovalFlow.objects.filter(org_id=actor.org_id, subject=subject).aggregate(
            n=Max("sort_order")
        )["n"]
        flow = ApprovalFlow.objects.create(
            org_id=actor.org_id, sort_order=(last or 0) + 1, **values
        )
        audit.record_created(actor=actor, obj=flow, verb="approval_flow.created")
        return flow
    before = audit.snapshot(flow)
    for key, value in values.items():
        setattr(flow, key, value)
    flow.save(update_fields=[*values.keys(), "updated_at"])
    changes = audit.diff(before, audit.snapshot(flow))
    if changes:
        audit.record(actor=actor, obj=flow, verb="approval_flow.updated", changes=changes)
    return flow


@transaction.atomic
def set_flow_active(*, actor: User, flow: ApprovalFlow, active: bool) -> ApprovalFlow:
    _require(actor)
    _same_org(actor, flow)
    if flow.is_active != active:
        ApprovalFlow.objects.filter(pk=flow.pk).update(is_active=active)
        audit.record(
            actor=actor,
            obj=flow,
            verb="approval_flow.updated",
            changes={"is_active": [flow.is_active, active]},
        )
        flow.is_active = active
    return flow


def _swap(rows: list[Any], index: int, offset: int) -> list[Any] | None:
    other = index + offset
    if other < 0 or other >= len(rows):
        return None
    rows[index], rows[other] = rows[other], rows[index]
    return rows


@transaction.atomic
def move_flow(*, actor: User, flow: ApprovalFlow, direction: str) -> ApprovalFlow:
    """One place up or down among the flows of its subject (the first matching flow is used)."""
    _require(actor)
    _same_org(actor, flow)
    if direction not in OFFSETS:
        raise ValidationFailed(_("Choose up or down."))
    rows = list(
        ApprovalFlow.objects.select_for_update()
        .filter(org_id=flow.org_id, subject=flow.subject)
        .order_by("sort_order", "pk")
    )
    index = next(i for i, f in enumerate(rows) if f.pk == flow.pk)
    moved = _swap(rows, index, OFFSETS[direction])
    if moved is not None:
        for position, row in enumerate(moved, start=1):
            if row.sort_order != position:
                ApprovalFlow.objects.filter(pk=row.pk).update(sort_order=position)
        audit.record(
            actor=actor, obj=flow, verb="approval_flow.moved", data={"direction": direction}
        )
    flow.refresh_from_db()
    return flow


def _clean_step(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most %(n)s characters.") % {"n": 100}]
    kind = data.get("approver_kind")
    if kind not in ApproverKind.values:
        errors["approver_kind"] = [_("Choose who approves.")]
    mode = data.get("mode") or ApprovalMode.ANY
    if mode not in ApprovalMode.values:
        errors["mode"] = [_("Choose who must approve.")]
    user = data.get("user")
    role = data.get("role")
    if kind == ApproverKind.USER:
        if not isinstance(user, User) or user.org_id != actor.org_id or not user.is_active:
            errors["user"] = [_("Choose an active colleague.")]
        role = None
    elif kind == ApproverKind.ROLE:
        if not isinstance(role, Role) or role.org_id != actor.org_id:
            errors["role"] = [_("Choose a role.")]
        user = None
    else:
        user = role = None
    if kind != ApproverKind.ROLE:
        mode = ApprovalMode.ANY  # one person decides a person's or a manager's step
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {"name": name, "approver_kind": kind, "mode": mode, "user": user, "role": role}


@transaction.atomic
def save_step(
    *, actor: User, flow: ApprovalFlow, data: dict[str, Any], step: ApprovalStep | None = None
) -> ApprovalStep:
    """Add a step at the end of ``flow``, or edit ``step``."""
    _require(actor)
    _same_org(actor, flow)
    _same_org(actor, step)
    values = _clean_step(actor, data)
    if step is None:
        last = flow.steps.aggregate(n=Max("sort_order"))["n"]
        step = ApprovalStep.objects.create(
            org_id=flow.org_id, flow=flow, sort_order=(last or 0) + 1, **values
        )
        audit.record(
            actor=actor,
            obj=flow,
            verb="approval_flow.step_added",
            data={"step": step.name, "approver": values["approver_kind"]},
        )
        return step
    before = audit.snapshot(step)
    for key, value in values.items():
        setattr(step, key, value)
    step.save(update_fields=[*values.keys(), "updated_at"])
    changes = audit.diff(before, audit.snapshot(step))
    if changes:
        audit.record(
            actor=actor,
            obj=flow,
            verb="approval_flow.step_changed",
            changes=changes,
            data={"step": step.name},
        )
    return step


@transaction.atomic
def delete_step(*, actor: User, step: ApprovalStep) -> None:
    _require(actor)
    _same_org(actor, step)
    flow = step.flow
    audit.record(actor=actor, obj=flow, verb="approval_flow.step_removed", data={"step": step.name})
    step.delete()


@transaction.atomic
def move_step(*, actor: User, step: ApprovalStep, direction: str) -> ApprovalStep:
    """One place up or down within its flow."""
    _require(actor)
    _same_org(actor, step)
    if direction not in OFFSETS:
        raise ValidationFailed(_("Choose up or down."))
    rows = list(
        ApprovalStep.objects.select_for_update()
        .filter(flow_id=step.flow_id)
        .order_by("sort_order", "pk")
    )
    index = next(i for i, s in enumerate(rows) if s.pk == step.pk)
    moved = _swap(rows, index, OFFSETS[direction])
    if moved is not None:
        for position, row in enumerate(moved, start=1):
            if row.sort_order != position:
                ApprovalStep.objects.filter(pk=row.pk).update(sort_order=position)
        audit.record(
            actor=actor,
            obj=step.flow,
            verb="approval_flow.step_moved",
            data={"step": step.name, "direction": direction},
        )
    step.refresh_from_db()
    return step
