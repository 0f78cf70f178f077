"""Every write on follow-ups, visit plans and reminder rules (R5).

Recording a follow-up moves the customer's and the opportunity's last/next follow-up blocks and
the opportunity's feedback deadline, in the same transaction; a follow-up made for a planned
visit marks the plan done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core import audit
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import check_version
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from .choices import Method, PlanStatus, ReminderKind
from .models import FollowUp, ReminderRule, VisitPlan

FOLLOWUP_FIELDS = [
    "method",
    "content",
    "happened_at",
    "next_at",
    "next_content",
    "location",
    "latitude",
    "longitude",
]
PLAN_FIELDS = ["method", "planned_at", "purpose", "note"]
MAX_CONTENT = 10000


def _org(actor: User) -> int:
    if not actor.org_id:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if not actor.can("activities", action):
        raise PermissionDenied()


def _datetime(value: Any, field: str, errors: dict[str, list[str]]) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        text = str(value).strip().replace(" ", "T", 1)
        try:
            parsed = parse_datetime(text)
            if parsed is None and len(text) == 10:
                parsed = parse_datetime(text + "T09:00")
        except ValueError:
            parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date and time.")]
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _coordinate(value: Any, field: str, limit: int, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value)).quantize(Decimal("0.000001"))
    except (InvalidOperation, ValueError):
        errors[field] = [_("Enter a valid coordinate.")]
        return None
    if not number.is_finite() or abs(number) > limit:
        errors[field] = [_("Enter a valid coordinate.")]
        return None
    return number


def _clean_followup(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key in FOLLOWUP_FIELDS:
        if key in data:
            value = data[key]
            clean[key] = value.strip() if isinstance(value, str) else value
    if ("method" in clean or not partial) and clean.get("method") not in Method.values:
        errors["method"] = [_("Choose how you followed up.")]
    if "content" in clean or not partial:
        content = clean.get("content") or ""
        if not content:
            errors["content"] = [_("Write what happened.")]
        elif len(content) > MAX_CONTENT:
            errors["content"] = [_("At most %(n)s characters.") % {"n": MAX_CONTENT}]
    if "happened_at" in clean:
        clean["happened_at"] = _datetime(clean["happened_at"], "happened_at", errors)
        if clean["happened_at"] and clean["happened_at"] > timezone.now() + timedelta(minutes=5):
            errors["happened_at"] = [
                _("A follow-up cannot happen in the future; plan a visit instead.")
            ]
    if "next_at" in clean:
        clean["next_at"] = _datetime(clean["next_at"], "next_at", errors)
    for key in ("next_content", "location"):
        if key in clean:
            clean[key] = clean[key] or ""
    if "location" in clean and len(clean["location"]) > 300:
        errors["location"] = [_("At most 300 characters.")]
    if "latitude" in clean:
        clean["latitude"] = _coordinate(clean["latitude"], "latitude", 90, errors)
    if "longitude" in clean:
        clean["longitude"] = _coordinate(clean["longitude"], "longitude", 180, errors)
    happened = clean.get("happened_at")
    if happened and clean.get("next_at") and clean["next_at"] <= happened:
        errors["next_at"] = [_("The next follow-up must come after this one.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_links(
    actor: User, customer: Any, opportunity: Any, contact: Any, collaborator: Any
) -> None:
    from crm.customers.models import Customer

    errors: dict[str, list[str]] = {}
    if (
        customer is None
        or customer.org_id != actor.org_id
        or not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists()
    ):
        errors["customer"] = [_("Choose a customer.")]
    if opportunity is not None:
        from crm.pipeline.models import Opportunity

        if (
            opportunity.org_id != actor.org_id
            or customer is None
            or opportunity.customer_id != customer.pk
            or not Opportunity.objects.visible_to(actor).filter(pk=opportunity.pk).exists()
        ):
            errors["opportunity"] = [_("Choose an opportunity of this customer.")]
    if contact is not None and (
        contact.org_id != actor.org_id or customer is None or contact.customer_id != customer.pk
    ):
        errors["contact"] = [_("Choose a contact of this customer.")]
    if collaborator is not None and (
        not isinstance(collaborator, User)
        or collaborator.org_id != actor.org_id
        or not collaborator.is_active
    ):
        errors["collaborator"] = [_("Choose an active colleague.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


def refresh_customer_blocks(customer_id: int) -> None:
    """The customer's last follow-up is its latest follow-up; its next follow-up is the
    earliest next date still ahead among its follow-ups (or the latest one's)."""
    from crm.customers.models import Customer

    last = FollowUp.objects.filter(customer_id=customer_id).order_by("-happened_at", "-pk").first()
    Customer.objects.filter(pk=customer_id).update(
        last_followup_at=last.happened_at if last else None,
        next_followup_at=last.next_at if last else None,
    )


def _after_change(followup: FollowUp, *, old_opportunity_id: int | None = None) -> None:
    from crm.pipeline.opportunities import apply_followup

    refresh_customer_blocks(followup.customer_id)
    for opportunity_id in {followup.opportunity_id, old_opportunity_id} - {None}:
        apply_followup(opportunity_id)  # type: ignore[arg-type]


@transaction.atomic
def record_followup(
    *,
    actor: User,
    customer: Any,
    data: dict[str, Any],
    opportunity: Any = None,
    contact: Any = None,
    collaborator: Any = None,
    plan: VisitPlan | None = None,
) -> FollowUp:
    """Record a follow-up by the actor. ``happened_at`` defaults to now. With ``plan``, the
    planned visit is marked done and linked to it."""
    _require(actor, "create")
    clean = _clean_followup(data, partial=False)
    clean["happened_at"] = clean.get("happened_at") or timezone.now()
    _check_links(actor, customer, opportunity, contact, collaborator)
    followup = FollowUp(
        org_id=_org(actor),
        created_by=actor,
        owner=actor,
        customer=customer,
        opportunity=opportunity,
        contact=contact,
        collaborator=collaborator,
        stage_id=getattr(opportunity, "stage_id", None),
        node_id=getattr(opportunity, "node_id", None),
        **clean,
    )
    followup.save()
    _after_change(followup)
    audit.record_created(actor=actor, obj=followup, verb="followup.created")
    if plan is not None:
        _complete_plan(actor, plan, followup)
    return followup


@transaction.atomic
def update_followup(
    *,
    actor: User,
    followup: FollowUp,
    data: dict[str, Any],
    version: int | None = None,
    contact: Any = ...,
    collaborator: Any = ...,
) -> FollowUp:
    """Edit a follow-up (its author, or someone whose scope covers it with edit rights)."""
    _require(actor, "edit")
    assert_in_scope(actor, followup, "edit")
    check_version(followup, version)
    clean = _clean_followup(data, partial=True)
    before = audit.snapshot(followup)
    for key, value in clean.items():
        setattr(followup, key, value)
    if contact is not ...:
        _check_links(actor, followup.customer, None, contact, None)
        followup.contact = contact
    if collaborator is not ...:
        _check_links(actor, followup.customer, None, None, collaborator)
        followup.collaborator = collaborator
    if followup.next_at and followup.next_at <= followup.happened_at:
        raise ValidationFailed(
            field_errors={"next_at": [_("The next follow-up must come after this one.")]}
        )
    followup.version += 1
    followup.save()
    _after_change(followup)
    audit.record(
        actor=actor,
        obj=followup,
        verb="followup.updated",
        changes=audit.diff(before, audit.snapshot(followup)),
        data={"version": followup.version},
    )
    return followup


@transaction.atomic
def delete_followup(*, actor: User, followup: FollowUp) -> None:
    _require(actor, "delete")
    assert_in_scope(actor, followup, "delete")
    audit.record(
        actor=actor,
        obj=followup,
        verb="followup.deleted",
        data={"customer": followup.customer_id, "content": followup.content[:200]},
    )
    customer_id, opportunity_id = followup.customer_id, followup.opportunity_id
    VisitPlan.objects.filter(followup=followup).update(followup=None)
    followup.delete()
    refresh_customer_blocks(customer_id)
    if opportunity_id:
        from crm.pipeline.opportunities import apply_followup

        apply_followup(opportunity_id)


# --- visit plans ----------------------------------------------------------------------------------


def _clean_plan(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key in PLAN_FIELDS:
        if key in data:
            value = data[key]
            clean[key] = value.strip() if isinstance(value, str) else value
    if "method" in clean and clean["method"] not in Method.values:
        errors["method"] = [_("Choose how you will follow up.")]
    if "purpose" in clean or not partial:
        if not clean.get("purpose"):
            errors["purpose"] = [_("Say what the visit is for.")]
        elif len(clean["purpose"]) > 300:
            errors["purpose"] = [_("At most 300 characters.")]
    if "planned_at" in clean or not partial:
        clean["planned_at"] = _datetime(clean.get("planned_at"), "planned_at", errors)
        if clean["planned_at"] is None and "planned_at" not in errors:
            errors["planned_at"] = [_("Choose when.")]
    if "note" in clean:
        clean["note"] = (clean["note"] or "")[:500]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


@transaction.atomic
def plan_visit(
    *,
    actor: User,
    customer: Any,
    data: dict[str, Any],
    opportunity: Any = None,
    contact: Any = None,
    owner: User | None = None,
) -> VisitPlan:
    """Plan a visit for ``owner`` (default: the actor; a manager may plan for their team)."""
    _require(actor, "create")
    clean = _clean_plan(data, partial=False)
    _check_links(actor, customer, opportunity, contact, None)
    owner = owner or actor
    if owner.org_id != actor.org_id or not owner.is_active:
        raise ValidationFailed(field_errors={"owner": [_("Choose an active colleague.")]})
    plan = VisitPlan(
        org_id=_org(actor),
        created_by=actor,
        owner=owner,
        customer=customer,
        opportunity=opportunity,
        contact=contact,
        **clean,
    )
    plan.save()
    assert_in_scope(actor, plan, "view")
    audit.record_created(actor=actor, obj=plan, verb="visitplan.created")
    return plan


@transaction.atomic
def update_plan(
    *, actor: User, plan: VisitPlan, data: dict[str, Any], version: int | None = None
) -> VisitPlan:
    _require(actor, "edit")
    assert_in_scope(actor, plan, "edit")
    check_version(plan, version)
    if plan.status != PlanStatus.PLANNED:
        raise InvalidTransition(_("Only a planned visit can be changed."))
    clean = _clean_plan(data, partial=True)
    before = audit.snapshot(plan)
    for key, value in clean.items():
        setattr(plan, key, value)
    plan.version += 1
    plan.save()
    audit.record(
        actor=actor,
        obj=plan,
        verb="visitplan.updated",
        changes=audit.diff(before, audit.snapshot(plan)),
        data={"version": plan.version},
    )
    return plan


def _complete_plan(actor: User, plan: VisitPlan, followup: FollowUp) -> None:
    assert_in_scope(actor, plan, "edit")
    if plan.status != PlanStatus.PLANNED:
        raise InvalidTransition(_("This visit is no longer planned."))
    if plan.customer_id != followup.customer_id:
        raise ValidationFailed(field_errors={"plan": [_("The plan is for another customer.")]})
    before = audit.snapshot(plan)
    plan.status = PlanStatus.DONE
    plan.followup = followup
    plan.done_at = followup.happened_at
    plan.version += 1
    plan.save()
    audit.record(
        actor=actor,
        obj=plan,
        verb="visitplan.done",
        changes=audit.diff(before, audit.snapshot(plan)),
        data={"version": plan.version},
    )


@transaction.atomic
def set_plan_status(*, actor: User, plan: VisitPlan, status: str, note: str = "") -> VisitPlan:
    """Mark a planned visit missed or cancelled (done comes with a follow-up)."""
    _require(actor, "edit")
    assert_in_scope(actor, plan, "edit")
    if status not in (PlanStatus.MISSED, PlanStatus.CANCELLED):
        raise ValidationFailed(field_errors={"status": [_("Choose missed or cancelled.")]})
    if plan.status != PlanStatus.PLANNED:
        raise InvalidTransition(_("This visit is no longer planned."))
    before = audit.snapshot(plan)
    plan.status = status
    if note:
        plan.note = note[:500]
    plan.version += 1
    plan.save()
    audit.record(
        actor=actor,
        obj=plan,
        verb=f"visitplan.{status}",
        changes=audit.diff(before, audit.snapshot(plan)),
        data={"version": plan.version},
    )
    return plan


def mark_missed_plans(org_id: int, *, now: datetime | None = None, grace_hours: int = 24) -> int:
    """Plans still planned a day after their time are missed (job)."""
    now = now or timezone.now()
    return VisitPlan.objects.filter(
        org_id=org_id, status=PlanStatus.PLANNED, planned_at__lt=now - timedelta(hours=grace_hours)
    ).update(status=PlanStatus.MISSED, updated_at=now)


# --- reminder rules -------------------------------------------------------------------------------

DEFAULT_RULES: list[tuple[str, Any, list[int], bool]] = [
    (
        ReminderKind.NEW_OPPORTUNITY,
        gettext_lazy("New opportunity without follow-up"),
        [1, 3, 7],
        True,
    ),
    (ReminderKind.NEXT_FOLLOWUP, gettext_lazy("Next follow-up due"), [0], False),
    (ReminderKind.VISIT_PLAN, gettext_lazy("Planned visit"), [2], False),
    (ReminderKind.FEEDBACK_OVERDUE, gettext_lazy("Feedback cycle overdue"), [0], True),
]
MAX_OFFSET: dict[str, int] = {
    ReminderKind.NEW_OPPORTUNITY: 365,
    ReminderKind.NEXT_FOLLOWUP: 24 * 30,
    ReminderKind.VISIT_PLAN: 24 * 30,
    ReminderKind.FEEDBACK_OVERDUE: 365,
}


def install_default_rules(org: Any, admin: Any = None) -> None:
    """Organisation initializer: the default reminder rules (names in the default language)."""
    from django.conf import settings
    from django.utils import translation

    org_id = getattr(org, "pk", org)
    existing = set(ReminderRule.objects.filter(org_id=org_id).values_list("kind", flat=True))
    with translation.override(settings.LANGUAGE_CODE):
        ReminderRule.objects.bulk_create(
            ReminderRule(
                org_id=org_id,
                kind=kind,
                name=str(name),
                offsets=offsets,
                notify_manager=manager,
            )
            for kind, name, offsets, manager in DEFAULT_RULES
            if kind not in existing
        )


def _clean_rule(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if kind not in ReminderKind.values or kind == ReminderKind.RECEIVABLE_DUE:
        errors["kind"] = [_("Choose what the rule watches.")]
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    raw = data.get("offsets") or []
    if isinstance(raw, str):
        raw = [p for p in raw.replace("，", ",").replace(" ", ",").split(",") if p]
    offsets: list[int] = []
    try:
        offsets = sorted({int(v) for v in raw})
    except (TypeError, ValueError):
        errors["offsets"] = [_("Enter whole numbers separated by commas, e.g. 1, 3, 7.")]
    limit = MAX_OFFSET.get(str(kind), 365)
    if not errors.get("offsets"):
        if not offsets:
            errors["offsets"] = [_("Enter at least one number.")]
        elif any(v < 0 or v > limit for v in offsets) or len(offsets) > 10:
            errors["offsets"] = [_("Enter up to 10 numbers from 0 to %(max)s.") % {"max": limit}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {
        "kind": kind,
        "name": name,
        "offsets": offsets,
        "notify_manager": bool(data.get("notify_manager")),
        "send_email": bool(data.get("send_email")),
        "is_active": bool(data.get("is_active", True)),
    }


def _require_configure(actor: User) -> None:
    if not (actor.can("activities", "configure") or actor.can("settings", "configure")):
        raise PermissionDenied()


@transaction.atomic
def save_rule(
    *, actor: User, data: dict[str, Any], rule: ReminderRule | None = None
) -> ReminderRule:
    _require_configure(actor)
    clean = _clean_rule(data)
    if rule is not None and rule.org_id != actor.org_id:
        raise PermissionDenied()
    before = audit.snapshot(rule) if rule else {}
    rule = rule or ReminderRule(org_id=_org(actor))
    for key, value in clean.items():
        setattr(rule, key, value)
    rule.save()
    audit.record(
        actor=actor,
        obj=rule,
        verb="reminderrule.saved",
        changes=audit.diff(before, audit.snapshot(rule)),
    )
    return rule


@transaction.atomic
def delete_rule(*, actor: User, rule: ReminderRule) -> None:
    _require_configure(actor)
    if rule.org_id != actor.org_id:
        raise PermissionDenied()
    audit.record(actor=actor, obj=rule, verb="reminderrule.deleted", data={"name": rule.name})
    rule.delete()


# --- lookups used by other modules ----------------------------------------------------------------


def last_followup_at(customer_ids: list[int]) -> dict[int, datetime]:
    rows = (
        FollowUp.objects.filter(customer_id__in=customer_ids)
        .values("customer_id")
        .annotate(last=Max("happened_at"))
    )
    return {r["customer_id"]: r["last"] for r in rows}


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """Customer-merge handler: follow-ups and visit plans move to the target."""
    moved = FollowUp.objects.filter(customer=source).update(customer=target)
    plans = VisitPlan.objects.filter(customer=source).update(customer=target)
    refresh_customer_blocks(target.pk)
    return {"followups": moved, "visit_plans": plans}


def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Deactivation hand-over: planned visits go to the colleague (done ones stay as history)."""
    return VisitPlan.objects.filter(
        org_id=from_user.org_id, owner=from_user, status=PlanStatus.PLANNED
    ).update(owner=to_user, updated_at=timezone.now())
