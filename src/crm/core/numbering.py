"""Document numbers (HT-2026-000123), unique per organisation and generated race-free."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import Sequence


def next_value(org_id: int, key: str) -> int:
    """The next value of the organisation's sequence ``key`` (1, 2, 3 …). The row's UPDATE takes
    its write lock until the caller's transaction ends, so two transactions never share a value;
    a rolled-back transaction gives its value back."""
    for _attempt in range(3):
        updated = Sequence.objects.filter(org_id=org_id, key=key).update(value=F("value") + 1)
        if updated:
            return Sequence.objects.filter(org_id=org_id, key=key).values_list("value", flat=True)[
                0
            ]
        try:
            with transaction.atomic():
                Sequence.objects.create(org_id=org_id, key=key, value=1)
            return 1
        except IntegrityError:  # created by a concurrent transaction: increment it instead
            continue
    raise RuntimeError(f"could not allocate a number for {key}")


def next_number(org_id: int, prefix: str, *, width: int = 5) -> str:
    """``PREFIX-YYYY-00001``: per organisation, prefix and year of the organisation's today."""
    year = timezone.localdate().year
    value = next_value(org_id, f"{prefix}-{year}")
    return f"{prefix}-{year}-{value:0{width}d}"
