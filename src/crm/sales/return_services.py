"""Returns and refunds (R6.3) against a contract and optionally one of its orders, numbered
``TH-YYYY-00001``.

Life cycle: ``draft → pending`` (approval, subject ``return``; approved at once when no flow
applies) ``→ approved → refunded`` (refund date; adds the amount to the contract's
``refunded_amount`` with a conditional update). A rejection or a withdrawal returns the request
to draft, to be corrected and resubmitted; only a draft is edited.

Amount rule: above 0 and at most the contract amount minus what was already refunded and what
other returns of the contract have pending or approved (checked when the return is saved,
submitted, approved and refunded; the last check is the conditional update itself, so
concurrent refunds never refund more than the contract is worth).

Reasons are a fixed list (:class:`ReturnReason`); the description says more.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core import audit
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict, changes_since
from crm.core.money import parse_money
from crm.core.numbering import next_number
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from . import approvals
from .choices import SIGNED_STATUSES, ApprovalSubject, ContractStatus, ReturnStatus
from .contract_services import _clean_date
from .models import Contract, Order, ReturnRequest

#: contracts that take returns: signed ones, executing, completed, terminated
RETURNABLE_STATUSES = (*SIGNED_STATUSES, ContractStatus.TERMINATED)
#: statuses whose amounts are reserved against the contract
RESERVING = (ReturnStatus.PENDING, ReturnStatus.APPROVED)
STATUS_COLORS: dict[str, str] = {
    ReturnStatus.DRAFT: "secondary",
    ReturnStatus.PENDING: "orange",
    ReturnStatus.APPROVED: "cyan",
    ReturnStatus.REFUNDED: "green",
    ReturnStatus.REJECTED: "red",
    ReturnStatus.WITHDRAWN: "secondary",
}


class ReturnReason(models.TextChoices):
    """Why the customer returns goods or gets money back (for the analysis by reason)."""

    QUALITY = "quality", gettext_lazy("Quality problem")
    WRONG_ITEM = "wrong_item", gettext_lazy("Wrong item or quantity delivered")
    DAMAGED = "damaged", gettext_lazy("Damaged in transit")
    LATE = "late", gettext_lazy("Delivered late")
    NOT_NEEDED = "not_needed", gettext_lazy("No longer needed")
    PRICE = "price", gettext_lazy("Price adjustment")
    OTHER = "other", gettext_lazy("Other")


def _require(actor: User, module: str, action: str) -> None:
    if not actor.can(module, action):
        raise PermissionDenied()


def return_url(ret: Any) -> str:
    return reverse("sales:return_detail", args=[ret.pk])


def available_amount(contract: Contract, *, exclude: int | None = None) -> Decimal:
    """What may still be refunded on ``contract``: its amount minus the refunds and the amounts
    of the other pending or approved returns."""
    others = ReturnRequest.objects.filter(contract_id=contract.pk, status__in=RESERVING)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    reserved = others.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    amounts = Contract.objects.filter(pk=contract.pk).values("amount", "refunded_amount").first()
    assert amounts is not None
    return max(amounts["amount"] - amounts["refunded_amount"] - reserved, Decimal("0.00"))


def _check_amount(contract: Contract, amount: Decimal, exclude: int | None) -> None:
    left = available_amount(contract, exclude=exclude)
    if amount > left:
        raise ValidationFailed(
            field_errors={
                "amount": [
                    _(
                        "At most %(left)s can still be refunded on this contract (its amount "
                        "minus refunds and other pending or approved returns)."
                    )
                    % {"left": f"¥{left:,.2f}"}
                ]
            }
        )


def _clean(data: dict[str, Any], contract: Contract) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "reason" in data:
        reason = str(data.get("reason") or "").strip()
        if reason not in ReturnReason.values:
            errors["reason"] = [_("Choose a reason from the list.")]
        clean["reason"] = reason
    if "description" in data:
        clean["description"] = str(data.get("description") or "").strip()[:5000]
    if "amount" in data:
        try:
            amount = parse_money(data.get("amount"))
        except ValueError:
            amount = None
            errors["amount"] = [_("Enter an amount of 0 or more, with at most two decimals.")]
        if amount is None and "amount" not in errors:
            errors["amount"] = [_("Enter the refund amount.")]
        elif amount is not None and amount <= 0:
            errors["amount"] = [_("The amount must be above 0.")]
        clean["amount"] = amount
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_order(contract: Contract, order: Order | None) -> None:
    if order is not None and order.contract_id != contract.pk:
        raise ValidationFailed(field_errors={"order": [_("Choose an order of this contract.")]})


@transaction.atomic
def create_return(
    *,
    actor: User,
    contract: Contract,
    data: dict[str, Any],
    order: Order | None = None,
) -> ReturnRequest:
    """A draft return of ``contract`` (signed, executing, completed or terminated), optionally
    of one of its orders."""
    _require(actor, "sales", "create")
    assert_in_scope(actor, contract, "edit")
    if contract.status not in RETURNABLE_STATUSES:
        raise InvalidTransition(_("Returns are recorded against a signed contract."))
    _check_order(contract, order)
    clean = _clean({"reason": "", "amount": None, **data}, contract)
    _check_amount(contract, clean["amount"], None)
    ret = ReturnRequest.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        number=next_number(contract.org_id, "TH"),
        contract=contract,
        order=order,
        customer_id=contract.customer_id,
        owner=actor,
        currency=contract.currency,
        **clean,
    )
    audit.record_created(actor=actor, obj=ret, verb="return.created")
    assert_in_scope(actor, ret, "view")
    return ret


def _write(
    actor: Any,
    ret: ReturnRequest,
    *,
    from_statuses: tuple[str, ...],
    values: dict[str, Any],
    verb: str,
    version: int | None = None,
    data: dict[str, Any] | None = None,
    refused: str = "",
) -> ReturnRequest:
    """Conditional update of ``ret`` (status, and version when given) and its event."""
    before = audit.snapshot(ret)
    filters: dict[str, Any] = {"pk": ret.pk, "status__in": from_statuses}
    if version is not None:
        filters["version"] = int(version)
    updated = ReturnRequest.objects.filter(**filters).update(
        **values, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        current = ReturnRequest.objects.get(pk=ret.pk)
        if current.status not in from_statuses:
            raise InvalidTransition(refused or None)
        assert version is not None
        raise EditConflict(changes_since(current, int(version)), current.version)
    ret.refresh_from_db()
    audit.record(
        actor=actor,
        obj=ret,
        verb=verb,
        changes=audit.diff(before, audit.snapshot(ret)),
        data={**(data or {}), "version": ret.version},
        org_id=ret.org_id,
    )
    return ret


@transaction.atomic
def update_return(
    *,
    actor: User,
    ret: ReturnRequest,
    data: dict[str, Any],
    order: Order | bool | None = False,
    version: int | None = None,
) -> ReturnRequest:
    """Edit a draft (reason, description, amount, and the order when ``order`` is given)."""
    _require(actor, "sales", "edit")
    assert_in_scope(actor, ret, "edit")
    if ret.status != ReturnStatus.DRAFT:
        raise InvalidTransition(_("Only a draft return is edited."))
    contract = ret.contract
    clean = _clean(data, contract)
    if clean.get("amount") is not None:
        _check_amount(contract, clean["amount"], ret.pk)
    if order is not False:
        chosen = order if isinstance(order, Order) else None
        _check_order(contract, chosen)
        clean["order_id"] = chosen.pk if chosen else None
    return _write(
        actor,
        ret,
        from_statuses=(ReturnStatus.DRAFT,),
        values=clean,
        verb="return.updated",
        version=version,
        refused=_("The return was submitted meanwhile; it is locked now."),
    )


@transaction.atomic
def submit_return(
    *, actor: User, ret: ReturnRequest, comment: str = "", version: int | None = None
) -> ReturnRequest:
    """Draft → pending and its approval starts; approved at once when no flow applies."""
    _require(actor, "sales", "edit")
    assert_in_scope(actor, ret, "edit")
    _check_amount(ret.contract, ret.amount, ret.pk)
    ret = _write(
        actor,
        ret,
        from_statuses=(ReturnStatus.DRAFT,),
        values={"status": ReturnStatus.PENDING},
        verb="return.submitted",
        version=version,
        data={"comment": comment[:500]} if comment else None,
        refused=_("Only a draft return is submitted for approval."),
    )
    request = approvals.submit(
        actor=actor, subject=ApprovalSubject.RETURN, obj=ret, amount=ret.amount, comment=comment
    )
    if request is None:
        ret = _write(
            actor,
            ret,
            from_statuses=(ReturnStatus.PENDING,),
            values={"status": ReturnStatus.APPROVED},
            verb="return.approved",
            data={"automatic": True},
        )
    return ret


@transaction.atomic
def withdraw_return(*, actor: User, ret: ReturnRequest) -> ReturnRequest:
    """The submitter takes a pending return back to draft."""
    _require(actor, "sales", "edit")
    assert_in_scope(actor, ret, "edit")
    request = approvals.pending_request(ApprovalSubject.RETURN, ret)
    if ret.status != ReturnStatus.PENDING or request is None:
        raise InvalidTransition(_("Only a return waiting for approval is withdrawn."))
    approvals.withdraw(actor=actor, request=request)
    ret.refresh_from_db()
    return ret


@transaction.atomic
def refund_return(
    *, actor: User, ret: ReturnRequest, refunded_on: Any, version: int | None = None
) -> ReturnRequest:
    """Approved → refunded on ``refunded_on`` (finance records it): the contract's refunded
    amount grows by the return's amount, never beyond the contract amount."""
    _require(actor, "finance", "edit")
    assert_in_scope(actor, ret, "view")
    errors: dict[str, list[str]] = {}
    day = _clean_date(refunded_on, "refunded_on", errors)
    if day is None and not errors:
        errors["refunded_on"] = [_("Enter the refund date.")]
    elif day is not None and day > timezone.localdate():
        errors["refunded_on"] = [_("The refund date cannot be in the future.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    ret = _write(
        actor,
        ret,
        from_statuses=(ReturnStatus.APPROVED,),
        values={"status": ReturnStatus.REFUNDED, "refunded_on": day},
        verb="return.refunded",
        version=version,
        refused=_("Only an approved return is refunded."),
    )
    grown = Contract.objects.filter(
        pk=ret.contract_id, refunded_amount__lte=F("amount") - ret.amount
    ).update(refunded_amount=F("refunded_amount") + ret.amount, updated_at=timezone.now())
    if not grown:
        raise ValidationFailed(
            field_errors={"amount": [_("This refund would refund more than the contract amount.")]}
        )
    contract = Contract.objects.get(pk=ret.contract_id)
    audit.record(
        actor=actor,
        obj=contract,
        verb="contract.refunded",
        changes={
            "refunded_amount": [
                str(contract.refunded_amount - ret.amount),
                str(contract.refunded_amount),
            ]
        },
        data={"return": ret.pk, "number": ret.number},
    )
    return ret


# --- approval outcomes ----------------------------------------------------------------------------
def _return_of(request: Any) -> ReturnRequest:
    return ReturnRequest.objects.select_related("contract").get(
        org_id=request.org_id, pk=int(request.subject_id)
    )


def _on_approved(request: Any, actor: Any) -> None:
    ret = _return_of(request)
    _check_amount(ret.contract, ret.amount, ret.pk)
    _write(
        actor,
        ret,
        from_statuses=(ReturnStatus.PENDING,),
        values={"status": ReturnStatus.APPROVED},
        verb="return.approved",
        data={"request": request.pk},
    )


def _back_to_draft(verb: str) -> Any:
    def outcome(request: Any, actor: Any) -> None:
        _write(
            actor,
            _return_of(request),
            from_statuses=(ReturnStatus.PENDING,),
            values={"status": ReturnStatus.DRAFT},
            verb=verb,
            data={"request": request.pk},
        )

    return outcome


def _resolve(subject_id: str) -> tuple[Any, str]:
    ret = ReturnRequest.objects.get(pk=int(subject_id))
    return ret, return_url(ret)


def reason_label(value: str) -> str:
    try:
        return str(ReturnReason(value).label)
    except ValueError:
        return value


def register() -> None:
    approvals.register_outcome(
        ApprovalSubject.RETURN,
        approved=_on_approved,
        rejected=_back_to_draft("return.rejected"),
        withdrawn=_back_to_draft("return.withdrawn"),
        resolve=_resolve,
    )
