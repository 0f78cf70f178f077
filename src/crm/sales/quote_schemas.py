"""API schemas of products, price lists and quotes (R6.1).

Money and numbers go in as a string or a number (``"1,234.5"``, ``1234.5``) and come out as
strings with two decimals (``"1234.50"``). Write schemas list the fields a client may set:
anything else (organisation, owner, number, revision, status, amounts, version of a create …) is
ignored; amounts are always computed by the server (``crm.sales.pricing``), and status moves
through the explicit actions (send, accept, reject, revise).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Q, QuerySet
from ninja import Field, FilterSchema, Schema

from crm.core.api import RecordId
from crm.customers.schemas import CustomerBrief, UserBrief
from crm.pipeline.opportunity_schemas import FilterId, Money, Number, money_out

QUOTE_STATUS = Literal["draft", "sent", "accepted", "rejected", "expired", "superseded"]

PRODUCT_SORTS = {
    "code": "code",
    "name": "name",
    "list_price": "list_price",
    "updated": "updated_at",
}
PRODUCT_DEFAULT_SORT = ["code", "pk"]
QUOTE_SORTS = {
    "number": "number",
    "total": "total",
    "valid_until": "valid_until",
    "created": "created_at",
    "updated": "updated_at",
}
QUOTE_DEFAULT_SORT = ["-updated_at", "-pk"]


def _rate(value: Any) -> str:
    return f"{value:.2f}"


# --- products ------------------------------------------------------------------------------------
class ProductRead(Schema):
    """A catalogue product. ``price`` is the price in the price list asked for (``price_list_id``
    of the list), else the list price; prices are exclusive of tax."""

    id: int
    code: str
    name: str
    category: str
    unit: str
    list_price: str
    price: str = Field(..., description="In the requested price list today, else the list price")
    currency: str
    tax_rate: str = Field(..., description='Percent, e.g. "13.00"')
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_list_price(obj: Any) -> str:
        return f"{obj.list_price:.2f}"

    @staticmethod
    def resolve_price(obj: Any) -> str:
        special = getattr(obj, "list_item_price", None)
        return f"{(special if special is not None else obj.list_price):.2f}"

    @staticmethod
    def resolve_tax_rate(obj: Any) -> str:
        return _rate(obj.tax_rate)


class ProductBrief(Schema):
    id: int
    code: str
    name: str


class ProductCreate(Schema):
    code: str = Field(..., min_length=1, max_length=60, description="Unique in the organisation")
    name: str = Field(..., min_length=1, max_length=200)
    category: str = Field("", max_length=100)
    unit: str = Field("", max_length=20, description="e.g. 台, 套, 年")
    list_price: Money = Field(..., description="Exclusive of tax; string or number")
    tax_rate: Number = Field(Decimal("13"), description="Percent, 0–100 (default 13)")
    description: str = Field("", max_length=5000)
    is_active: bool = True


class ProductUpdate(Schema):
    """Only the fields sent change."""

    code: str | None = Field(None, min_length=1, max_length=60)
    name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, max_length=100)
    unit: str | None = Field(None, max_length=20)
    list_price: Money = Field(None, description="Exclusive of tax")
    tax_rate: Number | None = Field(None, description="Percent, 0–100")
    description: str | None = Field(None, max_length=5000)
    is_active: bool | None = None


class ProductFilter(FilterSchema):
    q: str | None = Field(None, max_length=100, description="Code or name contains")
    active: bool | None = Field(None, description="Only active (true) or inactive (false) ones")
    category: str | None = Field(None, max_length=100)

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if self.q and self.q.strip():
            text = self.q.strip()
            qs = qs.filter(Q(code__icontains=text) | Q(name__icontains=text))
        if self.active is not None:
            qs = qs.filter(is_active=self.active)
        if self.category:
            qs = qs.filter(category=self.category)
        return qs


# --- price lists ---------------------------------------------------------------------------------
class PriceListItemRead(Schema):
    product: ProductBrief
    price: str

    @staticmethod
    def resolve_price(obj: Any) -> str:
        return f"{obj.price:.2f}"


class PriceListRead(Schema):
    id: int
    name: str
    currency: str
    valid_from: date | None
    valid_until: date | None
    is_active: bool
    items: list[PriceListItemRead]

    @staticmethod
    def resolve_items(obj: Any) -> list[Any]:
        return list(obj.items.all())


class PriceListItemIn(Schema):
    """One price of a price list (R10.1, api-gaps)."""

    product_id: RecordId = Field(..., description="A catalogue product")
    price: Money = Field(..., description="Exclusive of tax; 0 or more")


class PriceListCreate(Schema):
    """A new price list with its prices (as the price-list page saves it)."""

    name: str = Field(..., min_length=1, max_length=100)
    valid_from: date | None = None
    valid_until: date | None = None
    is_active: bool = True
    items: list[PriceListItemIn] = Field([], max_length=2000)


class PriceListUpdate(Schema):
    """Only the fields sent change; ``items``, when sent, replace every price."""

    name: str | None = Field(None, min_length=1, max_length=100)
    valid_from: date | None = None
    valid_until: date | None = None
    is_active: bool | None = None
    items: list[PriceListItemIn] | None = Field(None, max_length=2000)


class ProductDeleted(Schema):
    deleted: bool = Field(..., description="false: documents use it, so it was deactivated")


# --- quotes --------------------------------------------------------------------------------------
class ContactBrief(Schema):
    id: int
    name: str


class OpportunityBrief(Schema):
    id: int
    name: str


class PriceListBrief(Schema):
    id: int
    name: str


class QuoteLineRead(Schema):
    """A line; its amounts are computed by the server: subtotal = quantity × unit price,
    discount (percent of the subtotal or an amount, never above it), tax on the discounted
    amount at the line's rate, total = subtotal − discount + tax (each half-up to the fen)."""

    id: int
    product: ProductBrief | None
    description: str
    unit: str
    quantity: str
    unit_price: str
    discount_kind: str
    discount_value: str
    tax_rate: str
    subtotal: str
    discount: str
    tax: str
    total: str

    @staticmethod
    def resolve_quantity(obj: Any) -> str:
        return f"{obj.quantity:.2f}"

    @staticmethod
    def resolve_unit_price(obj: Any) -> str:
        return f"{obj.unit_price:.2f}"

    @staticmethod
    def resolve_discount_value(obj: Any) -> str:
        return f"{obj.discount_value:.2f}"

    @staticmethod
    def resolve_tax_rate(obj: Any) -> str:
        return _rate(obj.tax_rate)

    @staticmethod
    def resolve_subtotal(obj: Any) -> str:
        return f"{obj.subtotal:.2f}"

    @staticmethod
    def resolve_discount(obj: Any) -> str:
        return f"{obj.discount:.2f}"

    @staticmethod
    def resolve_tax(obj: Any) -> str:
        return f"{obj.tax:.2f}"

    @staticmethod
    def resolve_total(obj: Any) -> str:
        return f"{obj.total:.2f}"


class QuoteRead(Schema):
    id: int
    number: str
    revision: int
    previous_id: int | None
    title: str
    status: str
    status_label: str
    customer: CustomerBrief
    opportunity: OpportunityBrief | None
    contact: ContactBrief | None
    owner: UserBrief
    price_list: PriceListBrief | None
    currency: str
    valid_until: date | None
    subtotal: str
    discount_total: str
    tax_total: str
    total: str
    max_discount_percent: str
    terms: str
    notes: str
    sent_at: datetime | None
    awaiting_approval: bool = Field(..., description="Sent for approval, not decided yet")
    lines: list[QuoteLineRead]
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_subtotal(obj: Any) -> str | None:
        return money_out(obj.subtotal)

    @staticmethod
    def resolve_discount_total(obj: Any) -> str | None:
        return money_out(obj.discount_total)

    @staticmethod
    def resolve_tax_total(obj: Any) -> str | None:
        return money_out(obj.tax_total)

    @staticmethod
    def resolve_total(obj: Any) -> str | None:
        return money_out(obj.total)

    @staticmethod
    def resolve_max_discount_percent(obj: Any) -> str:
        return _rate(obj.max_discount_percent)

    @staticmethod
    def resolve_awaiting_approval(obj: Any) -> bool:
        from .quote_services import pending_request

        pending = getattr(obj, "pending_approvals", None)
        return bool(pending) if pending is not None else pending_request(obj) is not None

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())


class QuoteLineIn(Schema):
    product_id: RecordId | None = Field(None, description="An active catalogue product")
    description: str = Field("", max_length=300, description="Defaults to the product's name")
    unit: str = Field("", max_length=20, description="Defaults to the product's unit")
    quantity: Number = Field(..., description="Above 0, at most two decimals")
    unit_price: Number = Field(..., description="Exclusive of tax, 0 or more")
    discount_kind: Literal["percent", "amount"] = "percent"
    discount_value: Number = Field(
        Decimal("0"), description="Percent (≤ 100) or an amount (≤ subtotal)"
    )
    tax_rate: Number | None = Field(None, description="Percent; defaults to the product's")


class QuoteCreate(Schema):
    customer_id: RecordId | None = Field(None, description="Or give the opportunity")
    opportunity_id: RecordId | None = Field(None, description="The customer is the opportunity's")
    title: str = Field("", max_length=200, description="Defaults to the opportunity's name")
    contact_id: RecordId | None = Field(None, description="A contact of the customer")
    price_list_id: RecordId | None = None
    valid_until: date | None = Field(None, description="Defaults to 30 days from today")
    terms: str = Field("", max_length=10000)
    notes: str = Field("", max_length=10000)
    lines: list[QuoteLineIn] = Field([], max_length=200)


class QuoteUpdate(Schema):
    """A draft's fields; only those sent change. ``version`` is the one you read (stale → 409);
    ``lines``, when sent, replace the lines."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    title: str | None = Field(None, min_length=1, max_length=200)
    contact_id: RecordId | None = Field(None, description="Send null to clear")
    price_list_id: RecordId | None = Field(None, description="Send null to clear")
    valid_until: date | None = None
    terms: str | None = Field(None, max_length=10000)
    notes: str | None = Field(None, max_length=10000)
    lines: list[QuoteLineIn] | None = Field(None, max_length=200, description="Replaces them")


class QuoteActionIn(Schema):
    note: str = Field("", max_length=500, description="A comment (why it was rejected, …)")
    version: int | None = Field(None, ge=1, description="The version you read (stale → 409)")


class QuoteFilter(FilterSchema):
    q: str | None = Field(None, max_length=100, description="Number or title contains")
    status: QUOTE_STATUS | None = None
    customer_id: FilterId | None = None
    opportunity_id: FilterId | None = None
    latest: bool | None = Field(None, description="true: leave superseded revisions out")

    def apply(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        if self.q and self.q.strip():
            text = self.q.strip()
            qs = qs.filter(Q(number__icontains=text) | Q(title__icontains=text))
        if self.status:
            qs = qs.filter(status=self.status)
        if self.customer_id is not None:
            qs = qs.filter(customer_id=self.customer_id)
        if self.opportunity_id is not None:
            qs = qs.filter(opportunity_id=self.opportunity_id)
        if self.latest:
            qs = qs.exclude(status="superseded")
        return qs


class PreviewIn(Schema):
    lines: list[QuoteLineIn] = Field([], max_length=200)


class AmountsOut(Schema):
    subtotal: str
    discount: str
    tax: str
    total: str


class PreviewLineOut(Schema):
    amounts: AmountsOut | None
    error: str


class PreviewOut(Schema):
    lines: list[PreviewLineOut]
    totals: AmountsOut
    max_discount_percent: str
