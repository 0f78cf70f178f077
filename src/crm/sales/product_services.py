"""Every write on the product catalogue and the price lists (R6.1).

- Products are read by everyone with ``sales:view`` and edited by whoever may configure sales
  (``sales:configure``) or the organisation (``settings:configure``).
- A product's code is unique in the organisation (compared without case); a clash is refused
  with a message naming the product that has the code.
- A product that quotes, orders or price lists use is never deleted: "delete" deactivates it
  instead (it stays on the documents that name it and is no longer offered for new lines).
- Price lists are optional: a price list gives some products another price, for a period
  (``valid_from`` – ``valid_until``, either open). :func:`price_for` says what a product costs on
  a day with or without a price list; everything else falls back to the product's list price.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.money import parse_money
from crm.org.models import User

from .models import OrderLine, PriceList, PriceListItem, Product, QuoteLine

MAX_ITEMS = 1000
HUNDRED = Decimal(100)
TEXT_LIMITS = {"code": 60, "name": 200, "category": 100, "unit": 20}


# --- permissions ---------------------------------------------------------------------------------
def may_configure(user: Any) -> bool:
    """May ``user`` edit the catalogue and price lists?"""
    return bool(
        getattr(user, "is_authenticated", False)
        and (user.can("sales", "configure") or user.can("settings", "configure"))
    )


def _require(actor: User) -> int:
    if not actor.org_id or not may_configure(actor):
        raise PermissionDenied()
    return actor.org_id


def _same_org(actor: User, obj: Any) -> None:
    if obj is None or obj.org_id != actor.org_id:
        raise PermissionDenied()


# --- validation ----------------------------------------------------------------------------------
def parse_rate(value: Any) -> Decimal | None:
    """A percentage from 0 to 100 with at most two decimals; None when blank or invalid."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().rstrip("%").strip()
    try:
        rate = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not rate.is_finite() or rate < 0 or rate > HUNDRED or rate != rate.quantize(Decimal("0.01")):
        return None
    return rate.quantize(Decimal("0.01"))


def _clean_product(org_id: int, data: dict[str, Any], product: Product | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for field, limit in TEXT_LIMITS.items():
        if field in data:
            value = str(data[field] or "").strip()
            if len(value) > limit:
                errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
            clean[field] = value
    if "code" in clean and not clean["code"]:
        errors["code"] = [_("Enter the product's code.")]
    if "name" in clean and not clean["name"]:
        errors["name"] = [_("Enter the product's name.")]
    if "description" in data:
        clean["description"] = str(data["description"] or "").strip()[:5000]
    if "list_price" in data:
        try:
            price = parse_money(data["list_price"])
        except ValueError:
            price = None
            errors["list_price"] = [_("Enter an amount of 0 or more, with at most two decimals.")]
        else:
            if price is None:
                errors["list_price"] = [_("Enter the list price.")]
        clean["list_price"] = price
    if "tax_rate" in data:
        rate = parse_rate(data["tax_rate"])
        if rate is None:
            errors["tax_rate"] = [_("Enter a tax rate from 0 to 100 %, at most two decimals.")]
        clean["tax_rate"] = rate
    if "is_active" in data:
        clean["is_active"] = bool(data["is_active"]) and data["is_active"] not in ("0", "false")
    if clean.get("code"):
        taken = Product.objects.filter(org_id=org_id, code__iexact=clean["code"])
        if product is not None:
            taken = taken.exclude(pk=product.pk)
        other = taken.first()
        if other is not None:
            errors["code"] = [
                _("The code “%(code)s” is already used by the product “%(name)s”.")
                % {"code": other.code, "name": other.name}
            ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _code_taken(code: str) -> ValidationFailed:
    return ValidationFailed(
        field_errors={"code": [_("The code “%(code)s” is already in use.") % {"code": code}]}
    )


# --- products ------------------------------------------------------------------------------------
@transaction.atomic
def create_product(*, actor: User, data: dict[str, Any]) -> Product:
    """A new product of the actor's catalogue (code and name required)."""
    org_id = _require(actor)
    values = {"code": "", "name": "", "list_price": "0", "tax_rate": "13", **data}
    clean = _clean_product(org_id, values, None)
    product = Product(org_id=org_id, **clean)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise _code_taken(clean["code"]) from None
    audit.record_created(actor=actor, obj=product, verb="product.created")
    return product


@transaction.atomic
def update_product(*, actor: User, product: Product, data: dict[str, Any]) -> Product:
    """Change the fields present in ``data``."""
    org_id = _require(actor)
    _same_org(actor, product)
    clean = _clean_product(org_id, data, product)
    before = audit.snapshot(product)
    for key, value in clean.items():
        setattr(product, key, value)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise _code_taken(str(clean.get("code", product.code))) from None
    changes = audit.diff(before, audit.snapshot(product))
    if changes:
        audit.record(actor=actor, obj=product, verb="product.updated", changes=changes)
    return product


def product_in_use(product: Product) -> bool:
    """Do quotes, orders or price lists name the product?"""
    return (
        QuoteLine.objects.filter(org_id=product.org_id, product=product).exists()
        or OrderLine.objects.filter(org_id=product.org_id, product=product).exists()
        or PriceListItem.objects.filter(org_id=product.org_id, product=product).exists()
    )


@transaction.atomic
def delete_product(*, actor: User, product: Product) -> bool:
    """Delete an unused product; one that documents use is deactivated instead. Returns True
    when it was deleted, False when it was deactivated."""
    _require(actor)
    _same_org(actor, product)
    if product_in_use(product):
        if product.is_active:
            Product.objects.filter(pk=product.pk).update(is_active=False)
            product.is_active = False
            audit.record(
                actor=actor,
                obj=product,
                verb="product.deactivated",
                changes={"is_active": [True, False]},
            )
        return False
    audit.record(actor=actor, obj=product, verb="product.deleted")
    product.delete()
    return True


def set_product_active(*, actor: User, product: Product, active: bool) -> Product:
    return update_product(actor=actor, product=product, data={"is_active": active})


# --- price lists ---------------------------------------------------------------------------------
def _clean_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date (YYYY-MM-DD).")]
    return parsed


def _clean_price_list(
    org_id: int, data: dict[str, Any], price_list: PriceList | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            errors["name"] = [_("Enter the price list's name.")]
        elif len(name) > 100:
            errors["name"] = [_("At most %(n)s characters.") % {"n": 100}]
        else:
            taken = PriceList.objects.filter(org_id=org_id, name=name)
            if price_list is not None:
                taken = taken.exclude(pk=price_list.pk)
            if taken.exists():
                errors["name"] = [_("Another price list has this name.")]
        clean["name"] = name
    for field in ("valid_from", "valid_until"):
        if field in data:
            clean[field] = _clean_date(data[field], field, errors)
    start = clean.get("valid_from", price_list.valid_from if price_list else None)
    end = clean.get("valid_until", price_list.valid_until if price_list else None)
    if start and end and end < start and "valid_until" not in errors:
        errors["valid_until"] = [_("The end comes before the start.")]
    if "is_active" in data:
        clean["is_active"] = bool(data["is_active"]) and data["is_active"] not in ("0", "false")
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _clean_items(actor: User, items: list[dict[str, Any]]) -> list[tuple[Product, Decimal]]:
    errors: list[str] = []
    result: dict[int, tuple[Product, Decimal]] = {}
    for index, item in enumerate(items, start=1):
        product = item.get("product")
        if not isinstance(product, Product) or product.org_id != actor.org_id:
            errors.append(_("Line %(n)s: choose a product.") % {"n": index})
            continue
        try:
            price = parse_money(item.get("price"))
        except ValueError:
            price = None
        if price is None:
            errors.append(_("Line %(n)s: enter a price of 0 or more.") % {"n": index})
            continue
        if product.pk in result:
            errors.append(
                _("Line %(n)s: “%(product)s” is listed twice.") % {"n": index, "product": product}
            )
            continue
        result[product.pk] = (product, price)
    if len(result) > MAX_ITEMS:
        errors.append(_("At most %(n)s products per price list.") % {"n": MAX_ITEMS})
    if errors:
        raise ValidationFailed(field_errors={"items": errors})
    return list(result.values())


@transaction.atomic
def save_price_list(
    *,
    actor: User,
    data: dict[str, Any],
    items: list[dict[str, Any]] | None = None,
    price_list: PriceList | None = None,
) -> PriceList:
    """Create or change a price list; ``items`` (``{"product": Product, "price": …}``), when
    given, replace its prices."""
    org_id = _require(actor)
    if price_list is not None:
        _same_org(actor, price_list)
    values = data if price_list is not None else {"name": "", **data}
    clean = _clean_price_list(org_id, values, price_list)
    rows = _clean_items(actor, items) if items is not None else None
    creating = price_list is None
    before = {} if price_list is None else audit.snapshot(price_list)
    if price_list is None:
        price_list = PriceList(org_id=org_id, currency="CNY")
    for key, value in clean.items():
        setattr(price_list, key, value)
    try:
        with transaction.atomic():
            price_list.save()
    except IntegrityError:
        raise ValidationFailed(
            field_errors={"name": [_("Another price list has this name.")]}
        ) from None
    changes = audit.diff(before, audit.snapshot(price_list))
    if rows is not None:
        old = {
            str(pk): str(price)
            for pk, price in PriceListItem.objects.filter(price_list=price_list).values_list(
                "product_id", "price"
            )
        }
        PriceListItem.objects.filter(price_list=price_list).delete()
        PriceListItem.objects.bulk_create(
            PriceListItem(org_id=org_id, price_list=price_list, product=product, price=price)
            for product, price in rows
        )
        new = {str(product.pk): str(price) for product, price in rows}
        if old != new:
            changes["items"] = [old, new]
    if creating or changes:
        audit.record(
            actor=actor,
            obj=price_list,
            verb="pricelist.created" if creating else "pricelist.updated",
            changes=changes,
        )
    return price_list


def price_list_applies(price_list: PriceList | None, on_date: date) -> bool:
    """Is ``price_list`` active and valid on ``on_date``?"""
    return bool(
        price_list is not None
        and price_list.is_active
        and (price_list.valid_from is None or price_list.valid_from <= on_date)
        and (price_list.valid_until is None or on_date <= price_list.valid_until)
    )


def price_for(product: Product, price_list: PriceList | None, on_date: date) -> Decimal:
    """What ``product`` costs on ``on_date``: the price list's price when the list applies that
    day and names the product, else the product's list price."""
    if (
        price_list is not None
        and price_list.org_id == product.org_id
        and price_list_applies(price_list, on_date)
    ):
        price = (
            PriceListItem.objects.filter(price_list=price_list, product=product)
            .values_list("price", flat=True)
            .first()
        )
        if price is not None:
            return price
    return product.list_price
