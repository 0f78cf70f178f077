"""Money arithmetic properties (R7.1, R7.2; Hypothesis): splitting a contract into installments
and allocating receipts never drift — every figure is an exact fen and the sums are equal —
in the pure functions and through the database (SQLite by default, PostgreSQL with
CRM_TEST_DB=postgres)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.errors import ValidationFailed
from crm.finance import plan_services, receipt_services
from crm.finance.models import Receipt, ReceivablePlan
from crm.finance.plan_services import PlanRow, resolve_amounts, split_evenly
from crm.finance.receipt_services import allocate_fifo
from crm.sales.models import Contract
from tests.finance.conftest import Fin, fresh, signed_contract

FEN = Decimal("0.01")
fen_amounts = st.integers(min_value=1, max_value=10**15).map(lambda f: Decimal(f).scaleb(-2))


def exact(value: Decimal) -> bool:
    return value == value.quantize(FEN) and value.as_tuple().exponent == -2


@given(total=fen_amounts, count=st.integers(min_value=1, max_value=60))
def test_split_evenly_adds_up_exactly(total: Decimal, count: int) -> None:
    """R7.1: N installments of whole fen, sum = total, the remainder on the last one."""
    if total * 100 < count:
        with pytest.raises(ValueError):
            split_evenly(total, count)
        return
    parts = split_evenly(total, count)
    assert len(parts) == count
    assert sum(parts, Decimal("0.00")) == total
    assert all(exact(p) and p > 0 for p in parts)
    assert len(set(parts[:-1])) <= 1
    assert Decimal(0) <= parts[-1] - parts[0] < Decimal(count) * FEN


@given(
    total=fen_amounts,
    shares=st.lists(st.integers(min_value=1, max_value=9999), min_size=1, max_size=12),
)
def test_shares_that_make_100_percent_add_up_to_the_total(
    total: Decimal, shares: list[int]
) -> None:
    """R7.1: shares (two decimals) adding up to 100 % give amounts adding up to the total."""
    scaled = [Decimal(s) for s in shares]
    whole = sum(scaled)
    percents = [(s * 10000 // whole) for s in scaled]
    percents[-1] += 10000 - sum(percents)
    if any(p <= 0 for p in percents):
        return
    rows = [PlanRow(due_on=None, percentage=Decimal(p).scaleb(-2)) for p in percents]
    result = resolve_amounts(total, rows)
    assert sum((a for a, _s in result), Decimal("0.00")) == total
    assert all(exact(a) for a, _s in result)


plans_and_amount = st.lists(fen_amounts, min_size=1, max_size=10).flatmap(
    lambda outs: st.tuples(
        st.just(outs),
        st.integers(min_value=1, max_value=int(sum(outs) * 100) + 500).map(
            lambda f: Decimal(f).scaleb(-2)
        ),
    )
)


@given(data=plans_and_amount)
def test_fifo_allocation_never_drifts(data: tuple[list[Decimal], Decimal]) -> None:
    """R7.2: shares + what could not be placed = the receipt; no installment takes more than
    it has open; an installment is only touched once the older ones are full."""
    outstanding, total = data
    open_plans = list(enumerate(outstanding, start=1))
    shares, rest = allocate_fifo(total, open_plans)
    assert sum((s.amount for s in shares), Decimal("0.00")) + rest == total
    assert rest >= 0 and all(exact(s.amount) and s.amount > 0 for s in shares)
    by_id = dict(open_plans)
    for s in shares:
        assert s.amount <= by_id[s.plan_id]
    for s in shares[:-1]:
        assert s.amount == by_id[s.plan_id]
    if rest > 0:
        assert len(shares) == len(outstanding)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(min_value=1, max_value=6),
    cents=st.integers(min_value=600, max_value=10**9),
    receipts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=8),
)
def test_receipts_through_the_database_add_up_to_the_fen(
    fin: Fin, count: int, cents: int, receipts: list[int]
) -> None:
    """R7.2: after any sequence of receipts (refused ones included) the contract's received =
    the sum of its installments' = the sum of its confirmed receipts, exact to the fen, never
    above the amount."""
    total = Decimal(cents).scaleb(-2)
    with transaction.atomic():
        contract = signed_contract(fin.rep, fin.customer, total)
        today = timezone.localdate()
        plan_services.replace_plans(
            actor=fresh(fin.finance),
            contract=contract,
            rows=[
                {"due_on": today + timedelta(days=i), "amount": a}
                for i, a in enumerate(split_evenly(total, count))
            ],
        )
        for r in receipts:
            amount = Decimal(r % cents or 1).scaleb(-2)
            with contextlib.suppress(ValidationFailed):
                receipt_services.record_receipt(
                    actor=fin.finance, contract=contract, data={"amount": amount}
                )
        contract.refresh_from_db()
        plans = ReceivablePlan.objects.filter(contract=contract)
        confirmed: Any = Receipt.objects.filter(contract=contract, status="confirmed")
        plan_sum = sum((p.received_amount for p in plans), Decimal("0.00"))
        receipt_sum = sum((r.amount for r in confirmed), Decimal("0.00"))
        assert contract.received_amount == plan_sum == receipt_sum
        assert exact(contract.received_amount)
        assert contract.received_amount <= contract.amount
        assert all(p.received_amount <= p.amount for p in plans)
        assert Contract.objects.filter(pk=contract.pk).exists()
        transaction.set_rollback(True)
