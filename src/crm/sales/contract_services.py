"""Every write on contracts and their amendments (R6.2, R9.1).

Life cycle: ``draft → pending (approval) → approved → signed → executing → completed``;
``terminated`` (with a reason) from signed or executing; a rejection or a withdrawal returns a
pending contract to draft, and it may be resubmitted. Rules kept here:

- only a draft is edited, under optimistic locking (``version``); a contract that is pending,
  approved, signed or executing changes only through a :class:`ContractAmendment` that is
  submitted for approval (subject ``amendment``) and applied when it is approved (at once when no
  flow applies), with an audit event that lists every changed field;
- submitting starts the approval of the organisation's ``contract`` flow that matches the amount
  (and the largest discount of the quote it comes from); no matching flow approves at once;
- every status change is a conditional update on the status the contract must be in, so two
  people clicking at once cannot both sign (or both submit) it;
- signing needs the signing date and marks the contract's opportunity won (actual amount = the
  contract amount, actual close date = the signing date) through
  :func:`crm.pipeline.opportunities.win_opportunity`, unless it is already won. An opportunity
  that was closed as lost or abandoned is not reopened here (reopening is a manager's action):
  signing is refused with a message saying so, and so is signing by someone who may not edit the
  opportunity (ask its owner or a manager);
- numbers ``HT-YYYY-00001`` come from :func:`crm.core.numbering.next_number` (unique per
  organisation, race-free; a unique constraint backs it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit, fieldaccess
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict, changes_since
from crm.core.money import parse_money
from crm.core.numbering import next_number
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from . import approvals
from .choices import ApprovalStatus, ApprovalSubject, ContractStatus, QuoteStatus
from .models import Contract, ContractAmendment, Quote

#: Fields a draft's editor sets (status, owner, numbers and money kept by finance move apart).
EDITABLE_FIELDS = [
    "name",
    "amount",
    "starts_on",
    "ends_on",
    "renewal_on",
    "customer_signer",
    "signer",
    "payment_terms",
    "notes",
]
#: Fields an amendment may change on a locked contract.
AMENDABLE_FIELDS = [
    "name",
    "amount",
    "starts_on",
    "ends_on",
    "renewal_on",
    "customer_signer",
    "payment_terms",
    "notes",
]
DATE_FIELDS = ("starts_on", "ends_on", "renewal_on", "signed_on")
#: Statuses in which an amendment may be proposed.
AMENDABLE_STATUSES = (ContractStatus.APPROVED, ContractStatus.SIGNED, ContractStatus.EXECUTING)
TERMINABLE_STATUSES = (ContractStatus.SIGNED, ContractStatus.EXECUTING)
#: The happy path of the status timeline.
STATUS_PATH = [
    ContractStatus.DRAFT,
    ContractStatus.PENDING,
    ContractStatus.APPROVED,
    ContractStatus.SIGNED,
    ContractStatus.EXECUTING,
    ContractStatus.COMPLETED,
]
STATUS_COLORS: dict[str, str] = {
    ContractStatus.DRAFT: "secondary",
    ContractStatus.PENDING: "orange",
    ContractStatus.APPROVED: "cyan",
    ContractStatus.SIGNED: "blue",
    ContractStatus.EXECUTING: "indigo",
    ContractStatus.COMPLETED: "green",
    ContractStatus.TERMINATED: "red",
}
MAX_TEXT = {"name": 200, "customer_signer": 100}


# --- helpers --------------------------------------------------------------------------------------
def _org(actor: User) -> int:
    if not actor.org_id:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if not actor.can("sales", action):
        raise PermissionDenied()


def contract_url(contract: Any) -> str:
    return reverse("sales:contract_detail", args=[contract.pk])


def _clean_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date (YYYY-MM-DD).")]
    return parsed


def _clean_amount(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        amount = parse_money(value)
    except ValueError:
        errors[field] = [_("Enter an amount of 0 or more, with at most two decimals.")]
        return None
    if amount is None:
        errors[field] = [_("Enter the contract amount.")]
    elif amount <= 0:
        errors[field] = [_("The amount must be above 0.")]
    return amount


def _colleague(actor: User, user: Any, field: str) -> User:
    if not isinstance(user, User) or user.org_id != actor.org_id or not user.is_active:
        raise ValidationFailed(field_errors={field: [_("Choose an active colleague.")]})
    return user


def clean_fields(
    actor: User, data: dict[str, Any], allowed: Iterable[str], *, current: Contract | None = None
) -> dict[str, Any]:
    """Validate the fields of ``allowed`` present in ``data`` (absent ones are left alone)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in allowed:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, str):
            value = value.strip()
        clean[key] = value
    for field, limit in MAX_TEXT.items():
        if field in clean:
            clean[field] = clean[field] or ""
            if len(clean[field]) > limit:
                errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
    if "name" in clean and not clean["name"]:
        errors["name"] = [_("Enter the contract's name.")]
    if "amount" in clean:
        clean["amount"] = _clean_amount(clean["amount"], "amount", errors)
    for field in DATE_FIELDS:
        if field in clean:
            clean[field] = _clean_date(clean[field], field, errors)
    for field in ("payment_terms", "notes"):
        if field in clean:
            clean[field] = clean[field] or ""
    if "signer" in clean:
        if clean["signer"] in (None, ""):
            clean["signer"] = None
        else:
            try:
                clean["signer"] = _colleague(actor, clean["signer"], "signer")
            except ValidationFailed as exc:
                errors.update(exc.field_errors)
    starts = clean.get("starts_on", current.starts_on if current else None)
    ends = clean.get("ends_on", current.ends_on if current else None)
    if starts and ends and ends < starts and "ends_on" not in errors:
        errors["ends_on"] = [_("The end date is before the start date.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _event_changes(before: dict[str, Any], contract: Contract) -> dict[str, list[Any]]:
    return audit.diff(before, audit.snapshot(contract))


def _transition(
    actor: Any,
    contract: Contract,
    *,
    from_statuses: Iterable[str],
    to: str,
    verb: str,
    version: int | None = None,
    values: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    refused: str | None = None,
) -> Contract:
    """Move ``contract`` to ``to`` if it is in one of ``from_statuses`` (and at ``version`` when
    given), write ``values`` with it, record the event. A conditional update: of two people
    acting at once, one wins and the other is told the status changed."""
    allowed = list(from_statuses)
    before = audit.snapshot(contract)
    filters: dict[str, Any] = {"pk": contract.pk, "status__in": allowed}
    if version is not None:
        filters["version"] = int(version)
    updated = Contract.objects.filter(**filters).update(
        status=to, version=F("version") + 1, updated_at=timezone.now(), **(values or {})
    )
    if not updated:
        current = Contract.objects.get(pk=contract.pk)
        if current.status not in allowed:
            raise InvalidTransition(
                refused
                or _("This change is not allowed while the contract is “%(status)s”.")
                % {"status": current.get_status_display()}
            )
        assert version is not None
        raise EditConflict(changes_since(current, int(version)), current.version)
    contract.refresh_from_db()
    audit.record(
        actor=actor,
        obj=contract,
        verb=verb,
        changes=_event_changes(before, contract),
        data={**(data or {}), "version": contract.version},
        org_id=contract.org_id,
    )
    return contract


def _check_edit(actor: User, contract: Contract) -> None:
    _require(actor, "edit")
    assert_in_scope(actor, contract, "edit")


# --- create and edit ------------------------------------------------------------------------------
def _visible_customer(actor: User, customer: Any) -> Any:
    from crm.customers.models import Customer

    if customer is None or getattr(customer, "org_id", None) != actor.org_id:
        raise ValidationFailed(field_errors={"customer": [_("Choose a customer.")]})
    if not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise ValidationFailed(field_errors={"customer": [_("Choose a customer.")]})
    if customer.merged_into_id:
        raise ValidationFailed(field_errors={"customer": [_("This customer was merged.")]})
    return customer


@transaction.atomic
def create_contract(
    *,
    actor: User,
    data: dict[str, Any],
    customer: Any = None,
    opportunity: Any = None,
    quote: Quote | None = None,
    owner: User | None = None,
    collaborators: list[User] | None = None,
) -> Contract:
    """A new draft contract of ``customer``, or of the customer of ``opportunity`` or ``quote``
    (which the actor must see). From an opportunity the name and amount default to the
    opportunity's name and expected amount; from a quote (only an accepted one) the amount is the
    quote's total and its opportunity is linked too."""
    _require(actor, "create")
    org_id = _org(actor)
    data = dict(data)
    if quote is not None:
        if (
            quote.org_id != org_id
            or not Quote.objects.visible_to(actor).filter(pk=quote.pk).exists()
        ):
            raise ValidationFailed(field_errors={"quote": [_("Choose a quote.")]})
        if quote.status != QuoteStatus.ACCEPTED:
            raise ValidationFailed(
                field_errors={"quote": [_("Only an accepted quote becomes a contract.")]}
            )
        customer = customer or quote.customer
        if quote.customer_id != customer.pk:
            raise ValidationFailed(field_errors={"quote": [_("Choose a quote of this customer.")]})
        if opportunity is None and quote.opportunity_id:
            opportunity = quote.opportunity
        if data.get("amount") in (None, ""):
            data["amount"] = quote.total
        if not data.get("name"):
            data["name"] = quote.title
    if opportunity is not None:
        from crm.pipeline.models import Opportunity

        if (
            opportunity.org_id != org_id
            or not Opportunity.objects.visible_to(actor).filter(pk=opportunity.pk).exists()
        ):
            raise ValidationFailed(field_errors={"opportunity": [_("Choose an opportunity.")]})
        customer = customer or opportunity.customer
        if opportunity.customer_id != customer.pk:
            raise ValidationFailed(
                field_errors={"opportunity": [_("Choose an opportunity of this customer.")]}
            )
        if quote is not None and quote.opportunity_id not in (None, opportunity.pk):
            raise ValidationFailed(
                field_errors={"quote": [_("The quote belongs to another opportunity.")]}
            )
        if data.get("amount") in (None, "") and opportunity.expected_amount:
            data["amount"] = opportunity.expected_amount
        if not data.get("name"):
            data["name"] = opportunity.name
    customer = _visible_customer(actor, customer)
    clean = clean_fields(actor, data, EDITABLE_FIELDS)
    errors: dict[str, list[str]] = {}
    if not clean.get("name"):
        errors["name"] = [_("Enter the contract's name.")]
    if clean.get("amount") is None:
        errors["amount"] = [_("Enter the contract amount.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    owner = _colleague(actor, owner or actor, "owner")
    contract = Contract(
        org_id=org_id,
        created_by=actor,
        number=next_number(org_id, "HT"),
        customer=customer,
        opportunity=opportunity,
        quote=quote,
        owner=owner,
        currency=getattr(getattr(actor, "org", None), "currency", "CNY") or "CNY",
        **clean,
    )
    try:
        with transaction.atomic():
            contract.save()
    except IntegrityError:  # pragma: no cover - the sequence never repeats a number
        raise InvalidTransition(_("The contract number is taken; try again.")) from None
    if collaborators:
        contract.collaborators.set([_colleague(actor, u, "collaborators") for u in collaborators])
    audit.record_created(actor=actor, obj=contract, verb="contract.created")
    assert_in_scope(actor, contract, "view")
    return contract


@transaction.atomic
def update_contract(
    *,
    actor: User,
    contract: Contract,
    data: dict[str, Any],
    version: int | None = None,
    collaborators: list[User] | None = None,
) -> Contract:
    """Edit a draft. ``version`` is the one the editor read: if someone saved in between, nothing
    is written and EditConflict says what changed. Any other status answers that only an
    amendment changes the contract now."""
    _check_edit(actor, contract)
    if contract.status != ContractStatus.DRAFT:
        raise InvalidTransition(
            _(
                "Only a draft contract is edited. Once submitted or approved it changes only "
                "through an amendment."
            )
        )
    fieldaccess.guard_write(actor, contract, data)  # H-FIELD: field-level permissions
    clean = clean_fields(actor, data, EDITABLE_FIELDS, current=contract)
    if "amount" in clean and clean["amount"] is None:
        raise ValidationFailed(field_errors={"amount": [_("Enter the contract amount.")]})
    before = audit.snapshot(contract)
    expected = contract.version if version is None else int(version)
    values = {k: v for k, v in clean.items() if k != "signer"}
    if "signer" in clean:
        values["signer_id"] = clean["signer"].pk if clean["signer"] else None
    updated = Contract.objects.filter(
        pk=contract.pk, version=expected, status=ContractStatus.DRAFT
    ).update(**values, version=expected + 1, updated_at=timezone.now())
    if not updated:
        current = Contract.objects.get(pk=contract.pk)
        if current.status != ContractStatus.DRAFT:
            raise InvalidTransition(_("The contract was submitted meanwhile; it is locked now."))
        raise EditConflict(changes_since(current, expected), current.version)
    extra: dict[str, list[Any]] = {}
    if collaborators is not None:
        users = [_colleague(actor, u, "collaborators") for u in collaborators]
        old = sorted(contract.collaborators.values_list("pk", flat=True))
        contract.collaborators.set(users)
        new = sorted(u.pk for u in users)
        if old != new:
            extra["collaborators"] = [old, new]
    contract.refresh_from_db()
    changes = _event_changes(before, contract)
    changes.update(extra)
    audit.record(
        actor=actor,
        obj=contract,
        verb="contract.updated",
        changes=changes,
        data={"version": contract.version},
    )
    return contract


# --- approval -------------------------------------------------------------------------------------
def _discount(contract: Contract) -> Decimal | None:
    if contract.quote_id and contract.quote is not None:
        return contract.quote.max_discount_percent
    return None


@transaction.atomic
def submit_contract(
    *, actor: User, contract: Contract, comment: str = "", version: int | None = None
) -> Contract:
    """Draft → pending, and the approval starts; when no flow applies the contract is approved
    at once. A rejected or withdrawn contract (back in draft) is resubmitted the same way."""
    _check_edit(actor, contract)
    contract = _transition(
        actor,
        contract,
        from_statuses=[ContractStatus.DRAFT],
        to=ContractStatus.PENDING,
        verb="contract.submitted",
        version=version,
        data={"comment": comment[:500]} if comment else None,
        refused=_("Only a draft contract is submitted for approval."),
    )
    request = approvals.submit(
        actor=actor,
        subject=ApprovalSubject.CONTRACT,
        obj=contract,
        amount=contract.amount,
        discount_percent=_discount(contract),
        comment=comment,
    )
    if request is None:
        contract = _transition(
            actor,
            contract,
            from_statuses=[ContractStatus.PENDING],
            to=ContractStatus.APPROVED,
            verb="contract.approved",
            data={"automatic": True},
        )
    return contract


@transaction.atomic
def withdraw_contract(*, actor: User, contract: Contract) -> Contract:
    """The submitter takes a pending contract back to draft (its approval is withdrawn)."""
    _check_edit(actor, contract)
    request = approvals.pending_request(ApprovalSubject.CONTRACT, contract)
    if contract.status != ContractStatus.PENDING or request is None:
        raise InvalidTransition(_("Only a contract waiting for approval is withdrawn."))
    approvals.withdraw(actor=actor, request=request)
    contract.refresh_from_db()
    return contract


def _contract_of(request: Any) -> Contract:
    return Contract.objects.get(org_id=request.org_id, pk=int(request.subject_id))


def _on_contract_approved(request: Any, actor: Any) -> None:
    _transition(
        actor,
        _contract_of(request),
        from_statuses=[ContractStatus.PENDING],
        to=ContractStatus.APPROVED,
        verb="contract.approved",
        data={"request": request.pk},
    )


def _back_to_draft(verb: str) -> Any:
    def outcome(request: Any, actor: Any) -> None:
        _transition(
            actor,
            _contract_of(request),
            from_statuses=[ContractStatus.PENDING],
            to=ContractStatus.DRAFT,
            verb=verb,
            data={"request": request.pk},
        )

    return outcome


def _resolve_contract(subject_id: str) -> tuple[Any, str]:
    contract = Contract.objects.get(pk=int(subject_id))
    return contract, contract_url(contract)


# --- signing and execution ------------------------------------------------------------------------
def _win_opportunity(actor: User, contract: Contract, signed_on: date) -> None:
    """Mark the contract's opportunity won (once): actual amount and date from the contract."""
    from crm.pipeline import opportunities
    from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus
    from crm.pipeline.models import Opportunity

    if not contract.opportunity_id:
        return
    opportunity = Opportunity.objects.select_for_update().get(pk=contract.opportunity_id)
    if opportunity.status == OpportunityStatus.WON:
        return
    if opportunity.status not in OPEN_STATUSES:
        raise InvalidTransition(
            _(
                "The contract's opportunity “%(name)s” is closed as %(status)s. A manager must "
                "reopen it before the contract is signed."
            )
            % {"name": opportunity.name, "status": opportunity.get_status_display()}
        )
    may_edit = (
        actor.can("opportunities", "edit")
        and Opportunity.objects.visible_to(actor, "edit").filter(pk=opportunity.pk).exists()
    )
    if not may_edit:
        raise InvalidTransition(
            _(
                "Signing marks the opportunity “%(name)s” won, and you may not change it. Ask "
                "its owner or a manager to sign the contract."
            )
            % {"name": opportunity.name}
        )
    opportunities.win_opportunity(
        actor=actor,
        opportunity=opportunity,
        actual_amount=contract.amount,
        actual_close_date=signed_on,
        note=_("Contract %(number)s signed.") % {"number": contract.number},
    )


@transaction.atomic
def sign_contract(
    *,
    actor: User,
    contract: Contract,
    signed_on: Any,
    version: int | None = None,
    customer_signer: str | None = None,
    signer: User | None = None,
) -> Contract:
    """Approved → signed on ``signed_on`` (not in the future). Marks the opportunity won."""
    _check_edit(actor, contract)
    errors: dict[str, list[str]] = {}
    day = _clean_date(signed_on, "signed_on", errors)
    if day is None and not errors:
        errors["signed_on"] = [_("Enter the signing date.")]
    elif day is not None and day > timezone.localdate():
        errors["signed_on"] = [_("The signing date cannot be in the future.")]
    values: dict[str, Any] = {"signed_on": day}
    if customer_signer is not None:
        if len(customer_signer.strip()) > MAX_TEXT["customer_signer"]:
            errors["customer_signer"] = [_("At most %(n)s characters.") % {"n": 100}]
        values["customer_signer"] = customer_signer.strip()
    if signer is not None:
        values["signer_id"] = _colleague(actor, signer, "signer").pk
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert day is not None
    contract = _transition(
        actor,
        contract,
        from_statuses=[ContractStatus.APPROVED],
        to=ContractStatus.SIGNED,
        verb="contract.signed",
        version=version,
        values=values,
        refused=_("Only an approved contract is signed."),
    )
    _win_opportunity(actor, contract, day)
    return contract


@transaction.atomic
def start_contract(*, actor: User, contract: Contract, version: int | None = None) -> Contract:
    """Signed → executing; the start date defaults to today."""
    _check_edit(actor, contract)
    values = {} if contract.starts_on else {"starts_on": timezone.localdate()}
    return _transition(
        actor,
        contract,
        from_statuses=[ContractStatus.SIGNED],
        to=ContractStatus.EXECUTING,
        verb="contract.started",
        version=version,
        values=values,
        refused=_("Only a signed contract starts executing."),
    )


@transaction.atomic
def complete_contract(*, actor: User, contract: Contract, version: int | None = None) -> Contract:
    """Executing → completed."""
    _check_edit(actor, contract)
    return _transition(
        actor,
        contract,
        from_statuses=[ContractStatus.EXECUTING],
        to=ContractStatus.COMPLETED,
        verb="contract.completed",
        version=version,
        refused=_("Only an executing contract is completed."),
    )


@transaction.atomic
def terminate_contract(
    *, actor: User, contract: Contract, reason: str, version: int | None = None
) -> Contract:
    """Signed or executing → terminated, with a reason."""
    _check_edit(actor, contract)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the contract ends.")]})
    if len(reason) > 300:
        raise ValidationFailed(
            field_errors={"reason": [_("At most %(n)s characters.") % {"n": 300}]}
        )
    return _transition(
        actor,
        contract,
        from_statuses=TERMINABLE_STATUSES,
        to=ContractStatus.TERMINATED,
        verb="contract.terminated",
        version=version,
        values={"termination_reason": reason, "terminated_at": timezone.now()},
        refused=_("Only a signed or executing contract is terminated."),
    )


# --- amendments -----------------------------------------------------------------------------------
def _json(value: Any) -> Any:
    return audit.to_json(value)


def _apply_amendment(actor: Any, amendment: ContractAmendment) -> Contract:
    """Write the amendment's new values on its contract (inside the approving transaction)."""
    contract = Contract.objects.select_for_update().get(pk=amendment.contract_id)
    raw = {field: pair[1] for field, pair in (amendment.changes or {}).items()}
    clean = clean_fields(actor, raw, AMENDABLE_FIELDS, current=contract)
    filters: dict[str, Any] = {"pk": contract.pk, "status__in": AMENDABLE_STATUSES}
    if "amount" in clean:
        amount = clean["amount"]
        _check_amount_floor(contract, amount)
        filters["received_amount__lte"] = amount - F("written_off_amount")
        filters["refunded_amount__lte"] = amount
    before = audit.snapshot(contract)
    updated = Contract.objects.filter(**filters).update(
        **clean, version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        raise InvalidTransition(
            _("The contract changed meanwhile (status or amounts); this amendment cannot apply.")
        )
    now = timezone.now()
    ContractAmendment.objects.filter(pk=amendment.pk).update(
        status=ApprovalStatus.APPROVED, applied_at=now, version=F("version") + 1, updated_at=now
    )
    contract.refresh_from_db()
    audit.record(
        actor=actor,
        obj=contract,
        verb="contract.amended",
        changes=_event_changes(before, contract),
        data={"amendment": amendment.pk, "reason": amendment.reason, "version": contract.version},
        org_id=contract.org_id,
    )
    return contract


def _check_amount_floor(contract: Contract, amount: Decimal) -> None:
    floor = max(contract.received_amount + contract.written_off_amount, contract.refunded_amount)
    if amount < floor:
        raise ValidationFailed(
            field_errors={
                "amount": [
                    _(
                        "The amount cannot go below what was already received, written off or "
                        "refunded (%(floor)s)."
                    )
                    % {"floor": f"¥{floor:,.2f}"}
                ]
            }
        )


@transaction.atomic
def propose_amendment(
    *, actor: User, contract: Contract, changes: dict[str, Any], reason: str, comment: str = ""
) -> ContractAmendment:
    """Ask to change a locked contract (approved, signed or executing): the changed fields and a
    reason. It goes to the ``amendment`` approval flow; applied at once when none applies."""
    _check_edit(actor, contract)
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status not in AMENDABLE_STATUSES:
        raise InvalidTransition(
            _("Only an approved, signed or executing contract is amended; a draft is edited.")
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the contract changes.")]})
    if len(reason) > 500:
        raise ValidationFailed(
            field_errors={"reason": [_("At most %(n)s characters.") % {"n": 500}]}
        )
    unknown = sorted(set(changes) - set(AMENDABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            field_errors={f: [_("This field is not changed by an amendment.")] for f in unknown}
        )
    clean = clean_fields(actor, changes, AMENDABLE_FIELDS, current=contract)
    if "amount" in clean:
        if clean["amount"] is None:
            raise ValidationFailed(field_errors={"amount": [_("Enter the contract amount.")]})
        _check_amount_floor(contract, clean["amount"])
    diff = {
        field: [_json(getattr(contract, field)), _json(value)]
        for field, value in clean.items()
        if _json(getattr(contract, field)) != _json(value)
    }
    if not diff:
        raise ValidationFailed(_("Change at least one field."))
    if ContractAmendment.objects.filter(contract=contract, status=ApprovalStatus.PENDING).exists():
        raise InvalidTransition(_("An amendment of this contract is already waiting for approval."))
    amendment = ContractAmendment.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        contract=contract,
        owner=actor,
        reason=reason,
        changes=diff,
    )
    audit.record(
        actor=actor,
        obj=contract,
        verb="contract.amendment_proposed",
        data={"amendment": amendment.pk, "reason": reason, "changes": diff},
    )
    amount = clean.get("amount", contract.amount)
    request = approvals.submit(
        actor=actor,
        subject=ApprovalSubject.AMENDMENT,
        obj=amendment,
        amount=amount,
        discount_percent=_discount(contract),
        comment=comment,
    )
    if request is None:
        _apply_amendment(actor, amendment)
    amendment.refresh_from_db()
    return amendment


@transaction.atomic
def withdraw_amendment(*, actor: User, amendment: ContractAmendment) -> ContractAmendment:
    """The requester takes a pending amendment back."""
    _require(actor, "edit")
    request = approvals.pending_request(ApprovalSubject.AMENDMENT, amendment)
    if amendment.status != ApprovalStatus.PENDING or request is None:
        raise InvalidTransition(_("Only an amendment waiting for approval is withdrawn."))
    approvals.withdraw(actor=actor, request=request)
    amendment.refresh_from_db()
    return amendment


def _amendment_of(request: Any) -> ContractAmendment:
    return ContractAmendment.objects.get(org_id=request.org_id, pk=int(request.subject_id))


def _on_amendment_approved(request: Any, actor: Any) -> None:
    amendment = _amendment_of(request)
    if amendment.status == ApprovalStatus.PENDING:
        _apply_amendment(actor, amendment)


def _amendment_ended(status: str) -> Any:
    def outcome(request: Any, actor: Any) -> None:
        amendment = _amendment_of(request)
        ContractAmendment.objects.filter(pk=amendment.pk, status=ApprovalStatus.PENDING).update(
            status=status, version=F("version") + 1, updated_at=timezone.now()
        )
        audit.record(
            actor=actor,
            obj=amendment.contract,
            verb=f"contract.amendment_{status}",
            data={"amendment": amendment.pk, "reason": amendment.reason},
            org_id=amendment.org_id,
        )

    return outcome


def _resolve_amendment(subject_id: str) -> tuple[Any, str]:
    amendment = ContractAmendment.objects.select_related("contract").get(pk=int(subject_id))
    return amendment, contract_url(amendment.contract)


# --- reading --------------------------------------------------------------------------------------
def amendment_rows(amendment: ContractAmendment) -> list[dict[str, Any]]:
    """The amendment's changes as rows (field label, old, new) for pages."""
    return [
        {
            "field": field,
            "label": audit.field_label("sales.contract", field),
            "old": pair[0],
            "new": pair[1],
        }
        for field, pair in sorted((amendment.changes or {}).items())
    ]


def get_contract(actor: User, pk: Any, action: str = "view") -> Contract:
    """One contract ``actor`` may ``action`` (404 otherwise)."""
    from crm.core.scoping import get_scoped_or_404

    contract: Contract = get_scoped_or_404(Contract, actor, pk, action)
    return contract


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """Customer-merge handler: the source's contracts, orders and returns move to the target."""
    from .models import Order, ReturnRequest

    moved = {}
    for key, model in (("contracts", Contract), ("orders", Order), ("returns", ReturnRequest)):
        moved[key] = model.objects.filter(org_id=source.org_id, customer=source).update(
            customer=target
        )
    return moved


def transfer_all_of(*, actor: Any, from_user: User, to_user: User) -> int:
    """Deactivation hand-over: the contracts, orders and returns ``from_user`` owns go to
    ``to_user`` (one event per contract)."""
    from crm.core.models import Event

    from .models import Order, ReturnRequest

    now = timezone.now()
    ids = list(
        Contract.objects.filter(org_id=from_user.org_id, owner=from_user).values_list(
            "pk", flat=True
        )
    )
    if ids:
        Contract.objects.filter(pk__in=ids).update(
            owner=to_user, version=F("version") + 1, updated_at=now
        )
        Event.objects.bulk_create(
            audit.event_for(
                actor=actor,
                obj=c,
                verb="contract.transferred",
                changes={"owner": [from_user.pk, to_user.pk]},
                data={"version": c.version, "reason": "deactivation"},
            )
            for c in Contract.objects.filter(pk__in=ids)
        )
    for model in (Order, ReturnRequest):
        model.objects.filter(org_id=from_user.org_id, owner=from_user).update(
            owner=to_user, version=F("version") + 1, updated_at=now
        )
    return len(ids)


def register() -> None:
    """How approval decisions change contracts and amendments (called from the wiring)."""
    approvals.register_outcome(
        ApprovalSubject.CONTRACT,
        approved=_on_contract_approved,
        rejected=_back_to_draft("contract.rejected"),
        withdrawn=_back_to_draft("contract.withdrawn"),
        resolve=_resolve_contract,
    )
    approvals.register_outcome(
        ApprovalSubject.AMENDMENT,
        approved=_on_amendment_approved,
        rejected=_amendment_ended(ApprovalStatus.REJECTED),
        withdrawn=_amendment_ended(ApprovalStatus.WITHDRAWN),
        resolve=_resolve_amendment,
    )
