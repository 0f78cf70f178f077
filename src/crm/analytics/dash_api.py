"""/api/v1/analytics/: the executive dashboard, key customers, customers by stage per rep,
behaviour analysis (figures) and targets (list and grid save) — H-DASH.

Thin handlers: check the function permission, build the selection (period, department inside
the caller's analytics scope) and call the selectors of :mod:`crm.analytics.dashboards`, which
read every business model through ``visible_to``. Money is a string with two decimals; rates
are percentages with one decimal (null when there is nothing to divide by)."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictFloat, StrictInt, StrictStr

from crm.core.api import Paginated
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.org.models import User
from crm.pipeline.models import Pipeline

from . import dashboards, targets
from .choices import PeriodKind, TargetMetric
from .dash_forms import DashboardFilterForm
from .figures import Figure
from .models import Target

router = Router()

PeriodKey = Literal[
    "this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year", "custom"
]
#: an id in a query or body (bounded, so SQLite and PostgreSQL both take it)
Id = Annotated[int, Field(ge=1, le=2**53 - 1)]
MetricKey = Literal["signed", "collected", "new_customers"]
PeriodKindKey = Literal["month", "quarter", "year"]


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("analytics", action):
        raise PermissionDenied()


def _money(value: Any) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


# --- schemas ---------------------------------------------------------------------------------
class DashSelectionQuery(Schema):
    period: PeriodKey | None = Field(None, description="Default: this_month")
    date_from: date | None = Field(None, description="First day of a custom period")
    date_to: date | None = Field(None, description="Last day of a custom period")
    department_id: Id | None = Field(
        None, description="A department inside your scope (with those below it); default: all"
    )


class DashPeriodOut(Schema):
    start: date
    end: date = Field(description="Last day of the period (inclusive)")
    department_id: int | None


class DashColumnOut(Schema):
    key: str
    label: str
    kind: str = Field(description="text, money, count, percent or days")


class DashFigureOut(Schema):
    key: str
    title: str
    columns: list[DashColumnOut]
    rows: list[dict[str, Any]] = Field(
        description="One object per row keyed by column key (money as strings); `url` opens "
        "the records behind the row"
    )
    totals: dict[str, Any] | None = None


class DashCardsOut(Schema):
    signed_target: str | None
    signed: str
    signed_count: int
    achievement: Decimal | None = Field(description="signed ÷ signing target, %")
    collected: str
    collected_count: int
    collected_target: str | None
    collected_achievement: Decimal | None
    due: str = Field(description="Installments due in the period")
    collection_rate: Decimal | None = Field(description="collected ÷ due in the period, %")
    renewal: str
    renewal_count: int
    new_customers: int
    new_customers_target: int | None
    new_customers_achievement: Decimal | None


class DashboardOut(Schema):
    period: DashPeriodOut
    cards: DashCardsOut
    figures: list[DashFigureOut] = Field(description="ranking, departments (teams), trend")


class DashFiguresOut(Schema):
    period: DashPeriodOut
    figures: list[DashFigureOut]


class DashStagesQuery(DashSelectionQuery):
    pipeline_id: Id | None = Field(None, description="Default: the default pipeline")


class DashStagesOut(Schema):
    period: DashPeriodOut
    pipeline_id: int | None
    figure: DashFigureOut


class DashTargetFilter(Schema):
    year: int | None = Field(None, ge=targets.MIN_YEAR, le=targets.MAX_YEAR)
    metric: MetricKey | None = None
    period: PeriodKindKey | None = None
    user_id: Id | None = None
    department_id: Id | None = None
    level: Literal["rep", "department"] | None = None


class DashTargetOut(Schema):
    id: int
    metric: str
    period: str
    period_start: date
    user_id: int | None
    user_name: str | None
    department_id: int | None
    department_name: str | None
    value: str

    @staticmethod
    def resolve_user_name(obj: Target) -> str | None:
        return obj.user.display_name if obj.user_id and obj.user else None

    @staticmethod
    def resolve_department_name(obj: Target) -> str | None:
        return obj.department.name if obj.department_id and obj.department else None

    @staticmethod
    def resolve_value(obj: Target) -> str:
        return f"{obj.value:.2f}"


class DashTargetCellIn(Schema):
    id: Id = Field(description="The rep's (level rep) or department's id")
    period_start: date
    value: StrictStr | StrictInt | StrictFloat | None = Field(
        description="Empty or null removes the target"
    )


class DashTargetGridIn(Schema):
    metric: MetricKey
    period: PeriodKindKey
    year: int = Field(ge=targets.MIN_YEAR, le=targets.MAX_YEAR)
    level: Literal["rep", "department"]
    cells: list[DashTargetCellIn] = Field(max_length=5000)


class DashTargetSaveOut(Schema):
    created: int
    updated: int
    deleted: int
    unchanged: int


# --- helpers ---------------------------------------------------------------------------------
def _selection(request: HttpRequest, query: DashSelectionQuery) -> dashboards.Selection:
    data = {
        "period": query.period or "",
        "date_from": query.date_from.isoformat() if query.date_from else "",
        "date_to": query.date_to.isoformat() if query.date_to else "",
        "department": str(query.department_id) if query.department_id is not None else "",
    }
    form = DashboardFilterForm(data, user=_me(request))
    if not form.is_valid():
        errors = {
            ("department_id" if k == "department" else k): [str(e) for e in v]
            for k, v in form.errors.items()
        }
        raise ValidationFailed(field_errors=errors)
    return form.selection()


def _period(sel: dashboards.Selection) -> dict[str, Any]:
    return {
        "start": sel.start,
        "end": sel.last,
        "department_id": sel.department.pk if sel.department else None,
    }


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "money":
        return _money(value)
    if kind == "text":
        return str(value)
    return value


def _figure(figure: Figure) -> dict[str, Any]:
    kinds = {c.key: c.kind for c in figure.columns}
    rows = []
    for row in figure.rows:
        out = {c.key: _value(row.get(c.key), c.kind) for c in figure.columns}
        out["url"] = row.get("_url")
        rows.append(out)
    totals = (
        {k: _value(v, kinds.get(k, "text")) for k, v in figure.totals.items()}
        if figure.totals
        else None
    )
    return {
        "key": figure.key,
        "title": str(figure.title),
        "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in figure.columns],
        "rows": rows,
        "totals": totals,
    }


# --- figures ---------------------------------------------------------------------------------
@router.get(
    "/dashboard",
    response=DashboardOut,
    summary="Executive dashboard: cards, team ranking and monthly trend (R8.1)",
)
def get_dashboard(request: HttpRequest, query: Query[DashSelectionQuery]) -> Any:
    _require(request, "view")
    sel = _selection(request, query)
    board = dashboards.dashboard(sel)
    cards = {
        k: (
            _money(v)
            if k in {"signed_target", "signed", "collected", "collected_target", "due", "renewal"}
            else v
        )
        for k, v in board.cards.items()
        if k != "urls"
    }
    return {
        "period": _period(sel),
        "cards": cards,
        "figures": [_figure(f) for f in board.figures],
    }


@router.get(
    "/key-customers",
    response=DashFiguresOut,
    summary="Contracts awaiting payment and key customers with a renewal due in 6 months (R8.2)",
)
def list_key_customers(request: HttpRequest, query: Query[DashSelectionQuery]) -> Any:
    _require(request, "view")
    sel = _selection(request, query)
    figures = [dashboards.awaiting(sel), dashboards.key_customers(sel)]
    return {"period": _period(sel), "figures": [_figure(f) for f in figures]}


@router.get(
    "/stages-by-rep",
    response=DashStagesOut,
    summary="Customers, opportunities and amount per rep and open stage of a pipeline (R8.3)",
)
def get_stages_by_rep(request: HttpRequest, query: Query[DashStagesQuery]) -> Any:
    _require(request, "view")
    sel = _selection(request, query)
    pipelines = dashboards.pipelines_for(_me(request))
    pipeline: Pipeline | None = pipelines[0] if pipelines else None
    if query.pipeline_id is not None:
        pipeline = next((p for p in pipelines if p.pk == query.pipeline_id), None)
        if pipeline is None:
            raise ValidationFailed(field_errors={"pipeline_id": [_("Choose a valid pipeline.")]})
    matrix = dashboards.stages_by_rep(sel, pipeline)
    return {
        "period": _period(sel),
        "pipeline_id": pipeline.pk if pipeline else None,
        "figure": _figure(matrix.figure),
    }


@router.get(
    "/behaviour",
    response=DashFiguresOut,
    summary="Follow-ups by method versus opportunities won, per rep (R8.7)",
)
def get_behaviour(request: HttpRequest, query: Query[DashSelectionQuery]) -> Any:
    _require(request, "view")
    sel = _selection(request, query)
    return {"period": _period(sel), "figures": [_figure(f) for f in dashboards.behaviour(sel)]}


# --- targets ---------------------------------------------------------------------------------
@router.get("/targets", response=list[DashTargetOut], summary="Targets you may see (R8.6)")
@paginate(Paginated)
def list_targets(request: HttpRequest, filters: Query[DashTargetFilter]) -> QuerySet[Target]:
    _require(request, "view")
    qs = Target.objects.visible_to(_me(request)).select_related("user", "department")
    if filters.year is not None:
        qs = qs.filter(period_start__year=filters.year)
    if filters.metric:
        qs = qs.filter(metric=filters.metric)
    if filters.period:
        qs = qs.filter(period=filters.period)
    if filters.user_id is not None:
        qs = qs.filter(user_id=filters.user_id)
    if filters.department_id is not None:
        qs = qs.filter(department_id=filters.department_id)
    if filters.level == "rep":
        qs = qs.filter(user__isnull=False)
    elif filters.level == "department":
        qs = qs.filter(department__isnull=False)
    return qs.order_by("period_start", "metric", "pk")


@router.put(
    "/targets",
    response=DashTargetSaveOut,
    summary="Save a grid of targets in one transaction (analytics:configure; R8.6)",
    description="Every cell is validated first: a negative or non-numeric value refuses the "
    "whole grid (400, one message per cell, keyed `c-<id>-<period start>`), nothing saved. An "
    "id outside the reps or departments whose targets you may set answers 404.",
)
def save_targets(request: HttpRequest, payload: DashTargetGridIn) -> Any:
    _require(request, "configure")
    cells = {(c.id, c.period_start): c.value for c in payload.cells}
    result = targets.save_grid(
        actor=_me(request),
        metric=payload.metric,
        period=payload.period,
        year=payload.year,
        level=payload.level,
        cells=cells,
    )
    return {
        "created": result.created,
        "updated": result.updated,
        "deleted": result.deleted,
        "unchanged": result.unchanged,
    }


__all__ = ["PeriodKind", "TargetMetric", "router"]
