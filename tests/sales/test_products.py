"""The product catalogue and price lists (R6.1): edited by whoever may configure sales or the
organisation, read by every sales:view member; codes unique per organisation (clear message);
a used product is deactivated rather than deleted; price lists give other prices for a period;
other tenants get 404 with nothing changed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World, make_role, make_user
from crm.sales import product_services
from crm.sales.models import PriceList, PriceListItem, Product

from .quote_helpers import grant_sales, line, make_product, make_quote, u

pytestmark = pytest.mark.django_db


def row(obj: Any) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().first()


@pytest.fixture
def sales_world(world: World) -> World:
    return grant_sales(world)


def test_configurers_create_and_edit_products(sales_world: World) -> None:
    # R6.1: sales:configure or settings:configure edit the catalogue; reps only read it
    admin = sales_world.admin
    product = product_services.create_product(
        actor=admin,
        data={"code": "SRV-1", "name": "服务器", "unit": "台", "list_price": "68,000.5"},
    )
    assert (product.list_price, product.tax_rate, product.is_active) == (
        Decimal("68000.50"),
        Decimal("13.00"),
        True,
    )
    product_services.update_product(actor=admin, product=product, data={"tax_rate": "6"})
    product.refresh_from_db()
    assert product.tax_rate == Decimal("6.00")
    assert Event.objects.filter(verb="product.updated", object_id=str(product.pk)).exists()
    with pytest.raises(PermissionDenied):
        product_services.create_product(
            actor=u(sales_world, "rep_east"), data={"code": "X", "name": "X", "list_price": "1"}
        )
    settings_only = make_role(admin, "设置管理员", "all", ["settings:configure"])
    person = make_user(admin, "设置员", sales_world.depts["root"], [settings_only])
    made = product_services.create_product(
        actor=person, data={"code": "SET-1", "name": "设置员建的", "list_price": "1"}
    )
    assert made.org_id == sales_world.org.pk


def test_codes_are_unique_per_organisation_with_a_clear_message(
    sales_world: World, other_world: World
) -> None:
    # R6.1: a code clash names the product that has it (compared without case)
    make_product(sales_world, code="ABC-1", name="原有产品")
    with pytest.raises(ValidationFailed) as exc:
        product_services.create_product(
            actor=sales_world.admin, data={"code": "abc-1", "name": "新", "list_price": "1"}
        )
    assert "原有产品" in str(exc.value.field_errors["code"][0])
    # another organisation may use the same code
    assert make_product(other_world, code="ABC-1").code == "ABC-1"


def test_invalid_values_are_refused(sales_world: World) -> None:
    # R6.1: prices ≥ 0 with two decimals at most; tax rate 0–100
    for data in (
        {"list_price": "-1"},
        {"list_price": "abc"},
        {"tax_rate": "101"},
        {"tax_rate": "13.005"},
        {"code": ""},
        {"name": ""},
    ):
        with pytest.raises(ValidationFailed):
            product_services.create_product(
                actor=sales_world.admin,
                data={"code": "OK", "name": "OK", "list_price": "1", **data},
            )
    assert not Product.objects.filter(org=sales_world.org).exists()


def test_a_used_product_is_deactivated_instead_of_deleted(sales_world: World) -> None:
    # R6.1: documents keep the products they name
    used = make_product(sales_world)
    unused = make_product(sales_world)
    make_quote(sales_world, lines=[line(used)])
    assert product_services.delete_product(actor=sales_world.admin, product=used) is False
    used.refresh_from_db()
    assert used.is_active is False
    assert product_services.delete_product(actor=sales_world.admin, product=unused) is True
    assert not Product.objects.filter(pk=unused.pk).exists()


def test_price_for_uses_a_valid_price_list(sales_world: World) -> None:
    # R6.1: a price list applies on the days it is valid and while active
    product = make_product(sales_world, list_price="100")
    other = make_product(sales_world, list_price="50")
    today = date(2026, 6, 1)
    price_list = product_services.save_price_list(
        actor=sales_world.admin,
        data={"name": "渠道价", "valid_from": "2026-05-01", "valid_until": "2026-06-30"},
        items=[{"product": product, "price": "88.80"}],
    )
    assert product_services.price_for(product, price_list, today) == Decimal("88.80")
    assert product_services.price_for(other, price_list, today) == Decimal("50.00")
    assert product_services.price_for(product, None, today) == Decimal("100.00")
    assert product_services.price_for(product, price_list, date(2026, 7, 1)) == Decimal("100.00")
    product_services.save_price_list(
        actor=sales_world.admin, data={"is_active": False}, price_list=price_list
    )
    price_list.refresh_from_db()
    assert product_services.price_for(product, price_list, today) == Decimal("100.00")


def test_price_list_items_are_validated(sales_world: World, other_world: World) -> None:
    # R6.1: each product once, a price ≥ 0, products of the organisation only
    product = make_product(sales_world)
    foreign = make_product(other_world)
    for items in (
        [{"product": product, "price": "1"}, {"product": product, "price": "2"}],
        [{"product": product, "price": "-1"}],
        [{"product": foreign, "price": "1"}],
    ):
        with pytest.raises(ValidationFailed):
            product_services.save_price_list(
                actor=sales_world.admin, data={"name": "错误"}, items=items
            )
    assert not PriceList.objects.filter(org=sales_world.org).exists()


# --- pages ----------------------------------------------------------------------------------------
def test_product_pages(sales_world: World, client_for: Any) -> None:
    # R6.1: list with search; the form creates, edits, and deletes (or deactivates)
    admin = client_for(sales_world.admin)
    r = admin.post(
        reverse("sales:product_create"),
        {
            "code": "NET-01",
            "name": "核心交换机",
            "category": "硬件",
            "unit": "台",
            "list_price": "42000",
            "tax_rate": "13",
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    product = Product.objects.get(org=sales_world.org, code="NET-01")
    r = admin.post(
        reverse("sales:product_create"),
        {"code": "net-01", "name": "重复", "list_price": "1", "tax_rate": "13"},
    )
    assert r.status_code == 200 and "核心交换机" in r.content.decode()
    r = admin.post(
        reverse("sales:product_edit", args=[product.pk]),
        {"code": "NET-01", "name": "核心交换机 V2", "list_price": "41000", "tax_rate": "13"},
    )
    assert r.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.list_price, product.is_active) == (
        "核心交换机 V2",
        Decimal("41000.00"),
        False,
    )
    rep = client_for(u(sales_world, "rep_east"))
    body = rep.get(reverse("sales:product_list") + "?q=交换机").content.decode()
    assert "核心交换机 V2" in body
    assert (
        "核心交换机 V2" not in rep.get(reverse("sales:product_list") + "?q=路由").content.decode()
    )
    assert rep.get(reverse("sales:product_create")).status_code == 403
    assert rep.get(reverse("sales:product_edit", args=[product.pk])).status_code == 403
    r = admin.post(reverse("sales:product_delete", args=[product.pk]))
    assert r.status_code == 302 and not Product.objects.filter(pk=product.pk).exists()


def test_price_list_pages(sales_world: World, client_for: Any) -> None:
    # R6.1: a price list with its prices, edited on one page
    first, second = make_product(sales_world), make_product(sales_world)
    admin = client_for(sales_world.admin)
    r = admin.post(
        reverse("sales:pricelist_create"),
        {
            "name": "大客户价",
            "valid_from": "",
            "valid_until": "",
            "is_active": "on",
            "item-product": [str(first.pk), "", str(second.pk)],
            "item-price": ["90", "", "45.5"],
        },
    )
    assert r.status_code == 302, r.content.decode()[:500]
    price_list = PriceList.objects.get(org=sales_world.org, name="大客户价")
    assert dict(
        PriceListItem.objects.filter(price_list=price_list).values_list("product_id", "price")
    ) == {first.pk: Decimal("90.00"), second.pk: Decimal("45.50")}
    body = admin.get(reverse("sales:pricelist_edit", args=[price_list.pk])).content.decode()
    assert "45.50" in body
    r = admin.post(
        reverse("sales:pricelist_edit", args=[price_list.pk]),
        {
            "name": "大客户价",
            "valid_from": "2026-02-01",
            "valid_until": "2026-01-01",
            "item-product": [str(first.pk)],
            "item-price": ["90"],
        },
    )
    assert r.status_code == 200
    body = client_for(u(sales_world, "rep_east")).get(reverse("sales:pricelist_list"))
    assert "大客户价" in body.content.decode()


def test_other_tenants_get_404_and_change_nothing(
    sales_world: World, other_world: World, client_for: Any
) -> None:
    # R1.3 A2: another organisation's administrator reaches no product or price list
    product = make_product(sales_world, name="本公司产品")
    price_list = product_services.save_price_list(
        actor=sales_world.admin, data={"name": "本公司价目"}, items=[]
    )
    before = (row(product), row(price_list), Event.objects.count())
    client = client_for(other_world.admin)
    for name, pk, method in (
        ("sales:product_edit", product.pk, "get"),
        ("sales:product_edit", product.pk, "post"),
        ("sales:product_delete", product.pk, "post"),
        ("sales:pricelist_edit", price_list.pk, "get"),
        ("sales:pricelist_edit", price_list.pk, "post"),
    ):
        r = getattr(client, method)(reverse(name, args=[pk]), {"name": "越权", "code": "X"})
        assert r.status_code == 404, (name, method)
    assert "本公司产品" not in client.get(reverse("sales:product_list")).content.decode()
    assert "本公司价目" not in client.get(reverse("sales:pricelist_list")).content.decode()
    assert (row(product), row(price_list), Event.objects.count()) == before


def test_menu_shows_templates_to_configurers(sales_world: World, client_for: Any) -> None:
    # R6.1: the Word templates entry is a setting
    body = client_for(sales_world.admin).get(reverse("sales:product_list")).content.decode()
    assert f'href="{reverse("sales:template_list")}"' in body
