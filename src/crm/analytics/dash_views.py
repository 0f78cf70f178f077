"""Pages of the dashboards and targets (H-DASH): the executive dashboard (the Reports landing
page), key customers with contracts awaiting payment, customers by stage per rep, behaviour
analysis, and the targets grid. Every figure answers ``?export=<key>`` (analytics:export)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core.errors import ValidationFailed
from crm.core.forms import error_text
from crm.core.views import require_perm
from crm.org.models import User

from . import dashboards, targets
from .choices import PeriodKind, TargetMetric
from .dash_forms import DashboardFilterForm, PipelineForm, TargetGridForm
from .figures import Figure, export_figure, page_context
from .models import Target

REPORTS = gettext_lazy("Reports")


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _export(request: HttpRequest, figures: list[Figure]) -> HttpResponse | None:
    if "export" not in request.GET:
        return None
    require_perm(request, "analytics", "export")
    return export_figure(request, figures)


def _filters(request: HttpRequest, default_period: str = "this_month") -> DashboardFilterForm:
    return DashboardFilterForm(
        request.GET if request.GET else None, user=_me(request), default_period=default_period
    )


def _common(request: HttpRequest, form: DashboardFilterForm, title: Any) -> dict[str, Any]:
    sel = form.selection()
    return {
        **page_context(request),
        "form": form,
        "sel": sel,
        "period_key": form.period_key,
        "problems": [str(e) for errors in form.errors.values() for e in errors]
        if form.is_bound
        else [],
        "crumbs": [(REPORTS, reverse("analytics:dashboard")), (title, None)],
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The executive dashboard (R8.1): cards, team ranking and the monthly trend."""
    require_perm(request, "analytics", "view")
    form = _filters(request)
    context = _common(request, form, _("Executive dashboard"))
    board = dashboards.dashboard(context["sel"])
    exported = _export(request, board.figures)
    if exported is not None:
        return exported
    return render(
        request,
        "analytics/dashboard.html",
        {
            **context,
            "board": board,
            "cards": board.cards,
            "figures": board.figures,
            "tab": "dashboard",
        },
    )


@login_required
def key_customers(request: HttpRequest) -> HttpResponse:
    """Key customers with a renewal due in 6 months (R8.2) and contracts awaiting payment (R7.3)."""
    require_perm(request, "analytics", "view")
    form = _filters(request)
    context = _common(request, form, _("Key customers"))
    figures = [dashboards.awaiting(context["sel"]), dashboards.key_customers(context["sel"])]
    exported = _export(request, figures)
    if exported is not None:
        return exported
    return render(
        request,
        "analytics/key_customers.html",
        {**context, "figures": figures, "awaiting": figures[0], "tab": "key_customers"},
    )


@login_required
def stages_by_rep(request: HttpRequest) -> HttpResponse:
    """Customers by opportunity stage for each rep (R8.3)."""
    require_perm(request, "analytics", "view")
    form = _filters(request)
    context = _common(request, form, _("Customers by stage"))
    pipeline_form = PipelineForm(request.GET if request.GET else None, user=_me(request))
    matrix = dashboards.stages_by_rep(context["sel"], pipeline_form.chosen())
    exported = _export(request, [matrix.figure])
    if exported is not None:
        return exported
    return render(
        request,
        "analytics/stages_by_rep.html",
        {
            **context,
            "pipeline_form": pipeline_form,
            "matrix": matrix,
            "figure": matrix.figure,
            "tab": "stages",
        },
    )


@login_required
def behaviour(request: HttpRequest) -> HttpResponse:
    """Follow-ups by method versus deals won, per rep (R8.7)."""
    require_perm(request, "analytics", "view")
    form = _filters(request)
    context = _common(request, form, _("Sales behaviour"))
    figures = dashboards.behaviour(context["sel"])
    exported = _export(request, figures)
    if exported is not None:
        return exported
    return render(
        request, "analytics/behaviour.html", {**context, "figures": figures, "tab": "behaviour"}
    )


# --- targets ---------------------------------------------------------------------------------
def _grid(me: User, choice: dict[str, Any]) -> dict[str, Any]:
    """Rows (reps or departments the viewer sees), columns (the periods) and stored values."""
    period, metric, year = choice["period"], choice["metric"], choice["year"]
    dept = choice.get("department")
    starts = targets.period_starts(period, year)
    level = choice["level"]
    if level == targets.LEVEL_REP:
        people = targets.users_in_scope(me).select_related("department")
        if dept is not None:
            people = people.filter(department__path__startswith=dept.path)
        entities = [
            (u.pk, u.display_name, u.department.name if u.department else "") for u in people
        ]
        editable = set(
            targets.users_in_scope(me, "configure").values_list("pk", flat=True)
            if me.can("analytics", "configure")
            else []
        )
        field = "user_id"
    else:
        depts = targets.departments_in_scope(me)
        if dept is not None:
            depts = depts.filter(path__startswith=dept.path)
        base = min((d.path.count("/") for d in depts), default=0)
        entities = [(d.pk, "\u3000" * (d.path.count("/") - base) + d.name, "") for d in depts]
        editable = set(
            targets.departments_in_scope(me, "configure").values_list("pk", flat=True)
            if me.can("analytics", "configure")
            else []
        )
        field = "department_id"
    ids = [pk for pk, _n, _d in entities]
    stored = {
        (getattr(t, field), t.period_start): t.value
        for t in Target.objects.visible_to(me).filter(
            metric=metric, period=period, period_start__in=starts, **{f"{field}__in": ids}
        )
    }
    return {
        "starts": starts,
        "columns": [(s, targets.period_label(period, s)) for s in starts],
        "entities": entities,
        "editable": editable,
        "stored": stored,
        "whole": metric == TargetMetric.NEW_CUSTOMERS,
    }


def _display(value: Any, whole: bool) -> str:
    if value is None:
        return ""
    return f"{value:.0f}" if whole else f"{value:.2f}"


@login_required
def target_grid(request: HttpRequest) -> HttpResponse:
    """The targets grid (R8.6): one metric, the periods of a year, reps or departments. Saving
    needs analytics:configure and saves all cells at once (nothing when any cell is wrong)."""
    require_perm(request, "analytics", "view")
    me = _me(request)
    form = TargetGridForm(request.GET, user=me)
    choice = form.choice()
    grid = _grid(me, choice)
    posted: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        require_perm(request, "analytics", "configure")
        cells: dict[tuple[int, date], Any] = {}
        for key in request.POST:
            if not key.startswith("c-"):
                continue
            value = request.POST.get(key, "")
            parts = key.split("-", 2)
            try:
                entity, start = int(parts[1]), date.fromisoformat(parts[2])
            except (IndexError, ValueError):
                continue
            cells[(entity, start)] = value
            posted[key] = value
        try:
            result = targets.save_grid(
                actor=me,
                metric=choice["metric"],
                period=choice["period"],
                year=choice["year"],
                level=choice["level"],
                cells=cells,
            )
        except ValidationFailed as exc:
            errors = exc.field_errors
            messages.error(request, error_text(exc))
        else:
            messages.success(
                request,
                _("Targets saved: %(created)s added, %(updated)s changed, %(deleted)s removed.")
                % {"created": result.created, "updated": result.updated, "deleted": result.deleted},
            )
            return redirect(request.get_full_path())
    rows = []
    for pk, name, extra in grid["entities"]:
        cells_out = []
        for start, _label in grid["columns"]:
            key = targets.cell_name(pk, start)
            value = posted.get(key, _display(grid["stored"].get((pk, start)), grid["whole"]))
            cells_out.append({"name": key, "value": value, "errors": errors.get(key, [])})
        rows.append(
            {
                "pk": pk,
                "name": name,
                "extra": extra,
                "editable": pk in grid["editable"],
                "cells": cells_out,
            }
        )
    return render(
        request,
        "analytics/targets.html",
        {
            "form": form,
            "choice": choice,
            "columns": grid["columns"],
            "rows": rows,
            "can_edit": any(r["editable"] for r in rows),
            "whole": grid["whole"],
            "metric_label": TargetMetric(choice["metric"]).label,
            "period_label": PeriodKind(choice["period"]).label,
            "crumbs": [(REPORTS, reverse("analytics:dashboard")), (_("Targets"), None)],
            "tab": "targets",
        },
    )
