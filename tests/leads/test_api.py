"""The leads API (R2.1–R2.4): the contract suite (401, 404 out of scope and across tenants,
nothing changed), filters and sorting, actions, conversion conflicts, pools and rules."""

from __future__ import annotations

import json
from typing import Any

from crm.core.models import Event
from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.leads import services
from crm.leads.models import AssignmentRule, Lead, LeadPool
from tests.leads.conftest import Pools, fresh, grant_leads, new_lead


class TestLeadApiContract(ApiContract):
    # R2.1 R1.3: CRUD, scope and tenant isolation of /api/v1/leads/leads
    list_url = "/api/v1/leads/leads"
    detail_url = "/api/v1/leads/leads/{id}"
    update_payload = {"company": "改过的公司名"}

    def make_record(self, world: World, owner: Any) -> Lead:
        grant_leads(world)
        return new_lead(owner, owner=fresh(owner))


def send(client: Any, method: str, url: str, payload: Any = None) -> Any:
    return getattr(client, method)(
        url, data=json.dumps(payload or {}), content_type="application/json"
    )


def test_list_filters_and_sorts(lw: World, api_client) -> None:
    # R2.1: paginated, filterable, sortable; an unknown sort field answers 400
    rep = lw.users["rep_east"]
    a = new_lead(rep, owner=fresh(rep), company="阿尔法", region="华东")
    b = new_lead(rep, owner=fresh(rep), company="贝塔", region="华南")
    services.mark_invalid(actor=fresh(rep), lead=b, reason="spam")
    client = api_client(rep)
    body = client.get("/api/v1/leads/leads?sort=created").json()
    assert (body["count"], [i["id"] for i in body["items"]]) == (2, [a.pk, b.pk])
    body = client.get("/api/v1/leads/leads?sort=-created&page_size=1&page=2").json()
    assert (body["count"], [i["id"] for i in body["items"]]) == (2, [a.pk])
    assert [i["id"] for i in client.get("/api/v1/leads/leads?status=open").json()["items"]] == [
        a.pk
    ]
    assert [i["id"] for i in client.get("/api/v1/leads/leads?region=华南").json()["items"]] == [
        b.pk
    ]
    assert [i["id"] for i in client.get("/api/v1/leads/leads?q=阿尔").json()["items"]] == [a.pk]
    r = client.get("/api/v1/leads/leads?sort=password")
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")


def test_create_through_the_api_keeps_extra_and_validates(lw: World, api_client) -> None:
    # R2.1: the API is a channel like the others: source api, every attribute kept
    client = api_client(lw.users["marketing"])
    r = send(
        client,
        "post",
        "/api/v1/leads/leads",
        {
            "contact_name": "小程序访客",
            "mobile": "13700001111",
            "extra": {"openid": "ox1", "scene": 1001},
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["source"], body["extra"], body["owner"]) == (
        "api",
        {"openid": "ox1", "scene": "1001"},
        None,
    )
    bad = send(client, "post", "/api/v1/leads/leads", {"company": "缺联系方式"})
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["mobile"]
    assert Lead.objects.count() == 1


def test_actions_through_the_api(lw: World, pools: Pools, api_client) -> None:
    # R2.2 R2.3: claim, contacted, qualified, invalid (reason required), reopen, release
    mk = fresh(lw.users["marketing"])
    lead = new_lead(mk)
    services.distribute_to_subpool(actor=mk, leads=[lead], pool=pools.east)
    rep = api_client(lw.users["rep_east"])
    base = f"/api/v1/leads/leads/{lead.pk}"
    assert send(api_client(lw.users["rep_south"]), "post", f"{base}/claim").status_code == 404
    r = send(rep, "post", f"{base}/claim")
    assert (r.status_code, r.json()["owner"]["id"]) == (200, lw.users["rep_east"].pk)
    assert send(api_client(lw.users["rep_east2"]), "post", f"{base}/claim").status_code == 404
    assert send(rep, "post", f"{base}/contacted").json()["status"] == "contacted"
    assert send(rep, "post", f"{base}/contacted").status_code == 409
    assert send(rep, "post", f"{base}/invalid", {"reason": ""}).status_code == 400
    r = send(rep, "post", f"{base}/invalid", {"reason": "wrong_contact", "note": "空号"})
    assert (r.json()["status"], r.json()["invalid_reason"], r.json()["invalid_note"]) == (
        "invalid",
        "wrong_contact",
        "空号",
    )
    assert send(rep, "post", f"{base}/reopen").json()["status"] == "new"
    r = send(rep, "post", f"{base}/release", {"reason": "不是我的区域"})
    assert (r.status_code, r.json()["owner"]) == (200, None)


def test_convert_answers_409_with_candidates_on_a_duplicate(lw: World, api_client) -> None:
    # R2.3: duplicates first; someone else's customer (撞单) is never created twice
    customer_services.create_customer(actor=fresh(lw.users["rep_south"]), data={"name": "佛山美的"})
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=fresh(rep), company="佛山美的有限公司", contact_name="何工")
    services.mark_qualified(actor=fresh(rep), lead=lead)
    client = api_client(rep)
    dupes = client.get(f"/api/v1/leads/leads/{lead.pk}/duplicates").json()
    assert [(d["id"], d["name"], d["visible"]) for d in dupes] == [(None, "佛山美的", False)]
    r = send(client, "post", f"/api/v1/leads/leads/{lead.pk}/convert", {"allow_duplicate": True})
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["candidates"][0]["name"]) == ("duplicate", "佛山美的")
    assert Customer.objects.count() == 1
    assert Lead.objects.get(pk=lead.pk).status == "qualified"


def test_bulk_endpoints_are_all_or_nothing_and_scoped(lw: World, pools: Pools, api_client) -> None:
    # R2.2: marketing distributes in bulk; an id outside the caller's scope answers 404
    mk = fresh(lw.users["marketing"])
    leads = [new_lead(mk, company=f"批量{i}") for i in range(2)]
    client = api_client(lw.users["marketing"])
    r = send(
        client,
        "post",
        "/api/v1/leads/leads/bulk/distribute",
        {"lead_ids": [leads[0].pk, 999999], "pool_id": pools.east.pk},
    )
    assert r.status_code == 404
    assert set(Lead.objects.values_list("pool_id", flat=True)) == {pools.total.pk}
    r = send(
        client,
        "post",
        "/api/v1/leads/leads/bulk/distribute",
        {"lead_ids": [lead.pk for lead in leads], "pool_id": pools.east.pk},
    )
    assert r.json() == {"count": 2}
    r = send(
        api_client(lw.users["dept_east"]),
        "post",
        "/api/v1/leads/leads/bulk/assign",
        {"lead_ids": [lead.pk for lead in leads], "user_id": lw.users["rep_east2"].pk},
    )
    assert r.json() == {"count": 2}
    assert set(Lead.objects.values_list("owner_id", flat=True)) == {lw.users["rep_east2"].pk}


def test_pools_and_rules_api(lw: World, other_world: World, api_client) -> None:
    # R2.2 R2.4: marketing configures pools and rules; reps read pools only; tenants apart
    mk = api_client(lw.users["marketing"])
    r = send(
        mk,
        "post",
        "/api/v1/leads/pools",
        {"name": "西南线索池", "region": "西南", "member_ids": [lw.users["rep_south"].pk]},
    )
    assert r.status_code == 201, r.content
    pool = r.json()
    assert (pool["kind"], pool["member_ids"], pool["form_url"].startswith("/leads/form/")) == (
        "sub",
        [lw.users["rep_south"].pk],
        True,
    )
    rep = api_client(lw.users["rep_south"])
    assert send(rep, "post", "/api/v1/leads/pools", {"name": "私建"}).status_code == 403
    assert [p["name"] for p in rep.get("/api/v1/leads/pools").json()] == ["西南线索池"]
    rule = {
        "name": "西南轮询",
        "conditions": {"region": ["西南"]},
        "target_pool_id": pool["id"],
        "cap": 30,
    }
    r = send(mk, "post", "/api/v1/leads/rules", rule)
    assert r.status_code == 201, r.content
    rule_id = r.json()["id"]
    assert r.json()["conditions"] == {"region": ["西南"]}
    assert rep.get("/api/v1/leads/rules").json() == []
    assert rep.get(f"/api/v1/leads/rules/{rule_id}").status_code == 404
    assert send(rep, "put", f"/api/v1/leads/rules/{rule_id}", rule).status_code == 404
    intruder = api_client(other_world.admin)
    assert intruder.get(f"/api/v1/leads/pools/{pool['id']}").status_code == 404
    assert (
        send(intruder, "patch", f"/api/v1/leads/pools/{pool['id']}", {"name": "x"}).status_code
        == 404
    )
    assert intruder.delete(f"/api/v1/leads/rules/{rule_id}").status_code == 404
    assert LeadPool.objects.get(pk=pool["id"]).name == "西南线索池"
    assert AssignmentRule.objects.filter(pk=rule_id).exists()
    assert not Event.objects.filter(org=lw.org, actor=other_world.admin).exists()
    lead = send(
        mk,
        "post",
        "/api/v1/leads/leads",
        {"company": "成都线索", "region": "西南", "email": "cd@x.cn"},
    )
    assert (lead.json()["owner"]["id"], lead.json()["pool"]["id"]) == (
        lw.users["rep_south"].pk,
        pool["id"],
    )
    assert mk.delete(f"/api/v1/leads/rules/{rule_id}").status_code == 204


def test_the_list_does_not_query_per_row(lw: World, api_client, client_for) -> None:
    # R11.3 (performance): the lead list's query count does not grow with its rows
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rep = lw.users["rep_east"]
    api, page = api_client(rep), client_for(rep)

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as api_q:
            assert api.get("/api/v1/leads/leads?page_size=200").status_code == 200
        with CaptureQueriesContext(connection) as page_q:
            assert page.get("/leads/mine/").status_code == 200
        return len(api_q), len(page_q)

    for i in range(2):
        new_lead(rep, owner=fresh(rep), company=f"少量{i}")
    counts()  # warm up (token last-used stamp, session)
    few = counts()
    for i in range(25):
        new_lead(rep, owner=fresh(rep), company=f"大量{i}")
    assert counts() == few
