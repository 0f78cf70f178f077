"""Every write on opportunities (R4.1 – R4.3, R4.7 – R4.8): create and edit with optimistic
locking, product lines, stage and node moves with stage history, pause and resume, win, lose,
abandon and reopen, key flag, collaborators, transfer, stalled detection.

Rules kept here:

- an opportunity has exactly one open stage-history row (``left_at`` null) unless it was
  abandoned; a stage move closes it and opens the next, and resets days-in-stage;
- ``feedback_due_at`` = (last follow-up, or creation) + feedback cycle, while status is continue;
  ``stall_due_at`` = stage entry + the stage's day limit, while status is continue;
- winning needs an actual close date and amount; losing and abandoning need a reason; a closed
  opportunity is reopened only by someone who may approve opportunities (a manager);
- the customer's ``open_opportunities`` and ``last_won_at`` follow every change of status.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, ProtectedError, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit, custom_fields, fieldaccess
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict, changes_since, check_version
from crm.core.money import money, parse_money
from crm.core.notifications import notification_for
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from . import dictionaries
from .choices import CLOSED_STATUSES, OPEN_STATUSES, OpportunityStatus, StageKind
from .models import (
    DictionaryKind,
    Opportunity,
    OpportunityLine,
    Pipeline,
    Stage,
    StageHistory,
)
from .services import history_changed

#: Fields ``update_opportunity`` edits. Stage, status, owner and the follow-up blocks move
#: through their own services.
EDITABLE_FIELDS = [
    "name",
    "business_type",
    "source",
    "probability",
    "probability_level",
    "feedback_cycle",
    "action_principle",
    "is_key",
    "expected_amount",
    "expected_close_date",
    "notes",
    "contact",
]
DICTIONARY_FIELDS = {
    "business_type": DictionaryKind.BUSINESS_CATEGORY,
    "source": DictionaryKind.SOURCE,
    "probability_level": DictionaryKind.PROBABILITY_LEVEL,
    "feedback_cycle": DictionaryKind.FEEDBACK_CYCLE,
    "action_principle": DictionaryKind.ACTION_PRINCIPLE,
}
MAX_LINES = 200
#: Columns the services derive (deadlines): not changes people make, so not in the audit diff.
DERIVED_FIELDS = ("feedback_due_at", "stall_due_at", "stall_notified_at")


# --- permission helpers --------------------------------------------------------------------------


def _org(actor: User) -> int:
    if not actor.org_id:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if not actor.can("opportunities", action):
        raise PermissionDenied()


def can_reopen(user: Any) -> bool:
    """Managers (who may approve opportunities) reopen closed ones."""
    return bool(getattr(user, "is_authenticated", False) and user.can("opportunities", "approve"))


def _colleague(actor: User, user: Any, field: str) -> User:
    if user is None or not isinstance(user, User):
        raise ValidationFailed(field_errors={field: [_("Choose an active colleague.")]})
    if user.org_id != actor.org_id or not user.is_active:
        raise ValidationFailed(field_errors={field: [_("Choose an active colleague.")]})
    return user


# --- validation ----------------------------------------------------------------------------------


def _clean_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parsed = None
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date (YYYY-MM-DD).")]
    return parsed


def _clean_amount(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        return parse_money(value)
    except ValueError:
        errors[field] = [_("Enter an amount of 0 or more, with at most two decimals.")]
        return None


def _clean_data(actor: User, data: dict[str, Any], customer_id: int | None) -> dict[str, Any]:
    """Validate the editable fields present in ``data`` (absent ones are left alone)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in EDITABLE_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, str):
            value = value.strip()
        clean[key] = value
    if "name" in clean:
        if not clean["name"]:
            errors["name"] = [_("Enter the opportunity's name.")]
        elif len(clean["name"]) > 200:
            errors["name"] = [_("At most 200 characters.")]
    for field, kind in DICTIONARY_FIELDS.items():
        if field in clean:
            clean[field] = clean[field] or ""
            if clean[field] and not dictionaries.is_valid(_org(actor), kind, clean[field]):
                errors[field] = [_("Choose a value from the list.")]
    if "probability" in clean:
        try:
            probability = int(clean["probability"])
        except (TypeError, ValueError):
            probability = -1
        if not 0 <= probability <= 100:
            errors["probability"] = [_("Enter a whole percentage from 0 to 100.")]
        clean["probability"] = probability
    if "is_key" in clean:
        clean["is_key"] = bool(clean["is_key"]) and clean["is_key"] not in ("0", "false", "off")
    if "expected_amount" in clean:
        clean["expected_amount"] = _clean_amount(
            clean["expected_amount"], "expected_amount", errors
        )
    if "expected_close_date" in clean:
        clean["expected_close_date"] = _clean_date(
            clean["expected_close_date"], "expected_close_date", errors
        )
    if "notes" in clean:
        clean["notes"] = clean["notes"] or ""
    if "contact" in clean:
        contact = clean["contact"]
        if contact in ("", None):
            clean["contact"] = None
        elif getattr(contact, "customer_id", None) != customer_id or contact.org_id != actor.org_id:
            errors["contact"] = [_("Choose a contact of this customer.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def clean_lines(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated product lines: product, quantity > 0, unit price ≥ 0; amount = qty × price."""
    result = []
    errors: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        line_errors: list[str] = []
        product = str(line.get("product") or "").strip()[:200]
        if not product:
            line_errors.append(_("Line %(n)s: enter a product.") % {"n": index + 1})
        try:
            quantity = Decimal(str(line.get("quantity") or "").strip().replace(",", ""))
            if not quantity.is_finite() or quantity <= 0 or quantity > Decimal("999999999999"):
                raise ValueError
            quantity = money(quantity)
        except (ArithmeticError, ValueError):
            quantity = Decimal(0)
            line_errors.append(_("Line %(n)s: enter a quantity above 0.") % {"n": index + 1})
        try:
            price = parse_money(line.get("unit_price"))
            if price is None:
                raise ValueError
        except ValueError:
            price = Decimal(0)
            line_errors.append(_("Line %(n)s: enter a unit price of 0 or more.") % {"n": index + 1})
        if line_errors:
            errors.setdefault("lines", []).extend(line_errors)
            continue
        result.append(
            {
                "product": product,
                "quantity": quantity,
                "unit_price": price,
                "amount": money(quantity * price),
                "notes": str(line.get("notes") or "").strip()[:300],
            }
        )
    if len(result) > MAX_LINES:
        errors["lines"] = [_("At most %(n)s product lines.") % {"n": MAX_LINES}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return result


def _write_lines(opportunity: Opportunity, lines: list[dict[str, Any]]) -> None:
    OpportunityLine.objects.filter(opportunity=opportunity).delete()
    OpportunityLine.objects.bulk_create(
        OpportunityLine(org_id=opportunity.org_id, opportunity=opportunity, sort_order=i, **line)
        for i, line in enumerate(lines)
    )


def _lines_snapshot(opportunity: Opportunity) -> list[str]:
    return [
        f"{line.product} × {line.quantity} @ {line.unit_price}"
        for line in opportunity.lines.order_by("sort_order", "pk")
    ]


def _same_org_users(actor: User, users: Iterable[Any], field: str) -> list[User]:
    return [_colleague(actor, u, field) for u in users]


def _contacts_of(actor: User, customer_id: int, contacts: Iterable[Any]) -> list[Any]:
    result = list(contacts)
    for contact in result:
        if contact.org_id != actor.org_id or contact.customer_id != customer_id:
            raise ValidationFailed(
                field_errors={"contacts": [_("Choose contacts of this customer.")]}
            )
    return result


# --- derived columns -----------------------------------------------------------------------------


def derive_deadlines(opportunity: Opportunity, stage: Stage | None = None) -> None:
    """Set ``feedback_due_at`` and ``stall_due_at`` from the status, cycle and stage limit."""
    stage = stage or opportunity.stage
    if opportunity.status != OpportunityStatus.CONTINUE:
        opportunity.feedback_due_at = None
        opportunity.stall_due_at = None
        return
    days = dictionaries.feedback_cycle_days(opportunity.feedback_cycle)
    base = opportunity.last_followup_at or opportunity.created_at or timezone.now()
    opportunity.feedback_due_at = base + timedelta(days=days) if days else None
    opportunity.stall_due_at = (
        opportunity.stage_entered_at + timedelta(days=stage.max_days) if stage.max_days else None
    )


def refresh_customer(customer_id: int) -> None:
    """Recount the customer's open opportunities and its last won deal."""
    from crm.customers.models import Customer

    stats = Opportunity.objects.filter(customer_id=customer_id).aggregate(
        open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
        last_won=Max("closed_at", filter=Q(status=OpportunityStatus.WON)),
    )
    Customer.objects.filter(pk=customer_id).update(
        open_opportunities=stats["open"], last_won_at=stats["last_won"]
    )


def _open_history(
    opportunity: Opportunity, *, actor: Any, contact: Any, now: datetime, note: str = ""
) -> None:
    StageHistory.objects.create(
        org_id=opportunity.org_id,
        opportunity=opportunity,
        pipeline_id=opportunity.pipeline_id,
        stage_id=opportunity.stage_id,
        node_id=opportunity.node_id,
        contact=contact,
        person=actor if isinstance(actor, User) else None,
        entered_at=now,
        note=note[:500],
    )


def _close_history(opportunity: Opportunity, now: datetime) -> None:
    StageHistory.objects.filter(opportunity=opportunity, left_at__isnull=True).update(left_at=now)


# --- pipelines and stages -------------------------------------------------------------------------


def default_pipeline(org_id: int, business_type: str = "") -> Pipeline:
    """The pipeline a new opportunity of ``business_type`` starts in."""
    qs = Pipeline.objects.filter(org_id=org_id, is_active=True)
    pipeline = None
    if business_type:
        pipeline = qs.filter(business_type=business_type).order_by("sort_order", "pk").first()
    pipeline = pipeline or qs.order_by("-is_default", "sort_order", "pk").first()
    if pipeline is None:
        raise ValidationFailed(field_errors={"pipeline": [_("Set up a pipeline first.")]})
    return pipeline


def first_stage(pipeline: Pipeline) -> Stage:
    stage = (
        Stage.objects.filter(
            pipeline=pipeline, parent__isnull=True, is_active=True, kind=StageKind.OPEN
        )
        .order_by("sort_order", "pk")
        .first()
    )
    if stage is None:
        raise ValidationFailed(field_errors={"stage": [_("This pipeline has no open stage.")]})
    return stage


def _check_stage(pipeline: Pipeline, stage: Stage | None, node: Stage | None) -> None:
    errors: dict[str, list[str]] = {}
    if stage is None or stage.pipeline_id != pipeline.pk or stage.parent_id is not None:
        errors["stage"] = [_("Choose a stage of this pipeline.")]
    elif not stage.is_active:
        errors["stage"] = [_("This stage is retired; choose another.")]
    if node is not None and (stage is None or node.parent_id != stage.pk):
        errors["node"] = [_("Choose a node of the chosen stage.")]
    elif node is not None and not node.is_active:
        errors["node"] = [_("This node is retired; choose another.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


def closing_stage(pipeline: Pipeline, kind: str) -> Stage:
    stage = (
        Stage.objects.filter(pipeline=pipeline, parent__isnull=True, is_active=True, kind=kind)
        .order_by("sort_order", "pk")
        .first()
    )
    if stage is None:  # pragma: no cover - pipeline services keep one of each
        raise ValidationFailed(_("This pipeline has no active closing stage."))
    return stage


# --- create and edit ------------------------------------------------------------------------------


@transaction.atomic
def create_opportunity(
    *,
    actor: User,
    customer: Any,
    data: dict[str, Any],
    owner: User | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    node: Stage | None = None,
    lines: list[dict[str, Any]] | None = None,
    collaborators: list[User] | None = None,
    contacts: list[Any] | None = None,
    lead: Any = None,
) -> Opportunity:
    """Create an opportunity of ``customer`` (which the actor must see) in ``pipeline`` (default:
    the one for its business type, else the organisation's default) at ``stage`` (default: the
    first open stage), owned by ``owner`` (default: the actor)."""
    _require(actor, "create")
    org_id = _org(actor)
    from crm.customers.models import Customer

    if customer is None or customer.org_id != org_id:
        raise ValidationFailed(field_errors={"customer": [_("Choose a customer.")]})
    if not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise ValidationFailed(field_errors={"customer": [_("Choose a customer.")]})
    if customer.merged_into_id:
        raise ValidationFailed(field_errors={"customer": [_("This customer was merged.")]})
    clean = _clean_data(actor, data, customer.pk)
    if not clean.get("name"):
        raise ValidationFailed(field_errors={"name": [_("Enter the opportunity's name.")]})
    clean["custom"] = custom_fields.clean_custom(org_id, "opportunity", data.get("custom"))
    owner = _colleague(actor, owner or actor, "owner")
    pipeline = pipeline or default_pipeline(org_id, clean.get("business_type", ""))
    if pipeline.org_id != org_id or not pipeline.is_active:
        raise ValidationFailed(field_errors={"pipeline": [_("Choose an active pipeline.")]})
    stage = stage or first_stage(pipeline)
    _check_stage(pipeline, stage, node)
    if stage.kind != StageKind.OPEN:
        raise ValidationFailed(
            field_errors={"stage": [_("A new opportunity starts in an open stage.")]}
        )
    clean_lines_ = clean_lines(lines or [])
    if clean.get("expected_amount") is None and clean_lines_:
        clean["expected_amount"] = money(sum((line["amount"] for line in clean_lines_), Decimal(0)))
    clean.setdefault("probability", stage.default_probability)
    if "probability" not in data or data.get("probability") in (None, ""):
        clean["probability"] = stage.default_probability
    if not clean.get("feedback_cycle"):
        clean["feedback_cycle"] = _default_feedback_cycle(org_id)
    now = timezone.now()
    opportunity = Opportunity(
        org_id=org_id,
        created_by=actor,
        customer=customer,
        pipeline=pipeline,
        stage=stage,
        node=node,
        stage_entered_at=now,
        owner=owner,
        lead=lead,
        currency=getattr(getattr(actor, "org", None), "currency", "CNY") or "CNY",
        created_at=now,
        **clean,
    )
    opportunity.save()
    # created_at is set by the database layer on save: the deadlines count from it.
    derive_deadlines(opportunity, stage)
    Opportunity.objects.filter(pk=opportunity.pk).update(
        feedback_due_at=opportunity.feedback_due_at, stall_due_at=opportunity.stall_due_at
    )
    if clean_lines_:
        _write_lines(opportunity, clean_lines_)
    if collaborators:
        opportunity.collaborators.set(_same_org_users(actor, collaborators, "collaborators"))
    if contacts:
        opportunity.contacts.set(_contacts_of(actor, customer.pk, contacts))
    _open_history(opportunity, actor=actor, contact=opportunity.contact, now=now)
    history_changed(opportunity.org_id, [opportunity.pk])
    refresh_customer(customer.pk)
    audit.record_created(actor=actor, obj=opportunity, verb="opportunity.created")
    assert_in_scope(actor, opportunity, "view")
    return opportunity


def _default_feedback_cycle(org_id: int) -> str:
    values = [v for v, _label in dictionaries.choices(org_id, DictionaryKind.FEEDBACK_CYCLE)]
    return "7d" if "7d" in values else (values[0] if values else "")


def _locked_update(opportunity: Opportunity, version: int | None, fields: dict[str, Any]) -> int:
    """Write ``fields`` only if the row is still at ``version`` (default: the one loaded).
    Returns the new version; raises EditConflict (with what changed) when it moved on."""
    expected = opportunity.version if version is None else int(version)
    updated = Opportunity.objects.filter(pk=opportunity.pk, version=expected).update(
        **fields, version=expected + 1, updated_at=timezone.now()
    )
    if not updated:
        current = Opportunity.objects.get(pk=opportunity.pk)
        raise EditConflict(changes_since(current, expected), current.version)
    return expected + 1


def _save(
    actor: User,
    opportunity: Opportunity,
    *,
    version: int | None,
    fields: Iterable[str],
    verb: str,
    before: dict[str, Any],
    data: dict[str, Any] | None = None,
    extra_changes: dict[str, list[Any]] | None = None,
) -> Opportunity:
    """Write the named ``fields`` of ``opportunity`` under the lock, record the event."""
    columns = [f"{f}_id" if _is_fk(f) else f for f in fields]
    values = {column: getattr(opportunity, column) for column in columns}
    new_version = _locked_update(opportunity, version, values)
    opportunity.refresh_from_db()
    changes = audit.diff(before, audit.snapshot(opportunity))
    for derived in DERIVED_FIELDS:
        changes.pop(derived, None)
    changes.update(extra_changes or {})
    audit.record(
        actor=actor,
        obj=opportunity,
        verb=verb,
        changes=changes,
        data={**(data or {}), "version": new_version},
    )
    return opportunity


def _is_fk(field: str) -> bool:
    return bool(Opportunity._meta.get_field(field).many_to_one)


@transaction.atomic
def update_opportunity(
    *,
    actor: User,
    opportunity: Opportunity,
    data: dict[str, Any],
    version: int | None = None,
    lines: list[dict[str, Any]] | None = None,
    collaborators: list[User] | None = None,
    contacts: list[Any] | None = None,
) -> Opportunity:
    """Edit fields, product lines, collaborators and contacts. ``version`` is the one the editor
    read: if someone saved in between, nothing is written and EditConflict says what changed."""
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    check_version(opportunity, version)
    fieldaccess.guard_write(actor, opportunity, data)  # H-FIELD: field-level permissions
    clean = _clean_data(actor, data, opportunity.customer_id)
    if "custom" in data:
        clean["custom"] = custom_fields.clean_custom(
            opportunity.org_id,
            "opportunity",
            data["custom"],
            current=opportunity.custom,
            partial=True,
        )
    before = audit.snapshot(opportunity)
    extra: dict[str, list[Any]] = {}
    for key, value in clean.items():
        setattr(opportunity, key, value)
    if lines is not None:
        cleaned = clean_lines(lines)
        old_lines = _lines_snapshot(opportunity)
        _write_lines(opportunity, cleaned)
        new_lines = _lines_snapshot(opportunity)
        if old_lines != new_lines:
            extra["lines"] = [old_lines, new_lines]
        if "expected_amount" not in data and cleaned:
            opportunity.expected_amount = money(
                sum((line["amount"] for line in cleaned), Decimal(0))
            )
            clean["expected_amount"] = opportunity.expected_amount
    if collaborators is not None:
        users = _same_org_users(actor, collaborators, "collaborators")
        old = sorted(opportunity.collaborators.values_list("pk", flat=True))
        opportunity.collaborators.set(users)
        new = sorted(u.pk for u in users)
        if old != new:
            extra["collaborators"] = [old, new]
    if contacts is not None:
        chosen = _contacts_of(actor, opportunity.customer_id, contacts)
        old = sorted(opportunity.contacts.values_list("pk", flat=True))
        opportunity.contacts.set(chosen)
        new = sorted(c.pk for c in chosen)
        if old != new:
            extra["contacts"] = [old, new]
    derive_deadlines(opportunity)
    fields = [*clean.keys(), "feedback_due_at", "stall_due_at"]
    return _save(
        actor,
        opportunity,
        version=version,
        fields=fields,
        verb="opportunity.updated",
        before=before,
        extra_changes=extra,
    )


# --- stage moves ----------------------------------------------------------------------------------


@transaction.atomic
def move_stage(
    *,
    actor: User,
    opportunity: Opportunity,
    stage: Stage,
    node: Stage | None = None,
    contact: Any = None,
    note: str = "",
    version: int | None = None,
) -> Opportunity:
    """Move an open opportunity to another open ``stage`` (and ``node``) of its pipeline, or to
    another node of its stage. Writes stage history; a new stage resets days-in-stage and takes
    the stage's default probability. Won and lost stages go through win/lose."""
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    check_version(opportunity, version)
    if opportunity.status not in OPEN_STATUSES:
        raise InvalidTransition(_("Reopen the opportunity before moving it."))
    if stage.kind == StageKind.WON:
        raise ValidationFailed(
            field_errors={
                "stage": [_("To win the opportunity, enter the actual close date and amount.")]
            }
        )
    if stage.kind == StageKind.LOST:
        raise ValidationFailed(
            field_errors={"stage": [_("To lose the opportunity, give a reason.")]}
        )
    _check_stage(opportunity.pipeline, stage, node)
    if contact is not None and (
        contact.org_id != opportunity.org_id or contact.customer_id != opportunity.customer_id
    ):
        raise ValidationFailed(field_errors={"contact": [_("Choose a contact of this customer.")]})
    if stage.pk == opportunity.stage_id and (node.pk if node else None) == opportunity.node_id:
        return opportunity
    before = audit.snapshot(opportunity)
    now = timezone.now()
    stage_changed = stage.pk != opportunity.stage_id
    opportunity.stage = stage
    opportunity.node = node
    fields = ["stage", "node"]
    if stage_changed:
        opportunity.stage_entered_at = now
        opportunity.probability = stage.default_probability
        opportunity.stall_notified_at = None
        fields += ["stage_entered_at", "probability", "stall_notified_at"]
    derive_deadlines(opportunity, stage)
    fields += ["feedback_due_at", "stall_due_at"]
    saved = _save(
        actor,
        opportunity,
        version=version,
        fields=fields,
        verb="opportunity.stage_changed" if stage_changed else "opportunity.node_changed",
        before=before,
        data={"note": note[:500]} if note else None,
    )
    _close_history(saved, now)
    _open_history(saved, actor=actor, contact=contact or saved.contact, now=now, note=note)
    history_changed(saved.org_id, [saved.pk])
    return saved


@transaction.atomic
def win_opportunity(
    *,
    actor: User,
    opportunity: Opportunity,
    actual_amount: Any,
    actual_close_date: Any,
    note: str = "",
    version: int | None = None,
) -> Opportunity:
    """Close as won: moves to the pipeline's won stage, probability 100 %."""
    errors: dict[str, list[str]] = {}
    amount = _clean_amount(actual_amount, "actual_amount", errors)
    if amount is None and "actual_amount" not in errors:
        errors["actual_amount"] = [_("Enter the actual amount.")]
    day = _clean_date(actual_close_date, "actual_close_date", errors)
    if day is None and "actual_close_date" not in errors:
        errors["actual_close_date"] = [_("Enter the actual close date.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return _close(
        actor,
        opportunity,
        status=OpportunityStatus.WON,
        version=version,
        note=note,
        values={"actual_amount": amount, "actual_close_date": day, "probability": 100},
    )


@transaction.atomic
def lose_opportunity(
    *,
    actor: User,
    opportunity: Opportunity,
    reason: str,
    note: str = "",
    stage: Stage | None = None,
    actual_close_date: Any = None,
    version: int | None = None,
) -> Opportunity:
    """Close as lost (R4.8): a loss reason from the list, lessons learnt, optionally which lost
    stage of the pipeline (default: the first)."""
    values = _loss_values(actor, reason, note, actual_close_date)
    if stage is not None and (
        stage.pipeline_id != opportunity.pipeline_id or stage.kind != StageKind.LOST
    ):
        raise ValidationFailed(field_errors={"stage": [_("Choose a lost stage of this pipeline.")]})
    return _close(
        actor,
        opportunity,
        status=OpportunityStatus.LOST,
        version=version,
        note=note,
        values={**values, "probability": 0},
        stage=stage,
    )


@transaction.atomic
def abandon_opportunity(
    *,
    actor: User,
    opportunity: Opportunity,
    reason: str,
    note: str = "",
    version: int | None = None,
) -> Opportunity:
    """Close as abandoned (放弃): we stop pursuing it. It stays at its stage; the stage-history
    row ends now."""
    values = _loss_values(actor, reason, note, None)
    return _close(
        actor,
        opportunity,
        status=OpportunityStatus.ABANDONED,
        version=version,
        note=note,
        values={**values, "probability": 0},
    )


def _loss_values(actor: User, reason: str, note: str, day: Any) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["loss_reason"] = [_("Choose a reason.")]
    elif not dictionaries.is_valid(_org(actor), DictionaryKind.LOSS_REASON, reason):
        errors["loss_reason"] = [_("Choose a value from the list.")]
    close_day = _clean_date(day, "actual_close_date", errors) if day else None
    if errors:
        raise ValidationFailed(field_errors=errors)
    return {
        "loss_reason": reason,
        "loss_note": (note or "").strip(),
        "actual_close_date": close_day or timezone.localdate(),
    }


def _close(
    actor: User,
    opportunity: Opportunity,
    *,
    status: str,
    version: int | None,
    note: str,
    values: dict[str, Any],
    stage: Stage | None = None,
) -> Opportunity:
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    check_version(opportunity, version)
    if opportunity.status not in OPEN_STATUSES:
        raise InvalidTransition(_("This opportunity is already closed."))
    before = audit.snapshot(opportunity)
    now = timezone.now()
    for key, value in values.items():
        setattr(opportunity, key, value)
    opportunity.status = status
    opportunity.closed_at = now
    fields = [*values.keys(), "status", "closed_at"]
    target = None
    if status == OpportunityStatus.WON:
        target = closing_stage(opportunity.pipeline, StageKind.WON)
    elif status == OpportunityStatus.LOST:
        target = stage or closing_stage(opportunity.pipeline, StageKind.LOST)
    if target is not None:
        opportunity.stage = target
        opportunity.node = None
        opportunity.stage_entered_at = now
        fields += ["stage", "node", "stage_entered_at"]
    derive_deadlines(opportunity)
    fields += ["feedback_due_at", "stall_due_at"]
    saved = _save(
        actor,
        opportunity,
        version=version,
        fields=fields,
        verb=f"opportunity.{status}",
        before=before,
        data={"note": note[:500]} if note else None,
    )
    _close_history(saved, now)
    if target is not None:
        _open_history(saved, actor=actor, contact=saved.contact, now=now, note=note)
    history_changed(saved.org_id, [saved.pk])
    refresh_customer(saved.customer_id)
    if status == OpportunityStatus.WON:
        from crm.customers.models import Customer

        Customer.objects.filter(pk=saved.customer_id).update(is_new=False)
    return saved


@transaction.atomic
def reopen_opportunity(
    *,
    actor: User,
    opportunity: Opportunity,
    stage: Stage | None = None,
    note: str = "",
    version: int | None = None,
) -> Opportunity:
    """A manager reopens a won, lost or abandoned opportunity at an open ``stage`` (default: the
    last open stage it was in). Actual close date and amount and the loss reason are cleared."""
    if not can_reopen(actor):
        raise PermissionDenied(_("Only a manager may reopen a closed opportunity."))
    assert_in_scope(actor, opportunity, "edit")
    check_version(opportunity, version)
    if opportunity.status not in CLOSED_STATUSES:
        raise InvalidTransition(_("This opportunity is not closed."))
    if stage is None:
        last_open = (
            StageHistory.objects.filter(
                opportunity=opportunity, stage__kind=StageKind.OPEN, stage__is_active=True
            )
            .order_by("-entered_at", "-pk")
            .first()
        )
        stage = last_open.stage if last_open else first_stage(opportunity.pipeline)
    _check_stage(opportunity.pipeline, stage, None)
    if stage.kind != StageKind.OPEN:
        raise ValidationFailed(field_errors={"stage": [_("Choose an open stage.")]})
    before = audit.snapshot(opportunity)
    now = timezone.now()
    opportunity.status = OpportunityStatus.CONTINUE
    opportunity.stage = stage
    opportunity.node = None
    opportunity.stage_entered_at = now
    opportunity.probability = stage.default_probability
    opportunity.closed_at = None
    opportunity.actual_amount = None
    opportunity.actual_close_date = None
    opportunity.loss_reason = ""
    opportunity.stall_notified_at = None
    derive_deadlines(opportunity, stage)
    fields = [
        "status",
        "stage",
        "node",
        "stage_entered_at",
        "probability",
        "closed_at",
        "actual_amount",
        "actual_close_date",
        "loss_reason",
        "stall_notified_at",
        "feedback_due_at",
        "stall_due_at",
    ]
    saved = _save(
        actor,
        opportunity,
        version=version,
        fields=fields,
        verb="opportunity.reopened",
        before=before,
        data={"note": note[:500]} if note else None,
    )
    _close_history(saved, now)
    _open_history(saved, actor=actor, contact=saved.contact, now=now, note=note)
    history_changed(saved.org_id, [saved.pk])
    refresh_customer(saved.customer_id)
    return saved


@transaction.atomic
def pause_opportunity(
    *, actor: User, opportunity: Opportunity, note: str = "", version: int | None = None
) -> Opportunity:
    """Continue → pause: a paused opportunity is neither overdue nor stalled."""
    return _set_open_status(actor, opportunity, OpportunityStatus.PAUSE, note, version)


@transaction.atomic
def resume_opportunity(
    *, actor: User, opportunity: Opportunity, note: str = "", version: int | None = None
) -> Opportunity:
    """Pause → continue; the feedback cycle counts from now."""
    return _set_open_status(actor, opportunity, OpportunityStatus.CONTINUE, note, version)


def _set_open_status(
    actor: User, opportunity: Opportunity, status: str, note: str, version: int | None
) -> Opportunity:
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    check_version(opportunity, version)
    expected_from = (
        OpportunityStatus.CONTINUE if status == OpportunityStatus.PAUSE else OpportunityStatus.PAUSE
    )
    if opportunity.status != expected_from:
        raise InvalidTransition()
    before = audit.snapshot(opportunity)
    opportunity.status = status
    derive_deadlines(opportunity)
    if status == OpportunityStatus.CONTINUE and opportunity.feedback_due_at is not None:
        days = dictionaries.feedback_cycle_days(opportunity.feedback_cycle) or 0
        opportunity.feedback_due_at = max(
            opportunity.feedback_due_at, timezone.now() + timedelta(days=days)
        )
    return _save(
        actor,
        opportunity,
        version=version,
        fields=["status", "feedback_due_at", "stall_due_at"],
        verb="opportunity.paused" if status == OpportunityStatus.PAUSE else "opportunity.resumed",
        before=before,
        data={"note": note[:500]} if note else None,
    )


# --- flags, people, ownership ---------------------------------------------------------------------


@transaction.atomic
def set_key(*, actor: User, opportunity: Opportunity, is_key: bool) -> Opportunity:
    """Mark or unmark a key opportunity (重点商机)."""
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    if opportunity.is_key == bool(is_key):
        return opportunity
    before = audit.snapshot(opportunity)
    opportunity.is_key = bool(is_key)
    return _save(
        actor,
        opportunity,
        version=None,
        fields=["is_key"],
        verb="opportunity.updated",
        before=before,
    )


@transaction.atomic
def set_collaborators(*, actor: User, opportunity: Opportunity, users: list[User]) -> Opportunity:
    _require(actor, "edit")
    assert_in_scope(actor, opportunity, "edit")
    users = _same_org_users(actor, users, "collaborators")
    old = sorted(opportunity.collaborators.values_list("pk", flat=True))
    opportunity.collaborators.set(users)
    new = sorted(u.pk for u in users)
    if old != new:
        before = audit.snapshot(opportunity)
        _save(
            actor,
            opportunity,
            version=None,
            fields=[],
            verb="opportunity.updated",
            before=before,
            extra_changes={"collaborators": [old, new]},
        )
    return opportunity


@transaction.atomic
def transfer_opportunities(
    *, actor: User, opportunities: list[Opportunity], to_user: User, reason: str = ""
) -> int:
    """Give opportunities to another colleague (needs the transfer permission on each)."""
    _require(actor, "transfer")
    to_user = _colleague(actor, to_user, "owner")
    moved = 0
    for opportunity in opportunities:
        assert_in_scope(actor, opportunity, "transfer")
        if opportunity.owner_id == to_user.pk:
            continue
        before = audit.snapshot(opportunity)
        opportunity.owner = to_user
        opportunity.stall_notified_at = None
        _save(
            actor,
            opportunity,
            version=None,
            fields=["owner", "stall_notified_at"],
            verb="opportunity.transferred",
            before=before,
            data={"reason": reason[:300]} if reason else None,
        )
        moved += 1
    return moved


def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Deactivation hand-over: every opportunity of ``from_user`` goes to ``to_user``."""
    ids = list(
        Opportunity.objects.filter(org_id=from_user.org_id, owner=from_user).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return 0
    Opportunity.objects.filter(pk__in=ids).update(
        owner=to_user, version=F("version") + 1, updated_at=timezone.now()
    )
    rows = Opportunity.objects.filter(pk__in=ids)
    from crm.core.models import Event

    Event.objects.bulk_create(
        audit.event_for(
            actor=actor,
            obj=o,
            verb="opportunity.transferred",
            changes={"owner": [from_user.pk, to_user.pk]},
            data={"version": o.version, "reason": "deactivation"},
        )
        for o in rows
    )
    return len(ids)


@transaction.atomic
def delete_opportunity(*, actor: User, opportunity: Opportunity) -> None:
    """Delete an opportunity (its lines and history go with it; follow-ups stay on the customer)."""
    _require(actor, "delete")
    assert_in_scope(actor, opportunity, "delete")
    customer_id = opportunity.customer_id
    audit.record(
        actor=actor,
        obj=opportunity,
        verb="opportunity.deleted",
        data=audit.to_json({"name": opportunity.name, "customer": customer_id}),
    )
    try:
        opportunity.delete()
    except ProtectedError:  # quotes or contracts refer to it (H-CONTRACTS)
        raise InvalidTransition(
            _("Quotes or contracts refer to this opportunity, so it cannot be deleted.")
        ) from None
    refresh_customer(customer_id)


# --- follow-up blocks -----------------------------------------------------------------------------


def apply_followup(opportunity_id: int) -> None:
    """Recompute the last/next follow-up blocks and the feedback deadline of an opportunity
    from its follow-ups (called by the follow-up service inside its transaction)."""
    from crm.activities.models import FollowUp

    opportunity = Opportunity.objects.select_related("stage").get(pk=opportunity_id)
    last = (
        FollowUp.objects.filter(opportunity_id=opportunity_id)
        .order_by("-happened_at", "-pk")
        .first()
    )
    opportunity.last_followup_at = last.happened_at if last else None
    opportunity.last_followup_contact_id = last.contact_id if last else None
    opportunity.last_followup_by_id = last.owner_id if last else None
    opportunity.last_followup_content = last.content if last else ""
    opportunity.next_followup_at = last.next_at if last else None
    opportunity.next_followup_collaborator_id = last.collaborator_id if last else None
    opportunity.next_followup_content = last.next_content if last else ""
    derive_deadlines(opportunity)
    Opportunity.objects.filter(pk=opportunity_id).update(
        last_followup_at=opportunity.last_followup_at,
        last_followup_contact_id=opportunity.last_followup_contact_id,
        last_followup_by_id=opportunity.last_followup_by_id,
        last_followup_content=opportunity.last_followup_content,
        next_followup_at=opportunity.next_followup_at,
        next_followup_collaborator_id=opportunity.next_followup_collaborator_id,
        next_followup_content=opportunity.next_followup_content,
        feedback_due_at=opportunity.feedback_due_at,
    )


# --- stalled detection (R4.7) ------------------------------------------------------------------


def flag_stalled(org_id: int, *, now: datetime | None = None) -> int:
    """Notify the owner's manager (once per stay in a stage) of every opportunity that has been
    in its stage longer than the stage allows. Safe to run from several workers at once: the
    conditional update decides who notifies."""
    from crm.core.models import Notification

    now = now or timezone.now()
    due = list(
        Opportunity.objects.filter(
            org_id=org_id,
            status=OpportunityStatus.CONTINUE,
            stall_due_at__lt=now,
            stall_notified_at__isnull=True,
        )
        .select_related("owner", "owner__manager", "owner__department__head", "stage")
        .order_by("pk")[:5000]
    )
    notes = []
    events = []
    flagged = 0
    for opportunity in due:
        won = Opportunity.objects.filter(
            pk=opportunity.pk, stall_notified_at__isnull=True, stall_due_at=opportunity.stall_due_at
        ).update(stall_notified_at=now)
        if not won:
            continue
        flagged += 1
        owner = opportunity.owner
        manager = owner.manager or (owner.department.head if owner.department else None)
        days = (now - opportunity.stage_entered_at).days
        message = _(
            "Stalled: %(name)s has been in stage %(stage)s for %(days)s days (limit %(limit)s)."
        ) % {
            "name": opportunity.name,
            "stage": opportunity.stage.name,
            "days": days,
            "limit": opportunity.stage.max_days,
        }
        url = reverse("opportunities:detail", args=[opportunity.pk])
        for person in {p.pk: p for p in (manager, owner) if p is not None and p.is_active}.values():
            notes.append(
                notification_for(
                    recipient=person,
                    verb="opportunity.stalled",
                    message=message,
                    url=url,
                    target=opportunity,
                )
            )
        events.append(
            audit.event_for(
                actor=None,
                obj=opportunity,
                verb="opportunity.stalled",
                data={"stage": opportunity.stage_id, "days": days},
            )
        )
    Notification.objects.bulk_create(notes)
    from crm.core.models import Event

    Event.objects.bulk_create(events)
    return flagged


# --- lead conversion, grading, merge, stage use --------------------------------------------------


def create_from_lead(actor: User, lead: Any, customer: Any, contact: Any) -> None:
    """Conversion hook: an opportunity for the converted lead's customer."""
    name = lead.product_line or lead.company or customer.name
    data: dict[str, Any] = {"name": _("%(name)s opportunity") % {"name": name}}
    if getattr(lead, "source", "") and dictionaries.is_valid(
        _org(actor), DictionaryKind.SOURCE, lead.source
    ):
        data["source"] = lead.source
    create_opportunity(
        actor=actor,
        customer=customer,
        data={**data, "contact": contact},
        owner=customer.owner if customer.owner_id else actor,
        lead=lead,
    )


def won_amounts(org_id: int, since: datetime) -> dict[int, Decimal]:
    """Grading provider: actual amounts of opportunities won since ``since`` per customer."""
    rows = (
        Opportunity.objects.filter(
            org_id=org_id,
            status=OpportunityStatus.WON,
            actual_close_date__gte=timezone.localdate(since)
            if timezone.is_aware(since)
            else since.date(),
        )
        .values("customer_id")
        .annotate(total=Sum("actual_amount"))
    )
    return {r["customer_id"]: r["total"] or Decimal(0) for r in rows}


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """Customer-merge handler: the source's opportunities move to the target."""
    moved = Opportunity.objects.filter(customer=source).update(customer=target)
    refresh_customer(source.pk)
    refresh_customer(target.pk)
    return {"opportunities": moved}


def stage_is_used(stage: Stage) -> bool:
    return (
        Opportunity.objects.filter(Q(stage=stage) | Q(node=stage)).exists()
        or StageHistory.objects.filter(Q(stage=stage) | Q(node=stage)).exists()
    )
