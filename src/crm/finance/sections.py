"""The finance sections of record pages (R7.1–R7.3):

- on the contract page (``sales.contract``): “Receivables” — the installments with planned,
  received, written off, outstanding, days overdue and status, the write-offs, and the actions
  (edit the plan, write off); “Receipts” — the contract's receipts and “Record a receipt”;
  “Invoices” — its invoice requests and “Request an invoice”;
- on the customer 360 page (``customers.customer``): “Receivables” — the customer's signed
  contracts with what is received, outstanding and overdue, and the next installments due.

The page checked that the user sees the record; each context reads through ``visible_to``
itself, offers only the actions the user may take, and answers None (no section) for users who
may not read it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core.record_sections import back_to
from crm.core.registry import Section, register_section
from crm.sales.choices import SIGNED_STATUSES
from crm.sales.models import Contract

from . import invoice_services, plan_services, receipt_services, selectors
from .choices import InvoiceStatus, ReceiptStatus
from .models import Invoice, Receipt, WriteOff
from .policy import MONEY, may_collect, may_plan, may_request_invoice, outstanding_expr

SECTION_LIMIT = 20
ZERO = Decimal("0.00")


def _link(name: str, back: str, **params: Any) -> str:
    return reverse(name) + "?" + urlencode({**params, "next": back})


def _back(request: HttpRequest, key: str) -> str:
    return back_to(request, f"section-{key}")


def contract_receivables(request: HttpRequest, contract: Contract) -> dict[str, Any] | None:
    """The contract's installments and write-offs, with the plan and write-off actions."""
    user: Any = request.user
    if not user.can("sales", "view"):
        return None
    today = timezone.localdate()
    data = selectors.contract_figures(contract, today)
    back = _back(request, "receivables")
    collect = contract.status in receipt_services.WRITE_OFF_STATUSES and may_collect(user, contract)
    write_offs = (
        list(
            WriteOff.objects.visible_to(user)
            .filter(contract=contract)
            .select_related("plan", "created_by")
            .order_by("-created_at", "-pk")[:SECTION_LIMIT]
        )
        if user.can("finance", "view")
        else []
    )
    for row in data["rows"]:
        row["write_off_url"] = (
            reverse("finance:writeoff_create", args=[row["plan"].pk])
            + "?"
            + urlencode({"next": back})
            if collect and row["outstanding"] > 0
            else ""
        )
    return {
        "contract": contract,
        **data,
        "write_offs": write_offs,
        "can_plan": contract.status not in plan_services.FROZEN_STATUSES
        and may_plan(user, contract),
        "plan_url": reverse("finance:plan_edit", args=[contract.pk])
        + "?"
        + urlencode({"next": back}),
    }


def contract_receipts(request: HttpRequest, contract: Contract) -> dict[str, Any] | None:
    """The contract's receipts (finance:view), and “Record a receipt” for finance."""
    user: Any = request.user
    if not user.can("finance", "view"):
        return None
    receipts = list(
        Receipt.objects.visible_to(user)
        .filter(contract=contract)
        .select_related("created_by")
        .order_by("-received_on", "-pk")[:SECTION_LIMIT]
    )
    return {
        "contract": contract,
        "receipts": receipts,
        "colors": selectors.RECEIPT_STATUS_COLORS,
        "can_record": contract.status in SIGNED_STATUSES and may_collect(user, contract),
        "record_url": _link(
            "finance:receipt_create", _back(request, "receipts"), contract=contract.pk
        ),
        "all_url": reverse("finance:receipt_list") + "?" + urlencode({"q": contract.number}),
    }


def contract_invoices(request: HttpRequest, contract: Contract) -> dict[str, Any] | None:
    """The contract's invoices (finance:view), and “Request an invoice”."""
    user: Any = request.user
    if not user.can("finance", "view"):
        return None
    invoices = list(
        Invoice.objects.visible_to(user)
        .filter(contract=contract)
        .order_by("-created_at", "-pk")[:SECTION_LIMIT]
    )
    return {
        "contract": contract,
        "invoices": invoices,
        "colors": selectors.INVOICE_STATUS_COLORS,
        "left": invoice_services.invoiceable(contract),
        "can_request": contract.status in SIGNED_STATUSES
        and invoice_services.invoiceable(contract) > 0
        and may_request_invoice(user, contract),
        "request_url": _link(
            "finance:invoice_create", _back(request, "invoices"), contract=contract.pk
        ),
    }


def customer_receivables(request: HttpRequest, customer: Any) -> dict[str, Any] | None:
    """The customer's signed contracts with received, outstanding and overdue, and the next
    installments due; None when the user sees none of them."""
    user: Any = request.user
    if not user.can("sales", "view"):
        return None
    today = timezone.localdate()
    contracts = list(
        selectors.awaiting_contracts(user, today).filter(customer=customer)[:SECTION_LIMIT]
    )
    signed = Contract.objects.visible_to(user).filter(customer=customer, status__in=SIGNED_STATUSES)
    totals = signed.aggregate(
        signed=Coalesce(Sum("amount"), ZERO, output_field=MONEY),
        collected=Coalesce(Sum("received_amount"), ZERO, output_field=MONEY),
        left=Coalesce(Sum(outstanding_expr()), ZERO, output_field=MONEY),
    )
    if not contracts and not totals["signed"]:
        return None
    upcoming = [
        selectors.plan_row(p, today)
        for p in selectors.open_plans(user)
        .filter(contract__customer=customer)
        .select_related("contract")
        .order_by("due_on", "pk")[:5]
    ]
    receipts = (
        list(
            Receipt.objects.visible_to(user)
            .filter(customer=customer, status=ReceiptStatus.CONFIRMED)
            .select_related("contract")
            .order_by("-received_on", "-pk")[:5]
        )
        if user.can("finance", "view")
        else []
    )
    return {
        "contracts": contracts,
        "totals": totals,
        "overdue": sum((c.overdue_amount for c in contracts), ZERO),  # type: ignore[attr-defined]
        "upcoming": upcoming,
        "receipts": receipts,
        "open_invoices": Invoice.objects.visible_to(user)
        .filter(customer=customer, status=InvoiceStatus.REQUESTED)
        .count()
        if user.can("finance", "view")
        else 0,
    }


def register() -> None:
    register_section(
        "sales.contract",
        Section(
            20,
            "receivables",
            _("Receivables"),
            "finance/sections/contract_receivables.html",
            contract_receivables,
        ),
    )
    register_section(
        "sales.contract",
        Section(
            22,
            "receipts",
            _("Receipts"),
            "finance/sections/contract_receipts.html",
            contract_receipts,
        ),
    )
    register_section(
        "sales.contract",
        Section(
            24,
            "invoices",
            _("Invoices"),
            "finance/sections/contract_invoices.html",
            contract_invoices,
        ),
    )
    register_section(
        "customers.customer",
        Section(
            36,
            "receivables",
            _("Receivables"),
            "finance/sections/customer_receivables.html",
            customer_receivables,
        ),
    )


register()
