"""Pages of products, price lists, quotes and documents (R6.1, the documents of R6.2): the
catalogue and its form, price lists, the quote list, form (with live totals computed by the
server), page and actions, the printable quote and contract pages, the Word documents, and the
organisation's Word templates.

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404, on every action and download too); a missing permission answers
403; every write is one call of ``product_services`` / ``quote_services`` / ``documents``, whose
errors are shown on the form or as a flash message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core import audit
from crm.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.locking import EditConflict
from crm.core.money import format_cny
from crm.core.paging import CappedPaginator
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.customers.models import Contact
from crm.customers.selectors import active_customers
from crm.org.models import User
from crm.pipeline.models import Opportunity

from . import approvals, documents, product_services, quote_services
from .choices import ApprovalSubject, QuoteStatus
from .models import Contract, DocumentTemplate, PriceList, PriceListItem, Product, Quote, QuoteLine
from .quote_forms import (
    ActionForm,
    PriceListForm,
    ProductFilterForm,
    ProductForm,
    QuoteFilterForm,
    QuoteForm,
    TemplateUploadForm,
    line_rows,
    posted_items,
    posted_lines,
)
from .quote_services import STATUS_COLORS

PRODUCTS = gettext_lazy("Products")
PRICE_LISTS = gettext_lazy("Price lists")
QUOTES = gettext_lazy("Quotes")
TEMPLATES = gettext_lazy("Document templates")
PAGE_SIZE = 50


# --- helpers ------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _url(name: str, *args: Any) -> str | None:
    """The address of a page another module provides, or None while it has not landed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _digits(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 18 else None


def _require_configure(request: HttpRequest) -> None:
    if not product_services.may_configure(request.user):
        raise PermissionDenied()


def _configure_action(me: User) -> str:
    """The action the settings pages read products and price lists with: ``configure``, or
    ``view`` for an organisation administrator without the sales permission."""
    return "configure" if me.can("sales", "configure") else "view"


def _error_message(exc: DomainError) -> str:
    if isinstance(exc, Conflict) and exc.field_errors:
        return f"{exc.message} {error_text(exc)}"
    return error_text(exc)


def _may(me: User, quote: Quote, action: str) -> bool:
    return me.can("sales", action) and (
        Quote.objects.visible_to(me, action).filter(pk=quote.pk).exists()
    )


# --- products -----------------------------------------------------------------------------------
@login_required
def product_list(request: HttpRequest) -> HttpResponse:
    """The catalogue: search by code or name, filter by category and status."""
    require_perm(request, "sales", "view")
    me = _me(request)
    products = Product.objects.visible_to(me)
    categories = list(
        products.exclude(category="").order_by("category").values_list("category", flat=True)
    )
    form = ProductFilterForm(request.GET or None, categories=sorted(set(categories)))
    qs = products
    if form.is_valid():
        text = (form.cleaned_data.get("q") or "").strip()
        if text:
            qs = qs.filter(Q(code__icontains=text) | Q(name__icontains=text))
        if form.cleaned_data.get("category"):
            qs = qs.filter(category=form.cleaned_data["category"])
        if form.cleaned_data.get("active") in ("0", "1"):
            qs = qs.filter(is_active=form.cleaned_data["active"] == "1")
    paginator = CappedPaginator(qs.order_by("code", "pk"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "sales/products/list.html",
        {
            "form": form,
            "page": page,
            "can_configure": product_services.may_configure(me),
            "crumbs": [(PRODUCTS, None)],
        },
    )


def _product_form_page(
    request: HttpRequest, form: ProductForm, product: Product | None
) -> HttpResponse:
    title = product.name if product is not None else _("New product")
    return render(
        request,
        "sales/products/form.html",
        {
            "form": form,
            "product": product,
            "in_use": product is not None and product_services.product_in_use(product),
            "crumbs": [(PRODUCTS, reverse("sales:product_list")), (title, None)],
        },
    )


@login_required
def product_create(request: HttpRequest) -> HttpResponse:
    _require_configure(request)
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = product_services.create_product(actor=_me(request), data=form.cleaned_data)
        except DomainError as exc:
            raise_unless_form_error(exc)
            form.show_error(exc)
        else:
            messages.success(request, _("Product “%(name)s” was added.") % {"name": product.name})
            return redirect("sales:product_list")
    return _product_form_page(request, form, None)


@login_required
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_configure(request)
    me = _me(request)
    product = get_scoped_or_404(Product, me, pk, _configure_action(me))
    if request.method == "POST":
        form = ProductForm(request.POST)
        if form.is_valid():
            try:
                product_services.update_product(actor=me, product=product, data=form.cleaned_data)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request, _("Product “%(name)s” was saved.") % {"name": product.name}
                )
                return redirect("sales:product_list")
    else:
        form = ProductForm(
            initial={
                "code": product.code,
                "name": product.name,
                "category": product.category,
                "unit": product.unit,
                "list_price": f"{product.list_price:.2f}",
                "tax_rate": f"{product.tax_rate.normalize():f}",
                "description": product.description,
                "is_active": product.is_active,
            }
        )
    return _product_form_page(request, form, product)


@login_required
@require_POST
def product_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete an unused product; one that documents use is deactivated instead."""
    _require_configure(request)
    me = _me(request)
    product = get_scoped_or_404(Product, me, pk, _configure_action(me))
    name = product.name
    if product_services.delete_product(actor=me, product=product):
        messages.success(request, _("Product “%(name)s” was deleted.") % {"name": name})
    else:
        messages.info(
            request,
            _("Quotes, orders or price lists use “%(name)s”: it was deactivated instead.")
            % {"name": name},
        )
    return redirect("sales:product_list")


# --- price lists --------------------------------------------------------------------------------
@login_required
def pricelist_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    rows = list(PriceList.objects.visible_to(me).order_by("-is_active", "name", "pk"))
    counts: dict[int, int] = {}
    for price_list_id in PriceListItem.objects.visible_to(me).values_list(
        "price_list_id", flat=True
    ):
        counts[price_list_id] = counts.get(price_list_id, 0) + 1
    return render(
        request,
        "sales/products/pricelist_list.html",
        {
            "rows": [{"price_list": p, "items": counts.get(p.pk, 0)} for p in rows],
            "can_configure": product_services.may_configure(me),
            "crumbs": [(PRODUCTS, reverse("sales:product_list")), (PRICE_LISTS, None)],
        },
    )


def _pricelist_page(
    request: HttpRequest,
    form: PriceListForm,
    price_list: PriceList | None,
    items: list[dict[str, Any]],
) -> HttpResponse:
    me = _me(request)
    chosen = {str(i.get("product_id") or "") for i in items}
    products = [
        p
        for p in Product.objects.visible_to(me).order_by("code", "pk")[:2000]
        if p.is_active or str(p.pk) in chosen
    ]
    title = price_list.name if price_list is not None else _("New price list")
    return render(
        request,
        "sales/products/pricelist_form.html",
        {
            "form": form,
            "price_list": price_list,
            "items": items,
            "products": products,
            "crumbs": [
                (PRODUCTS, reverse("sales:product_list")),
                (PRICE_LISTS, reverse("sales:pricelist_list")),
                (title, None),
            ],
        },
    )


def _save_price_list(
    request: HttpRequest, price_list: PriceList | None
) -> tuple[HttpResponse | None, PriceListForm, list[dict[str, Any]]]:
    me = _me(request)
    form = PriceListForm(request.POST)
    items = posted_items(request.POST, me)
    if form.is_valid():
        try:
            saved = product_services.save_price_list(
                actor=me,
                data=form.cleaned_data,
                items=[{"product": i["product"], "price": i["price"]} for i in items],
                price_list=price_list,
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            form.show_error(exc)
        else:
            messages.success(request, _("Price list “%(name)s” was saved.") % {"name": saved.name})
            return redirect("sales:pricelist_list"), form, items
    return None, form, items


@login_required
def pricelist_create(request: HttpRequest) -> HttpResponse:
    _require_configure(request)
    if request.method == "POST":
        done, form, items = _save_price_list(request, None)
        if done is not None:
            return done
    else:
        form, items = PriceListForm(initial={"is_active": True}), []
    return _pricelist_page(request, form, None, items)


@login_required
def pricelist_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_configure(request)
    me = _me(request)
    price_list = get_scoped_or_404(PriceList, me, pk, _configure_action(me))
    if request.method == "POST":
        done, form, items = _save_price_list(request, price_list)
        if done is not None:
            return done
    else:
        form = PriceListForm(
            initial={
                "name": price_list.name,
                "valid_from": price_list.valid_from,
                "valid_until": price_list.valid_until,
                "is_active": price_list.is_active,
            }
        )
        items = [
            {"product_id": str(i.product_id), "price": f"{i.price:.2f}", "product": i.product}
            for i in PriceListItem.objects.visible_to(me)
            .filter(price_list=price_list)
            .select_related("product")
            .order_by("product__code", "pk")
        ]
    return _pricelist_page(request, form, price_list, items)


# --- quotes: list -------------------------------------------------------------------------------
def _read(me: User, action: str = "view") -> Any:
    """Quotes ``me`` may ``action``, with what their pages show."""
    return Quote.objects.visible_to(me, action).select_related(
        "customer", "opportunity", "contact", "owner", "price_list", "org"
    )


@login_required
def quote_list(request: HttpRequest) -> HttpResponse:
    """Quotes the user may see: search, status (current revisions by default), and the
    ``?customer=`` / ``?opportunity=`` the record pages link with."""
    require_perm(request, "sales", "view")
    me = _me(request)
    form = QuoteFilterForm(request.GET or None)
    qs = _read(me)
    status = ""
    if form.is_valid():
        text = (form.cleaned_data.get("q") or "").strip()
        if text:
            qs = qs.filter(
                Q(number__icontains=text)
                | Q(title__icontains=text)
                | Q(customer__name__icontains=text)
            )
        status = form.cleaned_data.get("status") or ""
    if status in QuoteStatus.values:
        qs = qs.filter(status=status)
    elif status != "all":
        qs = qs.exclude(status=QuoteStatus.SUPERSEDED)
    customer_id = _digits(request.GET.get("customer"))
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    opportunity_id = _digits(request.GET.get("opportunity"))
    if opportunity_id is not None:
        qs = qs.filter(opportunity_id=opportunity_id)
    paginator = CappedPaginator(qs.order_by("-updated_at", "-pk"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "sales/quotes/list.html",
        {
            "form": form,
            "page": page,
            "rows": [{"quote": q, "color": STATUS_COLORS.get(q.status, "secondary")} for q in page],
            "can_create": me.can("sales", "create"),
            "crumbs": [(QUOTES, None)],
        },
    )


# --- quotes: create and edit --------------------------------------------------------------------
def _form_page(
    request: HttpRequest,
    form: QuoteForm,
    lines: list[dict[str, Any]],
    *,
    quote: Quote | None = None,
    customer: Any = None,
    opportunity: Opportunity | None = None,
) -> HttpResponse:
    if quote is not None:
        crumbs = [
            (QUOTES, reverse("sales:quote_list")),
            (f"{quote.number} v{quote.revision}", reverse("sales:quote_detail", args=[quote.pk])),
            (_("Edit"), None),
        ]
    else:
        crumbs = [(QUOTES, reverse("sales:quote_list")), (_("New quote"), None)]
    if quote is not None:
        cancel = reverse("sales:quote_detail", args=[quote.pk])
    elif opportunity is not None:
        cancel = reverse("opportunities:detail", args=[opportunity.pk])
    elif customer is not None:
        cancel = reverse("customers:detail", args=[customer.pk])
    else:
        cancel = reverse("sales:quote_list")
    return render(
        request,
        "sales/quotes/form.html",
        {
            "form": form,
            "quote": quote,
            "customer": customer,
            "opportunity": opportunity,
            "lines": line_rows(lines),
            "discount_kinds": [("percent", "%"), ("amount", "¥")],
            "products_url": reverse("api:list_products"),
            "customers_url": reverse("api:list_customers"),
            "preview_url": reverse("sales:quote_preview"),
            "cancel_url": cancel,
            "crumbs": crumbs,
        },
    )


def _create_context(request: HttpRequest) -> tuple[Any, Opportunity | None]:
    """The customer and opportunity a new quote is for: ``?opportunity=`` / ``?customer=`` (or
    the posted form's); ids the user may not see count as none given."""
    me = _me(request)
    source = request.POST if request.method == "POST" else request.GET
    opportunity_id = _digits(source.get("opportunity"))
    if opportunity_id is not None and me.can("opportunities", "view"):
        opportunity = (
            Opportunity.objects.visible_to(me)
            .select_related("customer", "contact")
            .filter(pk=opportunity_id)
            .first()
        )
        if opportunity is not None:
            return opportunity.customer, opportunity
    customer_id = _digits(source.get("customer"))
    if customer_id is None or not me.can("customers", "view"):
        return None, None
    return active_customers(me).filter(pk=customer_id).first(), None


@login_required
def quote_create(request: HttpRequest) -> HttpResponse:
    """A new quote: from an opportunity (``?opportunity=<id>``: its customer, main contact and
    product lines), from a customer (``?customer=<id>``), or choosing the customer here."""
    require_perm(request, "sales", "create")
    me = _me(request)
    assert me.org_id is not None
    customer, opportunity = _create_context(request)
    choose = customer is None
    if request.method == "POST":
        form = QuoteForm(request.POST, user=me, customer=customer, choose_customer=choose)
        lines = posted_lines(request.POST, me)
        if form.is_valid():
            chosen = form.cleaned_data.get("customer") if choose else customer
            try:
                quote = quote_services.create_quote(
                    actor=me,
                    customer=chosen,
                    opportunity=opportunity,
                    data=form.service_data(),
                    lines=lines,
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request, _("Quote %(number)s was created.") % {"number": quote.number}
                )
                return redirect("sales:quote_detail", pk=quote.pk)
    else:
        initial: dict[str, Any] = {}
        lines = []
        if opportunity is not None:
            initial = {"title": opportunity.name, "contact": opportunity.contact_id}
            lines = quote_services.lines_from_opportunity(opportunity)
        elif customer is not None:
            primary = Contact.objects.visible_to(me).filter(customer=customer, is_primary=True)
            initial = {"contact": primary.values_list("pk", flat=True).first()}
        initial["valid_until"] = quote_services.default_valid_until()
        form = QuoteForm(user=me, customer=customer, choose_customer=choose, initial=initial)
    return _form_page(request, form, lines, customer=customer, opportunity=opportunity)


def _edit_initial(quote: Quote) -> dict[str, Any]:
    return {
        "title": quote.title,
        "contact": quote.contact_id,
        "price_list": quote.price_list_id,
        "valid_until": quote.valid_until,
        "terms": quote.terms,
        "notes": quote.notes,
        "version": quote.version,
    }


def _saved_lines(me: User, quote: Quote) -> list[QuoteLine]:
    return list(
        QuoteLine.objects.visible_to(me)
        .filter(quote=quote)
        .select_related("product")
        .order_by("sort_order", "pk")
    )


@login_required
def quote_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a draft (R6.1). The hidden ``version`` makes a stale save fail with who changed
    what; the current values are then loaded and nothing of the stale save is written."""
    require_perm(request, "sales", "edit")
    me = _me(request)
    quote = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    if quote.status != QuoteStatus.DRAFT:
        messages.error(request, _("Only a draft is edited. Revise the quote to change it."))
        return redirect("sales:quote_detail", pk=pk)
    if quote_services.pending_request(quote) is not None:
        messages.error(
            request, _("This quote is waiting for approval. Withdraw the approval to change it.")
        )
        return redirect("sales:quote_detail", pk=pk)
    kwargs = {
        "user": me,
        "customer": quote.customer,
        "current_price_list": quote.price_list,
        "editing": True,
    }
    if request.method == "POST":
        form = QuoteForm(request.POST, **kwargs)
        lines: list[Any] = posted_lines(request.POST, me)
        if form.is_valid():
            try:
                quote_services.update_quote(
                    actor=me,
                    quote=quote,
                    data=form.service_data(),
                    lines=lines,
                    version=form.cleaned_data.get("version"),
                )
            except EditConflict as exc:
                quote = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
                form = QuoteForm(initial=_edit_initial(quote), **kwargs)
                form.show_error(exc)
                lines = _saved_lines(me, quote)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request, _("Quote %(number)s was saved.") % {"number": quote.number}
                )
                return redirect("sales:quote_detail", pk=pk)
    else:
        form = QuoteForm(initial=_edit_initial(quote), **kwargs)
        lines = _saved_lines(me, quote)
    return _form_page(request, form, lines, quote=quote, customer=quote.customer)


@login_required
@require_POST
def quote_preview(request: HttpRequest) -> JsonResponse:
    """The live totals of the quote form: the posted lines priced by the same service the save
    uses (``quote_services.preview`` → ``crm.sales.pricing``). Display only; nothing is saved."""
    require_perm(request, "sales", "view")
    me = _me(request)
    assert me.org_id is not None
    result = quote_services.preview(me.org_id, posted_lines(request.POST, me))

    def amounts(values: Any) -> dict[str, str]:
        return {name: format_cny(getattr(values, name)) for name in values._fields}

    return JsonResponse(
        {
            "lines": [
                {"amounts": amounts(row["amounts"])} if "amounts" in row else row
                for row in result["lines"]
            ],
            "totals": amounts(result["totals"]),
            "max_discount_percent": f"{result['max_discount_percent']:.2f}",
        }
    )


# --- quotes: the page ---------------------------------------------------------------------------
def _decorate_requests(requests: list[Any]) -> list[Any]:
    for request in requests:
        request.task_rows = sorted(request.tasks.all(), key=lambda t: (t.step, t.pk))
    return requests


def _actions(me: User, quote: Quote, pending: Any) -> dict[str, bool]:
    editable = _may(me, quote, "edit")
    draft = quote.status == QuoteStatus.DRAFT
    return {
        "edit": editable and draft and pending is None,
        "send": editable and draft and pending is None,
        "withdraw": pending is not None and pending.submitter_id == me.pk and editable,
        "accept": editable and quote.status == QuoteStatus.SENT,
        "reject": editable and quote.status in (QuoteStatus.SENT, QuoteStatus.EXPIRED),
        "revise": editable and quote.status in quote_services.REVISABLE,
        "delete": draft and pending is None and _may(me, quote, "delete"),
    }


@login_required
def quote_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The quote page: header, lines and totals, approval, revisions, actions, documents."""
    require_perm(request, "sales", "view")
    me = _me(request)
    quote = get_scoped_or_404(_read(me), me, pk)
    lines = _saved_lines(me, quote)
    pending = quote_services.pending_request(quote)
    actions = _actions(me, quote, pending)
    revisions = list(
        Quote.objects.visible_to(me).filter(number=quote.number).order_by("revision", "pk")
    )
    contract_create = _url("sales:contract_create")
    return render(
        request,
        "sales/quotes/detail.html",
        {
            "quote": quote,
            "status_color": STATUS_COLORS.get(quote.status, "secondary"),
            "lines": lines,
            "pending": pending,
            "actions": actions,
            "action_form": ActionForm(initial={"version": quote.version}),
            "revisions": revisions if len(revisions) > 1 else [],
            "approval_history": _decorate_requests(
                approvals.requests_for(ApprovalSubject.QUOTE, quote)
            ),
            "history": audit.history_for(quote)[:100],
            "customer_url": (
                reverse("customers:detail", args=[quote.customer_id])
                if me.can("customers", "view")
                and active_customers(me).filter(pk=quote.customer_id).exists()
                else None
            ),
            "opportunity_url": (
                reverse("opportunities:detail", args=[quote.opportunity_id])
                if quote.opportunity_id
                and me.can("opportunities", "view")
                and Opportunity.objects.visible_to(me).filter(pk=quote.opportunity_id).exists()
                else None
            ),
            "contract_url": (
                f"{contract_create}?quote={quote.pk}"
                if contract_create
                and quote.status == QuoteStatus.ACCEPTED
                and me.can("sales", "create")
                else None
            ),
            "expired_on_read": bool(
                quote.status == QuoteStatus.SENT
                and quote.valid_until
                and quote.valid_until < quote_services.today()
            ),
            "crumbs": [
                (QUOTES, reverse("sales:quote_list")),
                (f"{quote.number} v{quote.revision}", None),
            ],
        },
    )


def _act(
    request: HttpRequest, pk: int, run: Callable[[User, Quote, ActionForm], tuple[str, int]]
) -> HttpResponse:
    """Run one action on a quote the user may edit, then to the page it names with the outcome
    as a flash message. Out of scope: 404 before anything runs."""
    require_perm(request, "sales", "edit")
    me = _me(request)
    quote = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    form = ActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("sales:quote_detail", pk=pk)
    try:
        done, target = run(me, quote, form)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
        return redirect("sales:quote_detail", pk=pk)
    messages.success(request, done)
    return redirect("sales:quote_detail", pk=target)


@login_required
@require_POST
def quote_send(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, quote: Quote, form: ActionForm) -> tuple[str, int]:
        _quote, pending = quote_services.send_quote(
            actor=me,
            quote=quote,
            version=form.cleaned_data.get("version"),
            comment=form.cleaned_data.get("note") or "",
        )
        if pending is not None:
            return _("The quote was submitted for approval; it is sent once approved."), quote.pk
        return _("The quote was marked as sent."), quote.pk

    return _act(request, pk, run)


@login_required
@require_POST
def quote_accept(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, quote: Quote, form: ActionForm) -> tuple[str, int]:
        quote_services.accept_quote(
            actor=me,
            quote=quote,
            version=form.cleaned_data.get("version"),
            note=form.cleaned_data.get("note") or "",
        )
        return _("The quote was accepted by the customer."), quote.pk

    return _act(request, pk, run)


@login_required
@require_POST
def quote_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, quote: Quote, form: ActionForm) -> tuple[str, int]:
        quote_services.reject_quote(
            actor=me,
            quote=quote,
            version=form.cleaned_data.get("version"),
            note=form.cleaned_data.get("note") or "",
        )
        return _("The quote was marked as rejected."), quote.pk

    return _act(request, pk, run)


@login_required
@require_POST
def quote_revise(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, quote: Quote, form: ActionForm) -> tuple[str, int]:
        revision = quote_services.revise_quote(
            actor=me, quote=quote, version=form.cleaned_data.get("version")
        )
        return (
            _("Revision %(n)s was created as a draft; the previous one is superseded.")
            % {"n": revision.revision},
            revision.pk,
        )

    return _act(request, pk, run)


@login_required
@require_POST
def quote_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, quote: Quote, form: ActionForm) -> tuple[str, int]:
        quote_services.withdraw_approval(actor=me, quote=quote)
        return _("The approval was withdrawn; the quote is a draft again."), quote.pk

    return _act(request, pk, run)


@login_required
@require_POST
def quote_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "delete")
    me = _me(request)
    quote = get_scoped_or_404(_read(me, "delete"), me, pk, "delete")
    previous = quote.previous_id
    try:
        quote_services.delete_quote(actor=me, quote=quote)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
        return redirect("sales:quote_detail", pk=pk)
    messages.success(request, _("Quote %(number)s was deleted.") % {"number": quote.number})
    if previous and Quote.objects.visible_to(me).filter(pk=previous).exists():
        return redirect("sales:quote_detail", pk=previous)
    return redirect("sales:quote_list")


# --- documents ----------------------------------------------------------------------------------
def _docx_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=documents.DOCX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def quote_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable quote (A4, print CSS)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    quote = get_scoped_or_404(_read(me), me, pk)
    return render(
        request,
        "sales/documents/quote_print.html",
        {
            "doc": documents.quote_context(quote),
            "back_url": reverse("sales:quote_detail", args=[quote.pk]),
        },
    )


@login_required
def quote_docx(request: HttpRequest, pk: int) -> HttpResponse:
    """The quote as a Word document (the organisation's template, else the built-in one)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    quote = get_scoped_or_404(_read(me), me, pk)
    content = documents.quote_docx(quote)
    return _docx_response(content, documents.download_name(quote.number, f"-v{quote.revision}"))


def _contract(me: User, pk: int) -> Contract:
    contract: Contract = get_scoped_or_404(
        Contract.objects.visible_to(me).select_related(
            "customer", "owner", "signer", "quote", "org"
        ),
        me,
        pk,
    )
    return contract


@login_required
def contract_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable contract: parties, amount in figures and in words, lines, terms,
    signature block."""
    require_perm(request, "sales", "view")
    me = _me(request)
    contract = _contract(me, pk)
    return render(
        request,
        "sales/documents/contract_print.html",
        {
            "doc": documents.contract_context(contract),
            "back_url": _url("sales:contract_detail", contract.pk),
        },
    )


@login_required
def contract_docx(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    contract = _contract(me, pk)
    return _docx_response(
        documents.contract_docx(contract), documents.download_name(contract.number)
    )


# --- document templates -------------------------------------------------------------------------
@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    """The organisation's Word templates: upload one (checked before it is saved), download
    the built-in ones to start from, delete."""
    _require_configure(request)
    me = _me(request)
    assert me.org_id is not None
    form = TemplateUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = documents.upload_template(
                actor=me,
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data.get("name") or "",
                uploaded=form.cleaned_data["file"],
                org_name=me.org.name if me.org else "",
            )
        except ValidationFailed as exc:
            for field, errors in exc.field_errors.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, str(message))
            if not exc.field_errors:
                form.add_error(None, str(exc.message))
        else:
            messages.success(
                request,
                _("Template “%(name)s” is now used for %(kind)s documents.")
                % {"name": template.name, "kind": documents.DOCUMENT_KINDS[template.kind]},
            )
            return redirect("sales:template_list")
    templates = list(
        DocumentTemplate.objects.visible_to(me, _configure_action(me)).order_by(
            "kind", "-created_at", "-pk"
        )
    )
    return render(
        request,
        "sales/documents/templates.html",
        {
            "form": form,
            "templates": [
                {"template": t, "kind_label": documents.DOCUMENT_KINDS.get(t.kind, t.kind)}
                for t in templates
            ],
            "kinds": [
                {
                    "key": key,
                    "label": label,
                    "variables": documents.TEMPLATE_VARIABLES[key],
                }
                for key, label in documents.DOCUMENT_KINDS.items()
            ],
            "line_variables": documents.LINE_VARIABLES,
            "syntax": {
                "variable": "{{ customer_name }}",
                "loop_start": "{%tr for line in lines %}",
                "loop_end": "{%tr endfor %}",
                "line_variable": "{{ line.description }}",
            },
            "crumbs": [(TEMPLATES, None)],
        },
    )


@login_required
def template_sample(request: HttpRequest) -> HttpResponse:
    """The built-in template of ``?kind=`` (quote or contract), to start an own one from."""
    _require_configure(request)
    kind = request.GET.get("kind") or "quote"
    if kind not in documents.DOCUMENT_KINDS:
        raise ValidationFailed(_("Choose quote or contract."))
    return _docx_response(documents.builtin_bytes(kind), f"{kind}-template.docx")


@login_required
def template_download(request: HttpRequest, pk: int) -> HttpResponse:
    _require_configure(request)
    me = _me(request)
    template = get_scoped_or_404(DocumentTemplate, me, pk, _configure_action(me))
    with template.file.open("rb") as handle:
        content = handle.read()
    return _docx_response(content, f"{template.kind}-template-{template.pk}.docx")


@login_required
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_configure(request)
    me = _me(request)
    template = get_scoped_or_404(DocumentTemplate, me, pk, _configure_action(me))
    name = template.name
    documents.delete_template(actor=me, template=template)
    messages.success(request, _("Template “%(name)s” was deleted.") % {"name": name})
    return redirect("sales:template_list")
