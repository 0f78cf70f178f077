"""Pages of the leads module (R2.1–R2.4): the lead lists (all, mine, total pool, a pool) with
filters and bulk actions, the lead page with its actions and history, create/edit, conversion
with duplicate candidates, pools and their members, web forms, assignment rules; and the
public web form (no login, embeddable).

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (out of scope answers 404);
every write is one service call whose errors are shown on the page.
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.core import custom_field_filters as cf_params
from crm.core import custom_fields
from crm.core.api import apply_sort
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.forms import apply_domain_error
from crm.core.paging import CappedPaginator
from crm.core.scoping import get_scoped_or_404
from crm.core.views import history_context, require_perm
from crm.customers.models import Customer
from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

from . import scoring_views, selectors, services, webform
from .choices import CONDITION_FIELDS, OPEN_STATUSES, LeadStatus
from .filters import LEAD_SORTS, LeadFilter
from .forms import (
    AssignForm,
    BulkForm,
    ConvertForm,
    InvalidForm,
    LeadFilterForm,
    LeadForm,
    PoolForm,
    PoolMembersForm,
    RuleForm,
    WebLeadForm,
    colleagues,
)
from .models import AssignmentRule, Lead, LeadPool

LEADS = gettext_lazy("Leads")
PAGE_SIZE = 50


def _viewer(request: HttpRequest) -> User:
    require_perm(request, "leads", "view")
    return request.user  # type: ignore[return-value]


def _configurer(request: HttpRequest) -> User:
    require_perm(request, "leads", "configure")
    return request.user  # type: ignore[return-value]


def _form_error(form: Any, exc: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Not-found errors go to the 404 page; the rest belong on the form."""
    if exc.status == 404:
        raise exc
    apply_domain_error(form, exc, aliases)


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _labels(user: User, kind: str) -> dict[str, str]:
    return dict(dictionaries.choices(user.org_id, kind, include_inactive=True))  # type: ignore[arg-type]


# --- Lists ---------------------------------------------------------------------------------------
def _bulk_actions(user: User, *, pool: LeadPool | None = None) -> list[tuple[str, Any]]:
    access = selectors.pool_access(user)
    keys: list[str] = []
    if access.configure:
        keys = ["distribute", "assign", "invalid", "rules"]
    else:
        if (pool is not None and access.can_manage(pool.pk)) or user.can("leads", "transfer"):
            keys.append("assign")
        if user.can("leads", "edit"):
            keys.append("invalid")
    return [(k, label) for k, label in BulkForm.ACTIONS if k in keys]


def _lead_list(
    request: HttpRequest,
    qs: Any,
    *,
    title: Any,
    tab: str,
    pool: LeadPool | None = None,
    crumbs: list[tuple[Any, str | None]] | None = None,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    filters = LeadFilter.from_query(request.GET)
    qs = filters.apply(qs.select_related("pool", "owner"), user)
    custom_q, custom_problem = custom_fields.list_filter(user, "lead", request.GET)  # H-CF
    if custom_problem:
        qs = qs.none()
    elif custom_q is not None:
        qs = qs.filter(custom_q)
    cf_problems: list[str] = []  # H-PLAT: the cf_<key> filters
    qs = cf_params.filter_for_page(user, "lead", request.GET, qs, cf_problems)
    try:
        qs = apply_sort(qs, request.GET.get("sort"), LEAD_SORTS, ["-created_at", "-pk"])
    except ValidationFailed:
        qs = qs.order_by("-created_at", "-pk")
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = _labels(user, DictionaryKind.SOURCE)
    custom_columns = custom_fields.list_columns(user, "lead")
    custom_cells = custom_fields.column_cells(user, custom_columns, page) if custom_columns else {}
    for lead in page:
        lead.source_label = labels.get(lead.source, lead.source)
        lead.custom_cells = custom_cells.get(lead.pk, [])
    bulk = BulkForm(user=user, initial={"next": request.get_full_path()})
    return render(
        request,
        "leads/lead_list.html",
        {
            "page": page,
            "title": title,
            "tab": tab,
            "pool": pool,
            "filter_form": LeadFilterForm(request.GET or None, user=user),
            "cf_problems": cf_problems,
            "score_sort": scoring_views.score_sort(request),  # H-LSCORE
            "custom_columns": custom_columns,
            "custom_problem": custom_problem,
            "bulk_form": bulk,
            "bulk_actions": _bulk_actions(user, pool=pool),
            "can_create": user.can("leads", "create"),
            "can_configure": user.can("leads", "configure"),
            "crumbs": crumbs or [(LEADS, None), (title, None)],
        },
    )


@login_required
def lead_list(request: HttpRequest) -> HttpResponse:
    """Every lead the user may see (own, in scope, and through the pools)."""
    user = _viewer(request)
    return _lead_list(request, Lead.objects.visible_to(user), title=_("All leads"), tab="all")


@login_required
def my_leads(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    qs = Lead.objects.visible_to(user).filter(owner=user)
    return _lead_list(request, qs, title=_("My leads"), tab="mine")


@login_required
def total_pool(request: HttpRequest) -> HttpResponse:
    """Marketing's total pool: every lead arriving from every channel."""
    user = _configurer(request)
    pool = services.total_pool(user.org_id)  # type: ignore[arg-type]
    qs = Lead.objects.visible_to(user).filter(pool=pool)
    return _lead_list(request, qs, title=_("Total pool"), tab="total", pool=pool)


def _pool_for(request: HttpRequest, pk: int) -> LeadPool:
    """A pool the user works with (manager, member, or marketing); else 404."""
    user: User = request.user  # type: ignore[assignment]
    pool = get_scoped_or_404(LeadPool, user, pk)
    access = selectors.pool_access(user)
    if not (access.configure or pool.pk in access.managed or pool.pk in access.member):
        raise NotFound()
    return pool


@login_required
def pool_leads(request: HttpRequest, pk: int) -> HttpResponse:
    """The leads of one pool the user manages or works in."""
    user = _viewer(request)
    pool = _pool_for(request, pk)
    qs = Lead.objects.visible_to(user).filter(pool=pool)
    return _lead_list(
        request,
        qs,
        title=pool.name,
        tab="pool",
        pool=pool,
        crumbs=[(LEADS, None), (_("Sub-pools"), reverse("leads:pool_list")), (pool.name, None)],
    )


@login_required
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    """Distribute, assign, invalidate or run the rules on the selected leads (all or nothing)."""
    user = _viewer(request)
    form = BulkForm(request.POST, user=user)
    back = _next(request, reverse("leads:lead_list"))
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label or ''} {error}".strip())
        return redirect(back)
    data = form.cleaned_data
    ids = data["ids"]
    leads = list(Lead.objects.visible_to(user).select_related("pool").filter(pk__in=ids))
    if len(leads) != len(set(ids)):
        raise NotFound()
    try:
        if data["action"] == "distribute":
            if data["pool"] is None:
                raise ValidationFailed(_("Choose the pool."))
            n = services.distribute_to_subpool(actor=user, leads=leads, pool=data["pool"])
        elif data["action"] == "assign":
            if data["to_user"] is None:
                raise ValidationFailed(_("Choose the rep."))
            n = services.assign_leads(actor=user, leads=leads, to_user=data["to_user"])
        elif data["action"] == "invalid":
            n = services.bulk_mark_invalid(
                actor=user, leads=leads, reason=data["reason"], note=data["note"]
            )
        else:
            n = services.reapply_rules(actor=user, leads=leads)
    except DomainError as exc:
        if exc.status == 404:
            raise
        details = "; ".join(str(m) for msgs in exc.field_errors.values() for m in msgs)
        messages.error(request, f"{exc.message} {details}".strip())
    else:
        messages.success(request, _("Done: %(n)d leads.") % {"n": n})
    return redirect(back)


# --- One lead ------------------------------------------------------------------------------------
def _lead(request: HttpRequest, pk: int) -> Lead:
    return get_scoped_or_404(
        Lead.objects.visible_to(request.user).select_related(
            "pool", "owner", "assigned_by_rule", "converted_customer", "converted_contact"
        ),
        request.user,
        pk,
    )


def _actions(user: User, lead: Lead) -> dict[str, bool]:
    """Which buttons the lead page shows (the services decide again on POST)."""
    access = selectors.pool_access(user)
    editable = (
        user.can("leads", "edit")
        and Lead.objects.visible_to(user, "edit").filter(pk=lead.pk).exists()
    )
    writable = editable and (lead.owner_id is not None or access.can_manage(lead.pool_id))
    is_open = lead.status in OPEN_STATUSES
    return {
        "claim": is_open
        and lead.owner_id is None
        and user.can("leads", "edit")
        and access.can_claim(lead.pool_id),
        "release": is_open and lead.owner_id is not None and editable,
        "contacted": writable and lead.status == LeadStatus.NEW,
        "qualified": writable and lead.status in (LeadStatus.NEW, LeadStatus.CONTACTED),
        "invalid": writable and is_open,
        "reopen": writable and lead.status == LeadStatus.INVALID,
        "convert": writable and lead.status == LeadStatus.QUALIFIED and lead.owner_id is not None,
        "assign": is_open
        and (
            access.can_manage(lead.pool_id)
            or (lead.owner_id is not None and user.can("leads", "transfer"))
        ),
        "edit": writable and lead.status != LeadStatus.CONVERTED,
        "delete": user.can("leads", "delete")
        and lead.status != LeadStatus.CONVERTED
        and (lead.owner_id is not None or access.can_manage(lead.pool_id)),
    }


def _assignable(user: User, lead: Lead) -> Any:
    """Whom the assign form offers: anyone for marketing, else the pool's people."""
    qs = colleagues(user)
    if selectors.pool_access(user).configure or user.can("leads", "transfer"):
        return qs
    pool = lead.pool
    ids = {u.pk for u in pool.members.all()} | {u.pk for u in pool.managers.all()}
    return qs.filter(pk__in=ids)


@login_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    lead = _lead(request, pk)
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "score_card": scoring_views.score_card(user, lead),  # H-LSCORE
            "actions": _actions(user, lead),
            "invalid_form": InvalidForm(user=user),
            "assign_form": AssignForm(user=user, queryset=_assignable(user, lead)),
            "source_label": dictionaries.label(user.org_id, DictionaryKind.SOURCE, lead.source),  # type: ignore[arg-type]
            "industry_label": dictionaries.label(
                user.org_id,  # type: ignore[arg-type]
                DictionaryKind.INDUSTRY,
                lead.industry,
            ),
            "invalid_label": dictionaries.label(
                user.org_id,  # type: ignore[arg-type]
                DictionaryKind.INVALID_REASON,
                lead.invalid_reason,
            ),
            **history_context(lead),
            "crumbs": [(LEADS, reverse("leads:lead_list")), (lead.display_name, None)],
        },
    )


@login_required
def lead_create(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    require_perm(request, "leads", "create")
    if request.method == "POST":
        form = LeadForm(request.POST, user=user)
        if form.is_valid():
            try:
                lead = services.create_lead(
                    actor=user,
                    data=form.lead_data(),
                    pool=form.cleaned_data.get("pool"),
                    owner=user if form.cleaned_data.get("assign_to_me") else None,
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("The lead was created. %(note)s") % {"note": lead.assignment_note},
                )
                if Lead.objects.visible_to(user).filter(pk=lead.pk).exists():
                    return redirect("leads:lead_detail", pk=lead.pk)
                return redirect("leads:my_leads")
    else:
        form = LeadForm(user=user)
    return render(
        request,
        "leads/lead_form.html",
        {
            "form": form,
            "lead": None,
            "crumbs": [(LEADS, reverse("leads:lead_list")), (_("New lead"), None)],
        },
    )


@login_required
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _viewer(request)
    lead = _lead(request, pk)
    if request.method == "POST":
        form = LeadForm(  # H-FIELD: the initial values keep the protected (disabled) fields
            request.POST, user=user, creating=False, initial=LeadForm.initial_for(lead)
        )
        if form.is_valid():
            try:
                services.update_lead(
                    actor=user,
                    lead=lead,
                    data=form.lead_data(),
                    version=form.cleaned_data.get("version"),
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("The lead was saved."))
                return redirect("leads:lead_detail", pk=lead.pk)
    else:
        form = LeadForm(user=user, creating=False, initial=LeadForm.initial_for(lead))
    return render(
        request,
        "leads/lead_form.html",
        {
            "form": form,
            "lead": lead,
            "crumbs": [
                (LEADS, reverse("leads:lead_list")),
                (lead.display_name, reverse("leads:lead_detail", args=[lead.pk])),
                (_("Edit"), None),
            ],
        },
    )


LEAD_ACTIONS = {
    "claim",
    "release",
    "contacted",
    "qualified",
    "invalid",
    "reopen",
    "assign",
    "delete",
}


@login_required
@require_POST
def lead_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One button of the lead page: claim, release, contacted, qualified, invalid, reopen,
    assign or delete."""
    user = _viewer(request)
    if action not in LEAD_ACTIONS:
        raise NotFound()
    lead = _lead(request, pk)
    back = _next(request, reverse("leads:lead_detail", args=[lead.pk]))
    try:
        if action == "claim":
            services.claim_lead(actor=user, lead=lead)
            message = _("You claimed the lead.")
        elif action == "release":
            services.release_lead(actor=user, lead=lead, reason=request.POST.get("reason", ""))
            message = _("The lead is back in its pool.")
        elif action == "contacted":
            services.mark_contacted(actor=user, lead=lead)
            message = _("Marked as contacted.")
        elif action == "qualified":
            services.mark_qualified(actor=user, lead=lead)
            message = _("Marked as qualified.")
        elif action == "invalid":
            form = InvalidForm(request.POST, user=user)
            reason = form.data.get("reason", "")
            services.mark_invalid(
                actor=user, lead=lead, reason=reason, note=form.data.get("note", "")
            )
            message = _("Marked as invalid.")
        elif action == "reopen":
            services.reopen_lead(actor=user, lead=lead)
            message = _("The lead was reopened.")
        elif action == "assign":
            assign = AssignForm(request.POST, user=user, queryset=_assignable(user, lead))
            if not assign.is_valid():
                raise ValidationFailed(_("Choose the rep."))
            services.assign_leads(actor=user, leads=[lead], to_user=assign.cleaned_data["to_user"])
            message = _("The lead was assigned.")
        else:
            services.delete_lead(actor=user, lead=lead)
            messages.success(request, _("The lead was deleted."))
            return redirect("leads:lead_list")
    except DomainError as exc:
        if exc.status == 404:
            raise
        details = "; ".join(str(m) for msgs in exc.field_errors.values() for m in msgs)
        messages.error(request, f"{exc.message} {details}".strip())
    else:
        messages.success(request, message)
    if not Lead.objects.visible_to(user).filter(pk=lead.pk).exists():
        return redirect("leads:my_leads")
    return redirect(back)


@login_required
def lead_convert(request: HttpRequest, pk: int) -> HttpResponse:
    """Convert a qualified lead: duplicate candidates first, then link one or create new."""
    from crm.customers.services import DuplicateCustomer

    user = _viewer(request)
    lead = _lead(request, pk)
    candidates = selectors.conversion_candidates(user, lead)
    if request.method == "POST":
        form = ConvertForm(request.POST, candidates=candidates)
        if form.is_valid():
            target = form.cleaned_data["target"]
            customer = (
                None if target == "new" else get_scoped_or_404(Customer, user, target, "edit")
            )
            try:
                services.convert_lead(
                    actor=user,
                    lead=lead,
                    customer=customer,
                    create_opportunity=form.cleaned_data["create_opportunity"],
                    allow_duplicate=form.cleaned_data["allow_duplicate"],
                )
            except DuplicateCustomer as exc:
                candidates = exc.candidates
                form = ConvertForm(request.POST, candidates=candidates)
                form.is_valid()
                form.add_error(None, str(exc.message))
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("The lead was converted."))
                return redirect("leads:lead_detail", pk=lead.pk)
    else:
        form = ConvertForm(candidates=candidates)
    return render(
        request,
        "leads/lead_convert.html",
        {
            "lead": lead,
            "form": form,
            "candidates": candidates,
            "opportunity_available": bool(services.conversion_hooks),
            "actions": _actions(user, lead),
            "crumbs": [
                (LEADS, reverse("leads:lead_list")),
                (lead.display_name, reverse("leads:lead_detail", args=[lead.pk])),
                (_("Convert"), None),
            ],
        },
    )


# --- Pools ---------------------------------------------------------------------------------------
@login_required
def pool_list(request: HttpRequest) -> HttpResponse:
    user = _viewer(request)
    access = selectors.pool_access(user)
    pools = selectors.pools_for(user).prefetch_related("managers", "members")
    return render(
        request,
        "leads/pool_list.html",
        {
            "pools": pools,
            "access": access,
            "crumbs": [(LEADS, None), (_("Sub-pools"), None)],
        },
    )


def _pool_form_page(request: HttpRequest, pool: LeadPool | None) -> HttpResponse:
    user = _configurer(request)
    if request.method == "POST":
        form = PoolForm(request.POST, user=user)
        if form.is_valid():
            d = form.cleaned_data
            try:
                saved = services.save_pool(
                    actor=user,
                    pool=pool,
                    data={
                        k: d[k]
                        for k in (
                            "name",
                            "region",
                            "product_line",
                            "description",
                            "is_active",
                            "form_enabled",
                        )
                    },
                    managers=list(d["managers"]),
                    members=list(d["members"]),
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Pool “%(name)s” was saved.") % {"name": saved.name})
                return redirect("leads:pool_list")
    elif pool is not None:
        form = PoolForm(
            user=user,
            initial={
                "name": pool.name,
                "region": pool.region,
                "product_line": pool.product_line,
                "description": pool.description,
                "is_active": pool.is_active,
                "form_enabled": pool.form_enabled,
                "managers": [u.pk for u in pool.managers.all()],
                "members": [u.pk for u in pool.members.all()],
            },
        )
    else:
        form = PoolForm(user=user)
    return render(
        request,
        "leads/pool_form.html",
        {
            "form": form,
            "pool": pool,
            "crumbs": [
                (LEADS, None),
                (_("Sub-pools"), reverse("leads:pool_list")),
                (pool.name if pool else _("New sub-pool"), None),
            ],
        },
    )


@login_required
def pool_create(request: HttpRequest) -> HttpResponse:
    return _pool_form_page(request, None)


@login_required
def pool_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _configurer(request)
    return _pool_form_page(request, get_scoped_or_404(LeadPool, request.user, pk, "configure"))


@login_required
def pool_members(request: HttpRequest, pk: int) -> HttpResponse:
    """A pool's managers choose its members."""
    user = _viewer(request)
    pool = _pool_for(request, pk)
    if not selectors.pool_access(user).can_manage(pool.pk):
        raise NotFound()
    if request.method == "POST":
        form = PoolMembersForm(request.POST, user=user)
        if form.is_valid():
            try:
                services.set_pool_members(
                    actor=user, pool=pool, members=list(form.cleaned_data["members"])
                )
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("The members were saved."))
                return redirect("leads:pool_list")
    else:
        form = PoolMembersForm(user=user, initial={"members": [u.pk for u in pool.members.all()]})
    return render(
        request,
        "leads/pool_members.html",
        {
            "form": form,
            "pool": pool,
            "crumbs": [
                (LEADS, None),
                (_("Sub-pools"), reverse("leads:pool_list")),
                (pool.name, reverse("leads:pool_leads", args=[pool.pk])),
                (_("Members"), None),
            ],
        },
    )


@login_required
@require_POST
def pool_form_token(request: HttpRequest, pk: int) -> HttpResponse:
    user = _configurer(request)
    pool = get_scoped_or_404(LeadPool, user, pk, "configure")
    services.regenerate_form_token(actor=user, pool=pool)
    messages.success(request, _("The web form has a new address; update your embeds."))
    return redirect("leads:webforms")


@login_required
def webforms(request: HttpRequest) -> HttpResponse:
    """Every pool's public form: its address and the snippet to embed it."""
    user = _configurer(request)
    pools = LeadPool.objects.visible_to(user, "configure").order_by("kind", "name")
    rows = []
    for pool in pools:
        url = request.build_absolute_uri(reverse("leads:webform", args=[pool.form_token]))
        snippet = (
            f'<iframe src="{url}?utm_source=website" width="100%" height="640" '
            f'style="border:0" title="{pool.form_title or pool.name}"></iframe>'
        )
        rows.append({"pool": pool, "url": url, "snippet": snippet})
    return render(
        request,
        "leads/webforms.html",
        {"rows": rows, "crumbs": [(LEADS, None), (_("Web forms"), None)]},
    )


# --- Rules ---------------------------------------------------------------------------------------
@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    user = _configurer(request)
    rules: list[AssignmentRule] = list(
        AssignmentRule.objects.visible_to(user, "configure")
        .select_related("fixed_user", "target_pool")
        .prefetch_related("eligible_users")
        .order_by("order", "pk")
    )
    labels = {
        "industry": _labels(user, DictionaryKind.INDUSTRY),
        "source": _labels(user, DictionaryKind.SOURCE),
    }
    names = {
        "region": _("Region"),
        "industry": _("Industry"),
        "source": _("Source"),
        "product_line": _("Product line"),
    }
    for rule in rules:
        conditions = rule.conditions or {}
        rule.condition_rows = [  # type: ignore[attr-defined]
            (
                names[key],
                ", ".join(labels.get(key, {}).get(v, v) for v in conditions[key]),
            )
            for key in CONDITION_FIELDS
            if conditions.get(key)
        ]
        if conditions.get("min_score") is not None or conditions.get("max_score") is not None:
            rule.condition_rows.append(  # type: ignore[attr-defined]
                (
                    _("Score"),
                    f"{conditions.get('min_score', '…')} – {conditions.get('max_score', '…')}",
                )
            )
    return render(
        request,
        "leads/rule_list.html",
        {"rules": rules, "crumbs": [(LEADS, None), (_("Assignment rules"), None)]},
    )


def _rule_form_page(request: HttpRequest, rule: AssignmentRule | None) -> HttpResponse:
    user = _configurer(request)
    if request.method == "POST":
        form = RuleForm(request.POST, user=user)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.save_rule(
                    actor=user,
                    rule=rule,
                    data=form.rule_data(),
                    eligible_users=list(d["eligible_users"]),
                    fixed_user=d["fixed_user"],
                    target_pool=d["target_pool"],
                )
            except DomainError as exc:
                _form_error(form, exc, {"conditions": "regions"})
            else:
                messages.success(request, _("The assignment rule was saved."))
                return redirect("leads:rule_list")
    else:
        form = RuleForm(user=user, initial=RuleForm.initial_for(rule) if rule else None)
    return render(
        request,
        "leads/rule_form.html",
        {
            "form": form,
            "rule": rule,
            "crumbs": [
                (LEADS, None),
                (_("Assignment rules"), reverse("leads:rule_list")),
                (rule.name if rule else _("New rule"), None),
            ],
        },
    )


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form_page(request, None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _configurer(request)
    return _rule_form_page(
        request, get_scoped_or_404(AssignmentRule, request.user, pk, "configure")
    )


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _configurer(request)
    rule = get_scoped_or_404(AssignmentRule, user, pk, "configure")
    services.delete_rule(actor=user, rule=rule)
    messages.success(request, _("The assignment rule was deleted."))
    return redirect("leads:rule_list")


# --- The public web form -------------------------------------------------------------------------
def _webform_page(
    request: HttpRequest, pool: LeadPool, template: str, status: int = 200, **context: Any
) -> HttpResponse:
    return render(
        request,
        f"leads/{template}",
        {"pool": pool, "title": pool.form_title or pool.name, **context},
        status=status,
    )


@csrf_exempt  # justified in crm.leads.webform: no session, cookie-less signed stamp instead
@xframe_options_exempt
@csp_replace({"frame-ancestors": ["*"]})  # type: ignore[arg-type]
def web_form(request: HttpRequest, token: str) -> HttpResponse:
    """The public, embeddable form of a pool (no login). GET shows it, POST creates a lead."""
    pool = webform.pool_for_token(token)
    query = request.GET if request.method == "GET" else request.POST
    hidden = webform.hidden_fields(
        request.GET, request.META.get("HTTP_REFERER", "") if request.method == "GET" else ""
    )
    if request.method != "POST":
        return _webform_page(
            request,
            pool,
            "webform.html",
            form=WebLeadForm(),
            hidden=hidden,
            stamp=webform.form_stamp(pool),
            honeypot=webform.HONEYPOT,
        )
    hidden = [
        (k, query.get(k, ""))
        for k in query
        if k not in WebLeadForm.base_fields and k not in webform.PLUMBING
    ]
    if webform.over_limit(pool, webform.client_ip(request)):
        return _webform_page(request, pool, "webform_limited.html", status=429)
    if webform.is_spam(request.POST):
        return _webform_page(request, pool, "webform_done.html")
    form = WebLeadForm(request.POST)
    if not webform.stamp_is_valid(pool, request.POST.get(webform.STAMP, "")):
        form.is_valid()
        form.add_error(None, _("This form has expired. Please check your entries and send again."))
    elif form.is_valid():
        try:
            webform.submit(pool, request.POST)
        except DomainError as exc:
            _form_error(form, exc, {"contact_name": "name", "notes": "message"})
        else:
            return _webform_page(request, pool, "webform_done.html")
    return _webform_page(
        request,
        pool,
        "webform.html",
        status=400,
        form=form,
        hidden=hidden,
        stamp=webform.form_stamp(pool),
        honeypot=webform.HONEYPOT,
    )
