"""Forms of the product, price-list, quote and document-template pages (R6.1): shape and field
validation only. Forms never save: the views hand their cleaned data to the services, which
check amounts, codes and statuses and answer ``ValidationFailed`` per field. Every choice list is
built from ``visible_to(user)`` querysets, so another organisation's rows are never offered and
an id of one posted anyway is an invalid choice (or is dropped, for line products).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import ErrorDict
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.errors import Conflict, DomainError
from crm.core.forms import TablerForm
from crm.customers.models import Contact, Customer
from crm.customers.selectors import active_customers
from crm.org.models import User

from .choices import DiscountKind, QuoteStatus
from .documents import DOCUMENT_KINDS, MAX_TEMPLATE_BYTES
from .models import PriceList, Product

#: the posted names of a quote line's inputs (one value per line, in order)
LINE_INPUTS = (
    "product",
    "description",
    "unit",
    "quantity",
    "unit_price",
    "discount_kind",
    "discount_value",
    "tax_rate",
)
MAX_POSTED_LINES = 200


class ShowErrorMixin:
    """Put a service error on the form: line messages above the lines, other fields on their
    inputs, anything else (and a conflict's explanation) at the top. Works on an unbound form
    too: after a conflict the form shows the current values with the errors."""

    fields: dict[str, forms.Field]
    line_errors: list[str]

    def show_error(self, exc: DomainError) -> None:
        if getattr(self, "_errors", None) is None:
            self._errors = ErrorDict()
        if not hasattr(self, "cleaned_data"):
            self.cleaned_data: dict[str, Any] = {}
        placed = [f for f in exc.field_errors if f not in ("lines", "items")]
        if isinstance(exc, Conflict) or not placed:
            self.add_error(None, str(exc.message))  # type: ignore[attr-defined]
        for field, messages in exc.field_errors.items():
            for message in messages:
                if field in ("lines", "items"):
                    self.line_errors.append(str(message))
                else:
                    self.add_error(field if field in self.fields else None, str(message))  # type: ignore[attr-defined]


# --- products ------------------------------------------------------------------------------------
class ProductForm(ShowErrorMixin, TablerForm):
    code = forms.CharField(label=_("Code"), max_length=60)
    name = forms.CharField(label=_("Name"), max_length=200)
    category = forms.CharField(label=_("Category"), max_length=100, required=False)
    unit = forms.CharField(
        label=_("Unit"), max_length=20, required=False, help_text=_("e.g. 台, 套, 年, 人天")
    )
    list_price = forms.CharField(
        label=_("List price (¥, excluding tax)"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    tax_rate = forms.CharField(
        label=_("Tax rate (%)"),
        max_length=10,
        initial="13",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(
        label=_("Active (offered on new quotes)"), required=False, initial=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_errors = []


class ProductFilterForm(TablerForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    category = forms.ChoiceField(label=_("Category"), required=False)
    active = forms.ChoiceField(
        label=pgettext_lazy("product filter", "Status"),
        required=False,
        choices=[("", _("All")), ("1", _("Active")), ("0", _("Inactive"))],
    )

    def __init__(self, *args: Any, categories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All"))] + [(c, c) for c in categories]  # type: ignore[attr-defined]
        self.fields["q"].widget.attrs["placeholder"] = _("Code or name")


# --- price lists ---------------------------------------------------------------------------------
class PriceListForm(ShowErrorMixin, TablerForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    valid_from = forms.DateField(
        label=_("Valid from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    valid_until = forms.DateField(
        label=_("Valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_errors = []


def posted_items(data: QueryDict, user: User) -> list[dict[str, Any]]:
    """The price rows of a posted price-list form (``item-product``, ``item-price``); rows left
    empty are dropped; a product the user may not see counts as none chosen."""
    ids = data.getlist("item-product")[:2000]
    prices = data.getlist("item-price")[:2000]
    wanted = {int(v) for v in ids if v.isdigit() and len(v) < 18}
    products = {p.pk: p for p in Product.objects.visible_to(user).filter(pk__in=wanted)}
    rows = []
    for index in range(max(len(ids), len(prices))):
        raw_id = ids[index].strip() if index < len(ids) else ""
        price = prices[index].strip()[:40] if index < len(prices) else ""
        if not raw_id and not price:
            continue
        product = products.get(int(raw_id)) if raw_id.isdigit() and len(raw_id) < 18 else None
        rows.append({"product": product, "price": price, "product_id": raw_id})
    return rows


# --- quotes --------------------------------------------------------------------------------------
class ContactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.title}" if obj.title else str(obj.name)


class QuoteForm(ShowErrorMixin, TablerForm):
    """Create or edit a quote's header. The customer is chosen only when creating without an
    opportunity or customer given; editing carries the quote's ``version``."""

    title = forms.CharField(label=pgettext_lazy("quote", "Title"), max_length=200, required=False)
    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Customer.objects.none(), empty_label="—"
    )
    contact = ContactChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False, empty_label="—"
    )
    price_list = forms.ModelChoiceField(
        label=_("Price list"),
        queryset=PriceList.objects.none(),
        required=False,
        empty_label=_("List prices"),
    )
    valid_until = forms.DateField(
        label=_("Valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    terms = forms.CharField(
        label=_("Terms"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Payment, delivery and warranty terms printed on the quote."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        user: User,
        customer: Customer | None = None,
        choose_customer: bool = False,
        current_price_list: PriceList | None = None,
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.line_errors = []
        self.user = user
        if not editing:
            del self.fields["version"]
        if choose_customer:
            self.fields["customer"].queryset = active_customers(user)  # type: ignore[attr-defined]
            raw = str(self.data.get("customer") or "") if self.is_bound else ""
            chosen = (
                active_customers(user).filter(pk=int(raw)).first()
                if raw.isdigit() and len(raw) < 18
                else None
            )
            # Only the chosen customer is rendered; the page searches the others.
            self.fields["customer"].widget.choices = [("", "—")] + (
                [(chosen.pk, chosen.name)] if chosen is not None else []
            )
            self.fields["customer"].widget.attrs["data-customer-search"] = ""
            customer = chosen
        else:
            del self.fields["customer"]
        contacts = Contact.objects.visible_to(user)
        self.fields["contact"].queryset = (  # type: ignore[attr-defined]
            contacts.filter(customer=customer).order_by("-is_primary", "name", "pk")
            if customer is not None
            else contacts.none()
        )
        price_lists = PriceList.objects.visible_to(user).filter(is_active=True)
        if current_price_list is not None:
            price_lists = PriceList.objects.visible_to(user).filter(
                pk__in=[*price_lists.values_list("pk", flat=True), current_price_list.pk]
            )
        self.fields["price_list"].queryset = price_lists.order_by("name", "pk")  # type: ignore[attr-defined]
        self.fields["title"].help_text = _("Empty: the opportunity's or the customer's name.")
        self.style_fields()

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            key: data.get(key)
            for key in ("title", "contact", "price_list", "valid_until", "terms", "notes")
            if key in self.fields
        }


def posted_lines(data: QueryDict, user: User) -> list[dict[str, Any]]:
    """The lines of a posted quote form (``line-description``, ``line-quantity``…, one value per
    line); rows left entirely empty are dropped. Products are looked up among those ``user`` may
    see (another organisation's id is no product)."""
    columns = {key: data.getlist(f"line-{key}")[: MAX_POSTED_LINES + 1] for key in LINE_INPUTS}
    count = max((len(values) for values in columns.values()), default=0)
    wanted = {int(v) for v in columns["product"] if v.strip().isdigit() and len(v.strip()) < 18}
    products = {p.pk: p for p in Product.objects.visible_to(user).filter(pk__in=wanted)}
    lines = []
    for index in range(min(count, MAX_POSTED_LINES + 1)):
        row = {
            key: (values[index] if index < len(values) else "").strip()[:300]
            for key, values in columns.items()
        }
        meaningful = {k: v for k, v in row.items() if k != "discount_kind"}
        if not any(meaningful.values()):
            continue
        raw = row.pop("product")
        row["product_id"] = raw
        lines.append(
            {
                **row,
                "product": products.get(int(raw)) if raw.isdigit() and len(raw) < 18 else None,
            }
        )
    return lines


def _get(line: Any, key: str) -> Any:
    return line.get(key) if isinstance(line, dict) else getattr(line, key, None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _price(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else f"{value:.2f}"


def line_rows(lines: list[Any]) -> list[dict[str, Any]]:
    """Lines (saved rows, posted dicts or prefilled dicts) as the form's inputs show them."""
    rows = []
    for line in lines:
        product = _get(line, "product")
        posted_id = _text(_get(line, "product_id")) if isinstance(line, dict) else ""
        rows.append(
            {
                "product_id": str(product.pk) if product is not None else posted_id,
                "product_label": f"{product.code} {product.name}" if product is not None else "",
                "description": _text(_get(line, "description")),
                "unit": _text(_get(line, "unit")),
                "quantity": _plain(_get(line, "quantity")),
                "unit_price": _price(_get(line, "unit_price")),
                "discount_kind": _text(_get(line, "discount_kind")) or DiscountKind.PERCENT,
                "discount_value": _plain(_get(line, "discount_value")),
                "tax_rate": _plain(_get(line, "tax_rate")),
            }
        )
    return rows


def _plain(value: Any) -> str:
    """A quantity, discount or rate without needless zeros (2.00 → 2, 12.50 → 12.5)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ActionForm(TablerForm):
    """What a quote action posts: an optional note and the version the page showed."""

    note = forms.CharField(
        label=_("Note"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class QuoteFilterForm(TablerForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=pgettext_lazy("quote filter", "Status"),
        required=False,
        choices=[
            ("", _("Current (not superseded)")),
            ("all", _("All revisions")),
            *QuoteStatus.choices,
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("Number, title or customer")


# --- document templates --------------------------------------------------------------------------
class TemplateUploadForm(TablerForm):
    kind = forms.ChoiceField(label=_("Document"), choices=list(DOCUMENT_KINDS.items()))
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    file = forms.FileField(
        label=_("Word template (.docx)"),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".docx,application/vnd.openxmlformats-officedocument"
                ".wordprocessingml.document"
            }
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _("At most %(mb)s MB.") % {
            "mb": MAX_TEMPLATE_BYTES // (1024 * 1024)
        }
