"""Receivable plans (回款计划, R7.1): the installments of a contract, edited as one set.

Rules kept here:

- the installments (due date, amount or share of the contract, reminder days, note) add up
  *exactly* to the contract amount; a share fills the amount (and an amount the share) through
  :func:`crm.core.money.money`; when every installment is given as a share and the shares add up
  to 100 %, the last one takes the rounding remainder;
- :func:`split_evenly` splits an amount into N installments of whole fen, the remainder on the
  last one (no rounding at all: the amount is divided in fen);
- editable while the contract is neither completed nor terminated; an installment never goes
  below what was received or written off on it, and one with money on it cannot be removed (an
  installment with voided receipts or rejected write-offs in its history is voided, not deleted);
- the contract row is locked first (as every receipt and write-off does), so the set is saved
  against the amounts as they are, and a conditional UPDATE re-checks each installment's floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, ValidationFailed
from crm.core.money import money, parse_money
from crm.org.models import User
from crm.sales.choices import ContractStatus
from crm.sales.models import Contract

from .choices import ReceiptStatus, WriteOffStatus
from .models import ReceiptAllocation, ReceivablePlan, WriteOff
from .policy import amount as amount_value
from .policy import cny, fen, may_plan, require, visible_contract

MAX_INSTALLMENTS = 60
MAX_REMIND_DAYS = 365
DEFAULT_REMIND_DAYS = 7
#: installments that leave the set keep their row (history) with a sequence out of the way
VOID_SEQUENCE_BASE = 1_000_000_000
HUNDRED = Decimal("100")
ZERO = Decimal("0.00")
#: contracts whose plans no longer change
FROZEN_STATUSES = (ContractStatus.COMPLETED, ContractStatus.TERMINATED)


# --- pure arithmetic (property-tested) -----------------------------------------------------------
def split_evenly(total: Decimal, count: int) -> list[Decimal]:
    """``total`` in ``count`` installments of whole fen; the remainder goes on the last one.

    Raises ValueError when ``count`` is not 1…MAX_INSTALLMENTS or ``total`` does not give each
    installment at least one fen.
    """
    if not 1 <= count <= MAX_INSTALLMENTS:
        raise ValueError(count)
    fen_total = int(money(total) * 100)
    base, remainder = divmod(fen_total, count)
    if base < 1:
        raise ValueError(total)
    parts = [base] * count
    parts[-1] += remainder
    return [Decimal(p).scaleb(-2) for p in parts]


def share_of(part: Decimal, total: Decimal) -> Decimal:
    """``part`` as a percentage of ``total`` (two decimals, half-up)."""
    if total <= 0:
        return ZERO
    return money(part * HUNDRED / total)


def amount_for(share: Decimal, total: Decimal) -> Decimal:
    """``share`` % of ``total``, half-up to the fen."""
    return money(total * share / HUNDRED)


@dataclass
class PlanRow:
    """One installment as the editor sent it: an amount, a share, or both (the amount wins)."""

    due_on: date | None
    amount: Decimal | None = None
    percentage: Decimal | None = None
    remind_days: int = DEFAULT_REMIND_DAYS
    note: str = ""
    id: int | None = None


def resolve_amounts(total: Decimal, rows: list[PlanRow]) -> list[tuple[Decimal, Decimal]]:
    """(amount, share) of every row: a share fills the amount, an amount the share. When every
    row came as a share and the shares add up to exactly 100 %, the last row takes what the
    others leave, so the set adds up to ``total`` to the fen."""
    result = []
    for row in rows:
        if row.amount is not None:
            result.append((row.amount, share_of(row.amount, total)))
        elif row.percentage is not None:
            result.append((amount_for(row.percentage, total), row.percentage))
        else:
            result.append((ZERO, ZERO))
    by_share = rows and all(r.amount is None and r.percentage is not None for r in rows)
    if by_share and sum((r.percentage or ZERO) for r in rows) == HUNDRED:
        rest = total - sum(a for a, _s in result[:-1])
        result[-1] = (rest, result[-1][1])
    return result


# --- input ---------------------------------------------------------------------------------------
def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if value in (None, ""):
        return None
    try:
        return parse_date(str(value).strip())
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    """A share as typed (“30”, “33.33”, “30%”); None when blank. ValueError when not a number."""
    if value in (None, ""):
        return None
    text = str(value).strip().removesuffix("%").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(value) from None
    if not number.is_finite():
        raise ValueError(value)
    return number


def parse_rows(raw_rows: list[dict[str, Any]]) -> list[PlanRow]:
    """Editor or API rows (``due_on``, ``amount``, ``percentage``, ``remind_days``, ``note``,
    ``id``) as PlanRows; field errors are keyed ``"<index>.<field>"``."""
    errors: dict[str, list[str]] = {}
    rows: list[PlanRow] = []
    for i, raw in enumerate(raw_rows):
        due_on = _date(raw.get("due_on"))
        if due_on is None:
            errors[f"{i}.due_on"] = [_("Enter the due date (YYYY-MM-DD).")]
        try:
            amount = parse_money(raw.get("amount"))
        except ValueError:
            errors[f"{i}.amount"] = [_("Enter an amount of 0 or more, with at most two decimals.")]
            amount = None
        try:
            share = _decimal(raw.get("percentage"))
        except ValueError:
            errors[f"{i}.percentage"] = [_("Enter a percentage, e.g. 30 or 33.33.")]
            share = None
        if share is not None and not ZERO < share <= HUNDRED:
            errors[f"{i}.percentage"] = [_("A share is above 0 and at most 100 %.")]
        if amount is None and share is None and f"{i}.amount" not in errors:
            errors[f"{i}.amount"] = [_("Enter the amount or the share of the contract.")]
        remind = raw.get("remind_days")
        if remind in (None, ""):
            remind = DEFAULT_REMIND_DAYS
        try:
            remind = int(remind)
        except (TypeError, ValueError):
            remind = -1
        if not 0 <= remind <= MAX_REMIND_DAYS:
            errors[f"{i}.remind_days"] = [
                _("Remind 0 to %(n)s days before the due date.") % {"n": MAX_REMIND_DAYS}
            ]
        note = str(raw.get("note") or "").strip()
        if len(note) > 300:
            errors[f"{i}.note"] = [_("At most %(n)s characters.") % {"n": 300}]
        raw_id = str(raw.get("id") or "")
        plan_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 19 else None
        rows.append(PlanRow(due_on, amount, share, remind, note, plan_id))
    if errors:
        raise ValidationFailed(field_errors=errors)
    return rows


# --- the service ---------------------------------------------------------------------------------
def _plan_label(plan: ReceivablePlan) -> str:
    return _("installment %(n)s") % {"n": plan.sequence}


def _summary(plans: list[ReceivablePlan]) -> list[list[str]]:
    return [[str(p.sequence), p.due_on.isoformat(), str(p.amount)] for p in plans]


def _check_rows(contract: Contract, rows: list[PlanRow]) -> list[tuple[Decimal, Decimal]]:
    if len(rows) > MAX_INSTALLMENTS:
        raise ValidationFailed(
            _("At most %(n)s installments per contract.") % {"n": MAX_INSTALLMENTS}
        )
    resolved = resolve_amounts(contract.amount, rows)
    errors: dict[str, list[str]] = {}
    for i, (value, _share) in enumerate(resolved):
        if value <= 0:
            errors[f"{i}.amount"] = [_("An installment's amount must be above 0.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    total = sum((a for a, _s in resolved), ZERO)
    if total != contract.amount:
        difference = contract.amount - total
        detail = (
            _("%(diff)s short") % {"diff": cny(difference)}
            if difference > 0
            else _("%(diff)s too much") % {"diff": cny(-difference)}
        )
        message = _(
            "The installments add up to %(total)s, but the contract amount is %(amount)s "
            "(%(detail)s). They must add up exactly."
        ) % {"total": cny(total), "amount": cny(contract.amount), "detail": detail}
        raise ValidationFailed(message, field_errors={"plans": [message]})
    return resolved


@transaction.atomic
def replace_plans(
    *, actor: User, contract: Contract, rows: list[dict[str, Any]]
) -> list[ReceivablePlan]:
    """Save the installments of ``contract`` as the set ``rows`` (in order: installment 1, 2 …).

    ``rows`` are dicts of ``due_on``, ``amount`` and/or ``percentage``, ``remind_days``,
    ``note`` and ``id``. Rows with an ``id`` change that installment; rows without one are new;
    installments left out
    are removed (voided when they have receipts or write-offs in their history). Refused, with
    nothing written, when the set does not add up to the contract amount, when an installment
    would go below what was received or written off on it, or when the contract is completed
    or terminated."""
    contract = visible_contract(actor, contract)
    require(may_plan(actor, contract))
    plan_rows = parse_rows(rows)
    locked = Contract.objects.select_for_update().get(pk=contract.pk)
    if locked.status in FROZEN_STATUSES:
        raise InvalidTransition(
            _("The plans of a %(status)s contract no longer change.")
            % {"status": locked.get_status_display()}
        )
    resolved = _check_rows(locked, plan_rows)
    current = {
        p.pk: p
        for p in ReceivablePlan.objects.select_for_update()
        .filter(contract=locked, is_void=False)
        .order_by("sequence", "pk")
    }
    before = _summary(list(current.values()))
    errors: dict[str, list[str]] = {}
    for i, row in enumerate(plan_rows):
        if row.id is None:
            continue
        plan = current.get(row.id)
        if plan is None:
            raise ValidationFailed(
                _("An installment was removed by someone else meanwhile. Reload and try again.")
            )
        floor = plan.received_amount + plan.written_off_amount
        if resolved[i][0] < floor:
            errors[f"{i}.amount"] = [
                _("Cannot go below %(floor)s, received or written off on it.")
                % {"floor": cny(floor)}
            ]
    kept = {r.id for r in plan_rows if r.id is not None}
    removed = [p for pk, p in current.items() if pk not in kept]
    for plan in removed:
        if plan.received_amount or plan.written_off_amount:
            errors.setdefault("plans", []).append(
                _("%(plan)s has money received or written off on it and cannot be removed.")
                % {"plan": _plan_label(plan)}
            )
        elif (
            ReceiptAllocation.objects.filter(
                plan=plan, receipt__status=ReceiptStatus.PENDING
            ).exists()
            or WriteOff.objects.filter(plan=plan, status=WriteOffStatus.PENDING).exists()
        ):
            errors.setdefault("plans", []).append(
                _("%(plan)s has a receipt or write-off waiting for approval.")
                % {"plan": _plan_label(plan)}
            )
    if errors:
        raise ValidationFailed(field_errors=errors)
    now = timezone.now()
    # Sequences out of the way first (unique per contract), then the final ones.
    for plan in current.values():
        ReceivablePlan.objects.filter(pk=plan.pk).update(sequence=VOID_SEQUENCE_BASE + plan.pk)
    try:
        with transaction.atomic():
            for plan in removed:
                has_history = (
                    ReceiptAllocation.objects.filter(plan=plan).exists()
                    or WriteOff.objects.filter(plan=plan).exists()
                )
                if has_history:
                    ReceivablePlan.objects.filter(pk=plan.pk).update(is_void=True, updated_at=now)
                else:
                    ReceivablePlan.objects.filter(pk=plan.pk).delete()
            new_plans = []
            for i, (row, (value, share)) in enumerate(zip(plan_rows, resolved, strict=True)):
                fields = {
                    "sequence": i + 1,
                    "due_on": row.due_on,
                    "amount": value,
                    "percentage": share,
                    "remind_days": row.remind_days,
                    "note": row.note,
                }
                if row.id is None:
                    new_plans.append(
                        ReceivablePlan(org_id=locked.org_id, contract=locked, **fields)
                    )
                    continue
                updated = ReceivablePlan.objects.filter(
                    pk=row.id,
                    received_amount__lte=fen(amount_value(value) - F("written_off_amount")),
                ).update(**fields, updated_at=now)
                if not updated:
                    raise ValidationFailed(
                        field_errors={
                            f"{i}.amount": [
                                _("Money was received on this installment meanwhile; reload.")
                            ]
                        }
                    )
            ReceivablePlan.objects.bulk_create(new_plans)
    except IntegrityError:
        raise ValidationFailed(
            _("The installments changed meanwhile. Reload and try again.")
        ) from None
    plans = list(
        ReceivablePlan.objects.filter(contract=locked, is_void=False).order_by("sequence", "pk")
    )
    after = _summary(plans)
    if before != after:
        audit.record(
            actor=actor,
            obj=locked,
            verb="receivable.planned",
            data={"plans": after, "before": before},
        )
    return plans


def plans_total(contract: Contract) -> Decimal:
    """What the contract's installments add up to (to show a gap after an amendment)."""
    values = ReceivablePlan.objects.filter(contract=contract, is_void=False).values_list(
        "amount", flat=True
    )
    return sum(values, ZERO)


__all__ = [
    "MAX_INSTALLMENTS",
    "PlanRow",
    "amount_for",
    "parse_rows",
    "plans_total",
    "replace_plans",
    "resolve_amounts",
    "share_of",
    "split_evenly",
]
