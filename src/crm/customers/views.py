"""Pages of the customers module (R3.1–R3.5, R11.1): the customer list, the customer form with
duplicate checks, the customer 360 page, contacts, public pools (公海) and merging.

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404); a missing permission answers 403; every write is one call of
``services`` / ``pool_services``, whose errors are shown on the form or as a flash message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views.decorators.http import require_POST

from crm.core import confidential_forms
from crm.core import custom_field_filters as cf_params
from crm.core import custom_fields as cf
from crm.core.api import apply_sort
from crm.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.paging import CappedPaginator, count_label
from crm.core.record_sections import page_sections, sections_response
from crm.core.rights import may, with_rights
from crm.core.scoping import DataScope, get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import User
from crm.pipeline import dictionaries

from . import pool_services, services
from .api_helpers import (
    contact_read_queryset,
    days_since_followup,
    is_masked,
    masked_email,
    masked_phone,
    pool_read_queryset,
    pool_return_at,
)
from .choices import Grade
from .filters import (
    CONTACT_DEFAULT_SORT,
    CONTACT_SORTS,
    CUSTOMER_DEFAULT_SORT,
    CUSTOMER_SORTS,
    ContactFilter,
    CustomerFilter,
)
from .forms import (
    AssignForm,
    BulkActionForm,
    ContactFilterForm,
    ContactForm,
    CustomerFilterForm,
    CustomerForm,
    FirstContactForm,
    PoolForm,
    ReleaseForm,
    TransferForm,
    colleagues_for,
)
from .models import Contact, Customer, PublicPool, Tag
from .pools import visible_pool_ids
from .selectors import active_customers, search_customers, tab_counts, tab_queryset
from .services import DICTIONARY_FIELDS

CUSTOMERS = gettext_lazy("Customers")
POOLS = gettext_lazy("Public pools")
CONTACTS = gettext_lazy("Contacts")
PAGE_SIZE = 50
COLUMNS_SESSION_KEY = "customers.list.columns"

#: list tabs (saved-query style): key, label
TABS: list[tuple[str, Any]] = [
    ("mine", gettext_lazy("Mine")),
    ("shared", gettext_lazy("Shared with me")),
    ("team", gettext_lazy("My team")),
    ("all", gettext_lazy("All")),
]
#: optional columns of the customer list: key, label, sort key (None: not sortable)
COLUMNS: list[tuple[str, Any, str | None]] = [
    ("owner", gettext_lazy("Owner"), None),
    ("grade", gettext_lazy("Grade"), "grade"),
    ("customer_type", gettext_lazy("Type"), None),
    ("category", gettext_lazy("Category"), None),
    ("industry", gettext_lazy("Industry"), None),
    ("source", gettext_lazy("Source"), None),
    ("region", gettext_lazy("Region"), None),
    ("phone", gettext_lazy("Phone"), None),
    ("email", gettext_lazy("E-mail"), None),
    ("tags", gettext_lazy("Tags"), None),
    ("is_new", gettext_lazy("New or existing"), None),
    ("last_followup", gettext_lazy("Last follow-up"), "last_followup"),
    ("next_followup", gettext_lazy("Next follow-up"), None),
    ("signed_amount_12m", gettext_lazy("Signed in 12 months"), "signed_amount_12m"),
    ("created", gettext_lazy("Created"), "created"),
    ("updated", gettext_lazy("Updated"), "updated"),
]
COLUMN_KEYS = [key for key, _label, _sort in COLUMNS]
DEFAULT_COLUMNS = ["owner", "grade", "industry", "region", "phone", "tags", "last_followup"]
DEFAULT_COLUMNS += ["updated"]
PICKER_FIELDS = {"parent", "source", "target"}
GRADE_COLORS = {Grade.A: "red", Grade.B: "orange", Grade.C: "azure"}


# --- helpers ------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _next_url(request: HttpRequest) -> str | None:
    """The ``next`` of a POST or GET, if it is a safe address on this site."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return None


def _wide_scope(user: User) -> bool:
    """Does the user see more customers than their own (department, tree, all, custom)?"""
    return any(scope != DataScope.SELF for scope, _d in user.role_grants("customers", "view"))


def _date(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d") if value else ""


def _money(value: Any) -> str:
    return f"¥{value:,.2f}"


def _query(request: HttpRequest, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """The current query string without ``drop`` and ``page``, with ``changes`` applied."""
    params: QueryDict = request.GET.copy()
    for key in (*drop, "page"):
        params.pop(key, None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _label_maps(org_id: int) -> dict[str, dict[str, str]]:
    return {
        field: dict(dictionaries.choices(org_id, kind, include_inactive=True))
        for field, kind in DICTIONARY_FIELDS.items()
    }


def _open_pools(user: User) -> Any:
    """Pools the user may open: those they may claim from; configurers see every pool."""
    qs = PublicPool.objects.visible_to(user)
    if not user.can("customers", "configure"):
        qs = qs.filter(pk__in=visible_pool_ids(user))
    return qs


def _pools(user: User) -> Any:
    """:func:`_open_pools` with their departments and the number of customers waiting."""
    return pool_read_queryset(_open_pools(user))


def _parse_filters(request: HttpRequest) -> tuple[CustomerFilter, list[str]]:
    try:
        return CustomerFilter.from_query(request.GET), []
    except ValidationFailed as exc:
        return CustomerFilter.from_query({}), [error_text(exc)]


def _sorted(qs: Any, sort: str | None, allowed: dict[str, str], default: list[str]) -> Any:
    try:
        return apply_sort(qs, sort, allowed, default), None
    except ValidationFailed as exc:
        return qs.order_by(*default), str(exc.message)


def _sort_links(request: HttpRequest, current: str) -> dict[str, dict[str, Any]]:
    links = {}
    for key in CUSTOMER_SORTS:
        active = current.lstrip("-") == key
        descending = active and current.startswith("-")
        target = key if (not active or descending) else f"-{key}"
        links[key] = {
            "url": _query(request, sort=target),
            "active": active,
            "descending": descending,
        }
    return links


def _chosen_columns(request: HttpRequest, custom: list[str] | None = None) -> list[str]:
    """Columns from ``?cols=`` (kept in the session from then on), the session, or defaults.
    ``custom`` are the keys of the custom-field columns offered (H-CF; shown by default)."""
    keys = COLUMN_KEYS + list(custom or [])
    if "cols" in request.GET:
        raw = ",".join(request.GET.getlist("cols"))
        chosen = [c for c in keys if c in raw.split(",")]
        request.session[COLUMNS_SESSION_KEY] = chosen
        return chosen
    stored = request.session.get(COLUMNS_SESSION_KEY)
    if isinstance(stored, list):
        return [c for c in keys if c in stored]
    return [*DEFAULT_COLUMNS, *(custom or [])]


def _custom_filter(request: HttpRequest, me: User, qs: Any, problems: list[str]) -> Any:
    """``qs`` narrowed by the list's custom-field filter (``cf``, ``cf_op``, ``cf_value``);
    a bad one adds its message to ``problems`` and shows nothing (H-CF)."""
    q, problem = cf.list_filter(me, "customer", request.GET)
    if problem:
        problems.append(problem)
        return qs.none()
    qs = cf_params.filter_for_page(me, "customer", request.GET, qs, problems)  # H-PLAT: cf_<key>
    return qs.filter(q) if q is not None else qs


def _cells(
    customer: Customer,
    columns: list[str],
    labels: dict[str, dict[str, str]],
    custom: dict[str, Any] | None = None,
) -> list:
    """(column key, value) pairs of one row, in the chosen order (``custom``: the values of
    the custom-field columns, by column key)."""
    values: dict[str, Any] = {
        "owner": customer.owner.display_name if customer.owner else "",
        "grade": customer.grade,
        "region": customer.region,
        "phone": masked_phone(customer, customer.phone),
        "email": masked_email(customer, customer.email),
        "tags": list(customer.tags.all()),
        "is_new": pgettext("customer", "New") if customer.is_new else _("Existing"),
        "last_followup": _date(customer.last_followup_at),
        "next_followup": _date(customer.next_followup_at),
        "signed_amount_12m": _money(customer.signed_amount_12m),
        "created": _date(customer.created_at),
        "updated": _date(customer.updated_at),
    }
    for field, names in labels.items():
        value = getattr(customer, field)
        values[field] = names.get(value, value)
    values.update(custom or {})
    return [(key, values.get(key, "")) for key in columns]


def _customer_rows(
    page: Any,
    columns: list[str],
    labels: dict[str, dict[str, str]],
    custom: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    custom = custom or {}
    return [{"customer": c, "cells": _cells(c, columns, labels, custom.get(c.pk))} for c in page]


# --- Customer list ------------------------------------------------------------------------------
@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    """My customers and the other saved views, with filters, sorting, columns and bulk actions.

    Customers waiting in a pool are listed on the pool pages, not here.
    """
    require_perm(request, "customers", "view")
    me = _me(request)
    assert me.org_id is not None
    wide = _wide_scope(me)
    tabs = [(k, label) for k, label in TABS if k != "team" or wide]
    tab = request.GET.get("view") or "mine"
    if tab not in {k for k, _label in tabs}:
        tab = "mine"
    filters, problems = _parse_filters(request)
    sort = request.GET.get("sort") or ""
    tab_qs = tab_queryset(me, tab)
    qs = _custom_filter(request, me, filters.apply(tab_qs, me), problems)
    narrowed = qs is not tab_qs  # a filter applies: the tab's count is not the list's
    qs, sort_problem = _sorted(qs, sort, CUSTOMER_SORTS, CUSTOMER_DEFAULT_SORT)
    if sort_problem:
        problems.append(sort_problem)
        sort = ""
    qs = qs.select_related("owner", "pool").prefetch_related("tags")
    counts = tab_counts(me, [key for key, _label in tabs])  # one query for every tab (R11.2)
    # no second count of the same rows; past CRM_LIST_COUNT_CAP the page says "10,000+"
    paginator = CappedPaginator(qs, PAGE_SIZE, known=None if narrowed else counts[tab])
    page = paginator.get_page(request.GET.get("page"))
    can_transfer = me.can("customers", "transfer")
    # the owner filter and the bulk transfer show the same colleagues: read them once
    colleagues = list(colleagues_for(me)) if wide or can_transfer else None
    tags = list(Tag.objects.visible_to(me).order_by("name"))  # the tag filter and bulk tagging
    custom_defs = cf.column_defs(me, "customer")
    columns = _chosen_columns(request, [key for key, _f in custom_defs])
    custom_fields = [f for key, f in custom_defs if key in columns]
    custom_values = cf.column_values(me, custom_fields, page) if custom_fields else {}
    labels = _label_maps(me.org_id)
    links = _sort_links(request, sort)
    column_defs = [
        {
            "key": key,
            "label": label,
            "chosen": key in columns,
            "sort": links.get(sort_key) if sort_key else None,
        }
        for key, label, sort_key in COLUMNS
    ] + [
        {"key": key, "label": f.label, "chosen": key in columns, "sort": None, "custom": True}
        for key, f in custom_defs
    ]
    return render(
        request,
        "customers/customer_list.html",
        {
            "tabs": [
                {
                    "key": key,
                    "label": label,
                    "active": key == tab,
                    "count": count_label(*counts[key]),
                    "url": _query(request, view=key),
                }
                for key, label in tabs
            ],
            "tab": tab,
            "filter_form": CustomerFilterForm(
                request.GET or None, user=me, with_owner=wide, colleagues=colleagues, tags=tags
            ),
            "problems": problems,
            "page": page,
            "rows": _customer_rows(page, columns, labels, custom_values),
            "columns": [c for c in column_defs if c["chosen"]],
            "all_columns": column_defs,
            "name_sort": links["name"],
            "keep_params": [
                (k, v) for k, values in request.GET.lists() if k != "cols" for v in values
            ],
            "bulk_form": BulkActionForm(user=me, colleagues=colleagues, tags=tags),
            "can_transfer": can_transfer,
            "can_create": me.can("customers", "create"),
            "can_edit": me.can("customers", "edit"),
            "crumbs": [(CUSTOMERS, None)],
        },
    )


@login_required
@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponse:
    """Transfer, release or tag the checked customers (all or nothing)."""
    me = _me(request)
    require_perm(request, "customers", "view")
    back = _next_url(request) or reverse("customers:list")
    ids = sorted({int(v) for v in request.POST.getlist("ids") if v.isdigit()})
    form = BulkActionForm(request.POST, user=me)
    if not ids:
        messages.error(request, _("Check at least one customer."))
        return redirect(back)
    if not form.is_valid():
        errors = [str(e) for errs in form.errors.values() for e in errs]
        messages.error(request, " ".join(errors))
        return redirect(back)
    action = form.cleaned_data["action"]
    require_perm(request, "customers", "transfer" if action == "transfer" else "edit")
    customers = list(active_customers(me).filter(pk__in=ids))
    if len(customers) != len(ids):
        raise NotFound()
    try:
        with transaction.atomic():
            if action == "transfer":
                count = services.transfer_customers(
                    actor=me,
                    customers=customers,
                    to_user=form.cleaned_data["to_user"],
                    reason=form.reason(),
                )
                done = ngettext(
                    "%(count)d customer transferred.", "%(count)d customers transferred.", count
                ) % {"count": count}
            elif action == "release":
                for customer in customers:
                    pool_services.release(actor=me, customer=customer, reason=form.reason())
                done = ngettext(
                    "%(count)d customer released to the pool.",
                    "%(count)d customers released to the pool.",
                    len(customers),
                ) % {"count": len(customers)}
            else:
                tag = form.cleaned_data["tag"]
                if tag is None:
                    tag = services.create_tag(actor=me, name=form.cleaned_data["new_tag"])
                count = services.tag_customers(actor=me, customers=customers, tags=[tag])
                done = ngettext(
                    "Tag “%(tag)s” added to %(count)d customer.",
                    "Tag “%(tag)s” added to %(count)d customers.",
                    count,
                ) % {"tag": tag.name, "count": count}
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect(back)


# --- Create and edit ----------------------------------------------------------------------------
def _tags_for(me: User, form: CustomerForm) -> list[Tag]:
    tags = list(form.cleaned_data.get("tags") or [])
    for name in form.new_tag_names():
        tag = services.create_tag(actor=me, name=name)
        if tag not in tags:
            tags.append(tag)
    return tags


def _duplicate_attrs(form: Any, exclude: int | None = None) -> None:
    """Let the name, phone and e-mail inputs ask for duplicate candidates while typing (htmx)."""
    url = reverse("customers:check_duplicates")
    if exclude:
        url += f"?exclude={exclude}"
    for name in ("name", "phone", "email"):
        form.fields[name].widget.attrs.update(
            {
                "hx-get": url,
                "hx-trigger": "input changed delay:500ms",
                "hx-target": "#duplicate-check",
                "hx-include": "#customer-form [name=name], #customer-form [name=phone], "
                "#customer-form [name=email], #customer-form [name=contact-mobile], "
                "#customer-form [name=contact-email]",
                "autocomplete": "off",
            }
        )


def _parent_choice(form: CustomerForm, customer: Customer | None, me: User) -> Any:
    """The parent shown as chosen in the picker."""
    if form.is_bound:
        raw = form.data.get("parent") or ""
        if not str(raw).isdigit():
            return None
        return active_customers(me).filter(pk=int(raw)).first()
    return customer.parent if customer is not None and customer.parent_id else None


@login_required
def customer_create(request: HttpRequest) -> HttpResponse:
    """A new customer (owned by the creator) with tags, parent, invoicing and a first contact."""
    require_perm(request, "customers", "create")
    me = _me(request)
    candidates: list[dict[str, Any]] | None = None
    if request.method == "POST":
        form = CustomerForm(request.POST, user=me)
        confidential_forms.attach(form, me)
        contact_form = FirstContactForm(request.POST, prefix="contact")
        if form.is_valid() and contact_form.is_valid():
            contact = contact_form.contact_data()
            try:
                with transaction.atomic():
                    customer = services.create_customer(
                        actor=me,
                        data=form.service_data(),
                        tags=_tags_for(me, form),
                        parent=form.cleaned_data["parent"],
                        contacts=[contact] if contact else [],
                        allow_duplicate=form.cleaned_data["allow_duplicate"],
                    )
                    confidential_forms.apply(form, me, customer)
            except services.DuplicateCustomer as exc:
                candidates = exc.candidates
                form.add_error(None, str(exc.message))
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Customer “%(name)s” was created.") % {"name": customer.name}
                )
                return redirect("customers:detail", pk=customer.pk)
    else:
        form = CustomerForm(user=me)
        confidential_forms.attach(form, me)
        contact_form = FirstContactForm(prefix="contact")
    _duplicate_attrs(form)
    _duplicate_attrs_contact(contact_form)
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "contact_form": contact_form,
            "customer": None,
            "candidates": candidates,
            "parent_choice": _parent_choice(form, None, me),
            "crumbs": [(CUSTOMERS, reverse("customers:list")), (_("New customer"), None)],
        },
    )


def _duplicate_attrs_contact(form: FirstContactForm) -> None:
    url = reverse("customers:check_duplicates")
    for name in ("mobile", "email"):
        form.fields[name].widget.attrs.update(
            {
                "hx-get": url,
                "hx-trigger": "input changed delay:500ms",
                "hx-target": "#duplicate-check",
                "hx-include": "#customer-form [name=name], #customer-form [name=phone], "
                "#customer-form [name=email], #customer-form [name=contact-mobile], "
                "#customer-form [name=contact-email]",
                "autocomplete": "off",
            }
        )


def _customer_initial(customer: Customer) -> dict[str, Any]:
    keys = [*CustomerForm.BASIC, *CustomerForm.CONTACT, "notes", *CustomerForm.INVOICING]
    initial = {k: getattr(customer, k) for k in keys}
    initial["tags"] = list(customer.tags.all())
    initial["parent"] = customer.parent_id
    initial["version"] = customer.version
    return initial


@login_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a customer. The hidden ``version`` makes a stale edit fail with a clear message
    (and keeps what the user typed)."""
    require_perm(request, "customers", "edit")
    me = _me(request)
    customer = get_scoped_or_404(active_customers(me), me, pk, "edit")
    candidates: list[dict[str, Any]] | None = None
    if request.method == "POST":
        form = CustomerForm(request.POST, user=me, customer=customer)
        confidential_forms.attach(form, me, customer)
        if form.is_valid():
            try:
                with transaction.atomic():
                    services.update_customer(
                        actor=me,
                        customer=customer,
                        data=form.service_data(),
                        version=form.cleaned_data["version"],
                        tags=_tags_for(me, form),
                        parent=form.cleaned_data["parent"],
                    )
                    confidential_forms.apply(form, me, customer)
            except services.DuplicateCustomer as exc:
                candidates = exc.candidates
                form.add_error(None, str(exc.message))
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Customer “%(name)s” was saved.") % {"name": customer.name}
                )
                return redirect("customers:detail", pk=customer.pk)
    else:
        form = CustomerForm(user=me, customer=customer, initial=_customer_initial(customer))
        confidential_forms.attach(form, me, customer)
    _duplicate_attrs(form, exclude=customer.pk)
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "contact_form": None,
            "customer": customer,
            "candidates": candidates,
            "parent_choice": _parent_choice(form, customer, me),
            "crumbs": [
                (CUSTOMERS, reverse("customers:list")),
                (customer.name, reverse("customers:detail", args=[customer.pk])),
                (_("Edit"), None),
            ],
        },
    )


@login_required
def check_duplicates(request: HttpRequest) -> HttpResponse:
    """htmx: duplicate candidates for the name, phone and e-mail typed so far (masked when the
    user may not see them)."""
    require_perm(request, "customers", "view")
    me = _me(request)
    g = request.GET
    name = (g.get("name") or "").strip()[:200]
    phones = [g.get("phone") or "", g.get("contact-mobile") or ""]
    emails = [g.get("email") or "", g.get("contact-email") or ""]
    exclude = g.get("exclude") or ""
    candidates: list[dict[str, Any]] = []
    if name or any(phones) or any(emails):
        candidates = services.check_duplicates(
            me,
            name=name,
            phones=[p[:40] for p in phones],
            emails=[e[:254] for e in emails],
            exclude_id=int(exclude) if exclude.isdigit() else None,
        )
    return render(request, "customers/_duplicates.html", {"candidates": candidates})


@login_required
def pick_customer(request: HttpRequest) -> HttpResponse:
    """htmx: customers matching the text typed into a picker (parent, merge source/target)."""
    require_perm(request, "customers", "view")
    me = _me(request)
    field = request.GET.get("field") or ""
    if field not in PICKER_FIELDS:
        raise NotFound()
    return render(
        request, "customers/_picker_options.html", _picker_context(request, me, field, None)
    )


def _picker_context(
    request: HttpRequest, me: User, field: str, selected: Customer | None
) -> dict[str, Any]:
    """What a picker shows: the chosen customer first, then up to ten matches of the text."""
    q = (request.GET.get(f"{field}_q") or "").strip()[:100]
    raw = request.GET.get(field) or ""
    if selected is None and raw.isdigit():
        selected = active_customers(me).filter(pk=int(raw)).first()
    results = list(search_customers(me, q).select_related("owner")[:10]) if q else []
    if selected is not None:
        results = [c for c in results if c.pk != selected.pk]
    return {
        "field": field,
        "q": q,
        "selected": selected,
        "results": results,
        "allow_none": field == "parent",
    }


# --- The customer 360 page ---------------------------------------------------------------------
#: The 360 page renders its first sections (contacts, custom fields) itself; the others arrive
#: right after it (crm.core.record_sections), so no request issues more than 15 queries.
INLINE_SECTIONS = 2


def _render_sections(request: HttpRequest, customer: Customer) -> list[dict[str, Any]]:
    """Every section registered for customers, in order (the first ``INLINE_SECTIONS`` now)."""
    return page_sections(
        request,
        "customers.customer",
        customer,
        {"customer": customer},
        url=reverse("customers:sections", args=[customer.pk]),
        inline=INLINE_SECTIONS,
    )


def _page_customer(me: User, pk: int) -> Customer:
    """The customer of the 360 page and of its sections, with the viewer's rights read with
    it (R11.2: the page and its sections ask them without another query)."""
    customer: Customer = get_scoped_or_404(
        with_rights(
            Customer.objects.visible_to(me).select_related(
                "owner", "pool", "parent", "released_by", "merged_into"
            ),
            me,
            ("edit", "transfer"),
        ),
        me,
        pk,
    )
    return customer


@login_required
def customer_sections(request: HttpRequest, pk: int) -> HttpResponse:
    """The 360 page's later sections (``?keys=a,b``), fetched by the page once it has loaded."""
    require_perm(request, "customers", "view")
    customer = _page_customer(_me(request), pk)
    return sections_response(
        request,
        "customers.customer",
        customer,
        {"customer": customer},
        page_url=reverse("customers:detail", args=[customer.pk]),
    )


def _return_countdown(customer: Customer) -> int | None:
    """Calendar days (org time zone) until the pool's rules return the customer; None if never."""
    at = pool_return_at(customer)
    if at is None:
        return None
    today = timezone.localdate()
    return max((timezone.localtime(at).date() - today).days, 0)


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer 360 view: key facts and actions, then the registered sections."""
    require_perm(request, "customers", "view")
    me = _me(request)
    customer = _page_customer(me, pk)
    owned = customer.owner_id is not None
    live = customer.merged_into_id is None
    may_edit = live and me.can("customers", "edit")
    editable = may_edit and may(me, customer, "edit")
    transferable = (
        live and owned and me.can("customers", "transfer") and may(me, customer, "transfer")
    )
    pool_open = customer.pool_id in visible_pool_ids(me)
    actions = {
        "edit": editable and owned,
        "transfer": transferable,
        "release": editable and owned,
        "claim": live and not owned and may_edit and pool_open,
        "assign": live and not owned and pool_open and me.can("customers", "transfer"),
        "merge": editable and me.can("customers", "delete"),
        "add_contact": editable and owned,
    }
    labels = _label_maps(customer.org_id)
    facts = [
        (label, labels[field].get(getattr(customer, field), getattr(customer, field)))
        for field, label in (
            ("customer_type", _("Type")),
            ("category", _("Category")),
            ("business_category", _("Business category")),
            ("industry", _("Industry")),
            ("source", _("Source")),
        )
    ]
    facts += [
        (_("Region"), customer.region),
        (_("Phone"), masked_phone(customer, customer.phone)),
        (_("E-mail"), masked_email(customer, customer.email)),
        (_("Website"), customer.website),
        (_("Address"), customer.address),
        (_("Signed in 12 months"), _money(customer.signed_amount_12m)),
        (_("Next follow-up"), _date(customer.next_followup_at)),
        (_("Created"), _date(customer.created_at)),
    ]
    invoicing = [
        (_("Invoice title"), customer.invoice_title),
        (_("Tax number"), customer.tax_number),
        (_("Invoice address and phone"), customer.invoice_address_phone),
        (_("Bank"), customer.bank_name),
        (_("Bank account"), customer.bank_account),
    ]
    return render(
        request,
        "customers/customer_detail.html",
        {
            "customer": customer,
            "tags": list(customer.tags.all()),
            "grade_color": GRADE_COLORS.get(customer.grade, "secondary"),  # type: ignore[call-overload]
            "days_since_followup": days_since_followup(customer),
            "return_in_days": _return_countdown(customer),
            "masked": is_masked(customer),
            "facts": [(label, value) for label, value in facts if value],
            "invoicing": [(label, value) for label, value in invoicing if value],
            "actions": actions,
            "release_form": ReleaseForm(user=me) if actions["release"] else None,
            "sections": _render_sections(request, customer),
            "crumbs": [(CUSTOMERS, reverse("customers:list")), (customer.name, None)],
        },
    )


# --- Ownership moves ----------------------------------------------------------------------------
@login_required
@require_POST
def customer_claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Claim a customer from a pool; refusals (taken, limits, cool-down) are flash messages."""
    me = _me(request)
    require_perm(request, "customers", "view")
    customer = active_customers(me).select_related("pool").filter(pk=pk).first()
    raw_pool = request.POST.get("pool") or ""
    back_to_pool: int | None = None
    if raw_pool.isdigit() and _open_pools(me).filter(pk=int(raw_pool)).exists():
        back_to_pool = int(raw_pool)
    if customer is None:
        if back_to_pool:
            # Claimed by someone else since the list was shown (or never there): same answer.
            messages.error(request, _("Someone else has already claimed this customer."))
            return redirect("customers:pool_detail", pk=back_to_pool)
        raise NotFound()
    try:
        pool_services.claim(actor=me, customer=customer)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        if back_to_pool:
            return redirect("customers:pool_detail", pk=back_to_pool)
        return redirect("customers:detail", pk=customer.pk)
    messages.success(request, _("“%(name)s” is now your customer.") % {"name": customer.name})
    return redirect("customers:detail", pk=customer.pk)


@login_required
@require_POST
def customer_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Release an owned customer to its pool with a reason from the list and/or free text."""
    require_perm(request, "customers", "edit")
    me = _me(request)
    customer = get_scoped_or_404(active_customers(me), me, pk, "edit")
    form = ReleaseForm(request.POST, user=me)
    reason = form.reason() if form.is_valid() else ""
    try:
        pool_services.release(actor=me, customer=customer, reason=reason)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        return redirect("customers:detail", pk=customer.pk)
    messages.success(
        request, _("“%(name)s” was released to the public pool.") % {"name": customer.name}
    )
    return redirect("customers:list")


@login_required
def customer_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """Give an owned customer to a colleague (needs customers:transfer)."""
    require_perm(request, "customers", "transfer")
    me = _me(request)
    customer = get_scoped_or_404(active_customers(me).select_related("owner"), me, pk, "transfer")
    if request.method == "POST":
        form = TransferForm(request.POST, user=me)
        if form.is_valid():
            try:
                services.transfer_customers(
                    actor=me,
                    customers=[customer],
                    to_user=form.cleaned_data["to_user"],
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    _("“%(name)s” was transferred to %(user)s.")
                    % {"name": customer.name, "user": form.cleaned_data["to_user"].display_name},
                )
                if active_customers(me).filter(pk=pk).exists():
                    return redirect("customers:detail", pk=pk)
                return redirect("customers:list")
    else:
        form = TransferForm(user=me)
    return render(
        request,
        "customers/customer_move.html",
        {
            "form": form,
            "customer": customer,
            "title": _("Transfer to a colleague"),
            "submit": _("Transfer"),
            "crumbs": [
                (CUSTOMERS, reverse("customers:list")),
                (customer.name, reverse("customers:detail", args=[pk])),
                (_("Transfer"), None),
            ],
        },
    )


@login_required
def customer_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """A manager hands a customer waiting in a pool to a colleague (needs customers:transfer)."""
    require_perm(request, "customers", "transfer")
    me = _me(request)
    customer = get_scoped_or_404(active_customers(me).select_related("pool"), me, pk)
    if customer.owner_id is not None:
        messages.error(request, _("Someone else has already claimed this customer."))
        return redirect("customers:detail", pk=pk)
    if request.method == "POST":
        form = AssignForm(request.POST, user=me)
        if form.is_valid():
            to_user = form.cleaned_data["to_user"]
            try:
                pool_services.assign(actor=me, customer=customer, to_user=to_user)
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    _("“%(name)s” was assigned to %(user)s.")
                    % {"name": customer.name, "user": to_user.display_name},
                )
                if customer.pool_id:
                    return redirect("customers:pool_detail", pk=customer.pool_id)
                return redirect("customers:list")
    else:
        form = AssignForm(user=me)
    crumbs: list[tuple[Any, str | None]] = [(POOLS, reverse("customers:pool_list"))]
    if customer.pool_id:
        crumbs.append(
            (customer.pool.name, reverse("customers:pool_detail", args=[customer.pool_id]))
        )
    crumbs.append((customer.name, reverse("customers:detail", args=[pk])))
    crumbs.append((_("Assign"), None))
    return render(
        request,
        "customers/customer_move.html",
        {
            "form": form,
            "customer": customer,
            "title": _("Assign to a colleague"),
            "submit": _("Assign"),
            "crumbs": crumbs,
        },
    )


# --- Contacts -----------------------------------------------------------------------------------
@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    """Contacts of the customers the user may see; search by name, mobile or e-mail."""
    require_perm(request, "customers", "view")
    me = _me(request)
    try:
        filters = ContactFilter.from_query(request.GET)
        problems: list[str] = []
    except ValidationFailed as exc:
        filters, problems = ContactFilter.from_query({}), [error_text(exc)]
    qs = contact_read_queryset(Contact.objects.visible_to(me)).filter(
        customer__merged_into__isnull=True
    )
    qs, sort_problem = _sorted(
        filters.apply(qs, me), request.GET.get("sort"), CONTACT_SORTS, CONTACT_DEFAULT_SORT
    )
    if sort_problem:
        problems.append(sort_problem)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "contact": c,
            "mobile": masked_phone(c.customer, c.mobile),
            "office_phone": masked_phone(c.customer, c.office_phone),
            "email": masked_email(c.customer, c.email),
        }
        for c in page
    ]
    return render(
        request,
        "customers/contact_list.html",
        {
            "page": page,
            "rows": rows,
            "filter_form": ContactFilterForm(request.GET or None),
            "problems": problems,
            "can_edit": me.can("customers", "edit"),
            "crumbs": [(CUSTOMERS, reverse("customers:list")), (CONTACTS, None)],
        },
    )


@login_required
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a contact to a customer the user may edit."""
    require_perm(request, "customers", "edit")
    me = _me(request)
    customer = get_scoped_or_404(active_customers(me), me, pk, "edit")
    candidates: list[dict[str, Any]] | None = None
    if request.method == "POST":
        form = ContactForm(request.POST, user=me)
        if form.is_valid():
            try:
                services.create_contact(actor=me, customer=customer, data=form.service_data())
            except services.DuplicateCustomer as exc:
                candidates = exc.candidates
                form.add_error(None, str(exc.message))
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Contact “%(name)s” was added.") % {"name": form.cleaned_data["name"]},
                )
                return redirect(reverse("customers:detail", args=[pk]) + "#section-contacts")
    else:
        form = ContactForm(user=me)
    return _contact_form_page(request, form, customer, None, candidates)


def _contact_form_page(
    request: HttpRequest,
    form: ContactForm,
    customer: Customer,
    contact: Contact | None,
    candidates: list[dict[str, Any]] | None,
) -> HttpResponse:
    return render(
        request,
        "customers/contact_form.html",
        {
            "form": form,
            "customer": customer,
            "contact": contact,
            "candidates": candidates,
            "crumbs": [
                (CUSTOMERS, reverse("customers:list")),
                (customer.name, reverse("customers:detail", args=[customer.pk])),
                (contact.name if contact else _("New contact"), None),
            ],
        },
    )


@login_required
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a contact; a stale ``version`` shows the conflict and keeps the input."""
    require_perm(request, "customers", "edit")
    me = _me(request)
    contact = get_scoped_or_404(
        Contact.objects.visible_to(me).select_related("customer", "customer__pool"), me, pk, "edit"
    )
    if request.method == "POST":
        form = ContactForm(request.POST, user=me, contact=contact)
        if form.is_valid():
            try:
                services.update_contact(
                    actor=me,
                    contact=contact,
                    data=form.service_data(),
                    version=form.cleaned_data["version"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Contact “%(name)s” was saved.") % {"name": contact.name}
                )
                return redirect(
                    reverse("customers:detail", args=[contact.customer_id]) + "#section-contacts"
                )
    else:
        fields = [f for f in ContactForm.base_fields if f != "version"]
        initial = {f: getattr(contact, f) for f in fields}
        initial["version"] = contact.version
        form = ContactForm(initial=initial, user=me, contact=contact)
    return _contact_form_page(request, form, contact.customer, contact, None)


@login_required
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "customers", "delete")
    me = _me(request)
    contact = get_scoped_or_404(Contact, me, pk, "delete")
    customer_id = contact.customer_id
    services.delete_contact(actor=me, contact=contact)
    messages.success(request, _("Contact “%(name)s” was deleted.") % {"name": contact.name})
    return redirect(reverse("customers:detail", args=[customer_id]) + "#section-contacts")


# --- Public pools -------------------------------------------------------------------------------
def _may_configure(user: User) -> bool:
    return user.can("customers", "configure") or user.is_org_admin


@login_required
def pool_list(request: HttpRequest) -> HttpResponse:
    """The public pools the user may see, with the number of customers waiting in each."""
    require_perm(request, "customers", "view")
    me = _me(request)
    pools = _pools(me).order_by("-is_default", "name", "pk")
    return render(
        request,
        "customers/pool_list.html",
        {
            "pools": pools,
            "can_configure": _may_configure(me),
            "crumbs": [(CUSTOMERS, reverse("customers:list")), (POOLS, None)],
        },
    )


@login_required
def pool_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Customers waiting in one pool, with the list's filters, and Claim / Assign per row."""
    require_perm(request, "customers", "view")
    me = _me(request)
    assert me.org_id is not None
    pool = get_scoped_or_404(_open_pools(me), me, pk)  # the page shows no pool count
    filters, problems = _parse_filters(request)
    sort = request.GET.get("sort") or ""
    waiting = active_customers(me).filter(pool=pool, owner__isnull=True)
    waiting = _custom_filter(request, me, waiting, problems)
    qs, sort_problem = _sorted(
        filters.apply(waiting, me), sort, CUSTOMER_SORTS, ["-pool_entered_at", "-pk"]
    )
    if sort_problem:
        problems.append(sort_problem)
        sort = ""
    qs = qs.select_related("pool", "released_by").prefetch_related("tags")
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = _label_maps(me.org_id)
    rows = [
        {
            "customer": c,
            "industry": labels["industry"].get(c.industry, c.industry),
            "phone": masked_phone(c, c.phone),
            "email": masked_email(c, c.email),
            "entered": _date(c.pool_entered_at),
        }
        for c in page
    ]
    return render(
        request,
        "customers/pool_detail.html",
        {
            "pool": pool,
            "page": page,
            "rows": rows,
            "filter_form": CustomerFilterForm(request.GET or None, user=me, with_owner=False),
            "problems": problems,
            "sort": _sort_links(request, sort),
            "can_claim": me.can("customers", "edit") and pool.pk in visible_pool_ids(me),
            "can_assign": me.can("customers", "transfer"),
            "can_configure": _may_configure(me),
            "crumbs": [
                (CUSTOMERS, reverse("customers:list")),
                (POOLS, reverse("customers:pool_list")),
                (pool.name, None),
            ],
        },
    )


def _pool_form_page(request: HttpRequest, pool: PublicPool | None) -> HttpResponse:
    me = _me(request)
    if not _may_configure(me):
        raise PermissionDenied()
    if request.method == "POST":
        form = PoolForm(request.POST, user=me)
        if form.is_valid():
            try:
                saved = pool_services.save_pool(
                    actor=me,
                    pool=pool,
                    data=form.service_data(),
                    departments=list(form.cleaned_data["departments"]),
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Public pool “%(name)s” was saved.") % {"name": saved.name}
                )
                return redirect("customers:pool_detail", pk=saved.pk)
    elif pool is not None:
        form = PoolForm(user=me, pool=pool)
    else:
        form = PoolForm(
            user=me,
            initial={
                "is_active": True,
                "exclude_won": True,
                "exclude_open_opportunities": True,
                "mask_contacts": True,
                "warning_days": 3,
                "reclaim_cooldown_days": 0,
            },
        )
    crumbs: list[tuple[Any, str | None]] = [
        (CUSTOMERS, reverse("customers:list")),
        (POOLS, reverse("customers:pool_list")),
    ]
    if pool is not None:
        crumbs += [(pool.name, reverse("customers:pool_detail", args=[pool.pk])), (_("Edit"), None)]
    else:
        crumbs.append((_("New public pool"), None))
    return render(
        request,
        "customers/pool_form.html",
        {"form": form, "pool": pool, "grades": Grade.values, "crumbs": crumbs},
    )


@login_required
def pool_create(request: HttpRequest) -> HttpResponse:
    """A new public pool with its rules (needs customers:configure)."""
    return _pool_form_page(request, None)


@login_required
def pool_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a pool's rules, grade overrides and departments (needs customers:configure)."""
    me = _me(request)
    if not _may_configure(me):
        raise PermissionDenied()
    pool = get_scoped_or_404(PublicPool, me, pk)
    return _pool_form_page(request, pool)


# --- Duplicates and merge -----------------------------------------------------------------------
MERGE_FIELDS = [
    ("name", gettext_lazy("Name")),
    ("short_name", gettext_lazy("Short name")),
    ("customer_type", gettext_lazy("Type")),
    ("industry", gettext_lazy("Industry")),
    ("source", gettext_lazy("Source")),
    ("region", gettext_lazy("Region")),
    ("phone", gettext_lazy("Phone")),
    ("email", gettext_lazy("E-mail")),
    ("address", gettext_lazy("Address")),
    ("tax_number", gettext_lazy("Tax number")),
]


def _merge_side(me: User, customer: Customer, labels: dict[str, dict[str, str]]) -> list:
    """(label, value) pairs of one customer for the side-by-side comparison."""
    values: list[tuple[Any, Any]] = []
    for field, label in MERGE_FIELDS:
        value = getattr(customer, field)
        if field in labels:
            value = labels[field].get(value, value)
        values.append((label, value))
    values.append((_("Owner"), customer.owner.display_name if customer.owner else ""))
    values.append((_("Contacts"), Contact.objects.visible_to(me).filter(customer=customer).count()))
    values.append((_("Created"), _date(customer.created_at)))
    return values


@login_required
def merge(request: HttpRequest) -> HttpResponse:
    """Pick two customers, compare them side by side, and merge the first into the second."""
    require_perm(request, "customers", "edit")
    require_perm(request, "customers", "delete")
    me = _me(request)
    assert me.org_id is not None
    if request.method == "POST":
        ids = [request.POST.get("source") or "", request.POST.get("target") or ""]
        if not all(v.isdigit() for v in ids):
            raise NotFound()
        source = get_scoped_or_404(active_customers(me), me, int(ids[0]), "delete")
        target = get_scoped_or_404(active_customers(me), me, int(ids[1]), "edit")
        try:
            services.merge_customers(actor=me, source=source, target=target)
        except DomainError as exc:
            raise_unless_form_error(exc)
            messages.error(request, error_text(exc))
            return redirect(f"{reverse('customers:merge')}?source={source.pk}&target={target.pk}")
        messages.success(
            request,
            _("“%(source)s” was merged into “%(target)s”.")
            % {"source": source.name, "target": target.name},
        )
        return redirect("customers:detail", pk=target.pk)
    chosen: dict[str, Customer | None] = {}
    for field, action in (("source", "delete"), ("target", "edit")):
        raw = request.GET.get(field) or ""
        chosen[field] = (
            get_scoped_or_404(active_customers(me).select_related("owner"), me, raw, action)
            if raw
            else None
        )
    labels = _label_maps(me.org_id)
    source, target = chosen["source"], chosen["target"]
    preview = None
    if source is not None and target is not None:
        left, right = _merge_side(me, source, labels), _merge_side(me, target, labels)
        preview = {
            "source": source,
            "target": target,
            "rows": [(label, a, b) for (label, a), (_l, b) in zip(left, right, strict=True)],
            "same": source.pk == target.pk,
        }
    return render(
        request,
        "customers/merge.html",
        {
            "source_picker": _picker_context(request, me, "source", source),
            "target_picker": _picker_context(request, me, "target", target),
            "preview": preview,
            "crumbs": [(CUSTOMERS, reverse("customers:list")), (_("Duplicates and merge"), None)],
        },
    )
