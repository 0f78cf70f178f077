"""Demo receivables for ``crm demo``, built through the services after the sales demo: each
signed demo contract gets a receivable plan (some installments overdue), receipts (some partial)
and a few invoices. Without signed contracts (the sales demo made none), two are signed here
through the contract services first."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from crm.core.errors import DomainError
from crm.core.money import money
from crm.sales.choices import SIGNED_STATUSES, ContractStatus
from crm.sales.models import Contract

from .models import Invoice, InvoiceLine, Receipt, ReceiptAllocation, ReceivablePlan, WriteOff

log = logging.getLogger("crm.demo")
#: the name ending of the contracts this demo signs itself (when the sales demo signed none)
DEMO_CONTRACT_SUFFIX = " 年度服务合同（回款演示）"

#: days from today of each installment's due date, and the share received of it
SCHEDULES: list[list[tuple[int, Decimal]]] = [
    [(-80, Decimal("1")), (-20, Decimal("0.5")), (25, Decimal("0"))],
    [(-100, Decimal("1")), (-45, Decimal("0")), (3, Decimal("0")), (60, Decimal("0"))],
    [(-10, Decimal("1")), (5, Decimal("0"))],
    [(-130, Decimal("0.3")), (-65, Decimal("0")), (30, Decimal("0"))],
]


def _sign_two(org: Any, users: dict[str, Any]) -> None:
    """Two signed contracts of demo customers, when the sales demo signed none."""
    try:
        from crm.sales import contract_services
    except ImportError:  # pragma: no cover - the contracts module is not there
        return
    from crm.customers.models import Customer

    today = timezone.localdate()
    for key, amount in (("rep1", "360000"), ("rep4", "128000")):
        owner = users.get(key)
        customer = Customer.objects.for_org(org.pk).filter(owner=owner).order_by("pk").first()
        if owner is None or customer is None:
            continue
        try:
            contract = contract_services.create_contract(
                actor=owner,
                customer=customer,
                data={
                    "name": f"{customer.name[:20]}{DEMO_CONTRACT_SUFFIX}",
                    "amount": amount,
                    "starts_on": today - timedelta(days=120),
                    "ends_on": today + timedelta(days=245),
                },
            )
            contract = contract_services.submit_contract(actor=owner, contract=contract)
            if contract.status == ContractStatus.APPROVED:
                contract_services.sign_contract(
                    actor=owner, contract=contract, signed_on=today - timedelta(days=130)
                )
        except DomainError:
            log.exception("demo contract for %s not signed", customer.name)


def build(org: Any, users: dict[str, Any]) -> None:
    """Plans, receipts and invoices of the demo organisation's signed contracts."""
    from . import invoice_services, plan_services, receipt_services

    contracts = Contract.objects.for_org(org.pk).filter(status__in=SIGNED_STATUSES)
    if not contracts.exists():
        _sign_two(org, users)
    finance = users.get("finance") or users["admin"]
    today = timezone.localdate()
    for i, contract in enumerate(
        contracts.select_related("customer", "owner").order_by("signed_on", "pk")[:12]
    ):
        schedule = SCHEDULES[i % len(SCHEDULES)]
        try:
            if not ReceivablePlan.objects.filter(contract=contract).exists():
                amounts = plan_services.split_evenly(contract.amount, len(schedule))
                plan_services.replace_plans(
                    actor=finance,
                    contract=contract,
                    rows=[
                        {
                            "due_on": today + timedelta(days=days),
                            "amount": value,
                            "remind_days": 7,
                            "note": "",
                        }
                        for (days, _share), value in zip(schedule, amounts, strict=True)
                    ],
                )
            plans = list(
                ReceivablePlan.objects.filter(contract=contract, is_void=False).order_by("sequence")
            )
            for plan, (days, share) in zip(plans, schedule, strict=False):
                value = money(plan.outstanding * share)
                if value <= 0 or plan.outstanding <= 0:
                    continue
                receipt_services.record_receipt(
                    actor=finance,
                    contract=contract,
                    data={
                        "received_on": min(today, today + timedelta(days=days + 3)),
                        "amount": min(value, plan.outstanding),
                        "method": "transfer",
                        "payer": contract.customer.name,
                        "reference": f"DEMO{contract.pk:04d}{plan.sequence:02d}",
                    },
                    allocations=[(plan.pk, min(value, plan.outstanding))],
                )
            if i % 2 == 0:
                contract.refresh_from_db()
                invoice = invoice_services.request_invoice(
                    actor=finance,
                    contract=contract,
                    data={
                        "amount": plan_services.split_evenly(contract.amount, 2)[0],
                        "kind": "normal",
                    },
                )
                if i % 4 == 0:
                    invoice_services.issue_invoice(
                        actor=finance,
                        invoice=invoice,
                        invoice_number=f"0440{contract.pk:06d}",
                        issued_on=today - timedelta(days=5),
                    )
        except DomainError:
            log.exception("demo receivables of %s skipped", contract.number)


def clean(org: Any) -> None:
    """Finance rows protect contracts, customers and users from deletion; the contracts this
    demo signed itself (without orders or returns) go too, the sales demo cleans the rest."""
    InvoiceLine.objects.filter(org=org).delete()
    Invoice.objects.filter(org=org).delete()
    WriteOff.objects.filter(org=org).delete()
    ReceiptAllocation.objects.filter(org=org).delete()
    Receipt.objects.filter(org=org).delete()
    ReceivablePlan.objects.filter(org=org).delete()
    Contract.objects.filter(org=org, name__endswith=DEMO_CONTRACT_SUFFIX).filter(
        orders__isnull=True, returns__isnull=True
    ).delete()
