"""Selectors of the dashboards (R8.1, R8.2, R8.3, R8.6, R8.7, R7.3): the executive dashboard with
its team ranking and monthly trend, key customers and contracts awaiting payment, customers by
opportunity stage per rep, and follow-up behaviour versus deals won.

Every figure starts from ``visible_to(viewer)`` of the business model it counts (contracts,
receipts, receivable plans, customers, opportunities, follow-ups), narrowed to the chosen
department (owner's department and those below it), and is aggregated in SQL with GROUP BY and
conditional sums: the number of queries does not grow with the rows. Nothing is cached.
Definitions of every figure: ``docs/analytics.md``.
"""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.activities.choices import Method
from crm.activities.models import FollowUp
from crm.core import figure_cache
from crm.customers.models import Customer
from crm.finance.choices import ReceiptStatus
from crm.finance.models import Receipt
from crm.finance.selectors import awaiting_contracts, receivable_plans
from crm.org.models import Department, User
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus
from crm.pipeline.models import Opportunity, Pipeline, Stage
from crm.sales.choices import SIGNED_STATUSES
from crm.sales.models import Contract

from .choices import TargetMetric
from .figures import COUNT, DAYS, MONEY, PERCENT, TEXT, Column, Figure, rate
from .targets import (
    TargetBook,
    add_months,
    day_start,
    department_list,
    month_start,
    months_between,
    org_zone,
    quarter_start,
    sees_teams,
    year_start,
)

ZERO = Decimal("0.00")
MAX_TREND_MONTHS = 36
KEY_CUSTOMER_LIMIT = 100
AWAITING_LIMIT = 50
RENEWAL_MONTHS = 6

# --- periods ---------------------------------------------------------------------------------
PERIODS: list[tuple[str, Any]] = [
    ("this_month", gettext_lazy("This month")),
    ("this_quarter", gettext_lazy("This quarter")),
    ("this_year", gettext_lazy("This year")),
    ("last_month", gettext_lazy("Last month")),
    ("last_quarter", gettext_lazy("Last quarter")),
    ("last_year", gettext_lazy("Last year")),
    ("custom", gettext_lazy("Custom range")),
]
PERIOD_KEYS = [k for k, _label in PERIODS]


def preset_range(key: str, today: date) -> tuple[date, date]:
    """[start, end) of a named period around ``today``."""
    if key == "this_quarter":
        start = quarter_start(today)
        return start, add_months(start, 3)
    if key == "this_year":
        start = year_start(today)
        return start, add_months(start, 12)
    if key == "last_month":
        start = add_months(month_start(today), -1)
        return start, add_months(start, 1)
    if key == "last_quarter":
        start = add_months(quarter_start(today), -3)
        return start, add_months(start, 3)
    if key == "last_year":
        start = date(today.year - 1, 1, 1)
        return start, add_months(start, 12)
    start = month_start(today)
    return start, add_months(start, 1)


@dataclass
class Selection:
    """Who looks, at which period [start, end) and which department (None: all they see)."""

    viewer: User
    start: date
    end: date
    today: date
    department: Department | None = None

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def zone(self) -> Any:
        return org_zone(self.viewer)

    def key(self) -> tuple[Any, ...]:
        """The selection as plain values (a figure cache key's part)."""
        return (self.start, self.end, self.today, figure_cache.pk(self.department))

    def owner_q(self, owner: str = "owner") -> Q:
        if self.department is None:
            return Q()
        return Q(**{f"{owner}__department__path__startswith": self.department.path})

    def dt_range(self, field_name: str) -> Q:
        return Q(
            **{
                f"{field_name}__gte": day_start(self.start, self.zone),
                f"{field_name}__lt": day_start(self.end, self.zone),
            }
        )


# --- base querysets (the definitions) ------------------------------------------------------------
def signed_contracts(sel: Selection, start: date | None = None, end: date | None = None) -> Any:
    """Contracts signed in [start, end) that are signed, executing or completed (terminated ones
    do not count)."""
    return (
        Contract.objects.visible_to(sel.viewer)
        .filter(
            status__in=SIGNED_STATUSES,
            signed_on__gte=start or sel.start,
            signed_on__lt=end or sel.end,
        )
        .filter(sel.owner_q())
    )


def renewal_flag(org_id: int) -> Exists:
    """The contract's customer had a contract signed earlier (signed, executing, completed or
    terminated): the contract renews the relationship."""
    return Exists(
        Contract.objects.filter(
            org_id=org_id,
            customer_id=OuterRef("customer_id"),
            signed_on__lt=OuterRef("signed_on"),
            status__in=[*SIGNED_STATUSES, "terminated"],
        )
    )


def confirmed_receipts(sel: Selection, start: date | None = None, end: date | None = None) -> Any:
    return (
        Receipt.objects.visible_to(sel.viewer)
        .filter(
            status=ReceiptStatus.CONFIRMED,
            received_on__gte=start or sel.start,
            received_on__lt=end or sel.end,
        )
        .filter(sel.owner_q())
    )


def new_customers(sel: Selection) -> Any:
    """Customers created in the period (org time zone) that have an owner and were not merged
    into another; counted for their owner."""
    return (
        Customer.objects.visible_to(sel.viewer)
        .filter(sel.dt_range("created_at"), owner__isnull=False, merged_into__isnull=True)
        .filter(sel.owner_q())
    )


def due_plans(sel: Selection) -> Any:
    """Installments (of signed, executing, completed contracts) due in the period."""
    return (
        receivable_plans(sel.viewer)
        .filter(due_on__gte=sel.start, due_on__lt=sel.end)
        .filter(sel.owner_q("contract__owner"))
    )


def _sum(expr: str, **kw: Any) -> Coalesce:
    return Coalesce(Sum(expr, **kw), ZERO)


# --- targets of the selection ----------------------------------------------------------------
@dataclass
class Targets:
    """The three target books and how the selection's target is made up."""

    sel: Selection
    books: dict[str, TargetBook]
    roots: list[Department] | None
    rep_paths: dict[int, str]
    departments: list[Department] | None = None  # in the viewer's scope, when they see teams

    @classmethod
    def load(cls, sel: Selection) -> Targets:
        books = TargetBook.load_many(sel.viewer, TargetMetric.values, sel.start, sel.end)
        reps: set[int] = set()
        for book in books.values():
            reps |= book.entities("u")
        rep_paths = {
            pk: path or ""
            for pk, path in User.objects.filter(org_id=sel.viewer.org_id, pk__in=reps).values_list(
                "pk", "department__path"
            )
        }
        roots: list[Department] | None
        depts: list[Department] | None = None
        if sel.department is not None:
            roots = [sel.department]
        elif not sees_teams(sel.viewer):
            roots = None
        else:
            depts = department_list(sel.viewer)
            roots = [
                d
                for d in depts
                if not any(o.pk != d.pk and d.path.startswith(o.path) for o in depts)
            ]
        return cls(sel=sel, books=books, roots=roots, rep_paths=rep_paths, departments=depts)

    def rep(self, metric: str, user_id: int, start: date, end: date) -> Decimal | None:
        return self.books[metric].for_range("u", user_id, start, end)

    def department(self, metric: str, dept: Department, start: date, end: date) -> Decimal | None:
        """The department's own target, or else the sum of its reps' targets."""
        book = self.books[metric]
        own = book.for_range("d", dept.pk, start, end)
        if own is not None:
            return own
        found = [
            book.for_range("u", pk, start, end)
            for pk in book.entities("u")
            if self.rep_paths.get(pk, "").startswith(dept.path)
        ]
        values = [v for v in found if v is not None]
        return sum(values, ZERO) if values else None

    def total(self, metric: str, start: date | None = None, end: date | None = None) -> Any:
        start, end = start or self.sel.start, end or self.sel.end
        if self.roots is None:
            return self.rep(metric, self.sel.viewer.pk, start, end)
        values = [self.department(metric, d, start, end) for d in self.roots]
        found = [v for v in values if v is not None]
        return sum(found, ZERO) if found else None


# --- URLs of the records behind a figure -----------------------------------------------------
def contracts_url(
    sel: Selection,
    start: date,
    end: date,
    owner: int | None = None,
    department: int | None = None,
) -> str:
    """The contract list behind a figure: signed in [start, end), of one rep, or of one
    department and those below it (the chosen one, unless ``department`` names another)."""
    params: dict[str, Any] = {
        "signed_from": start.isoformat(),
        "signed_to": (end - timedelta(days=1)).isoformat(),
    }
    if owner:
        params["owner_id"] = owner
    elif department is not None:
        params["department_id"] = department
    elif sel.department is not None:
        params["department_id"] = sel.department.pk
    return reverse("sales:contract_list") + "?" + urlencode(params)


def receipts_url(sel: Selection, start: date, end: date, owner: int | None = None) -> str:
    params: dict[str, Any] = {
        "status": ReceiptStatus.CONFIRMED,
        "date_from": start.isoformat(),
        "date_to": (end - timedelta(days=1)).isoformat(),
    }
    if owner:
        params["owner"] = owner
    elif sel.department is not None:
        params["department"] = sel.department.pk
    return reverse("finance:receipt_list") + "?" + urlencode(params)


def customers_url(sel: Selection, owner: int | None = None) -> str:
    params: dict[str, Any] = {
        "view": "all",
        "created_from": sel.start.isoformat(),
        "created_to": sel.last.isoformat(),
    }
    if owner:
        params["owner_id"] = owner
    elif sel.department is not None:
        params["department_id"] = sel.department.pk
    return reverse("customers:list") + "?" + urlencode(params)


def opportunities_url(rules: list[dict[str, Any]]) -> str:
    cond = json.dumps({"match": "all", "rules": rules}, separators=(",", ":"))
    return reverse("opportunities:list") + "?" + urlencode({"cond": cond})


def followups_url(sel: Selection, owner: int | None = None, method: str | None = None) -> str:
    params: dict[str, Any] = {
        "view": "team",
        "date_from": sel.start.isoformat(),
        "date_to": sel.last.isoformat(),
    }
    if owner:
        params["owner"] = owner
    if method:
        params["method"] = method
    return reverse("activities:followup_list") + "?" + urlencode(params)


# --- the executive dashboard (R8.1, R8.6) ----------------------------------------------------
@dataclass
class Dashboard:
    sel: Selection
    cards: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)


def _people(viewer: User, ids: set[int]) -> dict[int, User]:
    return {
        u.pk: u
        for u in User.objects.filter(org_id=viewer.org_id, pk__in=ids)
        .select_related("department")
        .only(
            "pk",
            "name",
            "username",
            "first_name",
            "last_name",
            "department__name",
            "department__path",
        )
    }


@dataclass
class _Grouped:
    """One source's figures of the selection per owner and per month (one GROUP BY): the
    dashboard's cards are their sums, the ranking their sums per owner, the trend per month."""

    rows: list[dict[str, Any]]

    def total(self, key: str, zero: Any = ZERO) -> Any:
        return sum((r[key] for r in self.rows), zero)

    def per_owner(self, key: str, zero: Any = ZERO) -> dict[int, Any]:
        result: dict[int, Any] = {}
        for r in self.rows:
            if r["owner"] is not None:
                result[r["owner"]] = result.get(r["owner"], zero) + r[key]
        return result

    def per_month(self, key: str) -> dict[date, Any]:
        result: dict[date, Any] = {}
        for r in self.rows:
            month = _as_date(r["m"])
            result[month] = result.get(month, ZERO) + r[key]
        return result


def _grouped(qs: QuerySet[Any], day: str | None, **measures: Any) -> _Grouped:
    """``measures`` of ``qs`` per owner (and per month of ``day``)."""
    if day is not None:
        qs = qs.annotate(m=TruncMonth(day)).values("owner", "m")
    else:
        qs = qs.values("owner")
    return _Grouped(list(qs.annotate(**measures).order_by()))


def _trend_months(sel: Selection) -> tuple[list[date], date]:
    """The months the trend shows (the last MAX_TREND_MONTHS) and the first day it counts."""
    months = months_between(sel.start, sel.end)[-MAX_TREND_MONTHS:]
    first = max(sel.start, months[0]) if months else sel.start
    return months, first


def dashboard(sel: Selection) -> Dashboard:
    """Cards, team ranking (reps and departments) and the monthly trend of the selection;
    cached for the viewer until the organisation's next change (crm.core.figure_cache)."""

    def compute() -> tuple[dict[str, Any], list[Figure]]:
        board = _dashboard(sel)
        return board.cards, board.figures  # the selection (and its viewer) is not cached

    cards, figures = figure_cache.cached(sel.viewer, "dashboard", sel.key(), compute)
    return Dashboard(sel=sel, cards=cards, figures=figures)


def _dashboard(sel: Selection) -> Dashboard:
    viewer = sel.viewer
    monthly = _trend_months(sel)[1] == sel.start  # the trend covers the whole selection
    day = "signed_on" if monthly else None
    signed = _grouped(
        signed_contracts(sel).annotate(is_renewal=renewal_flag(viewer.org_id)),  # type: ignore[arg-type]
        day,
        total=_sum("amount"),
        count=Count("pk"),
        renewal=_sum("amount", filter=Q(is_renewal=True)),
        renewal_count=Count("pk", filter=Q(is_renewal=True)),
    )
    collected = _grouped(
        confirmed_receipts(sel),
        "received_on" if monthly else None,
        total=_sum("amount"),
        count=Count("pk"),
    )
    due = due_plans(sel).aggregate(total=_sum("amount"))
    customers = _grouped(new_customers(sel), None, count=Count("pk"))
    targets = Targets.load(sel)
    signed_target = targets.total(TargetMetric.SIGNED)
    collected_target = targets.total(TargetMetric.COLLECTED)
    customers_target = targets.total(TargetMetric.NEW_CUSTOMERS)
    signed_total, collected_total = signed.total("total"), collected.total("total")
    new_count = customers.total("count", 0)
    cards = {
        "signed_target": signed_target,
        "signed": signed_total,
        "signed_count": signed.total("count", 0),
        "achievement": rate(signed_total, signed_target),
        "collected": collected_total,
        "collected_count": collected.total("count", 0),
        "collected_target": collected_target,
        "collected_achievement": rate(collected_total, collected_target),
        "due": due["total"],
        "collection_rate": rate(collected_total, due["total"]),
        "renewal": signed.total("renewal"),
        "renewal_count": signed.total("renewal_count", 0),
        "new_customers": new_count,
        "new_customers_target": (int(customers_target) if customers_target is not None else None),
        "new_customers_achievement": rate(new_count, customers_target),
        "urls": {
            "signed": contracts_url(sel, sel.start, sel.end),
            "collected": receipts_url(sel, sel.start, sel.end),
            "new_customers": customers_url(sel),
            "due": reverse("finance:plan_list"),
        },
    }
    reps, departments = _ranking(
        sel,
        targets,
        signed.per_owner("total"),
        collected.per_owner("total"),
        customers.per_owner("count", 0),
    )
    figures = [reps]
    if departments is not None:
        figures.append(departments)
    figures.append(
        _trend(
            sel,
            targets,
            signed.per_month("total") if monthly else None,
            collected.per_month("total") if monthly else None,
        )
    )
    return Dashboard(sel=sel, cards=cards, figures=figures)


def _ranking(
    sel: Selection,
    targets: Targets,
    signed: dict[int, Any],
    collected: dict[int, Any],
    customers: dict[int, Any],
) -> tuple[Figure, Figure | None]:
    """The reps' and departments' ranking from the selection's figures per owner."""
    viewer = sel.viewer
    rep_ids = set(signed) | set(collected) | set(customers)
    for metric in TargetMetric.values:
        for pk in targets.books[metric].entities("u"):
            path = targets.rep_paths.get(pk, "")
            in_department = sel.department is None or path.startswith(sel.department.path)
            if in_department and (targets.roots is not None or pk == viewer.pk):
                rep_ids.add(pk)
    people = _people(viewer, rep_ids)
    start, end = sel.start, sel.end
    rows: list[dict[str, Any]] = []
    for pk in rep_ids:
        person = people.get(pk)
        if person is None:
            continue
        s_target = targets.rep(TargetMetric.SIGNED, pk, start, end)
        c_target = targets.rep(TargetMetric.COLLECTED, pk, start, end)
        n_target = targets.rep(TargetMetric.NEW_CUSTOMERS, pk, start, end)
        rows.append(
            {
                "_url": contracts_url(sel, start, end, pk),
                "_pk": pk,
                "_path": person.department.path if person.department else "",
                "rep": person.display_name,
                "department": person.department.name if person.department else "",
                "signed": signed.get(pk, ZERO),
                "signed_target": s_target,
                "achievement": rate(signed.get(pk, ZERO), s_target),
                "collected": collected.get(pk, ZERO),
                "collected_target": c_target,
                "collected_achievement": rate(collected.get(pk, ZERO), c_target),
                "new_customers": customers.get(pk, 0),
                "new_customers_target": int(n_target) if n_target is not None else None,
            }
        )
    rows.sort(key=lambda r: (-r["signed"], -r["collected"], r["rep"], r["_pk"]))
    columns = [
        Column("rep", _("Rep")),
        Column("department", _("Department")),
        Column("signed", _("Signed amount"), MONEY),
        Column("signed_target", _("Signing target"), MONEY),
        Column("achievement", _("Achievement rate"), PERCENT),
        Column("collected", _("Collected amount"), MONEY),
        Column("collected_target", _("Collection target"), MONEY),
        Column("collected_achievement", _("Collection achievement"), PERCENT),
        Column("new_customers", _("New customers"), COUNT),
        Column("new_customers_target", _("New-customer target"), COUNT),
    ]
    reps = Figure(
        key="ranking",
        title=_("Team ranking: reps"),
        columns=columns,
        rows=rows,
        chart={"type": "hbar", "x": "rep", "series": ["signed", "signed_target"]},
        note=_("Reps by signed amount in the period; click a rep for their contracts."),
        extra={"height": max(240, 40 + 32 * len(rows))},
    )
    if targets.roots is None:
        return reps, None
    depts = targets.departments if targets.departments is not None else department_list(viewer)
    if sel.department is not None:
        depts = [d for d in depts if d.path.startswith(sel.department.path)]
    base_depth = min((d.path.count("/") for d in depts), default=0)
    dept_rows: list[dict[str, Any]] = []
    for d in depts:
        members = [r for r in rows if r["_path"].startswith(d.path)]
        s_amount = sum((r["signed"] for r in members), ZERO)
        c_amount = sum((r["collected"] for r in members), ZERO)
        n_count = sum(r["new_customers"] for r in members)
        s_target = targets.department(TargetMetric.SIGNED, d, start, end)
        c_target = targets.department(TargetMetric.COLLECTED, d, start, end)
        n_target = targets.department(TargetMetric.NEW_CUSTOMERS, d, start, end)
        indent = "\u3000" * (d.path.count("/") - base_depth)
        dept_rows.append(
            {
                "department": f"{indent}{d.name}",
                "signed": s_amount,
                "signed_target": s_target,
                "achievement": rate(s_amount, s_target),
                "collected": c_amount,
                "collected_target": c_target,
                "collected_achievement": rate(c_amount, c_target),
                "new_customers": n_count,
                "new_customers_target": int(n_target) if n_target is not None else None,
                "_pk": d.pk,
                "_url": contracts_url(sel, start, end, department=d.pk),
            }
        )
    departments = Figure(
        key="departments",
        title=_("Team ranking: departments"),
        columns=columns[1:],
        rows=dept_rows,
        chart={"type": "bar", "x": "department", "series": ["signed", "signed_target"]},
        note=_("Each department includes the departments below it."),
    )
    return reps, departments


def _trend(
    sel: Selection,
    targets: Targets,
    signed: dict[date, Any] | None = None,
    collected: dict[date, Any] | None = None,
) -> Figure:
    """The monthly trend; ``signed`` and ``collected`` per month when read already (the trend
    then covers the whole selection)."""
    months, first = _trend_months(sel)
    if signed is None:
        signed = {
            _as_date(row["m"]): row["v"]
            for row in signed_contracts(sel, first, sel.end)
            .annotate(m=TruncMonth("signed_on"))
            .values("m")
            .annotate(v=Sum("amount"))
            .order_by()
        }
    if collected is None:
        collected = {
            _as_date(row["m"]): row["v"]
            for row in confirmed_receipts(sel, first, sel.end)
            .annotate(m=TruncMonth("received_on"))
            .values("m")
            .annotate(v=Sum("amount"))
            .order_by()
        }
    rows = []
    for month in months:
        lo, hi = max(month, sel.start), min(add_months(month, 1), sel.end)
        target = targets.total(TargetMetric.SIGNED, lo, hi)
        got = signed.get(month) or ZERO
        rows.append(
            {
                "_url": contracts_url(sel, lo, hi),
                "month": f"{month:%Y-%m}",
                "signed": got,
                "collected": collected.get(month) or ZERO,
                "signed_target": target,
                "achievement": rate(got, target),
            }
        )
    return Figure(
        key="trend",
        title=_("Monthly trend: signed, collected and target"),
        columns=[
            Column("month", _("Month")),
            Column("signed", _("Signed amount"), MONEY),
            Column("collected", _("Collected amount"), MONEY),
            Column("signed_target", _("Signing target"), MONEY),
            Column("achievement", _("Achievement rate"), PERCENT),
        ],
        rows=rows,
        chart={"type": "line", "x": "month", "series": ["signed", "collected", "signed_target"]},
        totals={
            "month": _("Total"),
            "signed": sum((r["signed"] for r in rows), ZERO),
            "collected": sum((r["collected"] for r in rows), ZERO),
        },
    )


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _as_date(value: Any) -> date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


# --- key customers and awaiting payment (R8.2, R7.3) -------------------------------------------
def shift_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the month's length."""
    first = add_months(day, months)
    return first.replace(day=min(day.day, calendar.monthrange(first.year, first.month)[1]))


def key_customers(sel: Selection) -> Figure:
    """Customers with a renewal due from today to 6 months ahead (a binding contract's renewal
    date, or its end date when it has none), ordered by their signed total over the past two
    years (contracts signed, executing or completed)."""
    today = sel.today
    horizon = shift_months(today, RENEWAL_MONTHS)
    since = shift_months(today, -24)
    base = (
        Contract.objects.visible_to(sel.viewer)
        .filter(status__in=SIGNED_STATUSES)
        .filter(sel.owner_q())
    )
    upcoming = list(
        base.annotate(due_on=Coalesce("renewal_on", "ends_on"))
        .filter(due_on__gte=today, due_on__lte=horizon)
        .values("customer_id", "customer__name")
        .annotate(next_due=Min("due_on"), due_contracts=Count("pk"))
        .order_by()
    )
    ids = [row["customer_id"] for row in upcoming]
    totals = {
        row["customer_id"]: row["v"]
        for row in base.filter(signed_on__gte=since, signed_on__lte=today, customer_id__in=ids)
        .values("customer_id")
        .annotate(v=Sum("amount"), n=Count("pk"))
        .order_by()
    }
    rows = [
        {
            "_url": reverse("customers:detail", args=[row["customer_id"]]),
            "customer": row["customer__name"],
            "next_due": row["next_due"].isoformat(),
            "days": (row["next_due"] - today).days,
            "due_contracts": row["due_contracts"],
            "signed_2y": totals.get(row["customer_id"]) or ZERO,
            "_pk": row["customer_id"],
        }
        for row in upcoming
    ]
    rows.sort(key=lambda r: (-r["signed_2y"], r["next_due"], r["_pk"]))
    shown = rows[:KEY_CUSTOMER_LIMIT]
    return Figure(
        key="key_customers",
        title=_("Key customers: renewals due in the next 6 months"),
        columns=[
            Column("customer", _("Customer")),
            Column("signed_2y", _("Signed in the past 2 years"), MONEY),
            Column("next_due", _("Renewal due")),
            Column("days", _("Days left"), COUNT),
            Column("due_contracts", _("Contracts due"), COUNT),
        ],
        rows=shown,
        chart={"type": "hbar", "x": "customer", "series": ["signed_2y"]},
        note=_(
            "Renewal date of a signed, executing or completed contract (its end date when no "
            "renewal date is set) from %(start)s to %(end)s; %(shown)s of %(count)s customers."
        )
        % {
            "start": today.isoformat(),
            "end": horizon.isoformat(),
            "shown": len(shown),
            "count": len(rows),
        },
        extra={"height": max(240, 40 + 28 * min(len(shown), 30)), "count": len(rows)},
    )


def awaiting(sel: Selection) -> Figure:
    """Contracts awaiting payment (R7.3), from crm.finance.selectors.awaiting_contracts."""
    qs = awaiting_contracts(sel.viewer, sel.today).filter(sel.owner_q())
    totals = qs.aggregate(
        count=Count("pk"), outstanding=_sum("outstanding_amount"), overdue=_sum("overdue_amount")
    )
    rows = [
        {
            "_url": reverse("sales:contract_detail", args=[c.pk]),
            "number": c.number,
            "customer": c.customer.name,
            "owner": c.owner.display_name,
            "outstanding": c.outstanding_amount,  # type: ignore[attr-defined]
            "overdue": c.overdue_amount,  # type: ignore[attr-defined]
            "next_due": _iso(c.next_due_on),  # type: ignore[attr-defined]
        }
        for c in qs[:AWAITING_LIMIT]
    ]
    return Figure(
        key="awaiting",
        title=_("Contracts awaiting payment"),
        columns=[
            Column("number", _("Contract")),
            Column("customer", _("Customer")),
            Column("owner", _("Owner")),
            Column("outstanding", _("Outstanding"), MONEY),
            Column("overdue", _("Overdue"), MONEY),
            Column("next_due", _("Next due")),
        ],
        rows=rows,
        chart=None,
        note=_("Most overdue first; %(shown)s of %(count)s contracts.")
        % {"shown": len(rows), "count": totals["count"]},
        totals={
            "number": _("Total"),
            "outstanding": totals["outstanding"],
            "overdue": totals["overdue"],
        },
        extra={"count": totals["count"], "outstanding": totals["outstanding"]},
    )


# --- customers by stage per rep (R8.3) -------------------------------------------------------
def pipelines_for(viewer: User) -> list[Pipeline]:
    return list(
        Pipeline.objects.visible_to(viewer)
        .filter(is_active=True)
        .order_by("-is_default", "sort_order", "pk")
    )


@dataclass
class StageMatrix:
    pipeline: Pipeline | None
    stages: list[Stage]
    reps: list[dict[str, Any]]
    totals: dict[int, dict[str, Any]]
    figure: Figure


def stages_by_rep(sel: Selection, pipeline: Pipeline | None) -> StageMatrix:
    """Open opportunities of ``pipeline`` per rep × open stage: distinct customers,
    opportunities and expected amount (one GROUP BY, plus one per rep and one per stage for the
    distinct customer totals)."""
    stages: list[Stage] = []
    if pipeline is not None:
        stages = list(
            Stage.objects.visible_to(sel.viewer)
            .filter(pipeline=pipeline)
            .stages()
            .open()
            .active()
            .order_by("sort_order", "pk")
        )
    base = (
        Opportunity.objects.visible_to(sel.viewer)
        .filter(pipeline=pipeline, status__in=OPEN_STATUSES, stage__in=stages)
        .filter(sel.owner_q())
    )
    measures: dict[str, Any] = {
        "customers": Count("customer", distinct=True),
        "opportunities": Count("pk"),
        "amount": _sum("expected_amount"),
    }
    cells: dict[tuple[int, int], dict[str, Any]] = {
        (row["owner_id"], row["stage_id"]): dict(row)
        for row in base.values("owner_id", "stage_id").annotate(**measures).order_by()
    }
    per_rep: dict[int, dict[str, Any]] = {
        row["owner_id"]: dict(row)
        for row in base.values("owner_id").annotate(**measures).order_by()
    }
    per_stage: dict[int, dict[str, Any]] = {
        row["stage_id"]: dict(row)
        for row in base.values("stage_id").annotate(**measures).order_by()
    }
    overall = base.aggregate(**measures)
    people = _people(sel.viewer, set(per_rep))
    reps: list[dict[str, Any]] = []
    for pk, total in per_rep.items():
        person = people.get(pk)
        if person is None:
            continue
        owner_rule = {"field": "owner", "op": "eq", "value": pk}
        pipe_rule = {"field": "pipeline", "op": "eq", "value": pipeline.pk if pipeline else 0}
        open_rule = {"field": "status", "op": "in", "value": list(OPEN_STATUSES)}
        reps.append(
            {
                "pk": pk,
                "name": person.display_name,
                "total": total,
                "url": opportunities_url([owner_rule, pipe_rule, open_rule]),
                "cells": [
                    {
                        "stage": s,
                        **(
                            cells.get((pk, s.pk))
                            or {"customers": 0, "opportunities": 0, "amount": ZERO}
                        ),
                        "url": opportunities_url(
                            [owner_rule, {"field": "stage", "op": "eq", "value": s.pk}, open_rule]
                        ),
                    }
                    for s in stages
                ],
            }
        )
    reps.sort(key=lambda r: (-r["total"]["customers"], -r["total"]["amount"], r["name"], r["pk"]))
    columns = [Column("rep", _("Rep"))]
    for s in stages:
        columns += [
            Column(f"c{s.pk}", _("%(stage)s: customers") % {"stage": s.name}, COUNT),
            Column(f"o{s.pk}", _("%(stage)s: opportunities") % {"stage": s.name}, COUNT),
            Column(f"a{s.pk}", _("%(stage)s: amount") % {"stage": s.name}, MONEY),
        ]
    columns += [
        Column("customers", _("Customers"), COUNT),
        Column("opportunities", _("Opportunities"), COUNT),
        Column("amount", _("Expected amount"), MONEY),
    ]
    rows = []
    for rep in reps:
        row: dict[str, Any] = {"_url": rep["url"], "rep": rep["name"]}
        for cell in rep["cells"]:
            sid = cell["stage"].pk
            row[f"c{sid}"], row[f"o{sid}"], row[f"a{sid}"] = (
                cell["customers"],
                cell["opportunities"],
                cell["amount"],
            )
        row.update(
            customers=rep["total"]["customers"],
            opportunities=rep["total"]["opportunities"],
            amount=rep["total"]["amount"],
        )
        rows.append(row)
    footer: dict[str, Any] = {"rep": _("Total"), **overall}
    for s in stages:
        t: dict[str, Any] = per_stage.get(s.pk) or {}
        footer[f"c{s.pk}"] = t.get("customers", 0)
        footer[f"o{s.pk}"] = t.get("opportunities", 0)
        footer[f"a{s.pk}"] = t.get("amount", ZERO)
    figure = Figure(
        key="stages",
        title=_("Customers by stage per rep"),
        columns=columns,
        rows=rows,
        chart={
            "type": "hbar",
            "x": "rep",
            "series": [f"c{s.pk}" for s in stages],
            "stack": True,
        },
        totals=footer,
        extra={"height": max(240, 60 + 32 * len(rows))},
    )
    return StageMatrix(
        pipeline=pipeline,
        stages=stages,
        reps=reps,
        totals={s.pk: per_stage.get(s.pk) or {} for s in stages} | {0: overall},
        figure=figure,
    )


# --- behaviour (R8.7) ------------------------------------------------------------------------
def behaviour(sel: Selection) -> list[Figure]:
    """Per rep: follow-ups by method in the period, opportunities won in the period (actual
    close date) with their amount, and follow-ups per won deal; and follow-ups by method."""
    followups = (
        FollowUp.objects.visible_to(sel.viewer)
        .filter(sel.dt_range("happened_at"))
        .filter(sel.owner_q())
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in followups.values("owner_id", "method").annotate(n=Count("pk")).order_by():
        counts[row["owner_id"]][row["method"]] = row["n"]
    won: dict[int, dict[str, Any]] = {
        row["owner_id"]: dict(row)
        for row in Opportunity.objects.visible_to(sel.viewer)
        .filter(
            status=OpportunityStatus.WON,
            actual_close_date__gte=sel.start,
            actual_close_date__lt=sel.end,
        )
        .filter(sel.owner_q())
        .values("owner_id")
        .annotate(n=Count("pk"), amount=_sum("actual_amount"))
        .order_by()
    }
    people = _people(sel.viewer, set(counts) | set(won))
    methods = list(Method.choices)
    rows: list[dict[str, Any]] = []
    for pk, person in people.items():
        by_method = counts.get(pk, {})
        total = sum(by_method.values())
        deals = won.get(pk, {}).get("n", 0)
        line: dict[str, Any] = {
            "_url": followups_url(sel, pk),
            "rep": person.display_name,
            **{m: by_method.get(m, 0) for m, _label in methods},
            "followups": total,
            "won": deals,
            "won_amount": won.get(pk, {}).get("amount", ZERO),
            "per_deal": (Decimal(total) / deals).quantize(Decimal("0.1")) if deals else None,
            "_pk": pk,
        }
        rows.append(line)
    rows.sort(key=lambda r: (-r["won_amount"], -r["followups"], r["rep"], r["_pk"]))
    totals: dict[str, Any] = {"rep": _("Total")}
    for key in [m for m, _label in methods] + ["followups", "won"]:
        totals[key] = sum(r[key] for r in rows)
    totals["won_amount"] = sum((r["won_amount"] for r in rows), ZERO)
    totals["per_deal"] = (
        (Decimal(totals["followups"]) / totals["won"]).quantize(Decimal("0.1"))
        if totals["won"]
        else None
    )
    per_rep = Figure(
        key="behaviour",
        title=_("Follow-ups and deals won per rep"),
        columns=[
            Column("rep", _("Rep")),
            *[Column(m, label, COUNT) for m, label in methods],
            Column("followups", _("Follow-ups"), COUNT),
            Column("won", _("Deals won"), COUNT),
            Column("won_amount", _("Won amount"), MONEY),
            Column("per_deal", _("Follow-ups per won deal"), DAYS),
        ],
        rows=rows,
        chart={"type": "hbar", "x": "rep", "series": [m for m, _label in methods], "stack": True},
        totals=totals,
        extra={"height": max(240, 60 + 32 * len(rows))},
    )
    method_rows = [
        {
            "_url": followups_url(sel, None, m),
            "method": str(label),
            "followups": totals[m],
            "share": rate(totals[m], totals["followups"]),
        }
        for m, label in methods
    ]
    methods_figure = Figure(
        key="methods",
        title=_("Follow-ups by method"),
        columns=[
            Column("method", _("Method")),
            Column("followups", _("Follow-ups"), COUNT),
            Column("share", _("Share"), PERCENT),
        ],
        rows=method_rows,
        chart={"type": "pie", "x": "method", "series": ["followups"]},
    )
    return [per_rep, methods_figure]


__all__ = [
    "PERIODS",
    "TEXT",
    "Selection",
    "awaiting",
    "behaviour",
    "dashboard",
    "key_customers",
    "preset_range",
    "stages_by_rep",
]
