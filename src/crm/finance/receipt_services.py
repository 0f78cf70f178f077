"""Receipts (回款, R7.2) and bad-debt write-offs (坏账核销, R7.3).

A receipt is money received for a signed, executing or completed contract, numbered
``HK-YYYY-00001``, allocated to one or more of the contract's installments (by default the
oldest open ones first, partial allowed). Its owner is the contract's owner, so a rep and their
manager see their contracts' receipts.

Over-collection is impossible, even concurrently. In one transaction, the contract row and then
each installment take the amount with a conditional UPDATE::

    UPDATE … SET received = ROUND(received + x, 2)
     WHERE id = … AND received <= ROUND(amount − written_off − x, 2)

If any of them matches no row, everything rolls back and the user reads “¥X left to collect on
this contract”; the check constraints of the database say the same (an IntegrityError becomes
the same message). The contract row goes first, so writers of one contract queue there.

Optional approval: when an approval flow of the subject ``receipt`` matches the amount, the
receipt is recorded as pending and counts only once approved (the money moves in the approving
transaction). A receipt is never deleted: voiding it (with a reason) gives the amounts back with
conditional updates.

A write-off takes (part of) an installment's outstanding amount as bad debt; subject
``write_off`` (no matching flow: applied at once), applied with the same conditional updates on
the installment's and the contract's ``written_off_amount``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, NotFound, ValidationFailed
from crm.core.money import parse_money
from crm.core.numbering import next_number
from crm.org.models import User
from crm.sales import approvals
from crm.sales.choices import SIGNED_STATUSES, ApprovalSubject, ContractStatus
from crm.sales.models import Contract

from .choices import PaymentMethod, ReceiptStatus, WriteOffStatus
from .models import Receipt, ReceiptAllocation, ReceivablePlan, WriteOff
from .plan_services import _date
from .policy import amount as amount_value
from .policy import cny, fen, left_to_collect_message, may_collect, require, visible_contract

ZERO = Decimal("0.00")
#: contracts whose bad debts may be written off (a terminated contract's too)
WRITE_OFF_STATUSES = (*SIGNED_STATUSES, ContractStatus.TERMINATED)
TEXT_LIMITS = {"payer": 200, "reference": 100, "note": 500}


class OverCollection(ValidationFailed):
    """The money would exceed what is left to collect (on the contract or an installment)."""


@dataclass(frozen=True)
class Share:
    """How much of a receipt settles one installment."""

    plan_id: int
    amount: Decimal


# --- pure arithmetic (property-tested) -----------------------------------------------------------
def allocate_fifo(
    total: Decimal, open_plans: list[tuple[int, Decimal]]
) -> tuple[list[Share], Decimal]:
    """Spread ``total`` over ``open_plans`` ((id, outstanding), oldest first), each up to what
    it has outstanding. Returns the shares and what could not be placed."""
    rest = total
    shares: list[Share] = []
    for plan_id, outstanding in open_plans:
        if rest <= 0:
            break
        if outstanding <= 0:
            continue
        take = min(rest, outstanding)
        shares.append(Share(plan_id, take))
        rest -= take
    return shares, rest


# --- helpers -------------------------------------------------------------------------------------
def receipt_url(receipt: Any) -> str:
    return reverse("finance:receipt_detail", args=[receipt.pk])


def contract_url(contract: Any) -> str:
    try:
        return reverse("sales:contract_detail", args=[contract.pk])
    except Exception:  # the contract pages may not be mounted (tests of this module alone)
        return ""


def _positive_amount(value: Any, field: str = "amount") -> Decimal:
    try:
        parsed = parse_money(value)
    except ValueError:
        raise ValidationFailed(
            field_errors={field: [_("Enter an amount of 0 or more, with at most two decimals.")]}
        ) from None
    if parsed is None:
        raise ValidationFailed(field_errors={field: [_("Enter the amount.")]})
    if parsed <= 0:
        raise ValidationFailed(field_errors={field: [_("The amount must be above 0.")]})
    return parsed


def _open_plans(contract: Contract) -> list[ReceivablePlan]:
    return list(
        ReceivablePlan.objects.filter(contract=contract, is_void=False).order_by(
            "due_on", "sequence", "pk"
        )
    )


def _plan_left_message(plan: ReceivablePlan) -> str:
    return _("Installment %(n)s has only %(left)s left to collect.") % {
        "n": plan.sequence,
        "left": cny(max(plan.outstanding, ZERO)),
    }


def _take(
    *, contract_id: int, plan_amounts: list[tuple[int, Decimal]], column: str, total: Decimal
) -> None:
    """Add the amounts to ``column`` (received or written off) of the contract, then of each
    installment, each a conditional UPDATE that refuses to go past the amount. Raises
    OverCollection (after undoing this step) when any of them does not apply."""
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = Contract.objects.filter(
                pk=contract_id,
                received_amount__lte=fen(
                    F("amount") - F("written_off_amount") - amount_value(total)
                ),
            ).update(**{column: fen(F(column) + amount_value(total))}, updated_at=now)
            if not updated:
                raise OverCollection(
                    field_errors={"amount": [left_to_collect_message(contract_id)]}
                )
            for plan_id, value in plan_amounts:
                updated = ReceivablePlan.objects.filter(
                    pk=plan_id,
                    is_void=False,
                    received_amount__lte=fen(
                        F("amount") - F("written_off_amount") - amount_value(value)
                    ),
                ).update(**{column: fen(F(column) + amount_value(value))}, updated_at=now)
                if not updated:
                    plan = ReceivablePlan.objects.get(pk=plan_id)
                    raise OverCollection(field_errors={"amount": [_plan_left_message(plan)]})
    except IntegrityError:
        raise OverCollection(
            field_errors={"amount": [left_to_collect_message(contract_id)]}
        ) from None


def _give_back(
    *, contract_id: int, plan_amounts: list[tuple[int, Decimal]], column: str, total: Decimal
) -> None:
    """The reverse of :func:`_take` (voiding): conditional on the amounts still being there."""
    now = timezone.now()
    updated = Contract.objects.filter(
        pk=contract_id, **{f"{column}__gte": amount_value(total)}
    ).update(**{column: fen(F(column) - amount_value(total))}, updated_at=now)
    if not updated:
        raise InvalidTransition(_("The contract's amounts changed meanwhile. Reload and retry."))
    for plan_id, value in plan_amounts:
        updated = ReceivablePlan.objects.filter(
            pk=plan_id, **{f"{column}__gte": amount_value(value)}
        ).update(**{column: fen(F(column) - amount_value(value))}, updated_at=now)
        if not updated:
            raise InvalidTransition(
                _("The installments' amounts changed meanwhile. Reload and retry.")
            )


# --- receipts ------------------------------------------------------------------------------------
def _clean_receipt_data(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    try:
        clean["amount"] = _positive_amount(data.get("amount"))
    except ValidationFailed as exc:
        errors.update(exc.field_errors)
    raw_day = data.get("received_on")
    day = _date(raw_day) if raw_day not in (None, "") else timezone.localdate()
    if day is None:
        errors["received_on"] = [_("Enter a valid date (YYYY-MM-DD).")]
    elif day > timezone.localdate():
        errors["received_on"] = [_("The date of a receipt cannot be in the future.")]
    clean["received_on"] = day
    method = data.get("method") or PaymentMethod.TRANSFER
    if method not in PaymentMethod.values:
        errors["method"] = [_("Choose how the money came.")]
    clean["method"] = method
    for field, limit in TEXT_LIMITS.items():
        text = str(data.get(field) or "").strip()
        if len(text) > limit:
            errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
        clean[field] = text
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _shares(
    contract: Contract, total: Decimal, allocations: list[tuple[Any, Any]] | None
) -> list[Share]:
    """The installments the receipt settles: the ones given (which must add up to the receipt),
    or the oldest open ones first."""
    plans = _open_plans(contract)
    if not plans:
        raise ValidationFailed(
            field_errors={
                "allocations": [
                    _(
                        "This contract has no receivable plan yet. Plan its installments first "
                        "(one installment for the whole amount is fine)."
                    )
                ]
            }
        )
    if total > contract.outstanding:
        raise OverCollection(field_errors={"amount": [left_to_collect_message(contract.pk)]})
    by_id = {p.pk: p for p in plans}
    if not allocations:
        open_plans = [(p.pk, p.outstanding) for p in plans]
        shares, rest = allocate_fifo(total, open_plans)
        if rest > 0:
            raise ValidationFailed(
                field_errors={
                    "amount": [
                        _(
                            "The installments leave only %(open)s open, %(rest)s less than the "
                            "receipt. Adjust the receivable plan first."
                        )
                        % {"open": cny(total - rest), "rest": cny(rest)}
                    ]
                }
            )
        return shares
    errors: dict[str, list[str]] = {}
    shares = []
    seen: set[int] = set()
    for i, (plan, raw) in enumerate(allocations):
        plan_id = getattr(plan, "pk", plan)
        if plan_id not in by_id or plan_id in seen:
            errors[f"allocations.{i}.plan"] = [_("Choose an installment of this contract.")]
            continue
        seen.add(plan_id)
        try:
            value = _positive_amount(raw, f"allocations.{i}.amount")
        except ValidationFailed as exc:
            errors.update(exc.field_errors)
            continue
        if value > by_id[plan_id].outstanding:
            errors[f"allocations.{i}.amount"] = [_plan_left_message(by_id[plan_id])]
        shares.append(Share(plan_id, value))
    if not errors and sum((s.amount for s in shares), ZERO) != total:
        errors["allocations"] = [
            _("The allocations add up to %(sum)s; the receipt is %(total)s.")
            % {"sum": cny(sum((s.amount for s in shares), ZERO)), "total": cny(total)}
        ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return shares


def _apply_receipt(actor: Any, receipt: Receipt, *, automatic: bool) -> None:
    """Pending → confirmed: the money moves onto the contract and its installments."""
    updated = Receipt.objects.filter(pk=receipt.pk, status=ReceiptStatus.PENDING).update(
        status=ReceiptStatus.CONFIRMED, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        raise InvalidTransition(_("This receipt was decided already."))
    allocations = list(
        ReceiptAllocation.objects.filter(receipt=receipt)
        .order_by("plan__due_on", "plan__sequence", "pk")
        .values_list("plan_id", "amount")
    )
    _take(
        contract_id=receipt.contract_id,
        plan_amounts=allocations,
        column="received_amount",
        total=receipt.amount,
    )
    receipt.refresh_from_db()
    audit.record(
        actor=actor,
        obj=receipt,
        verb="receipt.confirmed",
        changes={"status": [ReceiptStatus.PENDING, ReceiptStatus.CONFIRMED]},
        data={"automatic": automatic, "version": receipt.version},
        org_id=receipt.org_id,
    )


@transaction.atomic
def record_receipt(
    *,
    actor: User,
    contract: Contract,
    data: dict[str, Any],
    allocations: list[tuple[Any, Any]] | None = None,
    comment: str = "",
) -> Receipt:
    """Record money received for ``contract`` (finance:create).

    ``data``: ``received_on`` (default today, never in the future), ``amount``, ``method``,
    ``payer``, ``reference`` (the bank's), ``note``. ``allocations``: (installment or its id,
    amount) pairs that add up to the amount; none: the oldest open installments first. Refused
    with “¥X left to collect on this contract” when it would collect more than is left. When a
    ``receipt`` approval flow applies, the receipt waits (pending) and counts once approved."""
    contract = visible_contract(actor, contract)
    require(may_collect(actor, contract))
    clean = _clean_receipt_data(data)
    # The contract row first: writers of one contract's money queue here.
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status not in SIGNED_STATUSES:
        raise InvalidTransition(
            _("Receipts are recorded for signed, executing or completed contracts.")
        )
    shares = _shares(contract, clean["amount"], allocations)
    receipt = Receipt.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        number=next_number(contract.org_id, "HK"),
        contract=contract,
        customer_id=contract.customer_id,
        owner_id=contract.owner_id,
        currency=contract.currency,
        status=ReceiptStatus.PENDING,
        **clean,
    )
    ReceiptAllocation.objects.bulk_create(
        ReceiptAllocation(
            org_id=contract.org_id, receipt=receipt, plan_id=s.plan_id, amount=s.amount
        )
        for s in shares
    )
    audit.record_created(actor=actor, obj=receipt, verb="receipt.created")
    request = approvals.submit(
        actor=actor,
        subject=ApprovalSubject.RECEIPT,
        obj=receipt,
        amount=receipt.amount,
        comment=comment,
    )
    if request is None:
        _apply_receipt(actor, receipt, automatic=True)
    receipt.refresh_from_db()
    return receipt


@transaction.atomic
def void_receipt(*, actor: User, receipt: Receipt, reason: str) -> Receipt:
    """Void a confirmed receipt with a reason (finance:edit): its amounts go back to the contract
    and the installments. The receipt stays, marked voided."""
    found = Receipt.objects.visible_to(actor, "view").filter(pk=receipt.pk).first()
    if found is None:
        raise NotFound()
    require(
        actor.can("finance", "edit")
        and Receipt.objects.visible_to(actor, "edit").filter(pk=receipt.pk).exists()
    )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the receipt is voided.")]})
    if len(reason) > 300:
        raise ValidationFailed(
            field_errors={"reason": [_("At most %(n)s characters.") % {"n": 300}]}
        )
    # The contract row first, as every writer of its money does.
    Contract.objects.select_for_update().filter(pk=found.contract_id).first()
    now = timezone.now()
    updated = Receipt.objects.filter(pk=found.pk, status=ReceiptStatus.CONFIRMED).update(
        status=ReceiptStatus.VOIDED,
        voided_at=now,
        voided_by=actor,
        void_reason=reason,
        version=F("version") + 1,
        updated_at=now,
    )
    if not updated:
        raise InvalidTransition(_("Only a confirmed receipt is voided."))
    allocations = list(
        ReceiptAllocation.objects.filter(receipt=found).values_list("plan_id", "amount")
    )
    _give_back(
        contract_id=found.contract_id,
        plan_amounts=allocations,
        column="received_amount",
        total=found.amount,
    )
    found.refresh_from_db()
    audit.record(
        actor=actor,
        obj=found,
        verb="receipt.voided",
        changes={"status": [ReceiptStatus.CONFIRMED, ReceiptStatus.VOIDED]},
        data={"reason": reason, "version": found.version},
    )
    return found


def _receipt_of(request: Any) -> Receipt:
    return Receipt.objects.get(org_id=request.org_id, pk=int(request.subject_id))


def _on_receipt_approved(request: Any, actor: Any) -> None:
    receipt = _receipt_of(request)
    Contract.objects.select_for_update().filter(pk=receipt.contract_id).first()
    _apply_receipt(actor, receipt, automatic=False)


def _receipt_ended(verb: str) -> Any:
    def outcome(request: Any, actor: Any) -> None:
        receipt = _receipt_of(request)
        updated = Receipt.objects.filter(pk=receipt.pk, status=ReceiptStatus.PENDING).update(
            status=ReceiptStatus.REJECTED, version=F("version") + 1, updated_at=timezone.now()
        )
        if updated:
            receipt.refresh_from_db()
            audit.record(
                actor=actor,
                obj=receipt,
                verb=verb,
                changes={"status": [ReceiptStatus.PENDING, ReceiptStatus.REJECTED]},
                data={"request": request.pk, "version": receipt.version},
                org_id=receipt.org_id,
            )

    return outcome


def _resolve_receipt(subject_id: str) -> tuple[Any, str]:
    receipt = Receipt.objects.get(pk=int(subject_id))
    return receipt, receipt_url(receipt)


# --- write-offs ----------------------------------------------------------------------------------
def _apply_write_off(actor: Any, write_off: WriteOff, *, automatic: bool) -> None:
    now = timezone.now()
    updated = WriteOff.objects.filter(pk=write_off.pk, status=WriteOffStatus.PENDING).update(
        status=WriteOffStatus.APPROVED,
        applied_at=now,
        version=F("version") + 1,
        updated_at=now,
    )
    if not updated:
        raise InvalidTransition(_("This write-off was decided already."))
    _take(
        contract_id=write_off.contract_id,
        plan_amounts=[(write_off.plan_id, write_off.amount)],
        column="written_off_amount",
        total=write_off.amount,
    )
    write_off.refresh_from_db()
    audit.record(
        actor=actor,
        obj=write_off,
        verb="writeoff.applied",
        changes={"status": [WriteOffStatus.PENDING, WriteOffStatus.APPROVED]},
        data={"automatic": automatic, "version": write_off.version},
        org_id=write_off.org_id,
    )


@transaction.atomic
def create_write_off(
    *, actor: User, plan: ReceivablePlan, amount: Any, reason: str, comment: str = ""
) -> WriteOff:
    """Write off (part of) what ``plan`` has outstanding as bad debt (finance:create). Goes to
    the ``write_off`` approval flow when one matches; applied at once otherwise."""
    found = ReceivablePlan.objects.visible_to(actor, "view").filter(pk=plan.pk).first()
    if found is None:
        raise NotFound()
    contract = visible_contract(actor, found.contract)
    require(may_collect(actor, contract))
    value = _positive_amount(amount)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    found = ReceivablePlan.objects.get(pk=found.pk)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("Say why the amount is written off.")]
    elif len(reason) > 500:
        errors["reason"] = [_("At most %(n)s characters.") % {"n": 500}]
    if found.is_void:
        errors["plan"] = [_("This installment was removed from the plan.")]
    elif value > found.outstanding:
        errors["amount"] = [_plan_left_message(found)]
    if errors:
        raise ValidationFailed(field_errors=errors)
    if contract.status not in WRITE_OFF_STATUSES:
        raise InvalidTransition(
            _("Bad debts are written off on signed, executing, completed or terminated contracts.")
        )
    write_off = WriteOff.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        contract=contract,
        plan=found,
        owner_id=contract.owner_id,
        amount=value,
        reason=reason,
        status=WriteOffStatus.PENDING,
    )
    audit.record_created(actor=actor, obj=write_off, verb="writeoff.created")
    request = approvals.submit(
        actor=actor,
        subject=ApprovalSubject.WRITE_OFF,
        obj=write_off,
        amount=value,
        comment=comment,
    )
    if request is None:
        _apply_write_off(actor, write_off, automatic=True)
    write_off.refresh_from_db()
    return write_off


def _write_off_of(request: Any) -> WriteOff:
    return WriteOff.objects.get(org_id=request.org_id, pk=int(request.subject_id))


def _on_write_off_approved(request: Any, actor: Any) -> None:
    write_off = _write_off_of(request)
    Contract.objects.select_for_update().filter(pk=write_off.contract_id).first()
    _apply_write_off(actor, write_off, automatic=False)


def _write_off_ended(status: str) -> Any:
    def outcome(request: Any, actor: Any) -> None:
        write_off = _write_off_of(request)
        updated = WriteOff.objects.filter(pk=write_off.pk, status=WriteOffStatus.PENDING).update(
            status=status, version=F("version") + 1, updated_at=timezone.now()
        )
        if updated:
            write_off.refresh_from_db()
            audit.record(
                actor=actor,
                obj=write_off,
                verb=f"writeoff.{status}",
                changes={"status": [WriteOffStatus.PENDING, status]},
                data={"request": request.pk, "version": write_off.version},
                org_id=write_off.org_id,
            )

    return outcome


def _resolve_write_off(subject_id: str) -> tuple[Any, str]:
    write_off = WriteOff.objects.select_related("contract").get(pk=int(subject_id))
    return write_off, contract_url(write_off.contract)


# --- wiring --------------------------------------------------------------------------------------
def register() -> None:
    """How approval decisions change receipts and write-offs (called from the wiring)."""
    approvals.register_outcome(
        ApprovalSubject.RECEIPT,
        approved=_on_receipt_approved,
        rejected=_receipt_ended("receipt.rejected"),
        withdrawn=_receipt_ended("receipt.withdrawn"),
        resolve=_resolve_receipt,
    )
    approvals.register_outcome(
        ApprovalSubject.WRITE_OFF,
        approved=_on_write_off_approved,
        rejected=_write_off_ended(WriteOffStatus.REJECTED),
        withdrawn=_write_off_ended(WriteOffStatus.WITHDRAWN),
        resolve=_resolve_write_off,
    )


def transfer_all_of(*, actor: Any, from_user: Any, to_user: Any) -> int:
    """Deactivation: the receipts, write-offs and invoices a leaving user owns follow their
    contracts to the colleague (``owner`` always equals the contract's owner)."""
    from .models import Invoice

    moved = 0
    for model in (Receipt, WriteOff, Invoice):
        moved += model.objects.filter(org_id=from_user.org_id, owner=from_user).update(
            owner=to_user, updated_at=timezone.now()
        )
    return moved


def follow_contract_owner(contract: Contract) -> int:
    """Give a contract's receipts, write-offs and invoices its current owner (call after a
    contract changes hands)."""
    from .models import Invoice

    moved = 0
    for model in (Receipt, WriteOff, Invoice):
        moved += (
            model.objects.filter(contract=contract)
            .exclude(owner_id=contract.owner_id)
            .update(owner_id=contract.owner_id, updated_at=timezone.now())
        )
    return moved


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """Customer-merge handler: the source's receipts and invoices move to the target (the
    contracts move with the sales module's own handler)."""
    from .models import Invoice

    return {
        "receipts": Receipt.objects.filter(customer=source).update(customer=target),
        "invoices": Invoice.objects.filter(customer=source).update(customer=target),
    }


__all__ = [
    "OverCollection",
    "Share",
    "allocate_fifo",
    "create_write_off",
    "record_receipt",
    "void_receipt",
]
