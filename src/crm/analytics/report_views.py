"""Pages of custom reports (R8.8): the saved list, the builder with its live preview (htmx), a
report's page (computed over the viewer's scope, with Excel export), schedules and deliveries.

Every page needs ``analytics:view``; the export ``analytics:export``. A report the viewer does
not see answers 404; a colleague's shared report may be opened and scheduled, but only its
owner edits or deletes it (403).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError, ValidationFailed
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.views import require_perm

from . import report_services, reports
from .figures import export_figure, page_context
from .models import ReportSchedule, SavedReport
from .report_forms import (
    SaveForm,
    ScheduleForm,
    builder,
    definition_from_params,
    params_from_definition,
    when_text,
)


def _crumbs(*items: tuple[Any, Any]) -> list[tuple[Any, Any]]:
    return [(_("Reports"), None), (_("Custom reports"), reverse("analytics:reports")), *items]


def _with_when(qs: Any) -> list[ReportSchedule]:
    rows = list(qs)
    for s in rows:
        s.when = when_text(s)
    return rows


def _errors(exc: ValidationFailed) -> list[tuple[str, str]]:
    if exc.field_errors:
        return [(k, str(m)) for k, msgs in exc.field_errors.items() for m in msgs]
    return [("", str(exc.message))]


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    """My reports, reports shared with me, my schedules and my latest deliveries."""
    require_perm(request, "analytics", "view")
    me: Any = request.user
    visible = list(report_services.visible_reports(me).order_by("name", "pk"))
    return render(
        request,
        "analytics/report_list.html",
        {
            "mine": [r for r in visible if r.owner_id == me.pk],
            "shared": [r for r in visible if r.owner_id != me.pk],
            "schedules": _with_when(
                report_services.visible_schedules(me).order_by("next_run_at", "pk")
            ),
            "deliveries": list(report_services.visible_deliveries(me).order_by("-due_at")[:20]),
            "crumbs": [(_("Reports"), None), (_("Custom reports"), None)],
        },
    )


def _builder_page(
    request: HttpRequest, params: QueryDict, report: SavedReport | None, save_form: SaveForm
) -> HttpResponse:
    me: Any = request.user
    ctx: dict[str, Any] = {
        "b": builder(me, params),
        "report": report,
        "save_form": save_form,
        "crumbs": _crumbs((report.name if report else _("New report"), None)),
        **_preview(me, params, request),
    }
    return render(request, "analytics/report_builder.html", ctx)


def _preview(me: Any, params: QueryDict, request: HttpRequest) -> dict[str, Any]:
    try:
        result = reports.run(me, definition_from_params(params))
    except ValidationFailed as exc:
        return {"figure": None, "errors": _errors(exc)}
    return {"figure": result.figure, "errors": [], "can_export": False, "export_query": ""}


def _save(request: HttpRequest, report: SavedReport | None) -> HttpResponse:
    me: Any = request.user
    params = request.POST.copy()
    form = SaveForm(request.POST)
    if not form.is_valid():
        return _builder_page(request, params, report, form)
    try:
        saved = report_services.save_report(
            actor=me,
            report=report,
            name=form.cleaned_data["name"],
            shared=form.cleaned_data["shared"],
            definition=definition_from_params(params),
        )
    except ValidationFailed as exc:
        for key, msgs in exc.field_errors.items():
            for m in msgs:
                form.add_error(key if key in form.fields else None, str(m))
        return _builder_page(request, params, report, form)
    messages.success(request, _("The report was saved."))
    return redirect("analytics:report_detail", report_id=saved.pk)


@login_required
def builder_page(request: HttpRequest) -> HttpResponse:
    """A new report: pick subject, dimensions, measures, filters; preview; save."""
    require_perm(request, "analytics", "view")
    if request.method == "POST":
        return _save(request, None)
    params = request.GET.copy()
    if not params.get("dim1") and not params.getlist("measures"):
        params.setdefault("subject", "opportunities")
        params["dim1"] = "owner"
        params.setlist("measures", ["count"])
    return _builder_page(request, params, None, SaveForm(initial={"shared": "private"}))


@login_required
def edit_page(request: HttpRequest, report_id: int) -> HttpResponse:
    """The builder for one's own report."""
    require_perm(request, "analytics", "view")
    report = report_services.get_own_report(request.user, report_id)
    if request.method == "POST":
        return _save(request, report)
    params = params_from_definition(report.definition)
    if request.GET.get("subject"):  # switching subject while editing
        params = request.GET.copy()
    return _builder_page(
        request,
        params,
        report,
        SaveForm(initial={"name": report.name, "shared": report.shared}),
    )


@login_required
def preview(request: HttpRequest) -> HttpResponse:
    """The builder's live preview (an htmx partial): the table and chart, or what is wrong."""
    require_perm(request, "analytics", "view")
    return render(
        request, "analytics/_rep_preview.html", _preview(request.user, request.GET, request)
    )


@login_required
def detail(request: HttpRequest, report_id: int) -> HttpResponse:
    """A saved report computed over the viewer's scope; ``?export=report`` for Excel."""
    require_perm(request, "analytics", "view")
    me: Any = request.user
    report = report_services.get_report(me, report_id)
    return _show(request, report, "analytics/report_detail.html", {})


def _show(
    request: HttpRequest, report: SavedReport, template: str, extra: dict[str, Any]
) -> HttpResponse:
    me: Any = request.user
    ctx: dict[str, Any] = {"report": report, "is_mine": report.owner_id == me.pk, **extra}
    try:
        result = reports.run(me, report.definition, title=report.name)
    except ValidationFailed as exc:  # saved before the whitelist changed
        ctx.update({"figure": None, "errors": _errors(exc)})
    else:
        if request.GET.get("export"):
            require_perm(request, "analytics", "export")
            return export_figure(
                request, [result.figure], filters={"report": report.pk, **report.definition}
            )
        ctx.update(
            {
                "figure": result.figure,
                "about": reports.describe(result.definition),
                "errors": [],
                **page_context(request),
            }
        )
    ctx.setdefault("crumbs", _crumbs((report.name, None)))
    return render(request, template, ctx)


@login_required
@require_POST
def delete(request: HttpRequest, report_id: int) -> HttpResponse:
    require_perm(request, "analytics", "view")
    report = report_services.get_own_report(request.user, report_id)
    report_services.delete_report(actor=request.user, report=report)
    messages.success(request, _("The report was deleted."))
    return redirect("analytics:reports")


# --- schedules ----------------------------------------------------------------------------------
def _schedule_page(
    request: HttpRequest,
    report: SavedReport,
    schedule: ReportSchedule | None,
    form: ScheduleForm,
) -> HttpResponse:
    me: Any = request.user
    schedules = _with_when(
        report_services.visible_schedules(me)
        .filter(report=report)
        .prefetch_related("recipients")
        .order_by("pk")
    )
    deliveries = list(
        report_services.visible_deliveries(me)
        .filter(schedule__report=report, schedule__owner=me)
        .order_by("-due_at", "pk")[:50]
    )
    return render(
        request,
        "analytics/report_schedule.html",
        {
            "report": report,
            "schedule": schedule,
            "form": form,
            "schedules": schedules,
            "deliveries": deliveries,
            "crumbs": _crumbs(
                (report.name, reverse("analytics:report_detail", args=[report.pk])),
                (_("Schedule"), None),
            ),
        },
    )


def _save_schedule(
    request: HttpRequest, report: SavedReport, schedule: ReportSchedule | None
) -> HttpResponse:
    me: Any = request.user
    form = ScheduleForm(request.POST, user=me)
    if not form.is_valid():
        return _schedule_page(request, report, schedule, form)
    data = dict(form.cleaned_data)
    people = data.pop("recipients")
    try:
        report_services.save_schedule(
            actor=me, report=report, data=data, recipients=people, schedule=schedule
        )
    except ValidationFailed as exc:
        for key, msgs in exc.field_errors.items():
            for m in msgs:
                form.add_error(key if key in form.fields else None, str(m))
        return _schedule_page(request, report, schedule, form)
    messages.success(request, _("The schedule was saved."))
    return redirect("analytics:report_schedule", report_id=report.pk)


@login_required
def schedule_page(request: HttpRequest, report_id: int) -> HttpResponse:
    """Schedule a report one sees (own or shared), and the deliveries of one's schedules."""
    require_perm(request, "analytics", "view")
    me: Any = request.user
    report = report_services.get_report(me, report_id)
    if request.method == "POST":
        return _save_schedule(request, report, None)
    form = ScheduleForm(
        user=me, initial={"frequency": "weekly", "hour": 8, "is_active": True, "recipients": [me]}
    )
    return _schedule_page(request, report, None, form)


@login_required
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    require_perm(request, "analytics", "view")
    me: Any = request.user
    schedule = report_services.get_schedule(me, schedule_id)
    if request.method == "POST":
        return _save_schedule(request, schedule.report, schedule)
    form = ScheduleForm(
        user=me,
        initial={
            "frequency": schedule.frequency,
            "weekday": schedule.weekday,
            "day_of_month": schedule.day_of_month,
            "hour": schedule.hour,
            "is_active": schedule.is_active,
            "recipients": list(schedule.recipients.all()),
        },
    )
    return _schedule_page(request, schedule.report, schedule, form)


@login_required
@require_POST
def schedule_delete(request: HttpRequest, schedule_id: int) -> HttpResponse:
    require_perm(request, "analytics", "view")
    schedule = report_services.get_schedule(request.user, schedule_id)
    report_pk = schedule.report_id
    try:
        report_services.delete_schedule(actor=request.user, schedule=schedule)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The schedule was deleted."))
    return redirect("analytics:report_schedule", report_id=report_pk)


@login_required
def delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """A delivered report, computed now over the viewer's own scope."""
    require_perm(request, "analytics", "view")
    delivery = report_services.get_delivery(request.user, delivery_id)
    report = delivery.schedule.report
    return _show(
        request,
        report,
        "analytics/report_detail.html",
        {
            "delivery": delivery,
            "crumbs": _crumbs((report.name, None), (_("Delivery"), None)),
        },
    )
