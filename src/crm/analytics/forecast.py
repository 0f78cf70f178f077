"""The sales forecast (销售预测, R8.5): selectors. Writes are in ``forecast_services``.

For a period (a month or a quarter) and the opportunities the viewer sees (optionally of one
rep, one department and the departments below it, or one product):

- **open pipeline**: the expected amounts of open opportunities (continue or paused) whose
  expected close date falls in the period;
- **weighted pipeline**: Σ expected amount × win probability ÷ 100 over the same
  opportunities, rounded half-up to the fen once, on the sum;
- **forecast from history**: Σ expected amount × P(won | was in its current stage), plus what
  was already won in the period (actual amount of won opportunities whose actual close date
  falls in it). P(won | was in S) is the share of *closed* opportunities (won, lost, abandoned)
  that had a stay in S and were won, counted over the closed opportunities the viewer sees;
  with fewer than :data:`MIN_SAMPLES` of them the stage's default probability is used instead
  (the page says so per stage);
- **commit** and **manager's adjustment** of each rep (``ForecastCommit``).

With a product filter every amount is the product's line amounts (quantity × unit price) of
those opportunities instead of their expected or actual amount; opportunities without a line of
the product do not count.

Every read goes through ``visible_to`` of the business models, or — in the weekly snapshot job,
which acts for the organisation — ``for_org``: a :class:`Source` says which. Each figure is a
GROUP BY query; nothing is read per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core import figure_cache
from crm.core.money import money
from crm.org.models import Department, User
from crm.pipeline.choices import CLOSED_STATUSES, OPEN_STATUSES, OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, OpportunityLine, StageHistory
from crm.pipeline.selectors import organisation_stages

from .choices import PeriodKind
from .figures import MONEY, PERCENT, TEXT, Column, Figure, rate
from .models import ForecastCommit, ForecastSnapshot

#: Closed opportunities a stage needs before its own win rate replaces the default probability.
MIN_SAMPLES = 20
ZERO = Decimal("0.00")
FORECAST_PERIODS = (PeriodKind.MONTH, PeriodKind.QUARTER)
_AMOUNT = DecimalField(max_digits=20, decimal_places=2)
_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


# --- periods -------------------------------------------------------------------------------------
def period_start(kind: str, day: date) -> date:
    """First day of the month or quarter containing ``day``."""
    if kind == PeriodKind.QUARTER:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if kind == PeriodKind.YEAR:
        return date(day.year, 1, 1)
    return date(day.year, day.month, 1)


def period_end(kind: str, start: date) -> date:
    """The day after the period that begins on ``start``."""
    months = _MONTHS[kind]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def shift(kind: str, start: date, n: int) -> date:
    """The period ``n`` periods after (negative: before) the one that begins on ``start``."""
    months = _MONTHS[kind] * n
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def period_label(kind: str, start: date) -> str:
    if kind == PeriodKind.QUARTER:
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if kind == PeriodKind.YEAR:
        return f"{start.year}"
    return f"{start:%Y-%m}"


def is_period_start(kind: str, day: date) -> bool:
    return period_start(kind, day) == day


# --- where rows come from ------------------------------------------------------------------------
@dataclass
class Source:
    """The rows a figure may read: a viewer's scope, or a whole organisation (jobs)."""

    user: Any = None
    org_id: int | None = None

    def __post_init__(self) -> None:
        if self.user is not None:
            self.org_id = self.user.org_id

    def qs(self, model: Any) -> QuerySet[Any]:
        if self.user is not None:
            return model.objects.visible_to(self.user)
        return model.objects.for_org(self.org_id)


@dataclass
class Filters:
    kind: str
    start: date
    owner: User | None = None
    department: Department | None = None
    product: str = ""

    @property
    def end(self) -> date:
        return period_end(self.kind, self.start)

    def owner_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.department is not None:
            q &= Q(**{f"{prefix}owner__department__path__startswith": self.department.path})
        if self.owner is not None:
            q &= Q(**{f"{prefix}owner_id": self.owner.pk})
        return q


# --- historical win rates ------------------------------------------------------------------------
@dataclass
class StageRate:
    stage_id: int
    name: str
    default_probability: int
    samples: int = 0
    won: int = 0
    min_samples: int = MIN_SAMPLES

    @property
    def from_history(self) -> bool:
        return self.samples >= self.min_samples

    @property
    def rate(self) -> Decimal:
        """The probability used, as a fraction (0–1)."""
        if self.from_history:
            return Decimal(self.won) / Decimal(self.samples)
        return Decimal(self.default_probability) / Decimal(100)

    @property
    def percent(self) -> Decimal:
        return (self.rate * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def historical_rates(
    src: Source, *, as_of: datetime | None = None, min_samples: int = MIN_SAMPLES
) -> dict[int, StageRate]:
    """P(won | was in stage S) for every open stage of the organisation, from the closed
    opportunities ``src`` sees (closed before ``as_of`` and history known then, when given).
    Two queries: the stages (once per request), and one GROUP BY over stage history."""
    assert src.org_id is not None
    open_stages = sorted(
        (
            s
            for s in organisation_stages(src.org_id).values()
            if s.parent_id is None and s.kind == StageKind.OPEN
        ),
        key=lambda s: (s.sort_order, s.pk),
    )
    rates = {
        s.pk: StageRate(s.pk, s.name, s.default_probability, min_samples=min_samples)
        for s in open_stages
    }
    history = src.qs(StageHistory).filter(
        stage__kind=StageKind.OPEN, opportunity__status__in=CLOSED_STATUSES
    )
    if as_of is not None:
        history = history.filter(entered_at__lt=as_of, opportunity__closed_at__lt=as_of)
    for row in (
        history.values("stage_id")
        .annotate(
            samples=Count("opportunity", distinct=True),
            won=Count(
                "opportunity",
                distinct=True,
                filter=Q(opportunity__status=OpportunityStatus.WON),
            ),
        )
        .order_by()
    ):
        r = rates.get(row["stage_id"])
        if r is not None:
            r.samples, r.won = row["samples"], row["won"]
    return rates


# --- per-rep figures ------------------------------------------------------------------------------
@dataclass
class RepFigures:
    """Raw (unrounded) sums of one rep; rounded once when read."""

    owner_id: int | None
    open_amount: Decimal = Decimal(0)
    weighted_raw: Decimal = Decimal(0)  # Σ amount × probability (÷ 100 when read)
    historical_raw: Decimal = Decimal(0)  # Σ amount × rate
    won: Decimal = Decimal(0)
    by_stage: dict[int, Decimal] = field(default_factory=dict)

    @property
    def weighted(self) -> Decimal:
        return money(self.weighted_raw / 100)

    @property
    def historical(self) -> Decimal:
        return money(self.historical_raw + self.won)

    def add(self, other: RepFigures) -> None:
        self.open_amount += other.open_amount
        self.weighted_raw += other.weighted_raw
        self.historical_raw += other.historical_raw
        self.won += other.won


def _period_q(f: Filters, prefix: str = "") -> tuple[Q, Q]:
    """(open in the period, won in the period) of opportunities (through ``prefix``): open ones
    expected to close in it, won ones that closed in it."""
    open_q = Q(
        **{
            f"{prefix}status__in": OPEN_STATUSES,
            f"{prefix}expected_close_date__gte": f.start,
            f"{prefix}expected_close_date__lt": f.end,
        }
    )
    won_q = Q(
        **{
            f"{prefix}status": OpportunityStatus.WON,
            f"{prefix}actual_close_date__gte": f.start,
            f"{prefix}actual_close_date__lt": f.end,
        }
    )
    return open_q, won_q


def _period_rows(src: Source, f: Filters, group: str) -> list[dict[str, Any]]:
    """Per (group, stage): the open amounts and Σ amount × probability (``n_open`` open
    opportunities or lines), and the won amounts (``n_won``) of the period. One GROUP BY for
    both, since they read the same opportunities (R11.2)."""
    if f.product:
        open_q, won_q = _period_q(f, "opportunity__")
        qs: QuerySet[Any] = src.qs(OpportunityLine).filter(product=f.product)
        qs = qs.filter(f.owner_q("opportunity__")).filter(open_q | won_q)
        return list(
            qs.values(key=F(f"opportunity__{group}"), st=F("opportunity__stage_id"))
            .annotate(
                n_open=Count("pk", filter=open_q),
                total=Sum("amount", filter=open_q),
                wsum=Sum(
                    ExpressionWrapper(
                        F("amount") * F("opportunity__probability"), output_field=_AMOUNT
                    ),
                    filter=open_q,
                ),
                n_won=Count("pk", filter=won_q),
                won=Sum("amount", filter=won_q),
            )
            .order_by()
        )
    open_q, won_q = _period_q(f)
    open_q &= Q(expected_amount__isnull=False)
    qs = src.qs(Opportunity).filter(f.owner_q()).filter(open_q | won_q)
    return list(
        qs.values(key=F(group), st=F("stage_id"))
        .annotate(
            n_open=Count("pk", filter=open_q),
            total=Sum("expected_amount", filter=open_q),
            wsum=Sum(
                ExpressionWrapper(F("expected_amount") * F("probability"), output_field=_AMOUNT),
                filter=open_q,
            ),
            n_won=Count("pk", filter=won_q),
            won=Sum(Coalesce("actual_amount", ZERO, output_field=_AMOUNT), filter=won_q),
        )
        .order_by()
    )


def _add_rows(
    result: dict[Any, RepFigures],
    rows: list[dict[str, Any]],
    key: str,
    rates: dict[int, StageRate],
    *,
    by_stage: bool,
) -> None:
    """Add :func:`_period_rows`-shaped rows to ``result`` (open rows first, then won ones)."""
    for row in rows:
        if not row["n_open"]:
            continue
        fig = result.setdefault(row[key], RepFigures(row[key] if by_stage else None))
        amount = row["total"] or Decimal(0)
        fig.open_amount += amount
        fig.weighted_raw += row["wsum"] or Decimal(0)
        r = rates.get(row["st"])
        fig.historical_raw += amount * (r.rate if r else Decimal(0))
        if by_stage:
            fig.by_stage[row["st"]] = fig.by_stage.get(row["st"], Decimal(0)) + amount
    for row in rows:
        if row["n_won"]:
            fig = result.setdefault(row[key], RepFigures(row[key] if by_stage else None))
            fig.won += row["won"] or Decimal(0)


def figures_by(
    src: Source, f: Filters, rates: dict[int, StageRate], group: str = "owner_id"
) -> dict[Any, RepFigures]:
    """Forecast figures per ``group`` (an opportunity field: ``owner_id``,
    ``owner__department_id``): one GROUP BY query."""
    result: dict[Any, RepFigures] = {}
    _add_rows(result, _period_rows(src, f, group), "key", rates, by_stage=True)
    return result


def product_figures(src: Source, f: Filters, rates: dict[int, StageRate]) -> dict[str, RepFigures]:
    """Forecast per product (line amounts), over the same opportunities: one query."""
    open_q, won_q = _period_q(f, "opportunity__")
    qs = src.qs(OpportunityLine).filter(open_q | won_q)
    if f.product:
        qs = qs.filter(product=f.product)
    qs = qs.filter(f.owner_q("opportunity__"))
    rows = list(
        qs.values("product", st=F("opportunity__stage_id"))
        .annotate(
            n_open=Count("pk", filter=open_q),
            total=Sum("amount", filter=open_q),
            wsum=Sum(
                ExpressionWrapper(
                    F("amount") * F("opportunity__probability"), output_field=_AMOUNT
                ),
                filter=open_q,
            ),
            n_won=Count("pk", filter=won_q),
            won=Sum("amount", filter=won_q),
        )
        .order_by()
    )
    result: dict[str, RepFigures] = {}
    _add_rows(result, rows, "product", rates, by_stage=False)
    return result


def commits(src: Source, f: Filters) -> dict[int, ForecastCommit]:
    qs = src.qs(ForecastCommit).filter(period=f.kind, period_start=f.start).filter(f.owner_q())
    return {c.owner_id: c for c in qs.select_related("owner", "adjusted_by")}


@dataclass
class Forecast:
    filters: Filters
    total: RepFigures
    reps: list[dict[str, Any]]
    teams: list[dict[str, Any]]
    products: list[dict[str, Any]]
    rates: list[StageRate]
    committed: Decimal | None
    best_case: Decimal | None
    adjusted: Decimal | None
    org_id: int | None = None


def forecast(
    src: Source,
    f: Filters,
    *,
    min_samples: int = MIN_SAMPLES,
    known: list[User] | None = None,
) -> Forecast:
    """Everything the forecast page and API show, in a fixed number of queries. ``known``:
    people (with their departments) the caller has read already, e.g. the rep filter's
    colleagues; only the other owners are read. A viewer's forecast is cached until the
    organisation's next change (crm.core.figure_cache); a whole organisation's (jobs) is not."""
    if src.user is None:
        return _forecast(src, f, min_samples=min_samples, known=known)
    parts = (
        f.kind,
        f.start,
        figure_cache.pk(f.owner),
        figure_cache.pk(f.department),
        f.product,
        min_samples,
        timezone.localdate(),
    )
    return figure_cache.cached(
        src.user,
        "forecast",
        parts,
        lambda: _forecast(src, f, min_samples=min_samples, known=known),
    )


def _forecast(
    src: Source,
    f: Filters,
    *,
    min_samples: int = MIN_SAMPLES,
    known: list[User] | None = None,
) -> Forecast:
    rates = historical_rates(src, min_samples=min_samples)
    by_rep = figures_by(src, f, rates)
    by_commit = commits(src, f)
    owner_ids = set(by_rep) | set(by_commit)
    people = {u.pk: u for u in known or [] if u.pk in owner_ids and u.org_id == src.org_id}
    if owner_ids - set(people):
        people.update(
            (u.pk, u)
            for u in User.objects.filter(
                org_id=src.org_id, pk__in=owner_ids - set(people)
            ).select_related("department")
        )
    total = RepFigures(None)
    reps = []
    teams: dict[Any, dict[str, Any]] = {}
    for owner_id in sorted(owner_ids, key=lambda pk: (people[pk].display_name, pk)):
        fig = by_rep.get(owner_id) or RepFigures(owner_id)
        total.add(fig)
        c = by_commit.get(owner_id)
        person = people[owner_id]
        row = {
            "owner_id": owner_id,
            "rep": person.display_name,
            "department": person.department.name if person.department else "",
            "open_amount": money(fig.open_amount),
            "weighted": fig.weighted,
            "historical": fig.historical,
            "won": money(fig.won),
            "committed": c.committed if c else None,
            "best_case": c.best_case if c else None,
            "adjusted": c.adjusted if c else None,
            "commit": c,
        }
        reps.append(row)
        team = teams.setdefault(
            person.department_id,
            {
                "department_id": person.department_id,
                "team": person.department.name if person.department else "—",
                "fig": RepFigures(None),
                "committed": None,
                "adjusted": None,
            },
        )
        team["fig"].add(fig)
        if c is not None:
            team["committed"] = (team["committed"] or ZERO) + c.committed
            team["adjusted"] = (team["adjusted"] or ZERO) + (
                c.adjusted if c.adjusted is not None else c.committed
            )
    team_rows = [
        {
            "department_id": t["department_id"],
            "team": t["team"],
            "open_amount": money(t["fig"].open_amount),
            "weighted": t["fig"].weighted,
            "historical": t["fig"].historical,
            "won": money(t["fig"].won),
            "committed": t["committed"],
            "adjusted": t["adjusted"],
        }
        for t in sorted(teams.values(), key=lambda t: str(t["team"]))
    ]
    product_rows = [
        {
            "product": name,
            "open_amount": money(fig.open_amount),
            "weighted": fig.weighted,
            "historical": fig.historical,
            "won": money(fig.won),
        }
        for name, fig in sorted(product_figures(src, f, rates).items())
    ]
    committed = [c for c in by_commit.values()]
    return Forecast(
        org_id=src.org_id,
        filters=f,
        total=total,
        reps=reps,
        teams=team_rows,
        products=product_rows,
        rates=sorted(rates.values(), key=lambda r: r.stage_id),
        committed=money(sum((c.committed for c in committed), ZERO)) if committed else None,
        best_case=(
            money(sum((c.best_case or c.committed for c in committed), ZERO)) if committed else None
        ),
        adjusted=(
            money(
                sum(
                    (c.adjusted if c.adjusted is not None else c.committed for c in committed),
                    ZERO,
                )
            )
            if committed
            else None
        ),
    )


# --- figures -------------------------------------------------------------------------------------
def _rep_url(owner_id: int, f: Filters) -> str:
    from crm.pipeline.list_views import list_url_for

    return list_url_for(
        {
            "match": "all",
            "rules": [
                {"field": "owner", "op": "eq", "value": owner_id},
                {"field": "status", "op": "in", "value": [str(s) for s in OPEN_STATUSES]},
                {
                    "field": "expected_close_date",
                    "op": "between",
                    "value": [
                        f.start.isoformat(),
                        date.fromordinal(f.end.toordinal() - 1).isoformat(),
                    ],
                },
            ],
        }
    )


#: reps the forecast page shows before "show all" (a director sees hundreds)
REP_LIMIT = 25


def top_reps(reps: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` reps with the largest weighted pipeline (then open pipeline, then won),
    largest first; ties keep the page's order (by name)."""
    ranked = sorted(
        enumerate(reps),
        key=lambda item: (-item[1]["weighted"], -item[1]["open_amount"], -item[1]["won"], item[0]),
    )
    return [r for _i, r in ranked[:limit]]


def rep_figure(fc: Forecast, *, limit: int | None = None, all_url: str = "") -> Figure:
    """The per-rep table. With ``limit``, only the top ``limit`` reps by weighted pipeline and a
    link to ``all_url`` (every rep); the totals always cover every rep."""
    shown = fc.reps if limit is None or len(fc.reps) <= limit else top_reps(fc.reps, limit)
    rows = [{**r, "_url": _rep_url(r["owner_id"], fc.filters)} for r in shown]
    for r in rows:
        r.pop("commit", None)
    extra: dict[str, Any] = {}
    note: Any = ""
    if len(shown) < len(fc.reps):
        note = _(
            "The %(shown)d reps with the largest weighted pipeline, of %(total)d. "
            "The totals cover all of them."
        ) % {"shown": len(shown), "total": len(fc.reps)}
        extra = {"more_url": all_url, "more_label": _("Show all %(n)d reps") % {"n": len(fc.reps)}}
    t = fc.total
    return Figure(
        key="forecast_reps",
        title=_("Forecast per rep"),
        columns=[
            Column("rep", _("Rep"), TEXT),
            Column("open_amount", _("Open pipeline"), MONEY),
            Column("weighted", _("Weighted pipeline"), MONEY),
            Column("historical", _("Forecast from history"), MONEY),
            Column("won", _("Won so far"), MONEY),
            Column("committed", _("Commit"), MONEY),
            Column("best_case", _("Best case"), MONEY),
            Column("adjusted", _("Manager's adjustment"), MONEY),
        ],
        rows=rows,
        chart={"type": "bar", "x": "rep", "series": ["weighted", "historical", "committed"]},
        note=note,
        extra=extra,
        totals={
            "rep": _("Total"),
            "open_amount": money(t.open_amount),
            "weighted": t.weighted,
            "historical": t.historical,
            "won": money(t.won),
            "committed": fc.committed,
            "best_case": fc.best_case,
            "adjusted": fc.adjusted,
        },
    )


def team_figure(fc: Forecast) -> Figure:
    return Figure(
        key="forecast_teams",
        title=_("Forecast per team"),
        columns=[
            Column("team", _("Department"), TEXT),
            Column("open_amount", _("Open pipeline"), MONEY),
            Column("weighted", _("Weighted pipeline"), MONEY),
            Column("historical", _("Forecast from history"), MONEY),
            Column("won", _("Won so far"), MONEY),
            Column("committed", _("Commit"), MONEY),
            Column("adjusted", _("Manager's call"), MONEY),
        ],
        rows=fc.teams,
        chart={"type": "hbar", "x": "team", "series": ["weighted", "historical"]},
    )


def product_figure(fc: Forecast) -> Figure:
    return Figure(
        key="forecast_products",
        title=_("Forecast per product"),
        columns=[
            Column("product", _("Product"), TEXT),
            Column("open_amount", _("Open pipeline"), MONEY),
            Column("weighted", _("Weighted pipeline"), MONEY),
            Column("historical", _("Forecast from history"), MONEY),
            Column("won", _("Won so far"), MONEY),
        ],
        rows=fc.products,
        chart={"type": "hbar", "x": "product", "series": ["weighted", "historical"]},
        note=_("Product line amounts of the same opportunities."),
    )


def rates_figure(fc: Forecast) -> Figure:
    assert fc.org_id is not None
    known = organisation_stages(fc.org_id)
    stages = {r.stage_id: known[r.stage_id] for r in fc.rates if r.stage_id in known}
    rows = []
    for r in sorted(
        fc.rates,
        key=lambda r: (
            stages[r.stage_id].pipeline.sort_order,
            stages[r.stage_id].pipeline_id,
            stages[r.stage_id].sort_order,
            r.stage_id,
        ),
    ):
        s = stages[r.stage_id]
        rows.append(
            {
                "stage": f"{s.pipeline.name} / {s.name}",
                "samples": r.samples,
                "historical": rate(r.won, r.samples),
                "default": Decimal(r.default_probability),
                "used": r.percent,
                "source": _("History") if r.from_history else _("Default probability"),
            }
        )
    return Figure(
        key="forecast_rates",
        title=_("Win rate per stage"),
        columns=[
            Column("stage", _("Stage"), TEXT),
            Column("samples", _("Closed opportunities"), "count"),
            Column("historical", _("Won share"), PERCENT),
            Column("default", _("Default probability"), PERCENT),
            Column("used", _("Probability used"), PERCENT),
            Column("source", _("Source"), TEXT),
        ],
        rows=rows,
        note=_(
            "A stage's own win rate is used once %(n)s closed opportunities passed through it; "
            "until then its default probability is used."
        )
        % {"n": MIN_SAMPLES},
    )


# --- accuracy of past snapshots ------------------------------------------------------------------
METHODS = ("weighted", "historical", "committed", "adjusted")


def abs_pct_error(forecast: Decimal | None, actual: Decimal | None) -> Decimal | None:
    """|forecast − actual| ÷ actual × 100 (one decimal); None without a forecast or when
    nothing was won."""
    if forecast is None or actual is None or not actual:
        return None
    return (abs(forecast - actual) * 100 / actual).quantize(Decimal("0.1"), ROUND_HALF_UP)


def accuracy_rows(
    src: Source, kind: str, today: date, *, owner: Any = None, department: Any = None
) -> list[dict[str, Any]]:
    """Per past period (actual filled in), the snapshot taken first in the period, summed over
    the reps ``src`` sees: each method's forecast, the actual and the absolute % error. Commit
    and manager's call compare with the actual of the reps who committed. One query."""
    first_taken = (
        ForecastSnapshot.objects.filter(
            org_id=OuterRef("org_id"),
            period=OuterRef("period"),
            period_start=OuterRef("period_start"),
        )
        .order_by("taken_on")
        .values("taken_on")[:1]
    )
    f = Filters(kind=kind, start=today, owner=owner, department=department)
    qs = (
        src.qs(ForecastSnapshot)
        .filter(period=kind, actual__isnull=False, period_start__lt=period_start(kind, today))
        .filter(f.owner_q())
        .filter(taken_on=Subquery(first_taken))
        .values("period_start", "taken_on")
        .annotate(
            s_weighted=Sum("weighted"),
            s_historical=Sum("historical"),
            s_actual=Sum("actual"),
            s_committed=Sum("committed", filter=Q(committed__isnull=False)),
            s_adjusted=Sum(
                Coalesce("adjusted", "committed", output_field=_AMOUNT),
                filter=Q(committed__isnull=False),
            ),
            s_actual_committed=Sum("actual", filter=Q(committed__isnull=False)),
        )
        .order_by("-period_start")
    )
    rows = []
    for r in qs:
        actual = money(r["s_actual"] or 0)
        actual_c = money(r["s_actual_committed"]) if r["s_actual_committed"] is not None else None
        row = {
            "period": period_label(kind, r["period_start"]),
            "period_start": r["period_start"],
            "taken_on": r["taken_on"],
            "actual": actual,
            "weighted": money(r["s_weighted"] or 0),
            "historical": money(r["s_historical"] or 0),
            "committed": money(r["s_committed"]) if r["s_committed"] is not None else None,
            "adjusted": money(r["s_adjusted"]) if r["s_adjusted"] is not None else None,
        }
        row["weighted_error"] = abs_pct_error(row["weighted"], actual)
        row["historical_error"] = abs_pct_error(row["historical"], actual)
        row["committed_error"] = abs_pct_error(row["committed"], actual_c)
        row["adjusted_error"] = abs_pct_error(row["adjusted"], actual_c)
        rows.append(row)
    return rows


def mape(rows: list[dict[str, Any]]) -> dict[str, Decimal | None]:
    """Mean absolute percentage error of each method over the periods that have one."""
    result: dict[str, Decimal | None] = {}
    for m in METHODS:
        errors = [r[f"{m}_error"] for r in rows if r[f"{m}_error"] is not None]
        result[m] = (
            (sum(errors, Decimal(0)) / len(errors)).quantize(Decimal("0.1"), ROUND_HALF_UP)
            if errors
            else None
        )
    return result


def accuracy_figure(rows: list[dict[str, Any]]) -> Figure:
    errors = mape(rows)
    return Figure(
        key="forecast_accuracy",
        title=_("Accuracy of past forecasts"),
        columns=[
            Column("period", _("Period"), TEXT),
            Column("taken_on", _("Snapshot of"), TEXT),
            Column("actual", _("Actually won"), MONEY),
            Column("weighted", _("Weighted pipeline"), MONEY),
            Column("weighted_error", _("Error (weighted)"), PERCENT),
            Column("historical", _("Forecast from history"), MONEY),
            Column("historical_error", _("Error (history)"), PERCENT),
            Column("committed", _("Commit"), MONEY),
            Column("committed_error", _("Error (commit)"), PERCENT),
            Column("adjusted", _("Manager's call"), MONEY),
            Column("adjusted_error", _("Error (manager)"), PERCENT),
        ],
        rows=[{**r, "taken_on": r["taken_on"].isoformat()} for r in rows],
        chart={
            "type": "bar",
            "x": "period",
            "series": ["actual", "weighted", "historical", "committed"],
        },
        totals={
            "period": _("Mean absolute % error"),
            "weighted_error": errors["weighted"],
            "historical_error": errors["historical"],
            "committed_error": errors["committed"],
            "adjusted_error": errors["adjusted"],
        },
        note=_(
            "Each past period's first weekly snapshot compared with what was actually won. "
            "Error = |forecast − actual| ÷ actual; commit and manager's call are compared with "
            "the wins of the reps who committed."
        ),
    )


# --- backtest ------------------------------------------------------------------------------------
@dataclass
class Backtest:
    as_of: datetime
    kind: str
    start: date
    won_before: Decimal
    open_amount: Decimal
    forecast: Decimal
    actual: Decimal

    @property
    def error(self) -> Decimal | None:
        return abs_pct_error(self.forecast, self.actual)


def backtest(
    src: Source, kind: str, start: date, as_of: datetime, *, min_samples: int = MIN_SAMPLES
) -> Backtest:
    """Rebuild the forecast from history as it could have been made at ``as_of``: win rates
    from opportunities closed before then (and their stage history up to then); the open
    opportunities and their stage from the stage-history rows that covered ``as_of``; wins in
    the period closed before then. Compare with everything actually won in the period.

    Amounts and expected close dates are today's values (their past values are not kept
    apart from the audit trail)."""
    end = period_end(kind, start)
    rates = historical_rates(src, as_of=as_of, min_samples=min_samples)
    open_at = (
        src.qs(StageHistory)
        .filter(
            Q(left_at__isnull=True) | Q(left_at__gt=as_of),
            entered_at__lte=as_of,
            stage__kind=StageKind.OPEN,
            opportunity__expected_close_date__gte=start,
            opportunity__expected_close_date__lt=end,
            opportunity__expected_amount__isnull=False,
        )
        .values("stage_id")
        .annotate(amount=Sum("opportunity__expected_amount"))
        .order_by()
    )
    open_amount = Decimal(0)
    projected = Decimal(0)
    for row in open_at:
        amount = row["amount"] or Decimal(0)
        open_amount += amount
        r = rates.get(row["stage_id"])
        projected += amount * (r.rate if r else Decimal(0))
    won = src.qs(Opportunity).filter(
        status=OpportunityStatus.WON, actual_close_date__gte=start, actual_close_date__lt=end
    )
    sums = won.aggregate(
        actual=Sum("actual_amount"),
        before=Sum("actual_amount", filter=Q(closed_at__lt=as_of)),
    )
    won_before = sums["before"] or Decimal(0)
    return Backtest(
        as_of=as_of,
        kind=kind,
        start=start,
        won_before=money(won_before),
        open_amount=money(open_amount),
        forecast=money(projected + won_before),
        actual=money(sums["actual"] or 0),
    )


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
