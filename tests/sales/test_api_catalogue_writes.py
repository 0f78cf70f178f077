"""Catalogue writes of the API (issue 7, R10.1 api-gaps): DELETE /sales/products/{id} and
POST/PATCH /sales/price-lists — the settings pages' services, with their audit events."""

from __future__ import annotations

import json
from typing import Any

from crm.core.models import Event
from crm.core.testing.world import World
from crm.sales.models import PriceList, PriceListItem, Product
from tests.sales.quote_helpers import grant_sales, make_product


def _json(client: Any, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_delete_product_deletes_an_unused_one_and_needs_configure(
    world: World, other_world: World, api_client: Any
) -> None:
    # R10.1: product.deleted; a rep (no sales:configure) 403; another organisation's id 404
    grant_sales(world)
    product = make_product(world, code="DEL-1", name="待删产品")
    r = api_client(world.users["rep_east"]).delete(f"/api/v1/sales/products/{product.pk}")
    assert r.status_code == 403
    r = api_client(other_world.admin).delete(f"/api/v1/sales/products/{product.pk}")
    assert r.status_code == 404
    r = api_client(world.admin).delete(f"/api/v1/sales/products/{product.pk}")
    assert r.status_code == 200, r.content
    assert r.json() == {"deleted": True}
    assert not Product.objects.filter(pk=product.pk).exists()
    assert Event.objects.filter(verb="product.deleted", object_id=str(product.pk)).exists()


def test_price_lists_are_created_and_changed_through_the_service(
    world: World, other_world: World, api_client: Any
) -> None:
    # R10.1: pricelist.created / pricelist.updated; items replace the prices; a product of
    # another organisation is a 404; duplicate names a 400
    grant_sales(world)
    a = make_product(world, code="PL-A", name="甲产品")
    b = make_product(world, code="PL-B", name="乙产品")
    admin = api_client(world.admin)
    r = _json(
        admin,
        "post",
        "/api/v1/sales/price-lists",
        {"name": "经销价", "items": [{"product_id": a.pk, "price": "80"}]},
    )
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["items"][0]["price"] == "80.00"
    assert Event.objects.filter(verb="pricelist.created", object_id=str(created["id"])).exists()
    url = f"/api/v1/sales/price-lists/{created['id']}"
    r = _json(admin, "patch", url, {"items": [{"product_id": b.pk, "price": "70.5"}]})
    assert r.status_code == 200, r.content
    assert [i["product"]["id"] for i in r.json()["items"]] == [b.pk]
    assert r.json()["name"] == "经销价"
    assert Event.objects.filter(verb="pricelist.updated", object_id=str(created["id"])).exists()
    foreign = make_product(other_world, code="PL-X", name="外部产品")
    r = _json(admin, "patch", url, {"items": [{"product_id": foreign.pk, "price": "1"}]})
    assert r.status_code == 404
    assert list(
        PriceListItem.objects.filter(price_list_id=created["id"]).values_list(
            "product_id", flat=True
        )
    ) == [b.pk]
    r = _json(admin, "post", "/api/v1/sales/price-lists", {"name": "经销价"})
    assert r.status_code == 400
    r = _json(api_client(world.users["rep_east"]), "patch", url, {"name": "改名"})
    assert r.status_code == 403
    r = _json(api_client(other_world.admin), "patch", url, {"name": "改名"})
    assert r.status_code == 404
    assert PriceList.objects.get(pk=created["id"]).name == "经销价"
