"""/api/v1/reports/: custom reports, their schedules and deliveries (R8.8).

Every operation needs ``analytics:view``. Reports are the caller's own and those shared with
them; a report is always computed over the *caller's* data scope. Only the owner changes or
deletes a report (a colleague who sees a shared one gets 403, anyone else 404). Schedules and
their deliveries are the caller's own; deliveries addressed to the caller are listed too.

Errors answer ``ErrorOut``: 400 ``validation_error`` with field errors (an unknown dimension,
measure or filter, a bad date, recipients who are not active colleagues), 403, 404 (another
organisation's or an invisible record: the same answer as an id that does not exist), 422 for
a body that does not match the schema. Amounts are strings with two decimals.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from crm.core.api import FilterId, Paginated, RecordId
from crm.core.errors import PermissionDenied, ValidationFailed

from . import report_services, reports
from .figures import MONEY, PERCENT
from .models import ReportSchedule, SavedReport

router = Router()

Subject = Literal["customers", "opportunities", "followups", "contracts", "receipts"]
Key = str


def _me(request: HttpRequest) -> Any:
    user: Any = request.user
    if not user.can("analytics", "view"):
        raise PermissionDenied()
    return user


# --- schemas -------------------------------------------------------------------------------------
class ReportDefinitionIn(Schema):
    """What a report shows; see GET /reports/fields for the keys of each subject."""

    model_config = ConfigDict(extra="forbid")

    subject: Subject
    dimensions: list[Key] = Field(
        min_length=1, max_length=2, description="One or two dimension keys"
    )
    measures: list[Key] = Field(min_length=1, max_length=6, description="One to six measure keys")
    filters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=20,
        description=(
            "filter key → value: dates {from, to} (YYYY-MM-DD) or {period}; choices and texts "
            "a list of values; owner a list of user ids; department one id; stage a list of ids"
        ),
    )
    sort: str = Field("", max_length=60, description="A chosen key; prefix - for descending")
    chart: Literal["bar", "hbar", "line", "pie", "table"] = "bar"
    limit: int = Field(reports.DEFAULT_LIMIT, ge=1, le=reports.MAX_LIMIT)


class ReportIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    shared: Literal["private", "team", "org"] = "private"
    definition: ReportDefinitionIn


class ReportRead(Schema):
    id: int
    name: str
    subject: str
    shared: str
    owner_id: int
    owner: str
    is_mine: bool
    definition: dict[str, Any]
    created_at: datetime

    @staticmethod
    def resolve_owner(obj: Any) -> str:
        return obj["owner"] if isinstance(obj, dict) else obj.owner.display_name

    @staticmethod
    def resolve_is_mine(obj: Any, context: Any) -> bool:
        if isinstance(obj, dict):
            return bool(obj["is_mine"])
        return bool(obj.owner_id == context["request"].user.pk)


class ReportColumnOut(Schema):
    key: str
    label: str
    kind: str


class ReportRunOut(Schema):
    title: str
    columns: list[ReportColumnOut]
    rows: list[dict[str, str | int | None]]
    totals: dict[str, str | int | None]
    truncated: bool
    definition: dict[str, Any]


class ReportScheduleIn(Schema):
    report_id: RecordId
    frequency: Literal["weekly", "monthly"]
    weekday: int = Field(0, ge=0, le=6, description="0 = Monday (weekly)")
    day_of_month: int = Field(1, ge=1, le=28, description="Monthly")
    hour: int = Field(8, ge=0, le=23, description="In the organisation's time zone")
    recipient_ids: list[RecordId] = Field(min_length=1, max_length=50)
    is_active: bool = True


class ReportScheduleRead(Schema):
    id: int
    report_id: int
    report: str
    frequency: str
    weekday: int
    day_of_month: int
    hour: int
    recipient_ids: list[int]
    is_active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None


class ReportDeliveryRead(Schema):
    id: int
    schedule_id: int
    report_id: int
    report: str
    recipient_id: int
    recipient: str
    due_at: datetime
    status: str
    sent_at: datetime | None
    rows: int
    error: str

    @staticmethod
    def resolve_report_id(obj: Any) -> int:
        return int(obj.schedule.report_id)

    @staticmethod
    def resolve_report(obj: Any) -> str:
        return str(obj.schedule.report.name)

    @staticmethod
    def resolve_recipient(obj: Any) -> str:
        return str(obj.recipient.display_name)


class ReportDeliveryFilter(Schema):
    schedule_id: FilterId | None = None
    status: Literal["pending", "sent", "failed"] | None = None


class ReportFieldOut(Schema):
    key: str
    label: str


class ReportSubjectFields(Schema):
    subject: str
    label: str
    dimensions: list[ReportFieldOut]
    measures: list[ReportFieldOut]
    filters: list[ReportFieldOut]


# --- serialisers ---------------------------------------------------------------------------------
def _report_out(report: SavedReport, me: Any) -> dict[str, Any]:
    return {
        "id": report.pk,
        "name": report.name,
        "subject": report.subject,
        "shared": report.shared,
        "owner_id": report.owner_id,
        "owner": report.owner.display_name,
        "is_mine": report.owner_id == me.pk,
        "definition": report.definition,
        "created_at": report.created_at,
    }


def _cell(value: Any, kind: str) -> str | int | None:
    if value is None:
        return None
    if kind == MONEY:
        return f"{Decimal(value):.2f}"
    if kind == PERCENT:
        return f"{Decimal(value):.1f}"
    if isinstance(value, int):
        return value
    return str(value)


def _run_out(result: reports.Result) -> dict[str, Any]:
    figure = result.figure
    return {
        "title": str(figure.title),
        "columns": [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in figure.columns],
        "rows": [{c.key: _cell(r.get(c.key), c.kind) for c in figure.columns} for r in figure.rows],
        "totals": {c.key: _cell((figure.totals or {}).get(c.key), c.kind) for c in figure.columns},
        "truncated": result.truncated,
        "definition": result.definition.as_json(),
    }


def _schedule_out(s: ReportSchedule) -> dict[str, Any]:
    return {
        "id": s.pk,
        "report_id": s.report_id,
        "report": s.report.name,
        "frequency": s.frequency,
        "weekday": s.weekday,
        "day_of_month": s.day_of_month,
        "hour": s.hour,
        "recipient_ids": sorted(p.pk for p in s.recipients.all()),
        "is_active": s.is_active,
        "next_run_at": s.next_run_at,
        "last_run_at": s.last_run_at,
    }


def _definition(payload: ReportDefinitionIn) -> dict[str, Any]:
    return payload.model_dump()


# --- the whitelist -------------------------------------------------------------------------------
@router.get(
    "/fields", response=list[ReportSubjectFields], summary="Subjects, dimensions, measures, filters"
)
def list_fields(request: HttpRequest) -> Any:
    _me(request)
    return [
        {
            "subject": s.key,
            "label": str(s.label),
            "dimensions": [{"key": k, "label": str(v.label)} for k, v in s.dimensions.items()],
            "measures": [{"key": k, "label": str(v.label)} for k, v in s.measures.items()],
            "filters": [{"key": k, "label": str(v.label)} for k, v in s.filters.items()],
        }
        for s in reports.subjects().values()
    ]


@router.post("/run", response=ReportRunOut, summary="Run an ad-hoc report over your data scope")
def run_adhoc(request: HttpRequest, payload: ReportDefinitionIn) -> Any:
    me = _me(request)
    return _run_out(reports.run(me, _definition(payload)))


# --- schedules -----------------------------------------------------------------------------------
@router.get("/schedules", response=list[ReportScheduleRead], summary="Your report schedules")
@paginate(Paginated)
def list_schedules(request: HttpRequest) -> Any:
    me = _me(request)
    qs = report_services.visible_schedules(me).prefetch_related("recipients").order_by("pk")
    return [_schedule_out(s) for s in qs]


def _schedule_payload(payload: ReportScheduleIn) -> dict[str, Any]:
    return payload.model_dump(exclude={"report_id", "recipient_ids"})


@router.post("/schedules", response={201: ReportScheduleRead}, summary="Schedule a report")
def create_schedule(request: HttpRequest, payload: ReportScheduleIn) -> Any:
    me = _me(request)
    report = report_services.get_report(me, payload.report_id)
    schedule = report_services.save_schedule(
        actor=me,
        report=report,
        data=_schedule_payload(payload),
        recipients=payload.recipient_ids,
    )
    return Status(201, _schedule_out(schedule))


@router.get("/schedules/{schedule_id}", response=ReportScheduleRead, summary="A report schedule")
def get_schedule(request: HttpRequest, schedule_id: RecordId) -> Any:
    me = _me(request)
    return _schedule_out(report_services.get_schedule(me, schedule_id))


@router.put("/schedules/{schedule_id}", response=ReportScheduleRead, summary="Change a schedule")
def update_schedule(request: HttpRequest, schedule_id: RecordId, payload: ReportScheduleIn) -> Any:
    me = _me(request)
    schedule = report_services.get_schedule(me, schedule_id)
    if payload.report_id != schedule.report_id:
        problem: dict[str, list[Any]] = {
            "report_id": [_("A schedule stays with its report; create a new schedule instead.")]
        }
        raise ValidationFailed(field_errors=problem)
    schedule = report_services.save_schedule(
        actor=me,
        report=schedule.report,
        data=_schedule_payload(payload),
        recipients=payload.recipient_ids,
        schedule=schedule,
    )
    return _schedule_out(schedule)


@router.delete("/schedules/{schedule_id}", response={204: None}, summary="Delete a schedule")
def delete_schedule(request: HttpRequest, schedule_id: RecordId) -> Any:
    me = _me(request)
    report_services.delete_schedule(
        actor=me, schedule=report_services.get_schedule(me, schedule_id)
    )
    return Status(204, None)


@router.get(
    "/deliveries",
    response=list[ReportDeliveryRead],
    summary="Deliveries to you and of your schedules, newest first",
)
@paginate(Paginated)
def list_deliveries(request: HttpRequest, filters: Query[ReportDeliveryFilter]) -> Any:
    me = _me(request)
    qs = report_services.visible_deliveries(me)
    if filters.schedule_id is not None:
        qs = qs.filter(schedule_id=filters.schedule_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("-due_at", "-pk")


# --- reports -------------------------------------------------------------------------------------
@router.get("/", response=list[ReportRead], summary="Your reports and those shared with you")
@paginate(Paginated)
def list_reports(request: HttpRequest, subject: Subject | None = None) -> Any:
    me = _me(request)
    qs = report_services.visible_reports(me)
    if subject:
        qs = qs.filter(subject=subject)
    return qs.order_by("name", "pk")


@router.post("/", response={201: ReportRead}, summary="Save a report")
def create_report(request: HttpRequest, payload: ReportIn) -> Any:
    me = _me(request)
    report = report_services.save_report(
        actor=me,
        name=payload.name,
        shared=payload.shared,
        definition=_definition(payload.definition),
    )
    return Status(201, _report_out(report, me))


@router.get("/{report_id}", response=ReportRead, summary="A report")
def get_report(request: HttpRequest, report_id: RecordId) -> Any:
    me = _me(request)
    return _report_out(report_services.get_report(me, report_id), me)


@router.put("/{report_id}", response=ReportRead, summary="Change your report")
def update_report(request: HttpRequest, report_id: RecordId, payload: ReportIn) -> Any:
    me = _me(request)
    report = report_services.get_own_report(me, report_id)
    report = report_services.save_report(
        actor=me,
        report=report,
        name=payload.name,
        shared=payload.shared,
        definition=_definition(payload.definition),
    )
    return _report_out(report, me)


@router.delete("/{report_id}", response={204: None}, summary="Delete your report")
def delete_report(request: HttpRequest, report_id: RecordId) -> Any:
    me = _me(request)
    report_services.delete_report(actor=me, report=report_services.get_own_report(me, report_id))
    return Status(204, None)


@router.get("/{report_id}/run", response=ReportRunOut, summary="Run a saved report over your scope")
def run_report(request: HttpRequest, report_id: RecordId) -> Any:
    me = _me(request)
    report = report_services.get_report(me, report_id)
    return _run_out(reports.run(me, report.definition, title=report.name))
