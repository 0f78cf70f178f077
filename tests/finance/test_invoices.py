"""Invoices (R7.3): a request copies the customer's invoicing details; 专票 needs tax number,
bank and account, address and phone; the amount never exceeds what is left to invoice (even
with the lines' sum checked); finance issues and mails; cancelling gives the amount back; who
may request and who may not."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.finance import invoice_services
from crm.finance.models import Invoice, InvoiceLine
from crm.sales.choices import ContractStatus
from crm.sales.models import Contract
from tests.finance.conftest import Fin

D = Decimal


def invoiced(fin: Fin) -> Decimal:
    return Contract.objects.get(pk=fin.contract.pk).invoiced_amount


def test_a_request_copies_the_customers_details(fin: Fin) -> None:
    """R7.3: title, tax number, address and phone, bank and account come from the customer."""
    invoice = invoice_services.request_invoice(
        actor=fin.finance, contract=fin.contract, data={"amount": "30000", "kind": "special"}
    )
    assert invoice.number.startswith("FP-") and invoice.status == "requested"
    assert invoice.title == "回款测试客户有限公司"
    assert invoice.tax_number == "91330100MA2B3C4D5E"
    assert invoice.bank_account == "571900000000001"
    assert invoice.owner_id == fin.rep.pk
    (line,) = InvoiceLine.objects.filter(invoice=invoice)
    assert (line.description, line.amount, line.tax_rate) == (
        fin.contract.name,
        D("30000.00"),
        D("13.00"),
    )
    assert invoiced(fin) == D("30000.00")
    assert Event.objects.filter(object_id=str(invoice.pk), verb="invoice.requested").exists()


def test_special_invoice_needs_the_full_details(fin: Fin) -> None:
    """R7.3: 专票 without tax number, bank, account, address and phone is refused, each said."""
    with pytest.raises(ValidationFailed) as caught:
        invoice_services.request_invoice(
            actor=fin.finance,
            contract=fin.contract,
            data={
                "amount": "1000",
                "kind": "special",
                "tax_number": "",
                "bank_name": "",
                "bank_account": "",
                "address_phone": "",
            },
        )
    assert set(caught.value.field_errors) == {
        "tax_number",
        "bank_name",
        "bank_account",
        "address_phone",
    }
    assert "专票" in str(caught.value.field_errors["tax_number"][0])
    normal = invoice_services.request_invoice(
        actor=fin.finance,
        contract=fin.contract,
        data={"amount": "1000", "kind": "normal", "tax_number": "", "bank_name": ""},
    )
    assert normal.kind == "normal" and normal.tax_number == ""
    assert invoiced(fin) == D("1000.00")


def test_amount_never_exceeds_what_is_left_to_invoice(fin: Fin) -> None:
    """R7.3: requested + issued (not cancelled) ≤ the contract amount; cancel gives it back."""
    first = invoice_services.request_invoice(
        actor=fin.finance, contract=fin.contract, data={"amount": "80000"}
    )
    with pytest.raises(ValidationFailed) as caught:
        invoice_services.request_invoice(
            actor=fin.finance, contract=fin.contract, data={"amount": "20000.01"}
        )
    assert "¥20,000.00" in str(caught.value.field_errors["amount"][0])
    assert Invoice.objects.count() == 1
    invoice_services.cancel_invoice(actor=fin.finance, invoice=first, reason="金额有误")
    assert invoiced(fin) == D("0.00")
    invoice_services.request_invoice(
        actor=fin.finance, contract=fin.contract, data={"amount": "100000"}
    )
    assert invoiced(fin) == D("100000.00")


def test_lines_add_up_to_the_amount(fin: Fin) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invoice_services.request_invoice(
            actor=fin.finance,
            contract=fin.contract,
            data={"amount": "1000"},
            lines=[
                {"description": "软件许可", "amount": "600", "tax_rate": "13"},
                {"description": "实施服务", "amount": "399.99", "tax_rate": "6"},
            ],
        )
    assert "lines" in caught.value.field_errors
    assert invoiced(fin) == D("0.00")
    invoice = invoice_services.request_invoice(
        actor=fin.finance,
        contract=fin.contract,
        data={"amount": "1000"},
        lines=[
            {"description": "软件许可", "amount": "600", "tax_rate": "13"},
            {"description": "实施服务", "amount": "400", "tax_rate": "6%"},
        ],
    )
    assert [(x.description, x.amount, x.tax_rate) for x in invoice.lines.all()] == [
        ("软件许可", D("600.00"), D("13.00")),
        ("实施服务", D("400.00"), D("6.00")),
    ]


def test_issue_and_mail_by_finance_only(fin: Fin) -> None:
    """R7.3: requested → issued (number, date) → mailed (recipient, courier, tracking)."""
    invoice = invoice_services.request_invoice(
        actor=fin.rep, contract=fin.contract, data={"amount": "50000"}
    )
    with pytest.raises(PermissionDenied):
        invoice_services.issue_invoice(actor=fin.rep, invoice=invoice, invoice_number="0001")
    with pytest.raises(InvalidTransition):
        invoice_services.mail_invoice(
            actor=fin.finance,
            invoice=invoice,
            data={
                "recipient": "周明",
                "mail_address": "杭州",
                "courier": "顺丰",
                "tracking_number": "SF1",
            },
        )
    with pytest.raises(ValidationFailed):
        invoice_services.issue_invoice(
            actor=fin.finance,
            invoice=invoice,
            invoice_number="04400001",
            issued_on=timezone.localdate() + timedelta(days=1),
        )
    invoice = invoice_services.issue_invoice(
        actor=fin.finance, invoice=invoice, invoice_number="04400001"
    )
    assert invoice.status == "issued" and invoice.issued_on == timezone.localdate()
    with pytest.raises(ValidationFailed) as caught:
        invoice_services.mail_invoice(
            actor=fin.finance, invoice=invoice, data={"recipient": "周明"}
        )
    assert {"mail_address", "courier", "tracking_number"} <= set(caught.value.field_errors)
    invoice = invoice_services.mail_invoice(
        actor=fin.finance,
        invoice=invoice,
        data={
            "recipient": "周明",
            "recipient_phone": "13905710001",
            "mail_address": "杭州市西湖区文三路 1 号",
            "courier": "顺丰",
            "tracking_number": "SF1234567890",
        },
    )
    assert invoice.status == "mailed" and invoice.tracking_number == "SF1234567890"
    with pytest.raises(PermissionDenied):
        invoice_services.cancel_invoice(actor=fin.rep, invoice=invoice, reason="不要了")
    invoice_services.cancel_invoice(actor=fin.finance, invoice=invoice, reason="红冲")
    assert invoiced(fin) == D("0.00")


def test_who_may_request(fin: Fin) -> None:
    """R7.3: the contract's rep (sales:edit) and finance may request; another rep sees nothing
    (404); a signed contract only."""
    rep_invoice = invoice_services.request_invoice(
        actor=fin.rep, contract=fin.contract, data={"amount": "100"}
    )
    invoice_services.cancel_invoice(actor=fin.rep, invoice=rep_invoice, reason="重开")
    for user in (fin.rep2, fin.other_rep, fin.other_manager):
        with pytest.raises(NotFound):
            invoice_services.request_invoice(
                actor=user, contract=fin.contract, data={"amount": "1"}
            )
    Contract.objects.filter(pk=fin.contract.pk).update(status=ContractStatus.DRAFT)
    with pytest.raises(InvalidTransition):
        invoice_services.request_invoice(
            actor=fin.finance, contract=fin.contract, data={"amount": "1"}
        )
    assert invoiced(fin) == D("0.00")
