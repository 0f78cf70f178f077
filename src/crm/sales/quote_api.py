"""/api/v1/sales/: products, price lists and quotes (R6.1).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one service of
``crm.sales.product_services`` / ``crm.sales.quote_services``, serialise. Amounts are computed by
``crm.sales.pricing`` only; a stale ``version`` answers 409 ``edit_conflict``.
"""

from typing import Any

from django.db.models import CharField, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import FilterId, Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.customers.models import Contact, Customer
from crm.org.models import User
from crm.pipeline.models import Opportunity

from . import product_services, quote_services
from .choices import ApprovalStatus, ApprovalSubject
from .models import ApprovalRequest, PriceList, PriceListItem, Product, Quote
from .quote_schemas import (
    PRODUCT_DEFAULT_SORT,
    PRODUCT_SORTS,
    QUOTE_DEFAULT_SORT,
    QUOTE_SORTS,
    PreviewIn,
    PreviewOut,
    PriceListCreate,
    PriceListRead,
    PriceListUpdate,
    ProductCreate,
    ProductDeleted,
    ProductFilter,
    ProductRead,
    ProductUpdate,
    QuoteActionIn,
    QuoteCreate,
    QuoteFilter,
    QuoteLineIn,
    QuoteRead,
    QuoteUpdate,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("sales", action):
        raise PermissionDenied()


def _require_configure(request: HttpRequest) -> None:
    if not product_services.may_configure(_me(request)):
        raise PermissionDenied()


def _optional(request: HttpRequest, model: Any, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, model, pk)


# --- products -------------------------------------------------------------------------------------
def _products(request: HttpRequest) -> QuerySet[Product]:
    return scoped(request, Product)


@router.get(
    "/products",
    response=list[ProductRead],
    summary="The product catalogue (search, filter, sort; prices in a price list)",
)
@paginate(Paginated)
def list_products(
    request: HttpRequest,
    filters: Query[ProductFilter],
    price_list_id: FilterId | None = Query(  # noqa: B008 - ninja's parameter declaration
        None, description="Give `price` in this price list (when valid today)"
    ),
    sort: str | None = Query(None, description="code, name, list_price, updated; - descending"),
) -> Any:
    qs = filters.apply(_products(request))
    if price_list_id is not None:
        price_list = scoped_get(request, PriceList, price_list_id)
        if product_services.price_list_applies(price_list, quote_services.today()):
            qs = qs.annotate(
                list_item_price=Subquery(
                    PriceListItem.objects.filter(
                        price_list=price_list, product=OuterRef("pk")
                    ).values("price")[:1]
                )
            )
    return apply_sort(qs, sort, PRODUCT_SORTS, PRODUCT_DEFAULT_SORT)


@router.post("/products", response={201: ProductRead}, summary="Add a product to the catalogue")
def create_product(request: HttpRequest, payload: ProductCreate) -> Any:
    _require_configure(request)
    product = product_services.create_product(actor=_me(request), data=payload.dict())
    return Status(201, product)


@router.get("/products/{product_id}", response=ProductRead, summary="A product")
def get_product(request: HttpRequest, product_id: int) -> Any:
    return scoped_get(request, _products(request), product_id)


@router.patch(
    "/products/{product_id}",
    response=ProductRead,
    summary="Change a product (only the fields sent change)",
)
def update_product(request: HttpRequest, product_id: int, payload: ProductUpdate) -> Any:
    product = scoped_get(request, _products(request), product_id)
    _require_configure(request)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return product_services.update_product(actor=_me(request), product=product, data=data)


@router.delete(
    "/products/{product_id}",
    response=ProductDeleted,
    summary="Delete an unused product (one that documents use is deactivated instead)",
)
def delete_product(request: HttpRequest, product_id: int) -> Any:
    # R10.1 (api-gaps): the product page's delete, through the same service
    _require_configure(request)
    product = scoped_get(request, _products(request), product_id)
    return {"deleted": product_services.delete_product(actor=_me(request), product=product)}


# --- price lists ----------------------------------------------------------------------------------
def _price_lists(request: HttpRequest) -> QuerySet[PriceList]:
    return scoped(request, PriceList).prefetch_related("items__product")


def _price_items(request: HttpRequest, items: list[Any]) -> list[dict[str, Any]]:
    """The posted prices with their products (every product must be one the caller sees)."""
    ids = {item.product_id for item in items}
    products = {p.pk: p for p in _products(request).filter(pk__in=ids)}
    if len(products) != len(ids):
        raise NotFound()
    return [{"product": products[item.product_id], "price": item.price} for item in items]


@router.post(
    "/price-lists", response={201: PriceListRead}, summary="Create a price list with its prices"
)
def create_price_list(request: HttpRequest, payload: PriceListCreate) -> Any:
    # R10.1 (api-gaps): the price-list page's save, through the same service
    _require_configure(request)
    saved = product_services.save_price_list(
        actor=_me(request),
        data=payload.dict(exclude={"items"}),
        items=_price_items(request, payload.items),
    )
    return Status(201, _price_lists(request).get(pk=saved.pk))


@router.patch(
    "/price-lists/{price_list_id}",
    response=PriceListRead,
    summary="Change a price list (only the fields sent; items sent replace every price)",
)
def update_price_list(request: HttpRequest, price_list_id: int, payload: PriceListUpdate) -> Any:
    # R10.1 (api-gaps)
    _require_configure(request)
    price_list = scoped_get(request, PriceList, price_list_id)
    sent = payload.model_fields_set
    data = {
        k: v
        for k, v in payload.dict(exclude={"items"}).items()
        if k in sent and (v is not None or k in ("valid_from", "valid_until"))
    }
    items = None if payload.items is None else _price_items(request, payload.items)
    product_services.save_price_list(
        actor=_me(request), data=data, items=items, price_list=price_list
    )
    return _price_lists(request).get(pk=price_list.pk)


@router.get("/price-lists", response=list[PriceListRead], summary="Price lists with their prices")
@paginate(Paginated)
def list_price_lists(request: HttpRequest) -> Any:
    return _price_lists(request).order_by("name", "pk")


@router.get("/price-lists/{price_list_id}", response=PriceListRead, summary="A price list")
def get_price_list(request: HttpRequest, price_list_id: int) -> Any:
    return scoped_get(request, _price_lists(request), price_list_id)


# --- quotes ---------------------------------------------------------------------------------------
def read_queryset(qs: QuerySet[Quote]) -> QuerySet[Quote]:
    """``qs`` (already scoped) with everything QuoteRead shows, in a fixed number of queries."""
    pending = ApprovalRequest.objects.filter(
        org_id=OuterRef("org_id"),
        subject=ApprovalSubject.QUOTE,
        subject_id=Cast(OuterRef("pk"), output_field=CharField()),
        status=ApprovalStatus.PENDING,
    )
    return (
        qs.select_related("customer", "opportunity", "contact", "owner", "price_list")
        .prefetch_related("lines__product")
        .annotate(pending_approvals=Exists(pending))
    )


def _quote(request: HttpRequest, pk: int, action: str = "view") -> Quote:
    quote: Quote = scoped_get(request, scoped(request, Quote, action), pk, action)
    return quote


def _read(request: HttpRequest, quote: Quote) -> Quote:
    row = read_queryset(scoped(request, Quote)).filter(pk=quote.pk).first()
    if row is None:
        quote.refresh_from_db()
        return quote
    return row


def _lines(request: HttpRequest, lines: list[QuoteLineIn]) -> list[dict[str, Any]]:
    """The lines for the services, products looked up among those the caller may see."""
    wanted = {line.product_id for line in lines if line.product_id is not None}
    products = {p.pk: p for p in _products(request).filter(pk__in=wanted)}
    if len(products) != len(wanted):
        raise NotFound()
    return [
        {
            "product": products.get(line.product_id) if line.product_id else None,
            "description": line.description,
            "unit": line.unit,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "discount_kind": line.discount_kind,
            "discount_value": line.discount_value,
            "tax_rate": line.tax_rate,
        }
        for line in lines
    ]


@router.get(
    "/quotes",
    response=list[QuoteRead],
    summary="Quotes you may see (filter by customer, opportunity, status; search; sort)",
)
@paginate(Paginated)
def list_quotes(
    request: HttpRequest,
    filters: Query[QuoteFilter],
    sort: str | None = Query(None, description="number, total, valid_until, created, updated"),
) -> Any:
    qs = filters.apply(scoped(request, Quote))
    return apply_sort(read_queryset(qs), sort, QUOTE_SORTS, QUOTE_DEFAULT_SORT)


@router.post(
    "/quotes/preview",
    response=PreviewOut,
    summary="Compute lines' amounts and totals without saving (what the quote form shows)",
)
def preview_quote(request: HttpRequest, payload: PreviewIn) -> Any:
    _require(request, "view")
    me = _me(request)
    assert me.org_id is not None
    result = quote_services.preview(me.org_id, _lines(request, payload.lines))

    def amounts(values: Any) -> dict[str, str]:
        return {name: f"{value:.2f}" for name, value in values._asdict().items()}

    return {
        "lines": [
            {
                "amounts": amounts(row["amounts"]) if "amounts" in row else None,
                "error": row.get("error", ""),
            }
            for row in result["lines"]
        ],
        "totals": amounts(result["totals"]),
        "max_discount_percent": f"{result['max_discount_percent']:.2f}",
    }


@router.post("/quotes", response={201: QuoteRead}, summary="Create a draft quote with lines")
def create_quote(request: HttpRequest, payload: QuoteCreate) -> Any:
    _require(request, "create")
    opportunity = _optional(request, Opportunity, payload.opportunity_id)
    customer = _optional(request, Customer, payload.customer_id)
    if customer is None and opportunity is None:
        raise ValidationFailed(field_errors={"customer_id": [_("Choose a customer.")]})
    data: dict[str, Any] = payload.dict(include={"title", "valid_until", "terms", "notes"})
    data["contact"] = _optional(request, Contact, payload.contact_id)
    data["price_list"] = _optional(request, PriceList, payload.price_list_id)
    quote = quote_services.create_quote(
        actor=_me(request),
        customer=customer,
        opportunity=opportunity,
        data=data,
        lines=_lines(request, payload.lines),
    )
    return Status(201, _read(request, quote))


@router.get("/quotes/{quote_id}", response=QuoteRead, summary="A quote with its lines")
def get_quote(request: HttpRequest, quote_id: int) -> Any:
    return scoped_get(request, read_queryset(scoped(request, Quote)), quote_id)


@router.patch(
    "/quotes/{quote_id}",
    response=QuoteRead,
    summary="Edit a draft (send the version you read; stale → 409; lines replace the lines)",
)
def update_quote(request: HttpRequest, quote_id: int, payload: QuoteUpdate) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "edit")
    sent = payload.model_fields_set
    data: dict[str, Any] = {
        k: v
        for k, v in payload.dict(
            exclude_unset=True, include={"title", "valid_until", "terms", "notes"}
        ).items()
        if v is not None
    }
    if "contact_id" in sent:
        data["contact"] = _optional(request, Contact, payload.contact_id)
    if "price_list_id" in sent:
        data["price_list"] = _optional(request, PriceList, payload.price_list_id)
    quote_services.update_quote(
        actor=_me(request),
        quote=quote,
        data=data,
        lines=None if payload.lines is None else _lines(request, payload.lines),
        version=payload.version,
    )
    return _read(request, quote)


@router.delete("/quotes/{quote_id}", response={204: None}, summary="Delete a draft quote")
def delete_quote(request: HttpRequest, quote_id: int) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "delete")
    quote_services.delete_quote(actor=_me(request), quote=quote)
    return Status(204, None)


@router.post(
    "/quotes/{quote_id}/send",
    response=QuoteRead,
    summary="Send a draft (starts the quote approval when a flow applies)",
)
def send_quote(request: HttpRequest, quote_id: int, payload: QuoteActionIn) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "edit")
    quote_services.send_quote(
        actor=_me(request), quote=quote, version=payload.version, comment=payload.note
    )
    return _read(request, quote)


@router.post("/quotes/{quote_id}/accept", response=QuoteRead, summary="The customer accepted it")
def accept_quote(request: HttpRequest, quote_id: int, payload: QuoteActionIn) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "edit")
    quote_services.accept_quote(
        actor=_me(request), quote=quote, version=payload.version, note=payload.note
    )
    return _read(request, quote)


@router.post("/quotes/{quote_id}/reject", response=QuoteRead, summary="The customer rejected it")
def reject_quote(request: HttpRequest, quote_id: int, payload: QuoteActionIn) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "edit")
    quote_services.reject_quote(
        actor=_me(request), quote=quote, version=payload.version, note=payload.note
    )
    return _read(request, quote)


@router.post(
    "/quotes/{quote_id}/revise",
    response={201: QuoteRead},
    summary="A new draft revision of a sent, rejected or expired quote (this one is superseded)",
)
def revise_quote(request: HttpRequest, quote_id: int, payload: QuoteActionIn) -> Any:
    quote = _quote(request, quote_id)
    _require(request, "edit")
    revision = quote_services.revise_quote(actor=_me(request), quote=quote, version=payload.version)
    return Status(201, _read(request, revision))
