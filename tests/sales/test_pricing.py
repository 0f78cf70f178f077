"""Quote arithmetic (R6.1): one service computes every amount. Property tests (Hypothesis): line
amounts are exact fen, rounded half-up once; the discount never goes below zero or above the
subtotal; total = subtotal − discount + tax; a quote's totals are the exact sums of its lines'
(no drift however many lines); the saved quote holds exactly those sums."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.core.money import money
from crm.core.testing.world import World
from crm.sales import pricing
from crm.sales.choices import DiscountKind
from crm.sales.models import QuoteLine

from .quote_helpers import line, make_quote

FEN = Decimal("0.01")

quantities = st.decimals(min_value="0.01", max_value="100000", places=2, allow_nan=False)
prices = st.decimals(min_value="0", max_value="10000000", places=2, allow_nan=False)
percents = st.decimals(min_value="0", max_value="150", places=2, allow_nan=False)
amounts = st.decimals(min_value="0", max_value="100000000", places=2, allow_nan=False)
rates = st.decimals(min_value="0", max_value="100", places=2, allow_nan=False)
kinds = st.sampled_from([DiscountKind.PERCENT, DiscountKind.AMOUNT])


def _half_up_fen(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator yuan, half-up to the fen, with integers only (an independent
    oracle of the rounding rule for non-negative values)."""
    fen, remainder = divmod(numerator * 100, denominator)
    if remainder * 2 >= denominator:
        fen += 1
    return Decimal(fen) / 100


@st.composite
def line_inputs(draw: st.DrawFn) -> tuple[Decimal, Decimal, str, Decimal, Decimal]:
    kind = draw(kinds)
    value = draw(percents if kind == DiscountKind.PERCENT else amounts)
    return draw(quantities), draw(prices), kind, value, draw(rates)


@given(line_inputs())
@settings(max_examples=300, deadline=None)
def test_line_amounts_are_exact_fen_rounded_half_up_once(
    values: tuple[Decimal, Decimal, str, Decimal, Decimal],
) -> None:
    # R6.1: subtotal = qty × price half-up; discount in [0, subtotal]; tax on the discounted
    # amount half-up; total = subtotal − discount + tax exactly
    quantity, price, kind, value, rate = values
    a = pricing.line_amounts(quantity, price, kind, value, rate)
    for part in a:
        assert part == part.quantize(FEN)
    q, p = int(quantity * 100), int(price * 100)
    assert a.subtotal == _half_up_fen(q * p, 10000)
    assert Decimal(0) <= a.discount <= a.subtotal
    if kind == DiscountKind.PERCENT:
        pct = int(min(value, Decimal(100)) * 100)
        assert a.discount == _half_up_fen(int(a.subtotal * 100) * pct, 100 * 100 * 100)
    else:
        assert a.discount == min(value, a.subtotal)
    taxable = int((a.subtotal - a.discount) * 100)
    assert a.tax == _half_up_fen(taxable * int(rate * 100), 100 * 100 * 100)
    assert a.total == a.subtotal - a.discount + a.tax
    assert a.total >= 0


@given(st.lists(line_inputs(), min_size=0, max_size=40))
@settings(max_examples=200, deadline=None)
def test_quote_totals_are_the_exact_sums_of_the_lines(
    lines: list[tuple[Decimal, Decimal, str, Decimal, Decimal]],
) -> None:
    # R6.1: no drift — the totals equal the sums of what every line shows, to the fen
    computed = [pricing.line_amounts(*values) for values in lines]
    totals = pricing.quote_totals(computed)
    assert totals.subtotal == sum((c.subtotal for c in computed), Decimal("0.00"))
    assert totals.discount == sum((c.discount for c in computed), Decimal("0.00"))
    assert totals.tax == sum((c.tax for c in computed), Decimal("0.00"))
    assert totals.total == sum((c.total for c in computed), Decimal("0.00"))
    assert totals.total == totals.subtotal - totals.discount + totals.tax
    assert totals.total == money(totals.total)
    assert totals.discount <= totals.subtotal


@given(quantities, prices, st.decimals(min_value="0", max_value="1e12", places=2), rates)
@settings(max_examples=200, deadline=None)
def test_discount_never_exceeds_the_subtotal(
    quantity: Decimal, price: Decimal, discount: Decimal, rate: Decimal
) -> None:
    # R6.1: an amount or a percentage beyond the subtotal is capped at the subtotal
    for kind in (DiscountKind.AMOUNT, DiscountKind.PERCENT):
        a = pricing.line_amounts(quantity, price, kind, discount, rate)
        assert 0 <= a.discount <= a.subtotal
        assert a.total >= 0


def test_half_up_at_the_fen_examples() -> None:
    # R6.1: .5 of a fen rounds up, everywhere (subtotal, discount, tax)
    a = pricing.line_amounts(Decimal("1.5"), Decimal("0.03"), DiscountKind.PERCENT, 0, 0)
    assert a.subtotal == Decimal("0.05")  # 0.045 → 0.05
    a = pricing.line_amounts(1, Decimal("0.10"), DiscountKind.PERCENT, Decimal("15"), 0)
    assert a.discount == Decimal("0.02")  # 0.015 → 0.02
    a = pricing.line_amounts(1, Decimal("0.50"), DiscountKind.PERCENT, 0, Decimal("13"))
    assert a.tax == Decimal("0.07")  # 0.065 → 0.07
    a = pricing.line_amounts(3, Decimal("33.33"), DiscountKind.PERCENT, Decimal("10"), 13)
    assert a == (Decimal("99.99"), Decimal("10.00"), Decimal("11.70"), Decimal("101.69"))
    a = pricing.line_amounts(2, Decimal("1000"), DiscountKind.AMOUNT, Decimal("5000"), 13)
    assert a == (Decimal("2000.00"), Decimal("2000.00"), Decimal("0.00"), Decimal("0.00"))


def test_max_discount_percent_is_the_largest_line_discount() -> None:
    # R6.1, R9.1: what approval flows compare with their "least discount"
    rows = [
        {"discount_kind": "percent", "discount_value": Decimal("5"), "subtotal": Decimal("100")},
        {"discount_kind": "amount", "discount_value": Decimal("30"), "subtotal": Decimal("200")},
        {"discount_kind": "amount", "discount_value": Decimal("1"), "subtotal": Decimal("0")},
    ]
    assert pricing.max_discount_percent(rows) == Decimal("15.00")
    assert pricing.max_discount_percent([]) == Decimal("0.00")
    assert pricing.discount_percent("percent", Decimal("120"), Decimal("10")) == Decimal("100.00")


@pytest.mark.django_db
def test_a_saved_quote_holds_the_sums_of_its_saved_lines(world: World) -> None:
    # R6.1: the one service computes and stores line amounts and totals; nothing drifts
    quote = make_quote(
        world,
        lines=[
            line(quantity="3", unit_price="33.33", discount_value="10", tax_rate="13"),
            line(quantity="1.5", unit_price="0.03", tax_rate="6"),
            line(
                quantity="7",
                unit_price="19.99",
                discount_kind="amount",
                discount_value="0.01",
                tax_rate="9",
            ),
        ],
    )
    saved = list(QuoteLine.objects.filter(quote=quote).order_by("sort_order"))
    assert [x.total for x in saved] == [Decimal("101.69"), Decimal("0.05"), Decimal("152.51")]
    assert quote.subtotal == sum(x.subtotal for x in saved)
    assert quote.discount_total == sum(x.discount for x in saved)
    assert quote.tax_total == sum(x.tax for x in saved)
    assert quote.total == sum(x.total for x in saved) == Decimal("254.25")
    assert quote.max_discount_percent == Decimal("10.00")
