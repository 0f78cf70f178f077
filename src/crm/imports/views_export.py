"""Exports of the lists (R10.3): the customer list, the opportunity list and the lead lists,
exactly as the user sees them (tab or query, filters, sort and chosen columns), as CSV or
XLSX (``?export=csv|xlsx`` plus the list's own query string).

The rows are built by the lists' own code (their filter, sort, column and cell helpers are
imported, not copied), read through the scoped query layer in chunks and streamed, so a
million rows use constant memory. A download needs the module's export permission and is
recorded in the audit trail (``export.downloaded``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import custom_field_filters as cf_params
from crm.core import custom_fields as cf
from crm.core.views import require_perm
from crm.org.models import User

from .exporters import export_response

CHUNK_ROWS = 2000
#: query parameters that are not part of what the list shows
NOT_FILTERS = {"export", "page", "size"}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _format(request: HttpRequest) -> str:
    return "xlsx" if (request.GET.get("export") or "").lower() == "xlsx" else "csv"


def _filters(request: HttpRequest) -> dict[str, Any]:
    """What the list was filtered by, for the audit trail."""
    return {
        key: values if len(values) > 1 else values[0]
        for key, values in request.GET.lists()
        if key not in NOT_FILTERS
    }


def flat(key: str, value: Any) -> Any:
    """A list cell as one spreadsheet value (the lists show some cells as tuples: a stage and
    its node, a status and its colour, a date and an overdue flag, badges)."""
    if key == "stage" and isinstance(value, tuple):
        name, node = value
        return f"{name} / {node}" if node else name
    if isinstance(value, tuple):
        return value[0]
    if isinstance(value, list):
        return "、".join(str(v[1]) if isinstance(v, tuple) else str(v) for v in value)
    if isinstance(value, bool):
        return _("Yes") if value else ""
    return value


# --- customers -----------------------------------------------------------------------------------
@login_required
def export_customers(request: HttpRequest) -> HttpResponseBase:
    """The customer list (tab ``view``, filters, ``sort``, chosen columns) as CSV or XLSX."""
    from crm.customers import views as customer_views
    from crm.customers.filters import CUSTOMER_DEFAULT_SORT, CUSTOMER_SORTS

    require_perm(request, "customers", "view")
    require_perm(request, "customers", "export")
    me = _me(request)
    assert me.org_id is not None
    wide = customer_views._wide_scope(me)
    tabs = {k for k, _label in customer_views.TABS if k != "team" or wide}
    tab = request.GET.get("view") or "mine"
    if tab not in tabs:
        tab = "mine"
    filters, problems = customer_views._parse_filters(request)
    qs = filters.apply(customer_views.tab_queryset(me, tab), me)
    qs = customer_views._custom_filter(request, me, qs, problems)
    qs, _problem = customer_views._sorted(
        qs, request.GET.get("sort") or "", CUSTOMER_SORTS, CUSTOMER_DEFAULT_SORT
    )
    qs = qs.select_related("owner", "pool").prefetch_related("tags")
    custom_defs = cf.column_defs(me, "customer")
    columns = customer_views._chosen_columns(request, [key for key, _f in custom_defs])
    labels = customer_views._label_maps(me.org_id)
    names = {key: label for key, label, _sort in customer_views.COLUMNS}
    names.update({key: f.label for key, f in custom_defs})
    titles = [_("Name"), *(names[key] for key in columns)]
    custom = [f for key, f in custom_defs if key in columns]
    people = cf.all_user_names(me.org_id) if custom else {}

    def rows() -> Any:
        for customer in qs.iterator(chunk_size=CHUNK_ROWS):
            values = cf.export_values(custom, customer, people) if custom else None
            cells = customer_views._cells(customer, columns, labels, values)
            yield [customer.name, *(flat(key, value) for key, value in cells)]

    return export_response(
        actor=me,
        module="customers",
        resource="customers",
        model_label="customers.Customer",
        fmt=_format(request),
        columns=titles,
        rows=rows,
        count=qs.count(),
        filters={"view": tab, **_filters(request), "columns": columns},
        basename=_("customers"),
    )


# --- opportunities -------------------------------------------------------------------------------
@login_required
def export_opportunities(request: HttpRequest) -> HttpResponseBase:
    """The opportunity list (built-in or saved query, conditions, search, sort, chosen
    columns) as CSV or XLSX."""
    from crm.pipeline import list_views, queries

    require_perm(request, "opportunities", "view")
    require_perm(request, "opportunities", "export")
    me = _me(request)
    now = timezone.now()
    saved = list(queries.saved_queries(me))
    sel = list_views._Selection(request, me, saved)
    custom_defs = cf.column_defs(me, "opportunity")
    columns = list_views._chosen_columns(request, sel.saved, [key for key, _f in custom_defs])
    custom = [f for key, f in custom_defs if key in columns]
    people = cf.all_user_names(me.org_id or 0) if custom else {}
    qs = cf_params.filter_for_page(me, "opportunity", request.GET, sel.queryset(me, now), [])
    qs = queries.apply_sort(qs, sel.sort)  # H-PLAT: with the cf_<key> filters
    qs = qs.select_related("customer", "owner", "stage", "node", "pipeline")
    kinds = set(list_views.DICTIONARY_COLUMNS.values())
    dictionary = queries.dictionary_labels(me, kinds)
    labels = {
        key: dict(dictionary[kind])
        for key, kind in list_views.DICTIONARY_COLUMNS.items()
        if key in columns
    }
    names = {c.key: c.label for c in queries.COLUMNS}
    names.update({key: f.label for key, f in custom_defs})
    titles = [_("Name"), *(names[key] for key in columns)]

    def rows() -> Any:
        for o in qs.iterator(chunk_size=CHUNK_ROWS):
            values = cf.export_values(custom, o, people) if custom else None
            cells = list_views._cells(o, columns, labels, now, values)
            yield [o.name, *(flat(key, value) for key, value in cells)]

    return export_response(
        actor=me,
        module="opportunities",
        resource="opportunities",
        model_label="pipeline.Opportunity",
        fmt=_format(request),
        columns=titles,
        rows=rows,
        count=qs.count(),
        filters={"query": sel.key, **_filters(request), "columns": columns},
        basename=_("opportunities"),
    )


# --- leads ---------------------------------------------------------------------------------------
LEAD_LISTS = ("all", "mine", "total", "pool")


@login_required
def export_leads(request: HttpRequest) -> HttpResponseBase:
    """A lead list (``list`` = all, mine, total or pool with ``pool_id``; filters, sort) as
    CSV or XLSX, with the columns the list shows split for re-import."""
    from crm.core.api import apply_sort
    from crm.core.errors import ValidationFailed
    from crm.leads import services as lead_services
    from crm.leads.filters import LEAD_SORTS, LeadFilter
    from crm.leads.models import Lead
    from crm.pipeline import dictionaries
    from crm.pipeline.models import DictionaryKind

    require_perm(request, "leads", "view")
    require_perm(request, "leads", "export")
    me = _me(request)
    assert me.org_id is not None
    which = request.GET.get("list") or "all"
    qs: Any = Lead.objects.visible_to(me)
    if which == "mine":
        qs = qs.filter(owner=me)
    elif which == "total":
        require_perm(request, "leads", "configure")
        qs = qs.filter(pool=lead_services.total_pool(me.org_id))
    elif which not in LEAD_LISTS:
        which = "all"
    qs = LeadFilter.from_query(request.GET).apply(qs.select_related("pool", "owner"), me)
    custom_q, custom_problem = cf.list_filter(me, "lead", request.GET)
    if custom_problem:
        qs = qs.none()
    elif custom_q is not None:
        qs = qs.filter(custom_q)
    qs = cf_params.filter_for_page(me, "lead", request.GET, qs, [])  # H-PLAT: cf_<key>
    # every active custom field (the lead list has no column chooser); its title is the
    # field's label, which the lead import recognises
    custom = cf.fields_for(me, "lead")
    people = cf.all_user_names(me.org_id) if custom else {}
    try:
        qs = apply_sort(qs, request.GET.get("sort"), LEAD_SORTS, ["-created_at", "-pk"])
    except ValidationFailed:
        qs = qs.order_by("-created_at", "-pk")
    sources = dict(dictionaries.choices(me.org_id, DictionaryKind.SOURCE, include_inactive=True))
    industries = dict(
        dictionaries.choices(me.org_id, DictionaryKind.INDUSTRY, include_inactive=True)
    )
    titles = [
        _("Company"),
        _("Contact name"),
        _("Title"),
        _("Mobile"),
        _("Phone"),
        _("E-mail"),
        _("Source"),
        _("Region"),
        _("Industry"),
        _("Product line"),
        _("Status"),
        _("Owner"),
        _("Pool"),
        _("Created"),
        *(f.label for f in custom),
    ]

    def rows() -> Any:
        for lead in qs.iterator(chunk_size=CHUNK_ROWS):
            yield [
                lead.company,
                lead.contact_name,
                lead.title,
                lead.mobile,
                lead.phone,
                lead.email,
                sources.get(lead.source, lead.source),
                lead.region,
                industries.get(lead.industry, lead.industry),
                lead.product_line,
                lead.get_status_display(),
                lead.owner.display_name if lead.owner else "",
                lead.pool.name,
                timezone.localtime(lead.created_at),
                *cf.export_values(custom, lead, people).values(),
            ]

    return export_response(
        actor=me,
        module="leads",
        resource="leads",
        model_label="leads.Lead",
        fmt=_format(request),
        columns=titles,
        rows=rows,
        count=qs.count(),
        filters={"list": which, **_filters(request)},
        basename=_("leads"),
    )
