"""The sales API (R6.1): the quote contract (401, 404 across tenants and scopes with nothing
changed, audited edits), quotes created with exact money, filters, optimistic locking, the
status actions and revisions, the preview, products (configure to write) and price lists, and
ids in bodies that the caller may not see."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from crm.core.models import Event
from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from crm.sales import product_services, quote_services
from crm.sales.choices import QuoteStatus
from crm.sales.models import Product, Quote, QuoteLine

from .quote_helpers import (
    grant_sales,
    line,
    make_customer,
    make_opportunity,
    make_product,
    make_quote,
    u,
)

BASE = "/api/v1/sales"
pytestmark = pytest.mark.django_db


def send(client: Client, url: str, payload: dict[str, Any] | None = None, method: str = "post"):
    return getattr(client, method)(
        url, data=json.dumps(payload or {}), content_type="application/json"
    )


def row(obj: Any) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().first()


class TestQuoteContract(ApiContract):
    """R1.3 R6.1: the shared API contract for quotes."""

    list_url = f"{BASE}/quotes"
    detail_url = f"{BASE}/quotes/{{id}}"
    update_payload = {"version": 1, "title": "合同测试新标题"}

    def make_record(self, world: World, owner: Any) -> Any:
        grant_sales(world)
        key = next(k for k, v in world.users.items() if v.pk == owner.pk)
        return make_quote(world, key)


@pytest.fixture
def sales_world(world: World) -> World:
    return grant_sales(world)


def test_create_a_quote_with_exact_money(sales_world: World, api_client: Any) -> None:
    # R6.1: amounts computed by the server, strings with two decimals, of an opportunity
    rep = u(sales_world, "rep_east")
    opportunity = make_opportunity(sales_world, rep)
    product = make_product(sales_world, unit="套", tax_rate="6")
    r = send(
        api_client(rep),
        f"{BASE}/quotes",
        {
            "opportunity_id": opportunity.pk,
            "lines": [
                {"product_id": product.pk, "quantity": "3", "unit_price": "33.33"},
                {
                    "description": "实施服务",
                    "quantity": 1.5,
                    "unit_price": "0.03",
                    "discount_kind": "amount",
                    "discount_value": "0.01",
                    "tax_rate": 0,
                },
            ],
            # ignored: the server computes amounts and owns number, status and owner
            "total": "1.00",
            "status": "accepted",
            "owner_id": u(sales_world, "rep_east2").pk,
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["customer"]["id"] == opportunity.customer_id
    assert body["status"] == "draft" and body["owner"]["id"] == rep.pk
    assert body["lines"][0]["description"] == product.name
    assert body["lines"][0]["unit"] == "套"
    assert body["lines"][0]["tax_rate"] == "6.00"
    assert body["lines"][0]["total"] == "105.99"  # 99.99 + 6.00 (5.9994 → 6.00)
    assert body["lines"][1]["total"] == "0.04"  # 0.045 → 0.05, − 0.01
    assert (body["subtotal"], body["discount_total"], body["tax_total"], body["total"]) == (
        "100.04",
        "0.01",
        "6.00",
        "106.03",
    )
    assert body["awaiting_approval"] is False


def test_filters_and_sort(sales_world: World, api_client: Any) -> None:
    # R6.1: by opportunity, customer, status; superseded revisions left out with latest=true
    rep = u(sales_world, "rep_east")
    opportunity = make_opportunity(sales_world, rep)
    of_opp = make_quote(sales_world, opportunity=opportunity)
    other = make_quote(sales_world)
    sent, _ = quote_services.send_quote(actor=rep, quote=other)
    revision = quote_services.revise_quote(actor=rep, quote=sent)
    client = api_client(rep)

    def ids(query: str) -> set[int]:
        r = client.get(f"{BASE}/quotes?{query}")
        assert r.status_code == 200, r.content
        return {item["id"] for item in r.json()["items"]}

    assert ids(f"opportunity_id={opportunity.pk}") == {of_opp.pk}
    assert ids(f"customer_id={other.customer_id}") == {other.pk, revision.pk}
    assert ids(f"customer_id={other.customer_id}&latest=true") == {revision.pk}
    assert ids("status=superseded") == {other.pk}
    r = client.get(f"{BASE}/quotes?sort=-total,number")
    assert r.status_code == 200
    assert client.get(f"{BASE}/quotes?sort=owner").status_code == 400


def test_patch_with_version_and_lines(sales_world: World, api_client: Any) -> None:
    # R6.1 R11.2: a draft's PATCH replaces the lines; a stale version answers 409
    quote = make_quote(sales_world)
    client = api_client(u(sales_world, "rep_east"))
    r = send(
        client,
        f"{BASE}/quotes/{quote.pk}",
        {
            "version": 1,
            "title": "新标题",
            "lines": [{"description": "A", "quantity": 2, "unit_price": 5}],
        },
        "patch",
    )
    assert r.status_code == 200, r.content
    assert (r.json()["total"], r.json()["version"]) == ("11.30", 2)
    before = row(quote)
    r = send(client, f"{BASE}/quotes/{quote.pk}", {"version": 1, "title": "过期"}, "patch")
    assert r.status_code == 409 and r.json()["code"] == "edit_conflict"
    assert "title" in {e["field"] for e in r.json()["errors"]}
    quote.refresh_from_db()
    assert row(quote) == before


def test_actions_send_accept_reject_revise_delete(sales_world: World, api_client: Any) -> None:
    # R6.1: the status moves through explicit actions only
    client = api_client(u(sales_world, "rep_east"))
    quote = make_quote(sales_world)
    r = send(client, f"{BASE}/quotes/{quote.pk}", {"status": "accepted", "version": 1}, "patch")
    assert r.status_code == 200 and r.json()["status"] == "draft"
    r = send(client, f"{BASE}/quotes/{quote.pk}/accept")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert send(client, f"{BASE}/quotes/{quote.pk}/send").json()["status"] == "sent"
    r = send(client, f"{BASE}/quotes/{quote.pk}/revise")
    assert r.status_code == 201 and r.json()["revision"] == 2
    revision_id = r.json()["id"]
    assert r.json()["previous_id"] == quote.pk
    assert send(client, f"{BASE}/quotes/{revision_id}/send").json()["status"] == "sent"
    r = send(client, f"{BASE}/quotes/{revision_id}/reject", {"note": "预算不足"})
    assert r.json()["status"] == "rejected"
    other = make_quote(sales_world)
    send(client, f"{BASE}/quotes/{other.pk}/send")
    assert send(client, f"{BASE}/quotes/{other.pk}/accept").json()["status"] == "accepted"
    assert client.delete(f"{BASE}/quotes/{other.pk}").status_code == 409
    draft = make_quote(sales_world)
    assert client.delete(f"{BASE}/quotes/{draft.pk}").status_code == 204
    assert not Quote.objects.filter(pk=draft.pk).exists()


def test_preview_uses_the_pricing_service(sales_world: World, api_client: Any) -> None:
    # R6.1: what the form shows, without saving
    client = api_client(u(sales_world, "rep_east"))
    r = send(
        client,
        f"{BASE}/quotes/preview",
        {
            "lines": [
                {"description": "A", "quantity": "3", "unit_price": "33.33", "discount_value": 10},
                {"description": "B", "quantity": "0", "unit_price": "1"},
            ]
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["lines"][0]["amounts"]["total"] == "101.69"
    assert body["lines"][1]["amounts"] is None and body["lines"][1]["error"]
    assert body["totals"]["total"] == "101.69" and body["max_discount_percent"] == "10.00"
    assert Quote.objects.count() == 0


def test_ids_in_the_body_the_caller_may_not_see_answer_404(
    sales_world: World, other_world: World, api_client: Any
) -> None:
    # R1.3 A11: customer, opportunity, contact, price list and product ids are looked up in
    # the caller's scope; nothing is created
    rep = u(sales_world, "rep_east")
    mine = make_customer(sales_world, rep)
    theirs = make_customer(sales_world, u(sales_world, "rep_east2"))
    foreign_product = make_product(other_world)
    foreign_list = product_services.save_price_list(
        actor=other_world.admin, data={"name": "外部"}, items=[]
    )
    client = api_client(rep)
    for payload in (
        {"customer_id": theirs.pk},
        {"opportunity_id": make_opportunity(sales_world, u(sales_world, "rep_east2")).pk},
        {"customer_id": mine.pk, "price_list_id": foreign_list.pk},
        {
            "customer_id": mine.pk,
            "lines": [{"product_id": foreign_product.pk, "quantity": 1, "unit_price": 1}],
        },
    ):
        r = send(client, f"{BASE}/quotes", payload)
        assert r.status_code == 404, (payload, r.content)
    assert Quote.objects.count() == 0


def test_products_api(sales_world: World, other_world: World, api_client: Any) -> None:
    # R6.1: everyone with sales:view reads; configurers write; other tenants see nothing
    product = make_product(sales_world, name="核心交换机", list_price="42000")
    make_product(sales_world, name="停售产品", is_active=False)
    rep = api_client(u(sales_world, "rep_east"))
    r = rep.get(f"{BASE}/products?q=交换机")
    assert [p["id"] for p in r.json()["items"]] == [product.pk]
    assert {p["name"] for p in rep.get(f"{BASE}/products?active=false").json()["items"]} == {
        "停售产品"
    }
    assert rep.get(f"{BASE}/products/{product.pk}").json()["list_price"] == "42000.00"
    r = send(rep, f"{BASE}/products", {"code": "X", "name": "X", "list_price": "1"})
    assert r.status_code == 403
    r = send(rep, f"{BASE}/products/{product.pk}", {"name": "改名"}, "patch")
    assert r.status_code == 403
    admin = api_client(sales_world.admin)
    r = send(admin, f"{BASE}/products", {"code": "NEW-1", "name": "新产品", "list_price": 9.9})
    assert r.status_code == 201 and r.json()["list_price"] == "9.90"
    r = send(admin, f"{BASE}/products", {"code": "new-1", "name": "重复", "list_price": 1})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "code"
    r = send(admin, f"{BASE}/products/{product.pk}", {"tax_rate": "6"}, "patch")
    assert r.status_code == 200 and r.json()["tax_rate"] == "6.00"
    outsider = api_client(other_world.admin)
    before = row(product)
    assert outsider.get(f"{BASE}/products/{product.pk}").status_code == 404
    assert (
        send(outsider, f"{BASE}/products/{product.pk}", {"name": "越权"}, "patch").status_code
        == 404
    )
    assert outsider.get(f"{BASE}/products").json()["count"] == 0
    product.refresh_from_db()
    assert row(product) == before


def test_price_lists_api_and_prices_in_a_price_list(sales_world: World, api_client: Any) -> None:
    # R6.1: a price list's items; the product list answers the price in a price list
    product = make_product(sales_world, list_price="100")
    price_list = product_services.save_price_list(
        actor=sales_world.admin,
        data={"name": "渠道价"},
        items=[{"product": product, "price": "80"}],
    )
    client = api_client(u(sales_world, "rep_east"))
    r = client.get(f"{BASE}/price-lists/{price_list.pk}")
    assert r.json()["items"] == [
        {
            "product": {"id": product.pk, "code": product.code, "name": product.name},
            "price": "80.00",
        }
    ]
    assert client.get(f"{BASE}/price-lists").json()["count"] == 1
    r = client.get(f"{BASE}/products?price_list_id={price_list.pk}")
    assert r.json()["items"][0]["price"] == "80.00"
    assert client.get(f"{BASE}/products").json()["items"][0]["price"] == "100.00"


def test_the_audit_names_the_actor_and_nothing_else_changes_on_refusal(
    sales_world: World, api_client: Any
) -> None:
    # R11.2: refused writes leave no event and no row
    quote = make_quote(sales_world)
    client = api_client(u(sales_world, "rep_east"))
    events, lines = Event.objects.count(), QuoteLine.objects.count()
    r = send(
        client,
        f"{BASE}/quotes/{quote.pk}",
        {"version": 1, "lines": [{"quantity": 1, "unit_price": -1}]},
        "patch",
    )
    assert r.status_code in (400, 422)
    assert (Event.objects.count(), QuoteLine.objects.count()) == (events, lines)
    assert Product.objects.count() == 0
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT and quote.total == Decimal("2260.00")
    assert line()["quantity"] == "1"
