"""Caller lookup for call-centre screen pops (R10.1): a number in any format finds the customers
and contacts that have it — only those the caller may see, masked where a pool masks them."""

from __future__ import annotations

from typing import Any

from crm.core.testing.world import World, build_world
from crm.customers import services
from tests.customers.test_api import make_customer


def lookup(client: Any, phone: str) -> Any:
    return client.get("/api/v1/customers/caller", {"phone": phone})


def test_any_format_finds_the_customer_and_the_contact(world: World, api_client: Any) -> None:
    # R10.1: "+86 139-1234-0001", "13912340001" and "0086 13912340001" are one number
    rep = world.users["rep_east"]
    by_phone = make_customer(world, rep, "来电客户甲", phone="+86 10 5268 6688")
    by_mobile = make_customer(
        world, rep, "来电客户乙", contacts=[{"name": "王经理", "mobile": "139 1234 0001"}]
    )
    make_customer(world, rep, "无关客户", phone="13900000000")
    client = api_client(rep)
    for number in ("+86 139-1234-0001", "13912340001", "0086 13912340001"):
        body = lookup(client, number).json()
        assert body["phone"] == "13912340001"
        assert [c["id"] for c in body["customers"]] == [by_mobile.pk]
        assert [c["name"] for c in body["contacts"]] == ["王经理"]
    landline = lookup(client, "010-52686688").json()
    assert [c["id"] for c in landline["customers"]] == [by_phone.pk]
    assert landline["contacts"] == []


def test_only_what_the_caller_may_see(world: World, api_client: Any) -> None:
    # R1.3: another rep's customer and another organisation's never match
    mine = make_customer(world, world.users["rep_east"], "我的来电客户", phone="13812345678")
    make_customer(world, world.users["rep_south"], "别人的来电客户", phone="13887654321")
    other = build_world("另一家公司")
    services.create_customer(
        actor=other.admin,
        owner=other.users["rep_east"],
        data={"name": "外部来电客户", "phone": "13812345678"},
    )
    body = lookup(api_client(world.users["rep_east"]), "13812345678").json()
    assert [c["id"] for c in body["customers"]] == [mine.pk]
    assert lookup(api_client(world.users["rep_east"]), "13887654321").json()["customers"] == []
    director = api_client(world.users["director"])
    assert [c["id"] for c in lookup(director, "13812345678").json()["customers"]] == [mine.pk]
    assert [c["name"] for c in lookup(director, "13887654321").json()["customers"]] == [
        "别人的来电客户"
    ]


def test_a_short_or_missing_number_is_refused(world: World, api_client: Any) -> None:
    client = api_client(world.users["rep_east"])
    short = lookup(client, "12-3")
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "phone"
    assert client.get("/api/v1/customers/caller").status_code == 400
    nobody = api_client(world.users["nobody"])
    assert lookup(nobody, "13912340001").status_code == 403
