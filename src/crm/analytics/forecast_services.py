"""Writes of the forecast (R8.5): a rep's commit, a manager's adjustment, the weekly snapshots
and, once a period is over, what was actually won.

Who may do what:

- **commit**: any member with ``analytics:view`` commits (and re-commits) their *own* number
  and best case for a current or future month or quarter; never for a colleague.
- **adjust**: a manager — someone holding ``analytics:configure`` or ``opportunities:approve``
  whose analytics data scope contains the rep (the commit is visible to them) — sets an adjusted
  number with a note. Nobody adjusts their own commit. A commit outside the actor's scope or
  of another organisation answers "not found".

Each write records an audit event (``forecast.committed`` / ``forecast.adjusted``) in its
transaction.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core import audit
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.money import parse_money
from crm.core.scoping import get_scoped_or_404
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import Opportunity

from .forecast import (
    FORECAST_PERIODS,
    Filters,
    Source,
    figures_by,
    historical_rates,
    is_period_start,
    period_end,
    period_start,
)
from .models import ForecastCommit, ForecastSnapshot

NOTE_MAX = 500


def may_adjust(user: Any) -> bool:
    """Whether ``user`` holds a permission that lets them adjust their reps' commits."""
    return bool(user.can("analytics", "configure") or user.can("opportunities", "approve"))


def _amount(value: Any, field: str, errors: dict[str, list[Any]], *, required: bool) -> Any:
    try:
        amount = parse_money(value)
    except ValueError:
        errors[field] = [_("Enter an amount of zero or more, with at most two decimals.")]
        return None
    if amount is None and required:
        errors[field] = [_("Enter an amount.")]
    return amount


def _period(kind: Any, start: Any, errors: dict[str, list[Any]]) -> tuple[str, date | None]:
    kind = str(kind or "")
    if kind not in FORECAST_PERIODS:
        errors["period"] = [_("Choose a month or a quarter.")]
        return kind, None
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            start = None
    if not isinstance(start, date):
        errors["period_start"] = [_("Enter the first day of the period (YYYY-MM-DD).")]
        return kind, None
    if not is_period_start(kind, start):
        errors["period_start"] = [_("Enter the first day of the month or quarter.")]
        return kind, None
    return kind, start


def _note(value: Any, field: str, errors: dict[str, list[Any]]) -> str:
    text = str(value or "").strip()
    if len(text) > NOTE_MAX:
        errors[field] = [_("At most 500 characters.")]
    return text


@transaction.atomic
def commit(
    *,
    actor: Any,
    period: Any,
    start: Any,
    committed: Any,
    best_case: Any = None,
    note: Any = "",
    owner: Any = None,
    today: date | None = None,
) -> ForecastCommit:
    """The actor commits their own number (and best case) for a current or future period.
    Committing again replaces the number; a manager's adjustment stays."""
    if not actor.can("analytics", "view"):
        raise PermissionDenied()
    if owner is not None and owner.pk != actor.pk:
        raise PermissionDenied(_("You can only commit your own forecast."))
    today = today or timezone.localdate()
    errors: dict[str, list[Any]] = {}
    kind, first = _period(period, start, errors)
    amount = _amount(committed, "committed", errors, required=True)
    best = _amount(best_case, "best_case", errors, required=False)
    text = _note(note, "note", errors)
    if first is not None and period_end(kind, first) <= today:
        errors["period_start"] = [_("This period is over; commit for a current or future one.")]
    if amount is not None and best is not None and best < amount:
        errors["best_case"] = [_("The best case cannot be below the commit.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert first is not None
    existing = (
        ForecastCommit.objects.select_for_update()
        .filter(org_id=actor.org_id, owner=actor, period=kind, period_start=first)
        .first()
    )
    if existing is None:
        obj = ForecastCommit.objects.create(
            org_id=actor.org_id,
            created_by=actor,
            owner=actor,
            period=kind,
            period_start=first,
            committed=amount,
            best_case=best,
            note=text,
        )
        audit.record(
            actor=actor,
            obj=obj,
            verb="forecast.committed",
            changes=audit.diff(
                {},
                {
                    "committed": str(amount),
                    "best_case": str(best) if best is not None else None,
                    "note": text,
                },
            ),
            data={"period": kind, "period_start": first.isoformat()},
        )
        return obj
    before = audit.snapshot(existing, ["committed", "best_case", "note"])
    existing.committed, existing.best_case, existing.note = amount, best, text
    existing.save(update_fields=["committed", "best_case", "note", "updated_at"])
    audit.record(
        actor=actor,
        obj=existing,
        verb="forecast.committed",
        changes=audit.diff(before, audit.snapshot(existing, ["committed", "best_case", "note"])),
        data={"period": kind, "period_start": first.isoformat()},
    )
    return existing


@transaction.atomic
def adjust(*, actor: Any, commit_id: Any, adjusted: Any, note: Any = "") -> ForecastCommit:
    """A manager adjusts a rep's commit (see the module docstring for who may)."""
    obj: ForecastCommit = get_scoped_or_404(
        ForecastCommit.objects.select_for_update(), actor, commit_id
    )
    if not may_adjust(actor):
        raise PermissionDenied(_("Only a manager of the rep may adjust a commit."))
    if obj.owner_id == actor.pk:
        raise PermissionDenied(_("You cannot adjust your own commit."))
    errors: dict[str, list[Any]] = {}
    amount = _amount(adjusted, "adjusted", errors, required=True)
    text = _note(note, "adjusted_note", errors)
    if not text and "adjusted_note" not in errors:
        errors["adjusted_note"] = [_("Say why you adjust the commit.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    fields = ["adjusted", "adjusted_note", "adjusted_by"]
    before = audit.snapshot(obj, fields)
    obj.adjusted, obj.adjusted_note, obj.adjusted_by = amount, text, actor
    obj.adjusted_at = timezone.now()
    obj.save(update_fields=[*fields, "adjusted_at", "updated_at"])
    audit.record(
        actor=actor,
        obj=obj,
        verb="forecast.adjusted",
        changes=audit.diff(before, audit.snapshot(obj, fields)),
        data={"period": obj.period, "period_start": obj.period_start.isoformat()},
    )
    return obj


def get_commit(actor: Any, commit_id: Any) -> ForecastCommit:
    """A commit the actor may see (another organisation's or out of scope: not found)."""
    return get_scoped_or_404(ForecastCommit.objects.select_related("owner"), actor, commit_id)


# --- weekly snapshots ----------------------------------------------------------------------------
def week_of(day: date) -> date:
    """The Monday of ``day``'s week: the key that makes a snapshot once a week."""
    return day - timedelta(days=day.weekday())


def take_snapshots(org_id: int, today: date) -> int:
    """Snapshot every rep's forecast for the open month and quarter (those containing
    ``today``), keyed on the Monday of the week: run any number of times, by any number of
    schedulers, a week has one row per (rep, period). Returns the rows inserted."""
    src = Source(org_id=org_id)
    rates = historical_rates(src)
    taken_on = week_of(today)
    rows: list[ForecastSnapshot] = []
    for kind in FORECAST_PERIODS:
        start = period_start(kind, today)
        f = Filters(kind=kind, start=start)
        figures = figures_by(src, f, rates)
        commits = {
            c.owner_id: c
            for c in ForecastCommit.objects.for_org(org_id).filter(period=kind, period_start=start)
        }
        for owner_id in set(figures) | set(commits):
            fig = figures.get(owner_id)
            c = commits.get(owner_id)
            rows.append(
                ForecastSnapshot(
                    org_id=org_id,
                    taken_on=taken_on,
                    owner_id=owner_id,
                    period=kind,
                    period_start=start,
                    open_amount=fig.open_amount if fig else Decimal("0.00"),
                    weighted=fig.weighted if fig else Decimal("0.00"),
                    historical=fig.historical if fig else Decimal("0.00"),
                    won_so_far=fig.won if fig else Decimal("0.00"),
                    committed=c.committed if c else None,
                    adjusted=c.adjusted if c else None,
                )
            )
    before = ForecastSnapshot.objects.for_org(org_id).filter(taken_on=taken_on).count()
    ForecastSnapshot.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return ForecastSnapshot.objects.for_org(org_id).filter(taken_on=taken_on).count() - before


def fill_actuals(org_id: int, today: date) -> int:
    """Set ``actual`` (won amount in the period: actual close date inside it) on every snapshot
    of a period that is over. One UPDATE per finished period, whatever the number of reps."""
    pending = (
        ForecastSnapshot.objects.for_org(org_id)
        .filter(actual__isnull=True)
        .values_list("period", "period_start")
        .distinct()
        .order_by()
    )
    updated = 0
    for kind, start in list(pending):
        end = period_end(kind, start)
        if end > today:
            continue
        won = (
            Opportunity.objects.for_org(org_id)
            .filter(
                owner_id=OuterRef("owner_id"),
                status=OpportunityStatus.WON,
                actual_close_date__gte=start,
                actual_close_date__lt=end,
            )
            .order_by()
            .values("owner_id")
            .annotate(total=Sum("actual_amount"))
            .values("total")
        )
        updated += (
            ForecastSnapshot.objects.for_org(org_id)
            .filter(period=kind, period_start=start, actual__isnull=True)
            .update(
                actual=Coalesce(
                    Subquery(won),
                    Decimal("0.00"),
                    output_field=DecimalField(max_digits=16, decimal_places=2),
                )
            )
        )
    return updated


def run_weekly(org_id: int, today: date) -> tuple[int, int]:
    """The weekly job for one organisation: fill finished periods, then snapshot open ones."""
    filled = fill_actuals(org_id, today)
    taken = take_snapshots(org_id, today)
    return taken, filled
