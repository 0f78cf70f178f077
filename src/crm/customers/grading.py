"""A/B/C grading by the signed amount of the last 12 months, and the new/existing flag.

One function answers "how much did each customer sign since a date": ``signed_amounts``. Until
the contracts module lands, modules register a provider (the opportunities module registers won
opportunity amounts; contracts will replace it), so there is one place to change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Case, DecimalField, Q, Value, When
from django.utils import timezone

from .choices import Grade
from .models import Customer

#: ``fn(org_id, since) -> {customer_id: Decimal}``; the amounts of all providers are added.
AmountProvider = Callable[[int, datetime], dict[int, Decimal]]
amount_providers: list[AmountProvider] = []

DEFAULT_THRESHOLDS = {"A": "1000000", "B": "100000"}


def register_amount_provider(fn: AmountProvider) -> None:
    if fn not in amount_providers:
        amount_providers.append(fn)


def signed_amounts(org_id: int, since: datetime) -> dict[int, Decimal]:
    """Signed amount per customer of ``org_id`` since ``since`` (customers with none omitted)."""
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for provider in amount_providers:
        for customer_id, amount in provider(org_id, since).items():
            totals[customer_id] += Decimal(amount)
    return dict(totals)


def thresholds(org: Any) -> tuple[Decimal, Decimal]:
    """(A from, B from) in the organisation's currency; settings ``grade_thresholds``."""
    conf = {**DEFAULT_THRESHOLDS, **((org.settings or {}).get("grade_thresholds") or {})}
    return Decimal(str(conf["A"])), Decimal(str(conf["B"]))


def grade_for(amount: Decimal, a_from: Decimal, b_from: Decimal) -> str:
    if amount >= a_from:
        return Grade.A
    if amount >= b_from:
        return Grade.B
    return Grade.C


@transaction.atomic
def regrade_org(org: Any, *, now: datetime | None = None) -> dict[str, int]:
    """Recompute every customer's grade, 12-month amount and new/existing flag in a few
    set-based UPDATEs. A customer is "existing" once it has signed anything, ever."""
    now = now or timezone.now()
    a_from, b_from = thresholds(org)
    recent = signed_amounts(org.pk, now - timedelta(days=365))
    ever = signed_amounts(org.pk, datetime(1970, 1, 1, tzinfo=now.tzinfo))
    base = Customer.objects.filter(org_id=org.pk, merged_into__isnull=True)
    base.update(signed_amount_12m=Decimal("0"), grade=Grade.C, is_new=True)
    counts = {Grade.A: 0, Grade.B: 0}
    if recent:
        whens = [When(pk=pk, then=Value(amount)) for pk, amount in recent.items()]
        base.filter(pk__in=list(recent)).update(
            signed_amount_12m=Case(
                *whens,
                default=Value(Decimal("0")),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            )
        )
        for grade, low, high in ((Grade.A, a_from, None), (Grade.B, b_from, a_from)):
            q = Q(signed_amount_12m__gte=low)
            if high is not None:
                q &= Q(signed_amount_12m__lt=high)
            counts[grade] = base.filter(q).update(grade=grade)
    if ever:
        base.filter(pk__in=[pk for pk, amount in ever.items() if amount > 0]).update(is_new=False)
    return {"A": counts[Grade.A], "B": counts[Grade.B]}
