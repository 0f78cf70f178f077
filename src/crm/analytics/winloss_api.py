"""/api/v1/winloss/: the win/loss analysis (R4.8) as JSON, the same figures as the page.

Needs ``analytics:view``; reads the business models through ``visible_to``, so the figures follow
the caller's data scope. Amounts are strings with two decimals; rates are percentages with one
decimal (null when nothing closed). Errors answer ``ErrorOut``: 400 ``validation_error`` for a
bad period, 403 ``permission_denied`` without the permission, 404 ``not_found`` for a pipeline,
department or rep outside the caller's scope or organisation, 401 without authentication.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from crm.core.api import FilterId, scoped_get
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.org.models import User
from crm.pipeline.models import Pipeline

from . import winloss
from .funnel import scope_departments
from .winloss_forms import check_period

router = Router()


def _m(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.1f}"


class WinLossQuery(Schema):
    date_from: date | None = Field(None, description="First close date (default: unbounded)")
    date_to: date | None = Field(None, description="Last close date (default: unbounded)")
    pipeline_id: FilterId | None = Field(None, description="Default: every pipeline")
    department_id: FilterId | None = Field(None, description="A department and those below it")
    owner_id: FilterId | None = Field(None, description="One rep")


class ClosedRow(Schema):
    id: int | None = Field(description="Rep or department id (null: none)")
    name: str
    won: int
    won_value: str
    lost: int
    lost_value: str
    closed: int
    win_rate: str | None = Field(description="won ÷ (won + lost), % (one decimal)")


class ProductRow(Schema):
    product: str
    won: int
    won_value: str
    lost: int
    lost_value: str
    closed: int
    win_rate: str | None


class LostRow(Schema):
    key: str | None = Field(description="Loss-reason value or stage id")
    name: str
    lost: int
    lost_value: str
    share: str | None = Field(description="Share of the lost deals, %")


class OpenRow(Schema):
    stage_id: int
    pipeline_id: int
    name: str
    open: int
    open_value: str


class Totals(Schema):
    won: int
    won_value: str
    lost: int
    lost_value: str
    closed: int
    win_rate: str | None


class WinLossOut(Schema):
    date_from: date | None
    date_to: date | None
    pipeline_id: int | None
    totals: Totals
    reps: list[ClosedRow]
    departments: list[ClosedRow]
    parent_departments: list[ClosedRow]
    products: list[ProductRow]
    lost_by_reason: list[LostRow]
    lost_by_stage: list[LostRow]
    open_by_stage: list[OpenRow]


def _closed(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "won": r["won"],
        "won_value": _m(r["won_value"]),
        "lost": r["lost"],
        "lost_value": _m(r["lost_value"]),
        "closed": r["closed"],
        "win_rate": _pct(r["win_rate"]),
    }


def _lost(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": None if r["key"] is None else str(r["key"]),
        "name": str(r["label"]),
        "lost": r["lost"],
        "lost_value": _m(r["lost_value"]),
        "share": _pct(r["share"]),
    }


@router.get(
    "/",
    response=WinLossOut,
    summary="Win/loss: won, lost and win rate per rep, department and product; lost by reason "
    "and stage; open deals per stage",
)
def get_winloss(request: HttpRequest, q: Query[WinLossQuery]) -> Any:
    me: Any = request.user
    if not me.can("analytics", "view"):
        raise PermissionDenied()
    errors = check_period(q.date_from, q.date_to)
    if errors:
        raise ValidationFailed(field_errors={k: [v] for k, v in errors.items()})
    department = None
    if q.department_id is not None:
        department = scope_departments(me).filter(pk=q.department_id).first()
        if department is None:
            raise NotFound()
    f = winloss.WinLossFilters(
        start=q.date_from,
        last=q.date_to,
        pipeline=None if q.pipeline_id is None else scoped_get(request, Pipeline, q.pipeline_id),
        department=department,
        owner=None if q.owner_id is None else scoped_get(request, User, q.owner_id),
    )
    return {
        "date_from": f.start,
        "date_to": f.last,
        "pipeline_id": f.pipeline.pk if f.pipeline else None,
        "totals": _closed(winloss.totals(me, f)),
        "reps": [
            {"id": r["key"], "name": str(r["label"]), **_closed(r)} for r in winloss.by_rep(me, f)
        ],
        "departments": [
            {"id": r["key"], "name": str(r["label"]), **_closed(r)}
            for r in winloss.by_department(me, f)
        ],
        "parent_departments": [
            {"id": r["key"], "name": str(r["label"]), **_closed(r)}
            for r in winloss.by_parent_department(me, f)
        ],
        "products": [{"product": r["key"], **_closed(r)} for r in winloss.by_product(me, f)],
        "lost_by_reason": [_lost(r) for r in winloss.lost_by_reason(me, f)],
        "lost_by_stage": [_lost(r) for r in winloss.lost_by_stage(me, f)],
        "open_by_stage": [
            {
                "stage_id": r["key"],
                "pipeline_id": r["pipeline_id"],
                "name": str(r["label"]),
                "open": r["open"],
                "open_value": _m(r["open_value"]),
            }
            for r in winloss.open_by_stage(me, f)
        ],
    }
