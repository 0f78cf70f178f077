"""Receipts under contention (R7.2, DESIGN: concurrency): 20 simultaneous receipts against one
installment and contract never collect more than the amount — on SQLite and on PostgreSQL (run
with CRM_TEST_DB=postgres). Every refusal says what is left; the money adds up to the fen."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from crm.core.errors import ValidationFailed
from crm.finance import plan_services, receipt_services
from crm.finance.models import Receipt, ReceivablePlan, WriteOff
from crm.sales.models import Contract
from tests.finance.conftest import build_fin, fresh

THREADS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_receipts_never_over_collect() -> None:
    """R7.2: capacity for 7 receipts of ¥1,428.57 on a ¥10,000.00 contract (one installment):
    exactly 7 succeed, 13 are refused, received = ¥9,999.99."""
    fin = build_fin()
    Contract.objects.filter(pk=fin.contract.pk).update(amount=Decimal("10000.00"))
    (only,) = plan_services.replace_plans(
        actor=fresh(fin.finance),
        contract=fin.contract,
        rows=[{"due_on": timezone.localdate(), "amount": "10000"}],
    )
    clerks = [fresh(fin.finance) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> str:
        try:
            barrier.wait()
            receipt_services.record_receipt(
                actor=clerks[i],
                contract=fin.contract,
                data={"amount": "1428.57", "reference": f"T{i}"},
                allocations=[(only.pk, "1428.57")] if i % 2 else None,
            )
            return "ok"
        except ValidationFailed as exc:
            return str(exc.field_errors.get("amount", [exc.message])[0])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))
    assert outcomes.count("ok") == 7, outcomes
    refusals = [o for o in outcomes if o != "ok"]
    assert len(refusals) == 13 and all("¥" in o for o in refusals)
    contract = Contract.objects.get(pk=fin.contract.pk)
    only.refresh_from_db()
    confirmed = Receipt.objects.filter(contract=contract, status="confirmed")
    assert confirmed.count() == 7
    assert contract.received_amount == only.received_amount == Decimal("9999.99")
    assert sum(r.amount for r in confirmed) == Decimal("9999.99")
    assert contract.received_amount <= contract.amount


@pytest.mark.django_db(transaction=True)
def test_receipts_and_write_offs_at_once_never_exceed_the_amount() -> None:
    """R7.2/R7.3: receipts and write-offs race for one installment; received + written off
    never passes its amount."""
    fin = build_fin()
    (only,) = plan_services.replace_plans(
        actor=fresh(fin.finance),
        contract=fin.contract,
        rows=[{"due_on": timezone.localdate(), "amount": "100000"}],
    )
    clerks = [fresh(fin.finance) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> str:
        try:
            barrier.wait()
            if i % 4 == 0:
                receipt_services.create_write_off(
                    actor=clerks[i], plan=only, amount="12500", reason="坏账"
                )
            else:
                receipt_services.record_receipt(
                    actor=clerks[i], contract=fin.contract, data={"amount": "12500"}
                )
            return "ok"
        except ValidationFailed:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))
    assert outcomes.count("ok") == 8, outcomes
    contract = Contract.objects.get(pk=fin.contract.pk)
    plan = ReceivablePlan.objects.get(pk=only.pk)
    received = sum(r.amount for r in Receipt.objects.filter(status="confirmed"))
    written_off = sum(w.amount for w in WriteOff.objects.filter(status="approved"))
    assert received + written_off == Decimal("100000.00")
    assert (contract.received_amount, contract.written_off_amount) == (received, written_off)
    assert (plan.received_amount, plan.written_off_amount) == (received, written_off)
