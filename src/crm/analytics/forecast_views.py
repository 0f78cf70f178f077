"""Pages of the funnel (R8.4) and the forecast (R8.5): filters, figures (chart, table, Excel),
a rep's commit and a manager's adjustment.

Both pages need ``analytics:view``; every figure reads the business models through
``visible_to`` (see ``funnel`` and ``forecast``), so it follows the viewer's data scope; the
Excel export needs ``analytics:export`` (``export_figure``). Writes are one service call each;
their errors are shown as a message on the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.views import require_perm

from . import forecast_services
from .figures import export_figure, page_context
from .forecast import (
    REP_LIMIT,
    Filters,
    Source,
    accuracy_figure,
    accuracy_rows,
    forecast,
    mape,
    period_end,
    period_label,
    product_figure,
    rates_figure,
    rep_figure,
    team_figure,
)
from .forecast_forms import AdjustForm, CommitForm, ForecastFilterForm, FunnelFilterForm
from .funnel import FunnelFilters, funnel_figure


def _crumbs(label: Any) -> list[tuple[Any, Any]]:
    return [(_("Reports"), None), (label, None)]


@login_required
def funnel_page(request: HttpRequest) -> HttpResponse:
    """The sales funnel of a period, pipeline, department or rep."""
    require_perm(request, "analytics", "view")
    me = request.user
    today = timezone.localdate()
    form = FunnelFilterForm(request.GET, user=me, today=today)
    figure = None
    if form.is_valid():
        pipeline = form.chosen_pipeline()
        if pipeline is not None:
            f = FunnelFilters(
                start=form.cleaned_data["start"],
                last=form.cleaned_data["last"],
                pipeline=pipeline,
                department=form.chosen_department(),
                owner=form.chosen_owner(),
            )
            figure = funnel_figure(me, f)
            if request.GET.get("export"):
                require_perm(request, "analytics", "export")
                return export_figure(request, [figure])
    return render(
        request,
        "analytics/funnel.html",
        {
            "form": form,
            "figure": figure,
            "pipeline": form.chosen_pipeline(),
            "start": form.cleaned_data.get("start") if form.is_valid() else None,
            "last": form.cleaned_data.get("last") if form.is_valid() else None,
            **page_context(request),
            "crumbs": _crumbs(_("Sales funnel")),
        },
    )


@login_required
def forecast_page(request: HttpRequest) -> HttpResponse:
    """The forecast of a month or quarter: per rep, team and product, the win rates used, the
    viewer's commit and the accuracy of past snapshots."""
    require_perm(request, "analytics", "view")
    me: Any = request.user
    today = timezone.localdate()
    form = ForecastFilterForm(request.GET, user=me, today=today)
    ctx: dict[str, Any] = {"form": form, "crumbs": _crumbs(_("Forecast")), **page_context(request)}
    if form.is_valid():
        f = Filters(
            kind=form.cleaned_data["period"],
            start=form.cleaned_data["start"],
            owner=form.chosen_owner(),
            department=form.chosen_department(),
            product=(form.cleaned_data.get("product") or "").strip(),
        )
        src = Source(user=me)
        fc = forecast(src, f, known=form.people)
        acc = accuracy_rows(src, f.kind, today, owner=f.owner, department=f.department)
        show_all = request.GET.get("reps") == "all" or bool(request.GET.get("export"))
        everyone = request.GET.copy()
        everyone["reps"] = "all"
        figures = [
            rep_figure(
                fc,
                limit=None if show_all else REP_LIMIT,
                all_url=f"?{everyone.urlencode()}#figure-forecast_reps",
            ),
            team_figure(fc),
            product_figure(fc),
            rates_figure(fc),
            accuracy_figure(acc),
        ]
        if request.GET.get("export"):
            require_perm(request, "analytics", "export")
            return export_figure(request, figures)
        mine = next((r["commit"] for r in fc.reps if r["owner_id"] == me.pk), None)
        may_adjust = forecast_services.may_adjust(me)
        ctx.update(
            {
                "fc": fc,
                "f": f,
                "label": period_label(f.kind, f.start),
                "figures": {fig.key: fig for fig in figures},
                "mape": mape(acc),
                "fallback": [r for r in fc.rates if not r.from_history],
                "mine": mine,
                "can_commit": period_end(f.kind, f.start) > today,
                "commit_form": CommitForm(
                    initial={
                        "period": f.kind,
                        "period_start": f.start,
                        "committed": mine.committed if mine else "",
                        "best_case": mine.best_case if mine and mine.best_case is not None else "",
                        "note": mine.note if mine else "",
                    }
                ),
                "adjustable": [
                    r
                    for r in fc.reps
                    if may_adjust and r["commit"] is not None and r["owner_id"] != me.pk
                ],
                "start_choices": form.start_choices(),
            }
        )
    return render(request, "analytics/forecast.html", ctx)


def _back(request: HttpRequest, kind: str = "", start: Any = None) -> str:
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    query = QueryDict(mutable=True)
    if kind:
        query["period"] = kind
    if start:
        query["start"] = str(start)
    return f"{reverse('analytics:forecast')}?{query.urlencode()}"


@login_required
@require_POST
def commit_view(request: HttpRequest) -> HttpResponse:
    """A rep commits their own number for a period."""
    require_perm(request, "analytics", "view")
    form = CommitForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(
            _back(request, request.POST.get("period", ""), request.POST.get("period_start"))
        )
    data = form.cleaned_data
    try:
        forecast_services.commit(
            actor=request.user,
            period=data["period"],
            start=data["period_start"],
            committed=data["committed"],
            best_case=data.get("best_case"),
            note=data.get("note", ""),
        )
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Your forecast commit was saved."))
    return redirect(_back(request, data["period"], data["period_start"]))


@login_required
@require_POST
def adjust_view(request: HttpRequest, commit_id: int) -> HttpResponse:
    """A manager adjusts a rep's commit (404 outside their scope)."""
    require_perm(request, "analytics", "view")
    commit = forecast_services.get_commit(request.user, commit_id)
    form = AdjustForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(_back(request, commit.period, commit.period_start))
    try:
        forecast_services.adjust(
            actor=request.user,
            commit_id=commit.pk,
            adjusted=form.cleaned_data["adjusted"],
            note=form.cleaned_data["adjusted_note"],
        )
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The commit was adjusted."))
    return redirect(_back(request, commit.period, commit.period_start))
