"""Invoices (发票, R7.3): requests against a contract, issuing and mailing.

- The buyer's invoicing details live on the customer (invoice title, tax number, address and
  phone, bank and account); a request copies them, and the requester may change the copy.
- Type 普票 (general VAT invoice) needs the title; 专票 (special VAT invoice) needs the title,
  tax number, address and phone, bank and account as well.
- The amount is above 0 and at most the contract amount minus what was already requested or
  issued (cancelled invoices give theirs back): a conditional UPDATE on the contract's
  ``invoiced_amount`` decides, so two requests at once never exceed the contract.
- Lines (item, amount, tax rate) add up to the amount; without lines, one line names the
  contract at the default tax rate.
- Statuses: requested → issued (invoice number, issue date; finance only) → mailed (recipient,
  phone, address, courier, tracking number, mailing date). Cancel gives the amount back: a
  request by whoever may request, an issued or mailed invoice by finance only. Numbers
  ``FP-YYYY-00001``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, NotFound, ValidationFailed
from crm.core.money import money, parse_money
from crm.core.numbering import next_number
from crm.org.models import User
from crm.sales.choices import SIGNED_STATUSES
from crm.sales.models import Contract

from .choices import InvoiceKind, InvoiceStatus
from .models import Invoice, InvoiceLine
from .plan_services import _date
from .policy import amount as amount_value
from .policy import cny, fen, may_request_invoice, require, visible_contract

ZERO = Decimal("0.00")
DEFAULT_TAX_RATE = Decimal("13.00")
MAX_LINES = 50
BUYER_FIELDS = {
    "title": 200,
    "tax_number": 40,
    "address_phone": 300,
    "bank_name": 200,
    "bank_account": 60,
    "note": 500,
}
MAIL_FIELDS = {
    "recipient": 100,
    "recipient_phone": 40,
    "mail_address": 300,
    "courier": 60,
    "tracking_number": 100,
}
#: what a 专票 needs besides the title
SPECIAL_REQUIRED = ("tax_number", "address_phone", "bank_name", "bank_account")


def buyer_defaults(customer: Any) -> dict[str, str]:
    """The customer's invoicing details, as a new request starts with them."""
    return {
        "title": customer.invoice_title or customer.name,
        "tax_number": customer.tax_number,
        "address_phone": customer.invoice_address_phone,
        "bank_name": customer.bank_name,
        "bank_account": customer.bank_account,
    }


def invoiceable(contract: Contract) -> Decimal:
    """What is left to invoice on the contract."""
    return max(contract.amount - contract.invoiced_amount, ZERO)


def _left_message(contract_id: int) -> str:
    row = Contract.objects.filter(pk=contract_id).values("amount", "invoiced_amount")[0]
    return _("Only %(left)s is left to invoice on this contract.") % {
        "left": cny(max(row["amount"] - row["invoiced_amount"], ZERO))
    }


def _rate(value: Any) -> Decimal | None:
    if value in (None, ""):
        return DEFAULT_TAX_RATE
    try:
        rate = Decimal(str(value).strip().removesuffix("%"))
    except InvalidOperation:
        return None
    if not rate.is_finite() or not ZERO <= rate <= Decimal("100"):
        return None
    return money(rate)


def _clean_lines(
    raw_lines: list[dict[str, Any]], total: Decimal, contract: Contract
) -> list[dict[str, Any]]:
    if not raw_lines:
        return [{"description": contract.name[:200], "amount": total, "tax_rate": DEFAULT_TAX_RATE}]
    errors: dict[str, list[str]] = {}
    if len(raw_lines) > MAX_LINES:
        raise ValidationFailed(field_errors={"lines": [_("At most %(n)s lines.") % {"n": 50}]})
    lines: list[dict[str, Any]] = []
    for i, raw in enumerate(raw_lines):
        description = str(raw.get("description") or "").strip()
        if not description:
            errors[f"lines.{i}.description"] = [_("Name the item.")]
        elif len(description) > 200:
            errors[f"lines.{i}.description"] = [_("At most %(n)s characters.") % {"n": 200}]
        try:
            value = parse_money(raw.get("amount"))
        except ValueError:
            value = None
        if value is None or value <= 0:
            errors[f"lines.{i}.amount"] = [_("Enter an amount above 0.")]
        rate = _rate(raw.get("tax_rate"))
        if rate is None:
            errors[f"lines.{i}.tax_rate"] = [_("Enter a tax rate from 0 to 100 %.")]
        lines.append({"description": description, "amount": value, "tax_rate": rate})
    if not errors:
        lines_total = sum((line["amount"] for line in lines), ZERO)
        if lines_total != total:
            errors["lines"] = [
                _("The lines add up to %(sum)s; the invoice is %(total)s.")
                % {"sum": cny(lines_total), "total": cny(total)}
            ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return lines


def _clean_request(data: dict[str, Any], customer: Any) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    kind = data.get("kind") or InvoiceKind.NORMAL
    if kind not in InvoiceKind.values:
        errors["kind"] = [_("Choose 普票 or 专票.")]
    clean: dict[str, Any] = {"kind": kind}
    defaults = buyer_defaults(customer)
    for field, limit in BUYER_FIELDS.items():
        value = data.get(field)
        text = str(defaults.get(field, "") if value is None else value).strip()
        if len(text) > limit:
            errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
        clean[field] = text
    try:
        value = parse_money(data.get("amount"))
    except ValueError:
        value = None
        errors["amount"] = [_("Enter an amount of 0 or more, with at most two decimals.")]
    if value is not None and value <= 0:
        errors["amount"] = [_("The amount must be above 0.")]
    elif value is None and "amount" not in errors:
        errors["amount"] = [_("Enter the amount to invoice.")]
    clean["amount"] = value
    if not clean["title"]:
        errors["title"] = [_("Enter the invoice title (the buyer's name).")]
    if kind == InvoiceKind.SPECIAL:
        messages = {
            "tax_number": _("A special VAT invoice (专票) needs the buyer's tax number."),
            "address_phone": _("A special VAT invoice (专票) needs the buyer's address and phone."),
            "bank_name": _("A special VAT invoice (专票) needs the buyer's bank."),
            "bank_account": _("A special VAT invoice (专票) needs the buyer's bank account."),
        }
        for field in SPECIAL_REQUIRED:
            if not clean[field] and field not in errors:
                errors[field] = [messages[field]]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


@transaction.atomic
def request_invoice(
    *,
    actor: User,
    contract: Contract,
    data: dict[str, Any],
    lines: list[dict[str, Any]] | None = None,
) -> Invoice:
    """Ask for an invoice against ``contract`` (finance:create, or sales:edit on the contract).

    ``data``: ``kind`` (normal/special), ``amount``, the buyer's details (``title``,
    ``tax_number``, ``address_phone``, ``bank_name``, ``bank_account``; copied from the customer
    when not sent) and a ``note``. ``lines``: ``description``, ``amount``, ``tax_rate``."""
    contract = visible_contract(actor, contract)
    require(may_request_invoice(actor, contract))
    clean = _clean_request(data, contract.customer)
    if contract.status not in SIGNED_STATUSES:
        raise InvalidTransition(
            _("Invoices are requested for signed, executing or completed contracts.")
        )
    clean_lines = _clean_lines(lines or [], clean["amount"], contract)
    updated = Contract.objects.filter(
        pk=contract.pk,
        invoiced_amount__lte=fen(F("amount") - amount_value(clean["amount"])),
    ).update(
        invoiced_amount=fen(F("invoiced_amount") + amount_value(clean["amount"])),
        updated_at=timezone.now(),
    )
    if not updated:
        raise ValidationFailed(field_errors={"amount": [_left_message(contract.pk)]})
    invoice = Invoice.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        number=next_number(contract.org_id, "FP"),
        contract=contract,
        customer_id=contract.customer_id,
        owner_id=contract.owner_id,
        currency=contract.currency,
        status=InvoiceStatus.REQUESTED,
        **clean,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(org_id=contract.org_id, invoice=invoice, sort_order=i, **line)
        for i, line in enumerate(clean_lines)
    )
    audit.record_created(actor=actor, obj=invoice, verb="invoice.requested")
    return invoice


def _finance_invoice(actor: User, invoice: Invoice) -> Invoice:
    """The invoice, when ``actor`` may see it (404 otherwise) and handle it (finance:edit)."""
    found = Invoice.objects.visible_to(actor, "view").filter(pk=invoice.pk).first()
    if found is None:
        raise NotFound()
    require(
        actor.can("finance", "edit")
        and Invoice.objects.visible_to(actor, "edit").filter(pk=invoice.pk).exists()
    )
    return found


def _move(
    actor: User,
    invoice: Invoice,
    *,
    from_statuses: list[Any],
    to: str,
    verb: str,
    values: dict[str, Any],
    refused: str,
    data: dict[str, Any] | None = None,
) -> Invoice:
    before = audit.snapshot(invoice)
    now = timezone.now()
    updated = Invoice.objects.filter(pk=invoice.pk, status__in=from_statuses).update(
        status=to, version=F("version") + 1, updated_at=now, **values
    )
    if not updated:
        raise InvalidTransition(refused)
    invoice.refresh_from_db()
    audit.record(
        actor=actor,
        obj=invoice,
        verb=verb,
        changes=audit.diff(before, audit.snapshot(invoice)),
        data={**(data or {}), "version": invoice.version},
    )
    return invoice


@transaction.atomic
def issue_invoice(
    *, actor: User, invoice: Invoice, invoice_number: str, issued_on: Any = None
) -> Invoice:
    """Requested → issued with the tax office's invoice number and the issue date (finance)."""
    invoice = _finance_invoice(actor, invoice)
    errors: dict[str, list[str]] = {}
    number = (invoice_number or "").strip()
    if not number:
        errors["invoice_number"] = [_("Enter the invoice number.")]
    elif len(number) > 60:
        errors["invoice_number"] = [_("At most %(n)s characters.") % {"n": 60}]
    day = _date(issued_on) if issued_on not in (None, "") else timezone.localdate()
    if day is None:
        errors["issued_on"] = [_("Enter a valid date (YYYY-MM-DD).")]
    elif day > timezone.localdate():
        errors["issued_on"] = [_("The issue date cannot be in the future.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return _move(
        actor,
        invoice,
        from_statuses=[InvoiceStatus.REQUESTED],
        to=InvoiceStatus.ISSUED,
        verb="invoice.issued",
        values={"invoice_number": number, "issued_on": day},
        refused=_("Only a requested invoice is issued."),
    )


@transaction.atomic
def mail_invoice(*, actor: User, invoice: Invoice, data: dict[str, Any]) -> Invoice:
    """Issued → mailed: recipient, phone, address, courier, tracking number and the mailing
    date (finance)."""
    invoice = _finance_invoice(actor, invoice)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field, limit in MAIL_FIELDS.items():
        text = str(data.get(field) or "").strip()
        if len(text) > limit:
            errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
        values[field] = text
    required = {
        "recipient": _("Who receives the invoice?"),
        "mail_address": _("Enter the mailing address."),
        "courier": _("Enter the courier."),
        "tracking_number": _("Enter the tracking number."),
    }
    for field, message in required.items():
        if not values[field] and field not in errors:
            errors[field] = [message]
    raw_day = data.get("mailed_on")
    day = _date(raw_day) if raw_day not in (None, "") else timezone.localdate()
    if day is None:
        errors["mailed_on"] = [_("Enter a valid date (YYYY-MM-DD).")]
    elif day > timezone.localdate():
        errors["mailed_on"] = [_("The mailing date cannot be in the future.")]
    elif invoice.issued_on and day < invoice.issued_on:
        errors["mailed_on"] = [_("The invoice was issued after that day.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    values["mailed_on"] = day
    return _move(
        actor,
        invoice,
        from_statuses=[InvoiceStatus.ISSUED],
        to=InvoiceStatus.MAILED,
        verb="invoice.mailed",
        values=values,
        refused=_("Only an issued invoice is mailed."),
    )


@transaction.atomic
def cancel_invoice(*, actor: User, invoice: Invoice, reason: str) -> Invoice:
    """Cancel an invoice with a reason; its amount may be invoiced again. A request that is not
    issued yet: whoever may request; an issued or mailed invoice (红冲/作废): finance only."""
    found = Invoice.objects.visible_to(actor, "view").filter(pk=invoice.pk).first()
    if found is None:
        raise NotFound()
    if found.status == InvoiceStatus.REQUESTED:
        require(may_request_invoice(actor, visible_contract(actor, found.contract)))
    else:
        found = _finance_invoice(actor, found)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the invoice is cancelled.")]})
    if len(reason) > 300:
        raise ValidationFailed(
            field_errors={"reason": [_("At most %(n)s characters.") % {"n": 300}]}
        )
    allowed = (
        [InvoiceStatus.REQUESTED]
        if found.status == InvoiceStatus.REQUESTED
        else [InvoiceStatus.ISSUED, InvoiceStatus.MAILED]
    )
    invoice = _move(
        actor,
        found,
        from_statuses=allowed,
        to=InvoiceStatus.CANCELLED,
        verb="invoice.cancelled",
        values={},
        refused=_("This invoice is cancelled already or changed meanwhile."),
        data={"reason": reason},
    )
    updated = Contract.objects.filter(
        pk=invoice.contract_id, invoiced_amount__gte=amount_value(invoice.amount)
    ).update(
        invoiced_amount=fen(F("invoiced_amount") - amount_value(invoice.amount)),
        updated_at=timezone.now(),
    )
    if not updated:
        raise InvalidTransition(_("The contract's invoiced amount changed meanwhile; reload."))
    return invoice


__all__ = [
    "buyer_defaults",
    "cancel_invoice",
    "invoiceable",
    "issue_invoice",
    "mail_invoice",
    "request_invoice",
]
