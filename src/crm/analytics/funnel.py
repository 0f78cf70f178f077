"""The sales funnel (销售漏斗, R8.4), built from stage history.

**Cohort.** For each open stage S of one pipeline, the cohort is the opportunities that *entered*
S during the period: they have a stay in S (a run of stage-history rows of S; a node change
inside S writes a new row but is not a new stay) that begins on or after the first day and
before the day after the last day, in the organisation's time zone. An opportunity counts once
per stage: its first stay in S that begins in the period is its reference entry.

**Outcome** of each cohort member, exclusive, so ``entered = advanced + lost + still open``:

- *advanced*: after the reference entry it reached a later open stage (higher stage order) or
  the won stage;
- *lost*: not advanced and its status is lost or abandoned (closed without getting beyond S);
- *still open*: neither (still in S, paused, or moved back).

Conversion to a later stage is advanced ÷ entered; conversion to won is (cohort members now
won) ÷ entered. *Median days* is the median, over the cohort, of the time from the reference
entry until the opportunity left S (entered another stage, or was abandoned in S), or until now
when it is still there.

Every figure comes from the stays per stage (:class:`~crm.analytics.models.StageStay`, kept
exact from the stage history at write time by :mod:`crm.analytics.stays`) of the opportunities
``Opportunity``'s scope lets the viewer see, so the funnel follows the viewer's data scope. It is
one SQL statement (:func:`stage_figures`) over the period's stays of the pipeline, read from one
index; on PostgreSQL it returns one row per stage (SQLite has no percentile function: there the
median is taken in Python). Neither the statement count nor the rows returned grow with the
number of opportunities (issue 6: ≤ 300 ms uncached; see docs/benchmarks.md).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core import figure_cache
from crm.core.context import request_memo
from crm.core.scoping import UNRESTRICTED, DataScope, scope_q
from crm.org.models import Department, User
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, Pipeline, Stage

from .figures import COUNT, DAYS, PERCENT, TEXT, Column, Figure, rate
from .models import StageStay

CLOSED_UNWON = (OpportunityStatus.LOST, OpportunityStatus.ABANDONED)


@dataclass
class FunnelFilters:
    """What the funnel covers: entries from ``start`` to ``last`` (inclusive days), one
    pipeline, optionally one department (and below) or one rep."""

    start: date
    last: date
    pipeline: Pipeline
    department: Department | None = None
    owner: User | None = None


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in the current (the organisation's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _scope_rule(user: Any) -> tuple[set[int], list[str]] | None:
    """The departments inside the viewer's opportunities scope: None (all of the organisation),
    or (single department ids, paths whose department and everything below are in)."""
    ids: set[int] = set()
    trees: list[str] = []
    for scope, departments in user.role_grants("opportunities", "view"):
        if scope == DataScope.ALL:
            return None
        dept = user.department
        if scope == DataScope.CUSTOM:
            trees += [d.path for d in departments]
        if dept is None:
            continue
        if scope == DataScope.DEPT_TREE:
            trees.append(dept.path)
        elif scope in (DataScope.DEPT, DataScope.CUSTOM):
            ids.add(dept.pk)
    return ids, trees


def scope_departments(user: Any) -> QuerySet[Department]:
    """Departments inside the viewer's opportunities scope (for the department filter)."""
    qs = Department.objects.filter(org_id=user.org_id)
    rule = _scope_rule(user)
    if rule is None:
        return qs.order_by("path")
    ids, trees = rule
    q = Q(pk__in=sorted(ids))
    for path in trees:
        q |= Q(path__startswith=path)
    return qs.filter(q).order_by("path")


def organisation_departments(org_id: int) -> list[Department]:
    """Every department of the organisation by path, read once per request (R11.2): the
    department filters and the reports' department links read the same rows."""
    return request_memo(
        ("analytics.departments", org_id),
        lambda: list(Department.objects.filter(org_id=org_id).order_by("path")),
    )


def scope_department_list(user: Any) -> list[Department]:
    """:func:`scope_departments` as a list, taken from :func:`organisation_departments`."""
    everything = organisation_departments(user.org_id)
    rule = _scope_rule(user)
    if rule is None:
        return list(everything)
    ids, trees = rule
    return [d for d in everything if d.pk in ids or any(d.path.startswith(p) for p in trees)]


def owner_filter(department: Department | None, owner: Any, prefix: str = "") -> Q:
    """Rows of one rep and/or of one department and the departments below it."""
    q = Q()
    if department is not None:
        q &= Q(**{f"{prefix}owner__department__path__startswith": department.path})
    if owner is not None:
        q &= Q(**{f"{prefix}owner_id": owner.pk})
    return q


def open_stages(pipeline: Pipeline) -> list[Stage]:
    """The pipeline's open stages in order, retired ones included."""
    return list(
        Stage.objects.filter(pipeline=pipeline, parent__isnull=True, kind=StageKind.OPEN).order_by(
            "sort_order", "pk"
        )
    )


# --- the cohort's figures in one statement -------------------------------------------------------
# The cohort is read from the stays (crm.analytics.stays): per stage, the stays of the pipeline
# begun in the period whose previous stay in the same stage began before it (the first stay
# begun in the period), of the opportunities the viewer sees (``StageStay``'s scope is its
# opportunity's) and the filters.
# PostgreSQL: the counts per stage and the two middle durations (the median is their mean, as
# ``statistics.median`` takes it), so a handful of rows cross the wire whatever the cohort's size.
# One sort gives both: ``PERCENTILE_DISC(f)`` is the first value at position ≥ f × n, so 0.5 gives
# the lower middle one and 0.5 + 1e-9 the upper (the same one when n is odd; exact below 10⁸
# rows). It sorts the intervals themselves; only the two it picks become days (the conversion
# keeps the order, so the result is the same as sorting days). The stays come in stage order
# from the (org, pipeline, stage, entered_at, …) index: no sort before the grouping.
_PER_STAGE_PG = """
SELECT g.stage, g.entered, g.advanced, g.lost, g.won,
       GREATEST(0.0, EXTRACT(EPOCH FROM g.middle[1])::float8) / 86400.0,
       GREATEST(0.0, EXTRACT(EPOCH FROM g.middle[2])::float8) / 86400.0
FROM (
    SELECT c.stage, COUNT(*) AS entered, SUM(CASE WHEN c.advanced THEN 1 ELSE 0 END) AS advanced,
           SUM(CASE WHEN NOT c.advanced AND c.status IN (%s, %s) THEN 1 ELSE 0 END) AS lost,
           SUM(CASE WHEN c.status = %s THEN 1 ELSE 0 END) AS won,
           PERCENTILE_DISC(ARRAY[0.5, 0.5 + 1e-9]) WITHIN GROUP (
               ORDER BY COALESCE(c.left_at, %s) - c.entered_at
           ) AS middle
    FROM ({cohort}) c (stage, advanced, status, entered_at, left_at)
    GROUP BY c.stage
) g
"""


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp as the database driver returned it (SQLite: naive or text, in UTC) as an
    aware one."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stage_figures(
    user: Any, f: FunnelFilters, *, now: datetime
) -> tuple[dict[int, dict[str, int]], dict[int, float]]:
    """Per stage: the cohort's counts (entered, advanced, lost, won) and median days, in one
    statement (see the module docstring for the definitions).

    The statement reads only the period's stays of the pipeline
    (:class:`~crm.analytics.models.StageStay`, kept by the opportunity services from the stage
    history: when each stay began and ended, when the previous stay in the same stage began,
    whether it advanced) through the ``(org, pipeline, entered_at)`` index, of the candidate
    opportunities (the viewer's scope, ``Opportunity.objects.visible_to``, and the filters),
    joined to the opportunity for its status. On PostgreSQL it returns one row per stage;
    elsewhere one row per cohort member."""
    start, end = day_start(f.start), day_start(f.last + timedelta(days=1))
    stays = StageStay.objects.filter(
        org_id=user.org_id,
        pipeline=f.pipeline,
        entered_at__gte=start,
        entered_at__lt=end,
    ).filter(Q(previous_entered_at__isnull=True) | Q(previous_entered_at__lt=start))
    if (
        f.department is None
        and f.owner is None
        and scope_q(user, Opportunity, "view") is UNRESTRICTED
    ):
        pass  # the whole organisation: the stays alone
    else:  # the opportunities the viewer sees (and the filters), as a semi-join
        candidates = Opportunity.objects.visible_to(user).filter(
            owner_filter(f.department, f.owner)
        )
        stays = stays.filter(opportunity__in=candidates.order_by().values("pk"))
    cohort = stays.order_by().values_list(
        "stage_id", "advanced", "closed_as", "entered_at", "left_at"
    )
    try:
        sql, params = cohort.query.sql_with_params()
    except EmptyResultSet:
        return {}, {}
    counts: dict[int, dict[str, int]] = {}
    medians: dict[int, float] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _PER_STAGE_PG.format(cohort=sql),
                [
                    OpportunityStatus.LOST.value,
                    OpportunityStatus.ABANDONED.value,
                    OpportunityStatus.WON.value,
                    now,
                    *params,
                ],
            )
            for stage_id, entered, advanced, lost, won, low, high in cursor.fetchall():
                counts[stage_id] = {
                    "entered": entered,
                    "n_advanced": int(advanced),
                    "n_lost": int(lost),
                    "n_won": int(won),
                }
                medians[stage_id] = (low + high) / 2
            return counts, medians
        cursor.execute(sql, params)
        durations: dict[int, list[float]] = {}
        for stage_id, advanced, status, began, left in cursor.fetchall():
            c = counts.setdefault(
                stage_id, {"entered": 0, "n_advanced": 0, "n_lost": 0, "n_won": 0}
            )
            c["entered"] += 1
            c["n_advanced"] += 1 if advanced else 0
            c["n_lost"] += 1 if not advanced and status in CLOSED_UNWON else 0
            c["n_won"] += 1 if status == OpportunityStatus.WON else 0
            entered_at = _as_datetime(began)
            assert entered_at is not None
            stop = _as_datetime(left) or now
            seconds = max(0.0, (stop - entered_at).total_seconds())
            durations.setdefault(stage_id, []).append(seconds / 86400)
    return counts, {k: statistics.median(v) for k, v in durations.items()}


def funnel_rows(
    user: Any, f: FunnelFilters, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per open stage in order: entered, advanced, lost, still open, conversion rates and
    median days (see the module docstring). Two queries whatever the number of rows: the
    stages and :func:`stage_figures`."""
    now = now or timezone.now()
    counts, medians = stage_figures(user, f, now=now)
    rows = []
    for stage in open_stages(f.pipeline):
        c = counts.get(stage.pk)
        if c is None and not stage.is_active:
            continue  # a retired stage is shown only while it has entries in the period
        entered = c["entered"] if c else 0
        advanced = c["n_advanced"] if c else 0
        lost = c["n_lost"] if c else 0
        won = c["n_won"] if c else 0
        median = medians.get(stage.pk)
        rows.append(
            {
                "stage_id": stage.pk,
                "stage": stage.name,
                "entered": entered,
                "advanced": advanced,
                "lost": lost,
                "open": entered - advanced - lost,
                "conversion": rate(advanced, entered),
                "win_rate": rate(won, entered),
                "won": won,
                "median_days": (
                    Decimal(str(median)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
                    if median is not None
                    else None
                ),
            }
        )
    return rows


def stage_list_url(stage_id: int, f: FunnelFilters) -> str:
    """The opportunity list filtered by the stage (and the funnel's rep or department)."""
    from crm.pipeline.list_views import list_url_for

    rules: list[dict[str, Any]] = [
        {"field": "pipeline", "op": "eq", "value": f.pipeline.pk},
        {"field": "stage", "op": "eq", "value": stage_id},
    ]
    if f.owner is not None:
        rules.append({"field": "owner", "op": "eq", "value": f.owner.pk})
    if f.department is not None:
        ids = [  # the department and those below it, by path (read once per request)
            d.pk
            for d in organisation_departments(f.department.org_id)
            if d.path.startswith(f.department.path)
        ]
        rules.append({"field": "department", "op": "in", "value": ids})
    return list_url_for({"match": "all", "rules": rules})


def funnel_figure(user: Any, f: FunnelFilters, *, now: datetime | None = None) -> Figure:
    """The funnel of ``f`` as ``user`` sees it; without ``now``, cached for the viewer until
    the organisation's next change (crm.core.figure_cache)."""
    if now is not None:
        return _funnel_figure(user, f, now=now)
    parts = (
        f.start,
        f.last,
        figure_cache.pk(f.pipeline),
        figure_cache.pk(f.department),
        figure_cache.pk(f.owner),
        timezone.localdate(),
    )
    return figure_cache.cached(user, "funnel", parts, lambda: _funnel_figure(user, f))


def _funnel_figure(user: Any, f: FunnelFilters, *, now: datetime | None = None) -> Figure:
    rows = funnel_rows(user, f, now=now)
    for row in rows:
        row["_url"] = stage_list_url(row["stage_id"], f)
    return Figure(
        key="funnel",
        title=_("Sales funnel"),
        columns=[
            Column("stage", _("Stage"), TEXT),
            Column("entered", _("Entered"), COUNT),
            Column("advanced", _("Advanced"), COUNT),
            Column("lost", _("Lost or abandoned"), COUNT),
            Column("open", _("Still open"), COUNT),
            Column("conversion", _("Conversion to a later stage"), PERCENT),
            Column("win_rate", _("Conversion to won"), PERCENT),
            Column("median_days", _("Median days in stage"), DAYS),
        ],
        rows=rows,
        chart={"type": "funnel", "x": "stage", "series": ["entered"]},
        note=_(
            "Opportunities that entered each stage in the period, and what became of them. "
            "Click a stage to open the opportunities now in it."
        ),
        extra={"height": 360},
    )
