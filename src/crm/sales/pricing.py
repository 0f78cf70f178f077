"""The one place where quote amounts are computed (R6.1): a line's subtotal, discount, tax and
total, and a quote's totals. Every other module — the quote services, the live preview of the
quote form, the API, the documents — calls these functions; nothing else multiplies or rounds.

The rules:

- prices are **exclusive of tax** (不含税单价): a line's tax is added on top of its discounted
  amount, at the line's own tax rate;
- ``subtotal`` = quantity × unit price, rounded half-up to the fen (``crm.core.money.money``);
- ``discount`` = a percentage of the subtotal (rounded half-up to the fen) or a fixed amount; it
  is never negative and never above the subtotal (a larger one is capped at the subtotal);
- ``tax`` = (subtotal − discount) × tax rate / 100, rounded half-up to the fen;
- ``total`` = subtotal − discount + tax (exact: every term is already in fen);
- a quote's subtotal, discount, tax and total are the exact sums of its lines' — rounding happens
  once per line, never again on the sums, so the totals always equal what the lines show.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from crm.core.money import money

from .choices import DiscountKind

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


class LineAmounts(NamedTuple):
    """What one line costs, every part in fen."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


class QuoteTotals(NamedTuple):
    """The sums of a quote's lines."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


def _number(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value if value not in (None, "") else 0)


def line_amounts(
    quantity: Any,
    unit_price: Any,
    discount_kind: str,
    discount_value: Any,
    tax_rate: Any,
) -> LineAmounts:
    """Subtotal, discount, tax and total of one line (see the module's rules).

    Inputs are the validated values of the line (``Decimal`` or anything ``Decimal`` reads);
    a negative discount counts as none, a discount above the subtotal as the whole subtotal.
    """
    subtotal = money(_number(quantity) * _number(unit_price))
    value = max(_number(discount_value), ZERO)
    if discount_kind == DiscountKind.AMOUNT:
        discount = money(value)
    else:
        discount = money(subtotal * min(value, HUNDRED) / HUNDRED)
    discount = min(max(discount, ZERO), max(subtotal, ZERO))
    taxable = subtotal - discount
    tax = money(taxable * max(_number(tax_rate), ZERO) / HUNDRED)
    return LineAmounts(subtotal, discount, tax, subtotal - discount + tax)


def _amounts_of(line: Any) -> LineAmounts:
    if isinstance(line, LineAmounts):
        return line
    if isinstance(line, dict):
        return LineAmounts(line["subtotal"], line["discount"], line["tax"], line["total"])
    return LineAmounts(line.subtotal, line.discount, line.tax, line.total)


def quote_totals(lines: Iterable[Any]) -> QuoteTotals:
    """The exact sums of the lines' amounts (``LineAmounts``, saved ``QuoteLine`` rows or dicts
    with the four amounts). No rounding: each line was rounded once already."""
    subtotal = discount = tax = total = ZERO
    for line in lines:
        amounts = _amounts_of(line)
        subtotal += amounts.subtotal
        discount += amounts.discount
        tax += amounts.tax
        total += amounts.total
    return QuoteTotals(subtotal, discount, tax, total)


def discount_percent(discount_kind: str, discount_value: Any, subtotal: Decimal) -> Decimal:
    """The discount of one line as a percentage of its subtotal (two decimals, half-up): the
    percentage given, or the fixed amount divided by the subtotal."""
    value = max(_number(discount_value), ZERO)
    if discount_kind != DiscountKind.AMOUNT:
        return money(min(value, HUNDRED))
    if subtotal <= 0:
        return ZERO
    return money(min(value, subtotal) * HUNDRED / subtotal)


def max_discount_percent(lines: Iterable[Any]) -> Decimal:
    """The largest discount of any line, in percent: what approval flows compare with their
    "least discount" condition. Lines are dicts or rows with ``discount_kind``,
    ``discount_value`` and ``subtotal``."""
    largest = ZERO
    for line in lines:
        values = [
            line[name] if isinstance(line, dict) else getattr(line, name)
            for name in ("discount_kind", "discount_value", "subtotal")
        ]
        largest = max(largest, discount_percent(*values))
    return largest
