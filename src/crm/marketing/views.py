"""Pages of the marketing module (R9.3): the campaign list with its attribution figures, a
campaign's page (its leads and funnel), the form, status changes, deletion, the comparison
across campaigns and quarters, and the public campaign form link. Reads go through
``visible_to``; writes call ``services``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError, NotFound
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import User

from . import selectors, services
from .choices import CampaignStatus
from .forms import CampaignFilterForm, CampaignForm
from .models import Campaign

PAGE_SIZE = 25
MARKETING = gettext_lazy("Marketing")
CAMPAIGNS = gettext_lazy("Campaigns")
STATUS_COLORS = {
    CampaignStatus.PLANNED: "secondary",
    CampaignStatus.ACTIVE: "green",
    CampaignStatus.COMPLETED: "blue",
    CampaignStatus.CANCELLED: "red",
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _campaign(request: HttpRequest, pk: int, action: str = "view") -> Campaign:
    require_perm(request, "marketing", "view")
    campaign: Campaign = get_scoped_or_404(
        Campaign.objects.visible_to(_me(request)).select_related("owner", "form_pool"),
        _me(request),
        pk,
    )
    require_perm(request, "marketing", action)
    return campaign


def _filters(request: HttpRequest) -> tuple[CampaignFilterForm, selectors.CampaignFilter, list]:
    form = CampaignFilterForm(request.GET or None)
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        return form, selectors.CampaignFilter(), problems
    d: dict[str, Any] = form.cleaned_data if form.is_bound else {}
    start: date | None = d.get("start")
    end: date | None = d.get("end")
    if start and end and end < start:
        problems.append(_("The end date is before the start date."))
        start = end = None
    return (
        form,
        selectors.CampaignFilter(
            q=d.get("q") or "",
            campaign_type=d.get("campaign_type") or "",
            status=d.get("status") or "",
            start=start,
            end=end,
        ),
        problems,
    )


def _export(request: HttpRequest, figures: list[Any]) -> HttpResponse:
    """``?export=<figure key>``: the figure's table as Excel (or CSV), for marketing:export."""
    from crm.imports.exporters import export_response

    figure = next((f for f in figures if f.key == request.GET.get("export")), None)
    if figure is None:
        raise NotFound()
    fmt = "csv" if request.GET.get("format") == "csv" else "xlsx"
    rows = figure.export_rows()
    response: Any = export_response(
        actor=_me(request),
        module="marketing",
        resource=f"marketing.{figure.key}",
        model_label="marketing.Campaign",
        fmt=fmt,
        columns=[str(c.label) for c in figure.columns],
        rows=lambda: rows,
        count=len(rows),
        filters=dict(request.GET.items()),
        basename=f"campaign-{figure.key}",
    )
    return response


def _figure_context(request: HttpRequest) -> dict[str, Any]:
    query = request.GET.copy()
    query.pop("export", None)
    query.pop("format", None)
    me = _me(request)
    return {
        "can_export": me.can("marketing", "export"),
        "export_query": query.urlencode(),
        "sees_opportunities": me.can("opportunities", "view"),
    }


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Campaigns with their figures (leads, converted, won, cost, ROI), filtered."""
    require_perm(request, "marketing", "view")
    me = _me(request)
    form, f, problems = _filters(request)
    qs = selectors.apply_filter(selectors.campaigns(me), f).order_by("-start_date", "-pk")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    ids = [c.pk for c in page]
    figures = {
        r["id"]: r for r in selectors.attribution(me, selectors.campaigns(me).filter(pk__in=ids))
    }
    rows = [
        {
            "campaign": c,
            "figures": figures.get(c.pk),
            "status_color": STATUS_COLORS.get(CampaignStatus(c.status), "secondary"),
        }
        for c in page
    ]
    return render(
        request,
        "marketing/campaign_list.html",
        {
            "rows": rows,
            "page": page,
            "filter_form": form,
            "problems": problems,
            "can_create": me.can("marketing", "create"),
            "crumbs": [(MARKETING, None), (CAMPAIGNS, None)],
            **_figure_context(request),
        },
    )


@login_required
def comparison(request: HttpRequest) -> HttpResponse:
    """Attribution across campaigns and quarters: table, chart and Excel export."""
    require_perm(request, "marketing", "view")
    me = _me(request)
    form, f, problems = _filters(request)
    data = selectors.comparison_figures(me, selectors.apply_filter(selectors.campaigns(me), f))
    if request.GET.get("export"):
        return _export(request, data["figures"])
    return render(
        request,
        "marketing/comparison.html",
        {
            **data,
            **_figure_context(request),
            "filter_form": form,
            "problems": problems,
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("marketing:list")),
                (_("Attribution"), None),
            ],
        },
    )


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A campaign: its plan, figures (funnel with click-through), form link and latest leads."""
    campaign = _campaign(request, pk)
    me = _me(request)
    data = selectors.campaign_figures(me, campaign)
    if request.GET.get("export"):
        return _export(request, data["figures"])
    leads = (
        selectors.visible_leads(me)
        .filter(campaign=campaign)
        .select_related("owner", "pool")
        .order_by("-created_at", "-pk")[:20]
    )
    form_url = ""
    if campaign.form_enabled:
        form_url = request.build_absolute_uri(
            reverse("marketing:webform", args=[campaign.form_token])
        )
    return render(
        request,
        "marketing/campaign_detail.html",
        {
            "campaign": campaign,
            **data,
            **_figure_context(request),
            "leads": leads,
            "leads_url": selectors.leads_url(campaign.pk),
            "form_url": form_url,
            "status_color": STATUS_COLORS.get(CampaignStatus(campaign.status), "secondary"),
            "moves": [
                (s, CampaignStatus(s).label) for s in sorted(services.TRANSITIONS[campaign.status])
            ],
            "can_edit": me.can("marketing", "edit"),
            "can_delete": me.can("marketing", "delete"),
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("marketing:list")),
                (campaign.name, None),
            ],
        },
    )


def _form_page(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    me = _me(request)
    initial: dict[str, Any] = {}
    if campaign is not None:
        initial = {
            key: getattr(campaign, key)
            for key in [*services.CAMPAIGN_FIELDS, "owner", "form_pool", "version"]
        }
    form = CampaignForm(request.POST or None, initial=initial, user=me)
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        owner, pool, version = d.pop("owner"), d.pop("form_pool"), d.pop("version")
        d["budget"] = d.get("budget") or 0
        d["actual_cost"] = d.get("actual_cost") or 0
        try:
            if campaign is None:
                saved = services.create_campaign(actor=me, data=d, owner=owner, form_pool=pool)
                messages.success(request, _("The campaign was created."))
            else:
                saved = services.update_campaign(
                    actor=me,
                    campaign=campaign,
                    data=d,
                    version=version,
                    owner=owner,
                    form_pool=pool,
                )
                messages.success(request, _("The campaign was saved."))
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            return redirect("marketing:detail", pk=saved.pk)
    title = campaign.name if campaign else _("New campaign")
    return render(
        request,
        "marketing/campaign_form.html",
        {
            "form": form,
            "campaign": campaign,
            "crumbs": [(MARKETING, None), (CAMPAIGNS, reverse("marketing:list")), (title, None)],
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, "marketing", "create")
    return _form_page(request, None)


@login_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, _campaign(request, pk, "edit"))


@login_required
@require_POST
def campaign_status(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "edit")
    try:
        services.set_status(
            actor=_me(request),
            campaign=campaign,
            status=request.POST.get("status", ""),
            version=_version(request),
        )
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The campaign's status was changed."))
    return redirect("marketing:detail", pk=pk)


@login_required
@require_POST
def campaign_form_token(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "edit")
    services.regenerate_form_token(actor=_me(request), campaign=campaign)
    messages.success(request, _("The campaign form has a new address; the old one stopped."))
    return redirect("marketing:detail", pk=pk)


@login_required
@require_POST
def campaign_delete(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "delete")
    try:
        services.delete_campaign(actor=_me(request), campaign=campaign)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        return redirect("marketing:detail", pk=pk)
    messages.success(request, _("The campaign was deleted."))
    return redirect("marketing:list")


def _version(request: HttpRequest) -> int | None:
    text = (request.POST.get("version") or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def web_form(request: HttpRequest, token: str) -> HttpResponse:
    """The public campaign form link (no login): it opens the web form of the campaign's pool
    (``/leads/form/<pool token>/``, with its honeypot, signed stamp and rate limits) carrying
    the campaign's marker and tracking parameters, so the lead arrives with the campaign.
    Any query-string attribute of the link (``utm_content``…) is passed on."""
    campaign = services.campaign_for_form_token(token)
    pool = services.form_target(campaign)
    params: dict[str, str] = {
        k: str(v) for k, v in request.GET.items() if k != services.FORM_MARKER and v
    }
    params[services.FORM_MARKER] = campaign.form_token
    if campaign.utm_source and "utm_source" not in params:
        params["utm_source"] = campaign.utm_source
    if campaign.utm_campaign and "utm_campaign" not in params:
        params["utm_campaign"] = campaign.utm_campaign
    target = reverse("leads:webform", args=[pool.form_token]) + "?" + urlencode(params)
    return HttpResponseRedirect(target)
