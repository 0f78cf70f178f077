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

Every row comes from ``StageHistory.objects.visible_to(user)`` (the opportunities module's
scope), so the funnel follows the viewer's data scope. The counts are one GROUP BY query; the
durations one ``values_list`` query (SQLite has no percentile function, so the median is taken
in Python). Neither grows with the number of stages.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core.scoping import DataScope
from crm.org.models import Department, User
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Pipeline, Stage, StageHistory

from .figures import COUNT, DAYS, PERCENT, TEXT, Column, Figure, rate

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


def scope_departments(user: Any) -> QuerySet[Department]:
    """Departments inside the viewer's opportunities scope (for the department filter)."""
    qs = Department.objects.filter(org_id=user.org_id)
    q = Q(pk__in=[])
    for scope, departments in user.role_grants("opportunities", "view"):
        if scope == DataScope.ALL:
            return qs.order_by("path")
        dept = user.department
        if scope == DataScope.CUSTOM:
            for d in departments:
                q |= Q(path__startswith=d.path)
        if dept is None:
            continue
        if scope == DataScope.DEPT_TREE:
            q |= Q(path__startswith=dept.path)
        elif scope in (DataScope.DEPT, DataScope.CUSTOM):
            q |= Q(pk=dept.pk)
    return qs.filter(q).order_by("path")


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


def cohort(user: Any, f: FunnelFilters) -> QuerySet[StageHistory]:
    """One stage-history row per (opportunity, open stage): the first stay in the stage that
    began in the period (see the module docstring)."""
    start, end = day_start(f.start), day_start(f.last + timedelta(days=1))
    same = StageHistory.objects.filter(opportunity=OuterRef("opportunity"), stage=OuterRef("stage"))
    # a row continuing a stay (a node change): the previous row of the same stage ended then
    continues = same.filter(left_at=OuterRef("entered_at"))
    earlier_entry = same.filter(
        entered_at__gte=start, entered_at__lt=OuterRef("entered_at")
    ).exclude(
        Exists(
            StageHistory.objects.filter(
                opportunity=OuterRef("opportunity"),
                stage=OuterRef("stage"),
                left_at=OuterRef("entered_at"),
            )
        )
    )
    return (
        StageHistory.objects.visible_to(user)
        .filter(
            pipeline=f.pipeline,
            stage__kind=StageKind.OPEN,
            entered_at__gte=start,
            entered_at__lt=end,
        )
        .filter(owner_filter(f.department, f.owner, "opportunity__"))
        .exclude(Exists(continues))
        .exclude(Exists(earlier_entry))
    )


def _advanced() -> Exists:
    later = StageHistory.objects.filter(
        opportunity=OuterRef("opportunity"), entered_at__gte=OuterRef("entered_at")
    ).filter(
        Q(stage__kind=StageKind.WON)
        | Q(stage__kind=StageKind.OPEN, stage__sort_order__gt=OuterRef("stage__sort_order"))
    )
    return Exists(later)


def funnel_rows(
    user: Any, f: FunnelFilters, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per open stage in order: entered, advanced, lost, still open, conversion rates and
    median days (see the module docstring). Two queries whatever the number of rows."""
    now = now or timezone.now()
    base = cohort(user, f)
    counts = {
        row["stage_id"]: row
        for row in base.annotate(advanced=_advanced())
        .values("stage_id")
        .annotate(
            entered=Count("id"),
            n_advanced=Count("id", filter=Q(advanced=True)),
            n_lost=Count("id", filter=Q(advanced=False, opportunity__status__in=CLOSED_UNWON)),
            n_won=Count("id", filter=Q(opportunity__status=OpportunityStatus.WON)),
        )
        .order_by()
    }
    next_other = (
        StageHistory.objects.filter(
            opportunity=OuterRef("opportunity"), entered_at__gt=OuterRef("entered_at")
        )
        .exclude(stage=OuterRef("stage"))
        .order_by("entered_at", "pk")
        .values("entered_at")[:1]
    )
    last_left = (
        StageHistory.objects.filter(
            opportunity=OuterRef("opportunity"),
            stage=OuterRef("stage"),
            entered_at__gte=OuterRef("entered_at"),
        )
        .order_by("-entered_at", "-pk")
        .values("left_at")[:1]
    )
    durations: dict[int, list[float]] = {}
    for stage_id, began, nxt, left in base.annotate(
        nxt=Subquery(next_other), last_left=Subquery(last_left)
    ).values_list("stage_id", "entered_at", "nxt", "last_left"):
        end: datetime = nxt or left or now
        seconds = max(0.0, (end - began).total_seconds())
        durations.setdefault(stage_id, []).append(seconds / 86400)
    rows = []
    for stage in open_stages(f.pipeline):
        c = counts.get(stage.pk)
        if c is None and not stage.is_active:
            continue  # a retired stage is shown only while it has entries in the period
        entered = c["entered"] if c else 0
        advanced = c["n_advanced"] if c else 0
        lost = c["n_lost"] if c else 0
        won = c["n_won"] if c else 0
        days = durations.get(stage.pk)
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
                    Decimal(str(statistics.median(days))).quantize(
                        Decimal("0.1"), rounding=ROUND_HALF_UP
                    )
                    if days
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
        ids = list(
            Department.objects.filter(
                org_id=f.department.org_id, path__startswith=f.department.path
            ).values_list("pk", flat=True)
        )
        rules.append({"field": "department", "op": "in", "value": ids})
    return list_url_for({"match": "all", "rules": rules})


def funnel_figure(user: Any, f: FunnelFilters, *, now: datetime | None = None) -> Figure:
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
