"""/api/v1/forecast/: the sales funnel (R8.4), the forecast, commits and adjustments, and the
accuracy of past forecasts (R8.5).

Every read needs ``analytics:view`` and reads the business models through ``visible_to``, so
the figures follow the caller's data scope exactly as the pages do. Amounts are strings with
two decimals; rates are percentages with one decimal (null when nothing to divide by).

Errors answer ``ErrorOut``: 400 ``validation_error`` with field errors for bad filters or
amounts, 403 ``permission_denied`` without the permission (or adjusting one's own commit), 404
``not_found`` for a department, rep, pipeline or commit outside the caller's scope or
organisation (the same answer as an id that does not exist), 401 without authentication.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from crm.core.api import FilterId, RecordId, scoped_get
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.org.models import Department, User
from crm.pipeline.models import Pipeline

from . import forecast_services
from .forecast import (
    MIN_SAMPLES,
    Filters,
    Source,
    accuracy_rows,
    backtest,
    day_start,
    forecast,
    is_period_start,
    mape,
    period_label,
    period_start,
)
from .forecast_forms import MAX_FUNNEL_DAYS
from .funnel import FunnelFilters, funnel_rows, scope_departments
from .models import ForecastCommit

router = Router()

Money = str


def _m(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _require(request: HttpRequest, action: str = "view") -> Any:
    user: Any = request.user
    if not user.can("analytics", action):
        raise PermissionDenied()
    return user


def _department(request: HttpRequest, pk: int | None) -> Department | None:
    if pk is None:
        return None
    dept = scope_departments(request.user).filter(pk=pk).first()
    if dept is None:
        raise NotFound()
    return dept


def _owner(request: HttpRequest, pk: int | None) -> User | None:
    return None if pk is None else scoped_get(request, User, pk)


# --- funnel --------------------------------------------------------------------------------------
class FunnelQuery(Schema):
    date_from: date | None = Field(None, description="First day of entries (default: 1 January)")
    date_to: date | None = Field(None, description="Last day of entries (default: today)")
    pipeline_id: FilterId | None = Field(None, description="Default: the default pipeline")
    department_id: FilterId | None = Field(None, description="A department and those below it")
    owner_id: FilterId | None = Field(None, description="One rep")


class FunnelStage(Schema):
    stage_id: int
    stage: str
    entered: int
    advanced: int
    lost: int
    open: int
    won: int
    conversion: str | None = Field(description="advanced ÷ entered, % (one decimal)")
    win_rate: str | None = Field(description="won ÷ entered, %")
    median_days: str | None = Field(description="median days in the stage (one decimal)")


class FunnelOut(Schema):
    pipeline_id: int
    date_from: date
    date_to: date
    stages: list[FunnelStage]


@router.get(
    "/funnel",
    response=FunnelOut,
    summary="Sales funnel: per open stage, entries in the period and what became of them",
)
def funnel(request: HttpRequest, q: Query[FunnelQuery]) -> Any:
    me = _require(request)
    today = timezone.localdate()
    start = q.date_from or date(today.year, 1, 1)
    last = q.date_to or today
    if last < start:
        raise ValidationFailed(
            field_errors={"date_to": [_("The end date is before the start date.")]}
        )
    if (last - start).days > MAX_FUNNEL_DAYS:
        raise ValidationFailed(field_errors={"date_to": [_("Choose at most three years.")]})
    if q.pipeline_id is not None:
        pipeline = scoped_get(request, Pipeline, q.pipeline_id)
    else:
        pipeline = (
            Pipeline.objects.visible_to(me)
            .filter(is_active=True)
            .order_by("-is_default", "pk")
            .first()
        )
        if pipeline is None:
            raise ValidationFailed(field_errors={"pipeline_id": [_("Set up a pipeline first.")]})
    f = FunnelFilters(
        start=start,
        last=last,
        pipeline=pipeline,
        department=_department(request, q.department_id),
        owner=_owner(request, q.owner_id),
    )
    rows = funnel_rows(me, f)
    return {
        "pipeline_id": pipeline.pk,
        "date_from": start,
        "date_to": last,
        "stages": [
            {
                **{k: r[k] for k in ("stage_id", "entered", "advanced", "lost", "open", "won")},
                "stage": str(r["stage"]),
                "conversion": _pct(r["conversion"]),
                "win_rate": _pct(r["win_rate"]),
                "median_days": _pct(r["median_days"]),
            }
            for r in rows
        ],
    }


# --- forecast ------------------------------------------------------------------------------------
PeriodIn = Literal["month", "quarter"]


class ForecastQuery(Schema):
    period: PeriodIn = Field("month", description="month or quarter")
    start: date | None = Field(None, description="First day of the period (default: current)")
    owner_id: FilterId | None = None
    department_id: FilterId | None = Field(None, description="A department and those below it")
    product: str | None = Field(None, max_length=200, description="Only this product's lines")


class Figures(Schema):
    open_amount: Money
    weighted: Money
    historical: Money
    won: Money


class RepForecast(Figures):
    owner_id: int
    rep: str
    committed: Money | None
    best_case: Money | None
    adjusted: Money | None
    commit_id: int | None


class TeamForecast(Figures):
    department_id: int | None
    team: str
    committed: Money | None
    adjusted: Money | None


class ProductForecast(Figures):
    product: str


class StageRateOut(Schema):
    stage_id: int
    stage: str
    samples: int
    won: int
    from_history: bool
    probability: str = Field(description="the probability used, %")
    default_probability: int


class ForecastOut(Schema):
    period: str
    start: date
    label: str
    total: Figures
    committed: Money | None
    best_case: Money | None
    adjusted: Money | None
    reps: list[RepForecast]
    teams: list[TeamForecast]
    products: list[ProductForecast]
    rates: list[StageRateOut]
    min_samples: int


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _m(row[k]) for k in ("open_amount", "weighted", "historical", "won")}


@router.get(
    "/",
    response=ForecastOut,
    summary="Forecast of a month or quarter: weighted, from history, commits (per rep, team, "
    "product)",
)
def get_forecast(request: HttpRequest, q: Query[ForecastQuery]) -> Any:
    me = _require(request)
    start = q.start or period_start(q.period, timezone.localdate())
    if not is_period_start(q.period, start):
        raise ValidationFailed(
            field_errors={"start": [_("Enter the first day of the month or quarter.")]}
        )
    f = Filters(
        kind=q.period,
        start=start,
        owner=_owner(request, q.owner_id),
        department=_department(request, q.department_id),
        product=(q.product or "").strip(),
    )
    fc = forecast(Source(user=me), f)

    return {
        "period": f.kind,
        "start": f.start,
        "label": period_label(f.kind, f.start),
        "total": {
            "open_amount": _m(fc.total.open_amount.quantize(Decimal("0.01"))),
            "weighted": _m(fc.total.weighted),
            "historical": _m(fc.total.historical),
            "won": _m(fc.total.won.quantize(Decimal("0.01"))),
        },
        "committed": _m(fc.committed),
        "best_case": _m(fc.best_case),
        "adjusted": _m(fc.adjusted),
        "reps": [
            {
                **_figures(r),
                "owner_id": r["owner_id"],
                "rep": r["rep"],
                "committed": _m(r["committed"]),
                "best_case": _m(r["best_case"]),
                "adjusted": _m(r["adjusted"]),
                "commit_id": r["commit"].pk if r["commit"] else None,
            }
            for r in fc.reps
        ],
        "teams": [
            {
                **_figures(t),
                "department_id": t["department_id"],
                "team": str(t["team"]),
                "committed": _m(t["committed"]),
                "adjusted": _m(t["adjusted"]),
            }
            for t in fc.teams
        ],
        "products": [{**_figures(p), "product": p["product"]} for p in fc.products],
        "rates": [
            {
                "stage_id": r.stage_id,
                "stage": r.name,
                "samples": r.samples,
                "won": r.won,
                "from_history": r.from_history,
                "probability": _pct(r.percent),
                "default_probability": r.default_probability,
            }
            for r in fc.rates
        ],
        "min_samples": MIN_SAMPLES,
    }


# --- commits -------------------------------------------------------------------------------------
class CommitIn(Schema):
    period: PeriodIn
    period_start: date = Field(description="First day of the month or quarter")
    committed: str = Field(max_length=30, description="Amount, e.g. 120000.00")
    best_case: str | None = Field(None, max_length=30)
    note: str = Field("", max_length=500)


class AdjustIn(Schema):
    adjusted: str = Field(max_length=30, description="The manager's number")
    note: str = Field(max_length=500, description="Why (required)")


class CommitOut(Schema):
    id: int
    owner_id: int
    period: str
    period_start: date
    committed: Money
    best_case: Money | None
    note: str
    adjusted: Money | None
    adjusted_by_id: int | None
    adjusted_note: str
    adjusted_at: datetime | None


def _commit_out(c: ForecastCommit) -> dict[str, Any]:
    return {
        "id": c.pk,
        "owner_id": c.owner_id,
        "period": c.period,
        "period_start": c.period_start,
        "committed": _m(c.committed),
        "best_case": _m(c.best_case),
        "note": c.note,
        "adjusted": _m(c.adjusted),
        "adjusted_by_id": c.adjusted_by_id,
        "adjusted_note": c.adjusted_note,
        "adjusted_at": c.adjusted_at,
    }


@router.post(
    "/commits",
    response={200: CommitOut},
    summary="Commit your own number (and best case) for a current or future period",
)
def commit(request: HttpRequest, payload: CommitIn) -> Any:
    me = _require(request)
    obj = forecast_services.commit(
        actor=me,
        period=payload.period,
        start=payload.period_start,
        committed=payload.committed,
        best_case=payload.best_case,
        note=payload.note,
    )
    return _commit_out(obj)


@router.post(
    "/commits/{commit_id}/adjust",
    response=CommitOut,
    summary="A manager adjusts a rep's commit (analytics:configure or opportunities:approve)",
)
def adjust_commit(request: HttpRequest, commit_id: RecordId, payload: AdjustIn) -> Any:
    me = _require(request)
    obj = forecast_services.adjust(
        actor=me, commit_id=commit_id, adjusted=payload.adjusted, note=payload.note
    )
    return _commit_out(obj)


# --- accuracy and backtest -----------------------------------------------------------------------
class AccuracyQuery(Schema):
    period: PeriodIn = "month"
    owner_id: FilterId | None = None
    department_id: FilterId | None = None


class AccuracyRow(Schema):
    period: str
    period_start: date
    taken_on: date
    actual: Money
    weighted: Money
    historical: Money
    committed: Money | None
    adjusted: Money | None
    weighted_error: str | None = Field(description="|forecast − actual| ÷ actual, %")
    historical_error: str | None
    committed_error: str | None
    adjusted_error: str | None


class AccuracyOut(Schema):
    rows: list[AccuracyRow]
    mape: dict[str, str | None] = Field(description="mean absolute % error per method")


@router.get(
    "/accuracy",
    response=AccuracyOut,
    summary="How accurate past weekly snapshots were: each method's forecast vs what was won",
)
def accuracy(request: HttpRequest, q: Query[AccuracyQuery]) -> Any:
    me = _require(request)
    rows = accuracy_rows(
        Source(user=me),
        q.period,
        timezone.localdate(),
        owner=_owner(request, q.owner_id),
        department=_department(request, q.department_id),
    )
    money_keys = ("actual", "weighted", "historical", "committed", "adjusted")
    return {
        "rows": [
            {
                **{k: r[k] for k in ("period", "period_start", "taken_on")},
                **{k: _m(r[k]) for k in money_keys},
                **{f"{k}_error": _pct(r[f"{k}_error"]) for k in money_keys[1:]},
            }
            for r in rows
        ],
        "mape": {k: _pct(v) for k, v in mape(rows).items()},
    }


class BacktestQuery(Schema):
    period: PeriodIn = "month"
    start: date | None = Field(
        None, description="First day of a past or current period (default: last month)"
    )
    as_of: date | None = Field(
        None,
        description="Rebuild the forecast as it stood at the start of this day "
        "(default: the period's first day)",
    )


class BacktestOut(Schema):
    period: str
    start: date
    as_of: datetime
    won_before: Money
    open_amount: Money
    forecast: Money
    actual: Money
    error: str | None


@router.get(
    "/backtest",
    response=BacktestOut,
    summary="Rebuild the forecast from history as known on a past day and compare with wins",
)
def get_backtest(request: HttpRequest, q: Query[BacktestQuery]) -> Any:
    me = _require(request)
    if q.start is None:
        q.start = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
        if q.period == "quarter":
            q.start = q.start.replace(month=(q.start.month - 1) // 3 * 3 + 1)
    if q.as_of is None:
        q.as_of = q.start
    if not is_period_start(q.period, q.start):
        raise ValidationFailed(
            field_errors={"start": [_("Enter the first day of the month or quarter.")]}
        )
    if q.as_of > timezone.localdate():
        raise ValidationFailed(field_errors={"as_of": [_("Choose a day in the past.")]})
    if q.as_of.year < 2000 or q.start.year < 2000:
        raise ValidationFailed(field_errors={"as_of": [_("Choose a day from the year 2000 on.")]})
    b = backtest(Source(user=me), q.period, q.start, day_start(q.as_of))
    return {
        "period": b.kind,
        "start": b.start,
        "as_of": b.as_of,
        "won_before": _m(b.won_before),
        "open_amount": _m(b.open_amount),
        "forecast": _m(b.forecast),
        "actual": _m(b.actual),
        "error": _pct(b.error),
    }
