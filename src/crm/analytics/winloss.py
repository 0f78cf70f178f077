"""Win/loss analysis (R4.8, R8.7): what was won and lost in a period, by whom, of what, and why.

**Closed in the period.** An opportunity counts when its status is won or lost and its actual
close date lies from the first to the last day of the period (both included; no date given:
unbounded). Abandoned opportunities are neither won nor lost and are left out.

- *won*: the number of won opportunities; *won value*: the sum of their actual amounts;
- *lost*: the number of lost opportunities; *lost value*: the sum of their expected amounts;
- *win rate*: won ÷ (won + lost), a percentage with one decimal (half-up), empty when nothing
  closed.

Grouped per rep (the opportunity's owner), per department (the owner's department: for a team
organised as in the Maven data, the manager's team), per parent department (the department
above it: the regional office), and per product (the opportunity's product lines: a deal counts
once for every product it has a line of; the won value of a product is the sum of its line
amounts on won deals). Lost opportunities are also grouped by their loss reason and by the stage
in which they were lost (the last open stage of their stage history). *Open deals per stage*
are the opportunities open now (continue or paused), whatever the period.

Every figure reads ``Opportunity.objects.visible_to(user)`` (and its product lines and stage
history through it), so it follows the viewer's data scope. Each figure is one GROUP BY query,
whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext_lazy as _

from crm.org.models import Department, User
from crm.pipeline import dictionaries
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus, StageKind
from crm.pipeline.models import (
    DictionaryKind,
    Opportunity,
    OpportunityLine,
    Pipeline,
    Stage,
    StageHistory,
)
from crm.pipeline.selectors import organisation_stages

from .figures import COUNT, MONEY, PERCENT, TEXT, Column, Figure, rate
from .funnel import organisation_departments

WON, LOST = OpportunityStatus.WON, OpportunityStatus.LOST
ZERO = Decimal("0.00")


@dataclass
class WinLossFilters:
    """Closed from ``start`` to ``last`` (inclusive days; None: unbounded), optionally one
    pipeline, one department (and below) or one rep."""

    start: date | None = None
    last: date | None = None
    pipeline: Pipeline | None = None
    department: Department | None = None
    owner: User | None = None


def _scope(qs: QuerySet[Any], f: WinLossFilters, prefix: str = "") -> QuerySet[Any]:
    if f.pipeline is not None:
        qs = qs.filter(**{f"{prefix}pipeline_id": f.pipeline.pk})
    if f.department is not None:
        qs = qs.filter(**{f"{prefix}owner__department__path__startswith": f.department.path})
    if f.owner is not None:
        qs = qs.filter(**{f"{prefix}owner_id": f.owner.pk})
    return qs


def closed(user: Any, f: WinLossFilters, prefix: str = "", qs: Any = None) -> QuerySet[Any]:
    """Won and lost opportunities closed in the period, or the rows of ``qs`` (already scoped
    to ``user``) whose opportunity (through ``prefix``) is one of them."""
    base = qs if qs is not None else Opportunity.objects.visible_to(user)
    base = base.filter(**{f"{prefix}status__in": (WON, LOST)})
    if f.start is not None:
        base = base.filter(**{f"{prefix}actual_close_date__gte": f.start})
    if f.last is not None:
        base = base.filter(**{f"{prefix}actual_close_date__lte": f.last})
    return _scope(base, f, prefix)


def _measures(
    prefix: str = "",
    amount: str = "actual_amount",
    lost_amount: str = "expected_amount",
    distinct: bool = False,
) -> dict[str, Any]:
    won_q, lost_q = Q(**{f"{prefix}status": WON}), Q(**{f"{prefix}status": LOST})
    key = f"{prefix}pk" if prefix else "pk"
    return {
        "won": Count(key, filter=won_q, distinct=distinct),
        "won_value": Sum(amount, filter=won_q),
        "lost": Count(key, filter=lost_q, distinct=distinct),
        "lost_value": Sum(lost_amount, filter=lost_q),
    }


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    row["won_value"] = row.get("won_value") or ZERO
    row["lost_value"] = row.get("lost_value") or ZERO
    row["closed"] = row["won"] + row["lost"]
    row["win_rate"] = rate(row["won"], row["closed"])
    return row


MEASURES = ("won", "won_value", "lost", "lost_value")


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    """Add the measures of ``row`` to ``into`` (sums stay None while every part is None)."""
    into["won"] = into.get("won", 0) + row["won"]
    into["lost"] = into.get("lost", 0) + row["lost"]
    for key in ("won_value", "lost_value"):
        if row[key] is not None:
            into[key] = (into.get(key) or ZERO) + row[key]
        else:
            into.setdefault(key, None)


@dataclass
class ClosedGroups:
    """What was won and lost in the selection per rep, department and parent department, and
    in all (each list as ``by_rep``, ``by_department``, ``by_parent_department`` give it)."""

    reps: list[dict[str, Any]]
    departments: list[dict[str, Any]]
    parents: list[dict[str, Any]]
    total: dict[str, Any]


def _ranked(groups: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [_finish({**r, "label": r["label"] or "—"}) for r in groups.values()]
    return sorted(rows, key=lambda r: (-r["won_value"], str(r["label"])))


def closed_groups(user: Any, f: WinLossFilters) -> ClosedGroups:
    """The closed figures per rep, department, parent department and in all from one GROUP BY
    per owner (R11.2): a department's figures are the sums of its reps' (the owner's
    department), a parent department's those of the departments below it."""
    rows = list(
        closed(user, f)
        .values("owner_id")
        .annotate(
            name=F("owner__name"),
            username=F("owner__username"),
            dept=F("owner__department_id"),
            dept_name=F("owner__department__name"),
            parent=F("owner__department__parent_id"),
            parent_name=F("owner__department__parent__name"),
            **_measures(),
        )
        .order_by()
    )
    reps = [
        _finish(
            {
                "owner_id": r["owner_id"],
                "name": r["name"],
                "username": r["username"],
                **{m: r[m] for m in MEASURES},
                "key": r["owner_id"],
                "label": r["name"] or r["username"],
            }
        )
        for r in rows
    ]
    departments: dict[Any, dict[str, Any]] = {}
    parents: dict[Any, dict[str, Any]] = {}
    total: dict[str, Any] = {"won": 0, "won_value": None, "lost": 0, "lost_value": None}
    for r in rows:
        _add(departments.setdefault(r["dept"], {"key": r["dept"], "label": r["dept_name"]}), r)
        _add(parents.setdefault(r["parent"], {"key": r["parent"], "label": r["parent_name"]}), r)
        _add(total, r)
    return ClosedGroups(
        reps=sorted(reps, key=lambda r: (-r["won_value"], str(r["label"]))),
        departments=_ranked(departments),
        parents=_ranked(parents),
        total=_finish(total),
    )


def totals(user: Any, f: WinLossFilters) -> dict[str, Any]:
    """Won, won value, lost, lost value, closed and win rate of the whole selection."""
    return _finish(dict(closed(user, f).aggregate(**_measures())))


def by_rep(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    rows = (
        closed(user, f)
        .values("owner_id")
        .annotate(name=F("owner__name"), username=F("owner__username"), **_measures())
        .order_by()
    )
    result = [
        _finish({**r, "key": r["owner_id"], "label": r["name"] or r["username"]}) for r in rows
    ]
    return sorted(result, key=lambda r: (-r["won_value"], str(r["label"])))


def by_department(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    rows = (
        closed(user, f)
        .values(key=F("owner__department_id"))
        .annotate(label=F("owner__department__name"), **_measures())
        .order_by()
    )
    result = [_finish({**r, "label": r["label"] or "—"}) for r in rows]
    return sorted(result, key=lambda r: (-r["won_value"], str(r["label"])))


def by_parent_department(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    rows = (
        closed(user, f)
        .values(key=F("owner__department__parent_id"))
        .annotate(label=F("owner__department__parent__name"), **_measures())
        .order_by()
    )
    result = [_finish({**r, "label": r["label"] or "—"}) for r in rows]
    return sorted(result, key=lambda r: (-r["won_value"], str(r["label"])))


def by_product(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    rows = (
        closed(user, f, "opportunity__", OpportunityLine.objects.visible_to(user))
        .values("product")
        .annotate(
            **_measures("opportunity__", amount="amount", lost_amount="amount", distinct=True)
        )
        .order_by()
    )
    result = [_finish({**r, "key": r["product"], "label": r["product"]}) for r in rows]
    return sorted(result, key=lambda r: (-r["won_value"], str(r["label"])))


def _lost_rows(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    """Lost deals of the selection per (loss reason, last open stage they were in)."""
    last_open = (
        StageHistory.objects.filter(opportunity=OuterRef("pk"), stage__kind=StageKind.OPEN)
        .order_by("-entered_at", "-pk")
        .values("stage_id")[:1]
    )
    return list(
        closed(user, f)
        .filter(status=LOST)
        .annotate(lost_in=Subquery(last_open))
        .values("loss_reason", "lost_in")
        .annotate(lost=Count("pk"), lost_value=Sum("expected_amount"))
        .order_by()
    )


def _lost_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    grouped: dict[Any, dict[str, Any]] = {}
    for r in rows:
        g = grouped.setdefault(r[key], {key: r[key], "lost": 0, "lost_value": None})
        g["lost"] += r["lost"]
        if r["lost_value"] is not None:
            g["lost_value"] = (g["lost_value"] or ZERO) + r["lost_value"]
    return list(grouped.values())


def lost_by_reason(
    user: Any, f: WinLossFilters, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Lost deals per loss reason (``rows``: :func:`_lost_rows`, when read already)."""
    rows = _lost_by(_lost_rows(user, f) if rows is None else rows, "loss_reason")
    org_id = getattr(user, "org_id", None)
    labels = (
        dict(dictionaries.choices(org_id, DictionaryKind.LOSS_REASON, include_inactive=True))
        if org_id
        else {}
    )
    total = sum(r["lost"] for r in rows)
    result = [
        {
            "key": r["loss_reason"],
            "label": labels.get(r["loss_reason"], r["loss_reason"]) or str(_("No reason")),
            "lost": r["lost"],
            "lost_value": r["lost_value"] or ZERO,
            "share": rate(r["lost"], total),
        }
        for r in rows
    ]
    return sorted(result, key=lambda r: (-r["lost"], str(r["label"])))


def lost_by_stage(
    user: Any, f: WinLossFilters, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Lost deals per the last open stage they were in (None: never in an open stage);
    ``rows``: :func:`_lost_rows`, when read already."""
    rows = _lost_by(_lost_rows(user, f) if rows is None else rows, "lost_in")
    known = organisation_stages(user.org_id)
    stages = {r["lost_in"]: known[r["lost_in"]] for r in rows if r["lost_in"] in known}
    total = sum(r["lost"] for r in rows)
    result = []
    for r in rows:
        stage = stages.get(r["lost_in"])
        result.append(
            {
                "key": r["lost_in"],
                "label": _stage_label(stage, f) if stage else str(_("Not recorded")),
                "order": (stage.pipeline.sort_order, stage.pipeline_id, stage.sort_order)
                if stage
                else (10**9, 0, 0),
                "lost": r["lost"],
                "lost_value": r["lost_value"] or ZERO,
                "share": rate(r["lost"], total),
            }
        )
    return sorted(result, key=lambda r: r["order"])


def _stage_label(stage: Stage, f: WinLossFilters) -> str:
    return stage.name if f.pipeline is not None else f"{stage.pipeline.name} · {stage.name}"


def open_by_stage(user: Any, f: WinLossFilters) -> list[dict[str, Any]]:
    """Opportunities open now per stage (the period does not apply), with their expected
    amounts. Every active open stage of the chosen pipeline is listed, empty ones too."""
    qs = _scope(Opportunity.objects.visible_to(user).filter(status__in=OPEN_STATUSES), f)
    counts = {
        r["stage_id"]: r
        for r in qs.values("stage_id")
        .annotate(open=Count("pk"), open_value=Sum("expected_amount"))
        .order_by()
    }
    pipeline_id = f.pipeline.pk if f.pipeline is not None else None
    stages = [  # in pipeline order (organisation_stages' order)
        s
        for s in organisation_stages(user.org_id).values()
        if s.parent_id is None
        and s.kind == StageKind.OPEN
        and (s.pk in counts or (s.pipeline_id == pipeline_id and s.is_active))
    ]
    rows = []
    for stage in stages:
        c = counts.get(stage.pk, {})
        rows.append(
            {
                "key": stage.pk,
                "pipeline_id": stage.pipeline_id,
                "label": _stage_label(stage, f),
                "open": c.get("open", 0),
                "open_value": c.get("open_value") or ZERO,
            }
        )
    return rows


# --- figures -------------------------------------------------------------------------------------


def _list_url(rules: list[dict[str, Any]], f: WinLossFilters, *, closed_rules: bool) -> str:
    from crm.pipeline.list_views import list_url_for

    rules = list(rules)
    if f.pipeline is not None:
        rules.append({"field": "pipeline", "op": "eq", "value": f.pipeline.pk})
    if f.owner is not None and not any(r["field"] == "owner" for r in rules):
        rules.append({"field": "owner", "op": "eq", "value": f.owner.pk})
    if closed_rules:
        rules.append({"field": "status", "op": "in", "value": [str(WON), str(LOST)]})
        if f.start is not None:
            rules.append({"field": "actual_close_date", "op": "gte", "value": f.start.isoformat()})
        if f.last is not None:
            rules.append({"field": "actual_close_date", "op": "lte", "value": f.last.isoformat()})
    return list_url_for({"match": "all", "rules": rules})


def _department_ids(org_id: Any, departments: list[int]) -> dict[int, list[int]]:
    """Each department id → its id and those of every department below it (one query)."""
    if not departments:
        return {}
    all_depts = [(d.pk, d.path) for d in organisation_departments(org_id)]
    paths = {pk: path for pk, path in all_depts}
    return {
        d: [pk for pk, path in all_depts if path.startswith(paths.get(d, "\0"))]
        for d in departments
    }


def _closed_columns(first: Column) -> list[Column]:
    return [
        first,
        Column("won", _("Won"), COUNT),
        Column("won_value", _("Won value"), MONEY),
        Column("lost", _("Lost"), COUNT),
        Column("closed", _("Closed"), COUNT),
        Column("win_rate", _("Win rate"), PERCENT),
    ]


def _total_row(rows: list[dict[str, Any]], label: Any) -> dict[str, Any]:
    won = sum(r["won"] for r in rows)
    lost = sum(r["lost"] for r in rows)
    return {
        "label": label,
        "won": won,
        "won_value": sum((r["won_value"] for r in rows), ZERO),
        "lost": lost,
        "closed": won + lost,
        "win_rate": rate(won, won + lost),
    }


CHART = {"type": "bar", "x": "label", "series": ["won", "lost"], "stack": True}


def figures(user: Any, f: WinLossFilters, groups: ClosedGroups | None = None) -> dict[str, Figure]:
    """Every figure of the page, by key (``groups``: :func:`closed_groups`, when read)."""
    groups = closed_groups(user, f) if groups is None else groups
    reps = groups.reps
    for r in reps:
        r["_url"] = _list_url(
            [{"field": "owner", "op": "eq", "value": r["key"]}], f, closed_rules=True
        )
    depts = groups.departments
    parents = groups.parents
    subtree = _department_ids(
        getattr(user, "org_id", None),
        [r["key"] for r in depts + parents if r["key"] is not None],
    )
    for r in depts + parents:
        if r["key"] is not None:
            r["_url"] = _list_url(
                [{"field": "department", "op": "in", "value": subtree.get(r["key"], [r["key"]])}],
                f,
                closed_rules=True,
            )
    products = by_product(user, f)
    lost = _lost_rows(user, f)
    reasons = lost_by_reason(user, f, lost)
    for r in reasons:
        if r["key"]:
            r["_url"] = _list_url(
                [
                    {"field": "loss_reason", "op": "eq", "value": r["key"]},
                    {"field": "status", "op": "eq", "value": str(LOST)},
                ],
                f,
                closed_rules=False,
            )
    lost_stages = lost_by_stage(user, f, lost)
    open_stages = open_by_stage(user, f)
    for r in open_stages:
        r["_url"] = _list_url(
            [
                {"field": "stage", "op": "eq", "value": r["key"]},
                {"field": "status", "op": "in", "value": [str(s) for s in OPEN_STATUSES]},
            ],
            f,
            closed_rules=False,
        )
    total_label = _("Total")
    lost_columns = [
        Column("lost", _("Lost"), COUNT),
        Column("lost_value", _("Lost value (expected)"), MONEY),
        Column("share", _("Share of lost"), PERCENT),
    ]
    result = [
        Figure(
            key="wl_rep",
            title=_("Won and lost per rep"),
            columns=_closed_columns(Column("label", _("Rep"), TEXT)),
            rows=reps,
            chart=CHART,
            totals=_total_row(reps, total_label),
            extra={"height": max(320, 24 * len(reps))},
        ),
        Figure(
            key="wl_department",
            title=_("Won and lost per department"),
            columns=_closed_columns(Column("label", _("Department"), TEXT)),
            rows=depts,
            chart=CHART,
            totals=_total_row(depts, total_label),
        ),
        Figure(
            key="wl_region",
            title=_("Won and lost per parent department"),
            columns=_closed_columns(Column("label", _("Parent department"), TEXT)),
            rows=parents,
            chart=CHART,
            totals=_total_row(parents, total_label),
            note=_("The department above the rep's department, e.g. a regional office."),
        ),
        Figure(
            key="wl_product",
            title=_("Won and lost per product"),
            columns=_closed_columns(Column("label", _("Product"), TEXT)),
            rows=products,
            chart=CHART,
            note=_(
                "From the opportunities' product lines: a deal counts once for each of its "
                "products; the won value is the sum of the product's line amounts."
            ),
        ),
        Figure(
            key="wl_reason",
            title=_("Lost by reason"),
            columns=[Column("label", _("Loss reason"), TEXT), *lost_columns],
            rows=reasons,
            chart={"type": "pie", "x": "label", "series": ["lost"]},
        ),
        Figure(
            key="wl_lost_stage",
            title=_("Lost by stage"),
            columns=[Column("label", _("Stage lost in"), TEXT), *lost_columns],
            rows=lost_stages,
            chart={"type": "bar", "x": "label", "series": ["lost"]},
            note=_("The last open stage a lost opportunity was in before it was lost."),
        ),
        Figure(
            key="wl_open_stage",
            title=_("Open deals per stage"),
            columns=[
                Column("label", _("Stage"), TEXT),
                Column("open", _("Open deals"), COUNT),
                Column("open_value", _("Expected amount"), MONEY),
            ],
            rows=open_stages,
            chart={"type": "bar", "x": "label", "series": ["open"]},
            note=_("Open now (continue or paused), whatever the period."),
        ),
    ]
    return {fig.key: fig for fig in result}
