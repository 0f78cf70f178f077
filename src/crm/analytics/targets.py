"""Targets (业绩目标, R8.6): period helpers, who may set whose targets, saving a grid of targets in
one transaction, and resolving the target of any date range.

Periods are calendar months, quarters and years in the organisation's time zone. A target
belongs to one rep or one department, for one metric (signed amount, collected amount, new
customers) and one period. The target of a date range is resolved from the stored rows
(:class:`TargetBook`):

* a whole year in the range takes the year target, or else the sum of its quarters;
* a whole quarter takes the quarter target, or else the sum of its months;
* a month takes the month target, or else an even share of its quarter target (÷ 3), or else
  of its year target (÷ 12);
* a month only partly in a custom range counts pro rata by days.

No target at any level gives ``None`` (no target), never zero.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.context import request_memo
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.scoping import DataScope
from crm.org.models import Department, User

from .choices import PeriodKind, TargetMetric
from .models import Target

FEN = Decimal("0.01")
MAX_VALUE = Decimal("99999999999999.99")
MIN_YEAR, MAX_YEAR = 2000, 2100
LEVEL_REP, LEVEL_DEPARTMENT = "rep", "department"


# --- periods -------------------------------------------------------------------------------------
def org_zone(user: Any) -> ZoneInfo:
    org = getattr(user, "org", None)
    name = getattr(org, "time_zone", None) or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def today_for(user: Any) -> date:
    """Today in the organisation's time zone."""
    return timezone.localdate(timezone.now(), org_zone(user))


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone`` (for ranges of datetime fields)."""
    return datetime.combine(day, time.min, tzinfo=zone)


def month_start(day: date) -> date:
    return day.replace(day=1)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def year_start(day: date) -> date:
    return date(day.year, 1, 1)


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_start(kind: str, day: date) -> date:
    if kind == PeriodKind.YEAR:
        return year_start(day)
    if kind == PeriodKind.QUARTER:
        return quarter_start(day)
    return month_start(day)


#: months per period kind
_STEPS: dict[str, int] = {PeriodKind.YEAR.value: 12, PeriodKind.QUARTER.value: 3}


def period_end(kind: str, start: date) -> date:
    """The first day after the period that starts on ``start``."""
    return add_months(start, _STEPS.get(kind, 1))


def period_starts(kind: str, year: int) -> list[date]:
    """The starts of the months (12), quarters (4) or the year (1) of ``year``."""
    step = _STEPS.get(kind, 1)
    return [date(year, m, 1) for m in range(1, 13, step)]


def period_label(kind: str, start: date) -> str:
    if kind == PeriodKind.YEAR:
        return str(start.year)
    if kind == PeriodKind.QUARTER:
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return f"{start:%Y-%m}"


def months_between(start: date, end: date) -> list[date]:
    """Starts of the months that overlap [start, end)."""
    months, cursor = [], month_start(start)
    while cursor < end:
        months.append(cursor)
        cursor = add_months(cursor, 1)
    return months


# --- scope of targets ------------------------------------------------------------------------
def _grant_departments(user: User, action: str) -> tuple[bool, list[Department], list[Department]]:
    """(sees all, trees, single departments) of ``user``'s analytics roles granting ``action``:
    a tree is the department and everything below it. "Own records" gives the own department
    only to read (to see its target), never to set its target."""
    trees: list[Department] = []
    singles: list[Department] = []
    for scope, chosen in user.role_grants("analytics", action):
        if scope == DataScope.ALL:
            return True, [], []
        dept = user.department
        if scope == DataScope.CUSTOM:
            trees.extend(chosen)
            if dept is not None:
                singles.append(dept)
        elif dept is None or (scope == DataScope.SELF and action != "view"):
            continue
        elif scope == DataScope.DEPT_TREE:
            trees.append(dept)
        else:  # DEPT (and SELF, to read): the own department
            singles.append(dept)
    return False, trees, singles


def department_list(user: User, action: str = "view") -> list[Department]:
    """:func:`departments_in_scope` as a list, read once per request (R11.2): the dashboard's
    department picker, its target roots and its department ranking show the same rows."""
    return request_memo(
        ("analytics.departments_in_scope", user.pk, action),
        lambda: list(departments_in_scope(user, action)),
    )


def departments_in_scope(user: User, action: str = "view") -> QuerySet[Department]:
    """Departments whose figures and targets ``user`` may ``action`` in the analytics module
    (view: the department picker; configure: the department targets they may set)."""
    qs = Department.objects.visible_to(user).filter(is_active=True)
    everything, trees, singles = _grant_departments(user, action)
    if everything:
        return qs.order_by("path")
    q = Q(pk__in=[d.pk for d in singles])
    for d in trees:
        q |= Q(path__startswith=d.path)
    return qs.filter(q).order_by("path")


def sees_teams(user: User) -> bool:
    """Whether any analytics role of ``user`` reaches beyond their own records."""
    return any(s != DataScope.SELF for s, _d in user.role_grants("analytics", "view"))


def users_in_scope(user: User, action: str = "view") -> QuerySet[User]:
    """Active colleagues whose targets ``user`` may ``action`` (the owner rule of the target's
    data scope: own, department, department and below, chosen departments, all)."""
    qs = User.objects.visible_to(user).filter(is_active=True)
    q = Q(pk__in=[])
    for scope, chosen in user.role_grants("analytics", action):
        if scope == DataScope.ALL:
            return qs.order_by("department__path", "name", "pk")
        dept = user.department
        q |= Q(pk=user.pk)
        if scope == DataScope.DEPT and dept is not None:
            q |= Q(department_id=dept.pk)
        elif scope == DataScope.DEPT_TREE and dept is not None:
            q |= Q(department__path__startswith=dept.path)
        elif scope == DataScope.CUSTOM:
            for d in chosen:
                q |= Q(department__path__startswith=d.path)
    return qs.filter(q).order_by("department__path", "name", "pk")


# --- saving a grid ---------------------------------------------------------------------------
def cell_name(entity_id: int, start: date) -> str:
    """The form field (and error key) of one grid cell."""
    return f"c-{entity_id}-{start:%Y-%m-%d}"


def parse_value(raw: Any, metric: str) -> Decimal | None:
    """A cell's value: None when empty; raises ValueError with a readable message."""
    if raw is None:
        return None
    if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, float):
        text = repr(raw)
    elif isinstance(raw, str):
        text = raw.strip().replace(",", "").replace("，", "").replace(" ", "")
        text = text.removeprefix("¥").removeprefix("￥")
    else:
        raise ValueError(_("Enter a number."))
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not value.is_finite():
        raise ValueError(_("Enter a number."))
    if value < 0:
        raise ValueError(_("A target cannot be negative."))
    if value > MAX_VALUE:
        raise ValueError(_("The number is too large."))
    if metric == TargetMetric.NEW_CUSTOMERS and value != value.to_integral_value():
        raise ValueError(_("The number of new customers is a whole number."))
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass
class SaveResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


def _clean_choice(value: str, choices: Iterable[str], field: str) -> str:
    if value not in set(choices):
        raise ValidationFailed(field_errors={field: [_("Choose a valid option.")]})
    return value


def clean_year(value: Any) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(field_errors={"year": [_("Enter a year.")]}) from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(
            field_errors={
                "year": [_("Enter a year from %(a)s to %(b)s.") % {"a": MIN_YEAR, "b": MAX_YEAR}]
            }
        )
    return year


def save_grid(
    *,
    actor: User,
    metric: str,
    period: str,
    year: Any,
    level: str,
    cells: dict[tuple[int, date], Any],
) -> SaveResult:
    """Save the targets of a grid (rows: reps or departments; columns: the periods of
    ``year``) in one transaction. ``cells`` maps (rep or department id, period start) to the
    raw value; an empty value removes the target. Any bad cell refuses the whole grid with a
    message per cell (``ValidationFailed.field_errors`` keyed by :func:`cell_name`)."""
    if not actor.can("analytics", "configure"):
        raise PermissionDenied()
    metric = _clean_choice(metric, TargetMetric.values, "metric")
    period = _clean_choice(period, PeriodKind.values, "period")
    level = _clean_choice(level, (LEVEL_REP, LEVEL_DEPARTMENT), "level")
    the_year = clean_year(year)
    starts = set(period_starts(period, the_year))
    ids = {entity for entity, _start in cells}
    if level == LEVEL_REP:
        allowed = set(
            users_in_scope(actor, "configure").filter(pk__in=ids).values_list("pk", flat=True)
        )
    else:
        allowed = set(
            departments_in_scope(actor, "configure").filter(pk__in=ids).values_list("pk", flat=True)
        )
    if ids - allowed:
        raise NotFound()
    errors: dict[str, list[str]] = {}
    values: dict[tuple[int, date], Decimal | None] = {}
    for (entity, start), raw in cells.items():
        if start not in starts:
            errors[cell_name(entity, start)] = [
                _("%(day)s does not start a period of %(year)s.")
                % {"day": start.isoformat(), "year": the_year}
            ]
            continue
        try:
            values[(entity, start)] = parse_value(raw, metric)
        except ValueError as exc:
            errors[cell_name(entity, start)] = [str(exc)]
    if errors:
        raise ValidationFailed(
            _("Some targets are not valid; nothing was saved."), field_errors=errors
        )
    field = "user_id" if level == LEVEL_REP else "department_id"
    result = SaveResult()
    org_id = actor.org_id
    assert org_id is not None
    with transaction.atomic():
        existing = {
            (getattr(t, field), t.period_start): t
            for t in Target.objects.select_for_update().filter(
                org_id=actor.org_id,
                metric=metric,
                period=period,
                period_start__in=starts,
                **{f"{field}__in": ids},
            )
        }
        events: list[Event] = []
        for key, value in values.items():
            target = existing.get(key)
            if value is None:
                if target is None:
                    continue
                events.append(
                    audit.event_for(
                        actor=actor,
                        obj=target,
                        verb="target.saved",
                        changes={"value": [target.value, None]},
                    )
                )
                target.delete()
                result.deleted += 1
            elif target is None:
                target = Target.objects.create(
                    org_id=org_id,
                    created_by=actor,
                    metric=metric,
                    period=period,
                    period_start=key[1],
                    value=value,
                    **{field: key[0]},
                )
                events.append(
                    audit.event_for(
                        actor=actor,
                        obj=target,
                        verb="target.saved",
                        changes={"value": [None, value]},
                    )
                )
                result.created += 1
            elif target.value != value:
                old = target.value
                target.value = value
                target.save(update_fields=["value", "updated_at"])
                events.append(
                    audit.event_for(
                        actor=actor,
                        obj=target,
                        verb="target.saved",
                        changes={"value": [old, value]},
                    )
                )
                result.updated += 1
            else:
                result.unchanged += 1
        Event.objects.bulk_create(events)
    return result


def save_one(
    *,
    actor: User,
    metric: str,
    period: str,
    start: date,
    value: Any,
    user: User | None = None,
    department: Department | None = None,
) -> SaveResult:
    """One target (the import's row): the grid service with a single cell."""
    if start != period_start(period, start):
        raise ValidationFailed(
            field_errors={"period_start": [_("The date does not start a period of that kind.")]}
        )
    entity = user if user is not None else department
    assert entity is not None
    return save_grid(
        actor=actor,
        metric=metric,
        period=period,
        year=start.year,
        level=LEVEL_REP if user is not None else LEVEL_DEPARTMENT,
        cells={(entity.pk, start): value},
    )


# --- reading targets -------------------------------------------------------------------------
class TargetBook:
    """The targets of a set of reps and departments for one metric, resolved for any range by
    the rules of the module docstring (one query builds it; resolution is arithmetic)."""

    def __init__(self, rows: Iterable[Target]):
        self.values: dict[tuple[str, int, str, date], Decimal] = {}
        for t in rows:
            key = ("u", t.user_id) if t.user_id else ("d", t.department_id)
            self.values[(key[0], key[1] or 0, t.period, t.period_start)] = t.value

    @classmethod
    def load(cls, viewer: User, metric: str, start: date, end: date) -> TargetBook:
        """Targets ``viewer`` sees for ``metric`` in the years that overlap [start, end)."""
        return cls.load_many(viewer, [metric], start, end)[metric]

    @classmethod
    def load_many(
        cls, viewer: User, metrics: Iterable[str], start: date, end: date
    ) -> dict[str, TargetBook]:
        """:meth:`load` for several metrics in one query: metric → book."""
        wanted = list(metrics)
        rows = Target.objects.visible_to(viewer).filter(
            metric__in=wanted,
            period_start__gte=date(start.year, 1, 1),
            period_start__lt=date(end.year + 1, 1, 1),
        )
        by_metric: dict[str, list[Target]] = {m: [] for m in wanted}
        for t in rows.only("metric", "user_id", "department_id", "period", "period_start", "value"):
            by_metric[t.metric].append(t)
        return {m: cls(by_metric[m]) for m in wanted}

    def entities(self, kind: str) -> set[int]:
        return {entity for k, entity, _p, _s in self.values if k == kind}

    def _get(self, kind: str, entity: int, period: str, start: date) -> Decimal | None:
        return self.values.get((kind, entity, period, start))

    def month(self, kind: str, entity: int, start: date) -> Decimal | None:
        value = self._get(kind, entity, PeriodKind.MONTH, start)
        if value is not None:
            return value
        quarter = self._get(kind, entity, PeriodKind.QUARTER, quarter_start(start))
        if quarter is not None:
            return quarter / 3
        year = self._get(kind, entity, PeriodKind.YEAR, year_start(start))
        if year is not None:
            return year / 12
        return None

    def quarter(self, kind: str, entity: int, start: date) -> Decimal | None:
        value = self._get(kind, entity, PeriodKind.QUARTER, start)
        if value is not None:
            return value
        return _sum(self.month(kind, entity, add_months(start, i)) for i in range(3))

    def year(self, kind: str, entity: int, start: date) -> Decimal | None:
        value = self._get(kind, entity, PeriodKind.YEAR, start)
        if value is not None:
            return value
        return _sum(self.quarter(kind, entity, add_months(start, i)) for i in (0, 3, 6, 9))

    def for_range(self, kind: str, entity: int, start: date, end: date) -> Decimal | None:
        """The target of [start, end) (end exclusive)."""
        parts: list[Decimal | None] = []
        cursor = start
        while cursor < end:
            if cursor.month == 1 and cursor.day == 1 and add_months(cursor, 12) <= end:
                parts.append(self.year(kind, entity, cursor))
                cursor = add_months(cursor, 12)
            elif cursor == quarter_start(cursor) and add_months(cursor, 3) <= end:
                parts.append(self.quarter(kind, entity, cursor))
                cursor = add_months(cursor, 3)
            else:
                first = month_start(cursor)
                following = add_months(first, 1)
                stop = min(following, end)
                value = self.month(kind, entity, first)
                if value is not None and (cursor != first or stop != following):
                    days = calendar.monthrange(first.year, first.month)[1]
                    value = value * (stop - cursor).days / days
                parts.append(value)
                cursor = stop
        total = _sum(parts)
        return total.quantize(FEN, rounding=ROUND_HALF_UP) if total is not None else None


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    found = [v for v in values if v is not None]
    return sum(found, Decimal(0)) if found else None


def range_days(start: date, end: date) -> int:
    return (end - start).days


def last_day(end: date) -> date:
    return end - timedelta(days=1)
