"""Money: ``Decimal`` everywhere and one rounding rule, half-up to the fen (0.01), in one place."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

FEN = Decimal("0.01")
#: Largest amount a money column holds (16 digits, 2 after the point).
MAX_AMOUNT = Decimal("99999999999999.99")


def money(value: Any) -> Decimal:
    """``value`` as a Decimal rounded half-up to the fen. Floats go through ``str`` first, so
    0.1 stays 0.10 rather than 0.1000000000000000055…"""
    if isinstance(value, float):
        value = str(value)
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def parse_money(value: Any) -> Decimal | None:
    """A user's amount (``"1,234.5"``, ``"¥1 234.50"``, 1234) as money; None when blank.

    Raises ValueError for anything that is not a finite non-negative amount within range.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("，", "").replace(" ", "")
        value = value.removeprefix("¥").removeprefix("￥")
    try:
        amount = money(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValueError(value) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(value)
    return amount


def format_cny(value: Any) -> str:
    """``¥1,234.50`` (two decimals, thousands separators); empty for None."""
    if value is None or value == "":
        return ""
    if getattr(value, "hidden", False):  # crm.core.fieldaccess.HiddenAmount
        return str(value)
    return f"¥{money(value):,.2f}"
