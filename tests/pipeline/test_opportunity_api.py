"""The opportunities API (R4.1 – R4.3, R4.6 – R4.8, R10.1): the contract (401, 404 across tenants
and scopes with nothing changed, audited edits), list filters, sorting and pagination, create with
exact money, mass-assignment probes, translated validation messages, optimistic locking, stage
moves with history, win/lose/abandon/reopen rules, transfer and collaborators, and ids in bodies
that the caller may not see."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.pipeline import opportunities as services
from crm.pipeline.choices import StageKind
from crm.pipeline.models import (
    DictionaryItem,
    Opportunity,
    OpportunityLine,
    Pipeline,
    SavedQuery,
    Stage,
    StageHistory,
)

BASE = "/api/v1/opportunities"
_seq = itertools.count(1)


# --- helpers --------------------------------------------------------------------------------------
def make_customer(world: World, owner: Any, **data: Any) -> Customer:
    return customer_services.create_customer(
        actor=world.admin,
        owner=owner,
        data={"name": f"商机测试客户{next(_seq)}有限公司", **data},
        contacts=[{"name": f"联系人{next(_seq)}", "mobile": f"137{next(_seq):08d}"}],
    )


def make_opportunity(
    world: World, owner: Any, customer: Customer | None = None, **data: Any
) -> Opportunity:
    """An opportunity created through the service as the org admin, owned by ``owner``."""
    customer = customer or make_customer(world, owner)
    lines = data.pop("lines", None)
    return services.create_opportunity(
        actor=world.admin,
        customer=customer,
        owner=owner,
        data={"name": f"测试商机{next(_seq)}号", **data},
        lines=lines,
    )


def send(client: Client, url: str, payload: dict[str, Any] | None = None, method: str = "post"):
    return getattr(client, method)(
        url, data=json.dumps(payload or {}), content_type="application/json"
    )


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


def row(obj: Any) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().first()


def open_stages(pipeline: Pipeline) -> list[Stage]:
    return list(
        Stage.objects.filter(
            pipeline=pipeline, parent=None, kind=StageKind.OPEN, is_active=True
        ).order_by("sort_order", "pk")
    )


def stage_of(pipeline: Pipeline, kind: str) -> Stage:
    return Stage.objects.filter(pipeline=pipeline, parent=None, kind=kind).order_by("pk").first()


def default_pipeline(world: World) -> Pipeline:
    return Pipeline.objects.get(org=world.org, is_default=True)


def errors_of(response: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for err in response.json()["errors"]:
        out.setdefault(err["field"], []).append(err["message"])
    return out


# --- Contract -------------------------------------------------------------------------------------
class TestOpportunityContract(ApiContract):
    # R4.1 R10.1 R1.3: 401, 404 out of scope and across tenants, nothing changes, audited edits
    list_url = f"{BASE}/"
    detail_url = f"{BASE}/{{id}}"
    update_payload = {"version": 1, "notes": "改过的备注"}

    def make_record(self, world: World, owner: Any) -> Opportunity:
        return make_opportunity(world, owner)


ACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("post", "move", {"stage_id": 0}),
    ("post", "win", {"actual_amount": "100", "actual_close_date": "2026-01-05"}),
    ("post", "lose", {"loss_reason": "price"}),
    ("post", "abandon", {"loss_reason": "price"}),
    ("post", "pause", {}),
    ("post", "resume", {}),
    ("post", "reopen", {}),
    ("post", "transfer", {"to_user_id": 0}),
    ("put", "collaborators", {"user_ids": []}),
    ("get", "history", {}),
    ("get", "lines", {}),
]


def test_every_action_on_an_invisible_opportunity_is_404_and_changes_nothing(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.3 R10.1: another tenant's administrator and an out-of-scope colleague get 404 on every
    # action (the same answer as a missing id), and no row or event changes
    opp = make_opportunity(world, world.users["rep_east"])
    target_stage = open_stages(opp.pipeline)[1]
    intruders = [other_world.admin, world.users["rep_east2"], world.users["rep_sales2"]]
    clients = [(intruder, api_client(intruder)) for intruder in intruders]
    before = (row(opp), StageHistory.objects.count(), Event.objects.count())
    for intruder, client in clients:
        for method, action, payload in ACTIONS:
            body = dict(payload)
            if "stage_id" in body:
                body["stage_id"] = target_stage.pk
            if "to_user_id" in body:
                body["to_user_id"] = intruder.pk
            url = f"{BASE}/{opp.pk}/{action}"
            missing = f"{BASE}/987654321/{action}"
            if method == "get":
                r, m = client.get(url), client.get(missing)
            else:
                r, m = send(client, url, body, method), send(client, missing, body, method)
            assert r.status_code == m.status_code, (intruder, action, r.content)
            assert r.status_code in (403, 404), (intruder, action, r.status_code)
            assert r.json() == m.json()
            assert opp.name not in r.content.decode()
    assert (row(opp), StageHistory.objects.count(), Event.objects.count()) == before


# --- List: filters, sort, pagination --------------------------------------------------------------
@pytest.fixture
def listed(world: World) -> dict[str, Opportunity]:
    """Five opportunities that differ in every filtered attribute; the director sees them all."""
    u = world.users
    now = timezone.now()
    today = timezone.localdate()
    pipeline = default_pipeline(world)
    second = open_stages(pipeline)[1]
    a = make_opportunity(
        world, u["rep_east"], is_key=True, expected_close_date=str(today + timedelta(days=5))
    )
    b = make_opportunity(world, u["rep_south"], name="华南数据中心项目")
    c = make_opportunity(world, u["rep_sales2"])
    d = make_opportunity(world, u["director"], expected_close_date=str(today + timedelta(days=40)))
    e = make_opportunity(world, u["rep_east2"])
    services.move_stage(actor=world.admin, opportunity=c, stage=second)
    services.pause_opportunity(actor=world.admin, opportunity=e)
    services.lose_opportunity(actor=world.admin, opportunity=d, reason="price")
    Opportunity.objects.filter(pk=a.pk).update(feedback_due_at=now - timedelta(days=1))
    Opportunity.objects.filter(pk=b.pk).update(stall_due_at=now - timedelta(hours=1))
    Opportunity.objects.filter(pk=e.pk).update(feedback_due_at=now - timedelta(days=3))
    Opportunity.objects.filter(pk=b.pk).update(updated_at=now - timedelta(days=10))
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "second": second}  # type: ignore[dict-item]


def test_each_opportunity_filter_selects_exactly_its_rows(
    world: World, listed: dict[str, Any], api_client: Any
) -> None:
    # R4.6 R10.1: every filter of the list, once, with the exact ids it must return
    a, b, c, d, e = (listed[k].pk for k in "abcde")
    u = world.users
    today = timezone.localdate()
    client = api_client(u["director"])
    url = f"{BASE}/?page_size=200&"
    since = (timezone.now() - timedelta(days=1)).isoformat()
    cases = {
        "": {a, b, c, d, e},
        "status=continue": {a, b, c},
        "status=pause": {e},
        "status=lost": {d},
        "status=open": {a, b, c, e},
        "status=closed": {d},
        f"owner_id={u['rep_east'].pk}": {a},
        f"customer_id={listed['a'].customer_id}": {a},
        f"pipeline_id={default_pipeline(world).pk}": {a, b, c, d, e},
        f"stage_id={listed['second'].pk}": {c},
        "is_key=true": {a},
        "is_key=false": {b, c, d, e},
        "overdue=true": {a},
        "overdue=false": {b, c, d, e},
        "stalled=true": {b},
        f"expected_close_from={today + timedelta(days=10)}": {d},
        f"expected_close_to={today + timedelta(days=10)}": {a},
        "q=华南数据": {b},
        "q=商机测试客户": {a, b, c, d, e},
        f"q={listed['c'].customer.name}": {c},
        "updated_since=" + since.replace("+", "%2B"): {a, c, d, e},
    }
    for query, expected in cases.items():
        assert ids(client.get(url + query)) == expected, query
    # scope applies before the filters: a rep sees only their own
    rep = api_client(u["rep_east"])
    assert ids(rep.get(url)) == {a}
    assert ids(rep.get(url + "status=continue")) == {a}
    assert client.get(url + "status=maybe").status_code == 422


def test_list_sorts_over_the_allowed_keys_and_rejects_others(world: World, api_client: Any) -> None:
    # R4.6 R10.1: ?sort=expected_amount,-name…; an unknown key answers 400 naming "sort"
    director = world.users["director"]
    small = make_opportunity(world, director, expected_amount="10.5")
    big = make_opportunity(world, director, expected_amount="9000")
    none = make_opportunity(world, director)
    client = api_client(director)

    def order(sort: str) -> list[int]:
        r = client.get(f"{BASE}/?owner_id={director.pk}&sort={sort}")
        assert r.status_code == 200, r.content
        return [item["id"] for item in r.json()["items"]]

    assert order("-created") == [none.pk, big.pk, small.pk]
    assert order("created") == [small.pk, big.pk, none.pk]
    assert order("expected_amount")[-2:] in ([small.pk, big.pk], [big.pk, none.pk])
    assert order("-name,created") == sorted(
        [small.pk, big.pk, none.pk],
        key=lambda pk: Opportunity.objects.get(pk=pk).name,
        reverse=True,
    )
    bad = client.get(f"{BASE}/?sort=owner__password")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "sort"


def test_list_is_paginated_with_the_shared_shape(world: World, api_client: Any) -> None:
    # R10.1: {items, count, page, page_size}; page_size at most 200
    rep = world.users["rep_east"]
    made = {make_opportunity(world, rep).pk for _ in range(5)}
    client = api_client(rep)
    first = client.get(f"{BASE}/?page_size=2").json()
    assert set(first) == {"items", "count", "count_exact", "page", "page_size"}
    assert (first["count"], first["page"], first["page_size"], len(first["items"])) == (5, 1, 2, 2)
    item = first["items"][0]
    week = DictionaryItem.objects.get(org=world.org, kind="feedback_cycle", value="7d")
    assert (item["feedback_cycle"], item["feedback_cycle_label"]) == ("7d", week.label)
    seen = set()
    for page in (1, 2, 3):
        seen |= ids(client.get(f"{BASE}/?page_size=2&page={page}"))
    assert seen == made
    assert client.get(f"{BASE}/?page_size=500").status_code == 422
    assert client.get(f"{BASE}/?page=0").status_code == 422


def test_list_query_count_does_not_grow_with_the_page(world: World, api_client: Any) -> None:
    # R10.1 R11: the list loads people, stage, lines and contacts in a fixed number of queries
    rep = world.users["rep_east"]
    client = api_client(rep)
    make_opportunity(world, rep, lines=[{"product": "hardware", "quantity": 1, "unit_price": 1}])
    client.get(f"{BASE}/")  # warm up (token lookup, roles)
    with CaptureQueriesContext(connection) as one:
        assert client.get(f"{BASE}/").status_code == 200
    for _ in range(4):
        make_opportunity(
            world, rep, lines=[{"product": "software", "quantity": 2, "unit_price": "3.5"}]
        )
    with CaptureQueriesContext(connection) as five:
        r = client.get(f"{BASE}/")
    assert len(r.json()["items"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


# --- Create and read ------------------------------------------------------------------------------
def test_create_with_lines_people_and_exact_money(world: World, api_client: Any) -> None:
    # R4.1 R10.1: amounts in as strings or numbers, out as strings with two decimals; the lines'
    # sum is exact ("0.1" + "0.2" = "0.30"); related records carry their display names
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    contact = customer.contacts.get()
    pipeline = default_pipeline(world)
    stage = open_stages(pipeline)[1]
    node = Stage.objects.filter(parent=stage).order_by("sort_order").first()
    client = api_client(rep)
    payload = {
        "customer_id": customer.pk,
        "name": "智慧园区一期",
        "pipeline_id": pipeline.pk,
        "stage_id": stage.pk,
        "node_id": node.pk if node else None,
        "contact_id": contact.pk,
        "contact_ids": [contact.pk],
        "collaborator_ids": [world.users["rep_east2"].pk],
        "lines": [
            {"product": "hardware", "quantity": "1", "unit_price": "0.1"},
            {"product": "自定义产品", "quantity": 1, "unit_price": 0.2, "notes": "备注"},
        ],
        "business_type": "project",
        "source": "referral",
        "probability_level": "high",
        "feedback_cycle": "14d",
        "action_principle": "strive",
        "is_key": True,
        "expected_close_date": "2030-06-30",
        "notes": "首期",
    }
    r = send(client, f"{BASE}/", payload)
    assert r.status_code == 201, r.content
    body = r.json()
    opp = Opportunity.objects.get(pk=body["id"])
    assert opp.expected_amount == Decimal("0.30")
    assert body["expected_amount"] == "0.30"
    assert [(li["product"], li["amount"]) for li in body["lines"]] == [
        ("hardware", "0.10"),
        ("自定义产品", "0.20"),
    ]
    hardware = DictionaryItem.objects.get(org=world.org, kind="product", value="hardware")
    assert [li["product_label"] for li in body["lines"]] == [hardware.label, "自定义产品"]
    assert body["customer"] == {"id": customer.pk, "name": customer.name}
    assert body["owner"]["id"] == rep.pk and body["owner"]["name"] == rep.display_name
    assert body["collaborators"][0]["name"] == world.users["rep_east2"].display_name
    assert body["contact"] == {"id": contact.pk, "name": contact.name}
    assert body["stage"] == {"id": stage.pk, "name": stage.name, "kind": "open"}
    assert body["pipeline"]["name"] == pipeline.name
    assert body["probability"] == stage.default_probability
    assert body["status"] == "continue" and body["is_open"] is True
    assert body["feedback_cycle"] == "14d" and body["feedback_cycle_label"]
    assert body["version"] == 1
    assert body["created_at"].endswith(("+00:00", "Z", "+08:00"))
    assert body["feedback_due_at"] is not None
    # the number form of the expected amount, with a thousands separator in the string form
    for raw, expected in ((1234.5, "1234.50"), ("1,234.56", "1234.56"), ("¥88", "88.00")):
        r = send(
            client, f"{BASE}/", {"customer_id": customer.pk, "name": "金额", "expected_amount": raw}
        )
        assert r.status_code == 201, r.content
        assert r.json()["expected_amount"] == expected
    assert StageHistory.objects.filter(opportunity=opp).count() == 1
    assert Event.objects.filter(verb="opportunity.created", object_id=str(opp.pk)).exists()


def test_create_refuses_records_the_caller_may_not_see(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.3 A11: another tenant's or an out-of-scope customer, stage, user or contact in the
    # body answers 404 and creates nothing
    rep = world.users["rep_east"]
    mine = make_customer(world, rep)
    theirs = make_customer(world, world.users["rep_east2"])
    foreign = make_customer(other_world, other_world.users["rep_east"])
    foreign_stage = open_stages(default_pipeline(other_world))[0]
    other_mine = make_customer(world, rep)
    client = api_client(rep)
    count, events = Opportunity.objects.count(), Event.objects.count()
    for payload in (
        {"customer_id": theirs.pk},
        {"customer_id": foreign.pk},
        {"customer_id": mine.pk, "stage_id": foreign_stage.pk},
        {"customer_id": mine.pk, "pipeline_id": default_pipeline(other_world).pk},
        {"customer_id": mine.pk, "owner_id": other_world.users["rep_east"].pk},
        {"customer_id": mine.pk, "collaborator_ids": [other_world.admin.pk]},
        {"customer_id": mine.pk, "contact_id": foreign.contacts.get().pk},
        {"customer_id": mine.pk, "contact_ids": [theirs.contacts.get().pk]},
    ):
        r = send(client, f"{BASE}/", {"name": "越权商机", **payload})
        assert r.status_code == 404, (payload, r.content)
        assert r.json()["code"] == "not_found"
    # a contact the rep may see but of another customer is a validation error
    r = send(
        client,
        f"{BASE}/",
        {"name": "错联系人", "customer_id": mine.pk, "contact_id": other_mine.contacts.get().pk},
    )
    assert r.status_code == 400 and "contact" in errors_of(r)
    # a rep (own records only) cannot create one owned by a colleague outside their scope
    r = send(
        client,
        f"{BASE}/",
        {"name": "替人建", "customer_id": mine.pk, "owner_id": world.users["rep_sales2"].pk},
    )
    assert r.status_code == 404
    assert (Opportunity.objects.count(), Event.objects.count()) == (count, events)


def test_nobody_without_the_create_permission_creates(world: World, api_client: Any) -> None:
    # R1.2: a user without opportunities:create is refused with 403, nothing is written
    customer = make_customer(world, world.users["rep_east"])
    r = send(
        api_client(world.users["nobody"]), f"{BASE}/", {"customer_id": customer.pk, "name": "x"}
    )
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert not Opportunity.objects.filter(name="x").exists()


# --- Mass assignment ------------------------------------------------------------------------------
def test_patch_ignores_org_owner_status_stage_creator_and_amounts(
    world: World, other_world: World, api_client: Any
) -> None:
    # A6 R4.1: only the notes change (and the version by exactly one); owner, status, stage and
    # closing fields move through their own actions
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    before = row(opp)
    won = stage_of(opp.pipeline, StageKind.WON)
    payload = {
        "version": before["version"],
        "notes": "只改备注",
        "id": 999999,
        "org": other_world.org.pk,
        "org_id": other_world.org.pk,
        "owner": world.users["rep_east2"].pk,
        "owner_id": world.users["rep_east2"].pk,
        "created_by": other_world.admin.pk,
        "created_by_id": other_world.admin.pk,
        "created_at": "2000-01-01T00:00:00+08:00",
        "updated_at": "2000-01-01T00:00:00+08:00",
        "status": "won",
        "stage_id": won.pk,
        "stage": won.pk,
        "customer_id": make_customer(world, rep).pk,
        "actual_amount": "99999.00",
        "actual_close_date": "2020-01-01",
        "closed_at": "2020-01-01T00:00:00+08:00",
        "loss_reason": "price",
        "currency": "USD",
        "feedback_due_at": "2000-01-01T00:00:00+08:00",
        "stall_due_at": "2000-01-01T00:00:00+08:00",
        "last_followup_at": "2000-01-01T00:00:00+08:00",
        "lead_id": 1,
    }
    r = send(api_client(rep), f"{BASE}/{opp.pk}", payload, "patch")
    assert r.status_code == 200, r.content
    after = row(opp)
    changed = {k for k in before if before[k] != after[k]}
    # the feedback deadline is recomputed on every edit (from the creation time, which the
    # service stamps a few microseconds apart); it must not move by more than that
    assert changed - {"feedback_due_at"} == {"notes", "version", "updated_at"}
    assert abs(after["feedback_due_at"] - before["feedback_due_at"]) < timedelta(seconds=1)
    assert after["version"] == before["version"] + 1


def test_patch_without_or_with_a_forged_version_is_refused(world: World, api_client: Any) -> None:
    # A6 H1: the version is required (422) and a wrong one is a conflict (409); nothing changes
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    client = api_client(rep)
    before, events = row(opp), Event.objects.count()
    url = f"{BASE}/{opp.pk}"
    r = send(client, url, {"notes": "无版本"}, "patch")
    assert r.status_code == 422
    assert errors_of(r) == {"version": ["This field is required."]}
    for version in (before["version"] + 5, 0, -1, "1; DROP TABLE x"):
        r = send(client, url, {"version": version, "notes": "伪造版本"}, "patch")
        assert r.status_code in (409, 422), (version, r.status_code)
    assert row(opp) == before
    assert Event.objects.count() == events


def test_create_ignores_status_org_creator_stage_closing_fields_and_version(
    world: World, other_world: World, api_client: Any
) -> None:
    # A6: the stuffed create equals a plain create except for its name
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    client = api_client(rep)
    plain = send(client, f"{BASE}/", {"customer_id": customer.pk, "name": "对照商机"})
    assert plain.status_code == 201, plain.content
    stuffed = {
        "customer_id": customer.pk,
        "name": "夹带商机",
        "org": other_world.org.pk,
        "org_id": other_world.org.pk,
        "created_by_id": other_world.admin.pk,
        "status": "won",
        "version": 7,
        "actual_amount": "99999",
        "actual_close_date": "2020-01-01",
        "closed_at": "2020-01-01T00:00:00+08:00",
        "loss_reason": "price",
        "currency": "USD",
        "lead_id": 1,
        "last_followup_at": "2000-01-01T00:00:00+08:00",
        "stage_entered_at": "2000-01-01T00:00:00+08:00",
    }
    r = send(client, f"{BASE}/", stuffed)
    assert r.status_code == 201, r.content
    control = Opportunity.objects.filter(pk=plain.json()["id"]).values().get()
    created = Opportunity.objects.filter(pk=r.json()["id"]).values().get()
    ignore = {"id", "name", "created_at", "updated_at", "stage_entered_at"}
    ignore |= {"feedback_due_at", "stall_due_at"}  # derived from the two creation times
    assert {k for k in control if k not in ignore and control[k] != created[k]} == set()
    assert created["org_id"] == world.org.pk and created["created_by_id"] == rep.pk
    assert created["status"] == "continue" and created["version"] == 1


# --- Validation messages --------------------------------------------------------------------------
def test_validation_messages_follow_accept_language(
    world: World, api_client: Any, token_for: Any
) -> None:
    # R10.1 R12: English with Accept-Language: en, Simplified Chinese by default
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    en = api_client(rep)
    r = send(en, f"{BASE}/", {"customer_id": customer.pk})
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert r.json()["message"] == "Please correct the errors below."
    assert errors_of(r) == {"name": ["This field is required."]}
    r = send(en, f"{BASE}/", {"customer_id": customer.pk, "name": "x", "expected_amount": "abc"})
    assert r.status_code == 422
    assert errors_of(r) == {
        "expected_amount": ["Enter an amount of 0 or more, with at most two decimals."]
    }
    r = send(en, f"{BASE}/", {"customer_id": customer.pk, "name": "x", "probability": 101})
    assert errors_of(r) == {"probability": ["Must be at most 100."]}
    r = send(en, f"{BASE}/", {"customer_id": customer.pk, "name": "x", "source": "telepathy"})
    assert r.status_code == 400
    assert errors_of(r) == {"source": ["Choose a value from the list."]}
    zh = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(rep)}")
    r = send(zh, f"{BASE}/", {"customer_id": customer.pk})
    assert r.status_code == 422
    assert r.json()["message"] == "请修正以下错误。"
    assert errors_of(r) == {"name": ["此项为必填项。"]}
    r = send(zh, f"{BASE}/", {"customer_id": customer.pk, "name": "x", "source": "telepathy"})
    assert errors_of(r) == {"source": ["请从列表中选择一个值。"]}
    assert zh.get(f"{BASE}/987654321").json()["message"] == "未找到该记录。"


# --- Optimistic locking ---------------------------------------------------------------------------
def test_a_stale_version_answers_409_naming_the_changed_field(
    world: World, api_client: Any
) -> None:
    # R4.1 RELIABILITY H1: the second editor learns who changed which field; nothing is written
    rep, manager = world.users["rep_east"], world.users["manager1"]
    opp = make_opportunity(world, rep, expected_amount="100")
    read_version = opp.version
    rep_client = api_client(rep)
    first = send(
        api_client(manager),
        f"{BASE}/{opp.pk}",
        {"version": read_version, "expected_amount": "250.5"},
        "patch",
    )
    assert first.status_code == 200, first.content
    assert first.json()["expected_amount"] == "250.50"
    before, events = row(opp), Event.objects.count()
    r = send(
        rep_client, f"{BASE}/{opp.pk}", {"version": read_version, "notes": "我的修改"}, "patch"
    )
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "edit_conflict"
    assert "version 2" in body["message"]
    changed = errors_of(r)
    assert "expected_amount" in changed
    assert set(changed) <= {"expected_amount", "feedback_due_at"}  # see the mass-assignment test
    assert manager.display_name in changed["expected_amount"][0]
    assert "250.50" in changed["expected_amount"][0]
    assert row(opp) == before and Event.objects.count() == events
    # a stale version on an action is refused the same way
    stage = open_stages(opp.pipeline)[1]
    r = send(rep_client, f"{BASE}/{opp.pk}/move", {"stage_id": stage.pk, "version": 1})
    assert r.status_code == 409 and r.json()["code"] == "edit_conflict"
    assert row(opp) == before


def test_patch_changes_lines_contacts_collaborators_and_clears_nullable_fields(
    world: World, api_client: Any
) -> None:
    # R4.1: lines replace the old ones (and set the expected amount); null clears the amount,
    # the close date and the main contact; nulls of other fields are ignored
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    contact = customer.contacts.get()
    opp = make_opportunity(
        world, rep, customer, expected_close_date="2030-01-01", contact=contact, notes="保留"
    )
    client = api_client(rep)
    r = send(
        client,
        f"{BASE}/{opp.pk}",
        {
            "version": 1,
            "lines": [
                {"product": "software", "quantity": "3", "unit_price": "33.33"},
                {"product": "training", "quantity": "0.5", "unit_price": "0.01"},
            ],
            "collaborator_ids": [world.users["dept_east"].pk],
            "contact_ids": [contact.pk],
            "notes": None,
        },
        "patch",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert [li["amount"] for li in body["lines"]] == ["99.99", "0.01"]
    assert body["expected_amount"] == "100.00"
    assert [c["id"] for c in body["collaborators"]] == [world.users["dept_east"].pk]
    assert body["contacts"] == [{"id": contact.pk, "name": contact.name}]
    assert body["notes"] == "保留"
    r = send(
        client,
        f"{BASE}/{opp.pk}",
        {"version": 2, "expected_amount": None, "expected_close_date": None, "contact_id": None},
        "patch",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["expected_amount"], body["expected_close_date"], body["contact"]) == (
        None,
        None,
        None,
    )
    lines = client.get(f"{BASE}/{opp.pk}/lines").json()
    assert lines["count"] == 2 and lines["items"][0]["unit_price"] == "33.33"
    assert OpportunityLine.objects.filter(opportunity=opp).count() == 2


# --- Stage moves and closings (R4.3, R4.8) --------------------------------------------------------
def test_move_writes_stage_history_with_contact_and_person(world: World, api_client: Any) -> None:
    # R4.3: every stage and node passed, with contact, person, start and end
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    contact = opp.customer.contacts.get()
    stages = open_stages(opp.pipeline)
    client = api_client(rep)
    r = send(
        client,
        f"{BASE}/{opp.pk}/move",
        {"stage_id": stages[1].pk, "contact_id": contact.pk, "note": "已立项", "version": 1},
    )
    assert r.status_code == 200, r.content
    assert r.json()["stage"]["id"] == stages[1].pk
    assert r.json()["probability"] == stages[1].default_probability
    assert r.json()["days_in_stage"] == 0
    history = client.get(f"{BASE}/{opp.pk}/history").json()
    assert history["count"] == 2
    first, second = history["items"]
    assert first["stage"]["name"] == stages[0].name and first["left_at"] is not None
    assert second["stage"]["id"] == stages[1].pk and second["left_at"] is None
    assert second["contact"] == {"id": contact.pk, "name": contact.name}
    assert second["person"]["name"] == rep.display_name and second["note"] == "已立项"
    # a node of another stage, and the won or lost stage, are refused
    node = Stage.objects.filter(parent=stages[0]).first()
    if node is not None:
        r = send(client, f"{BASE}/{opp.pk}/move", {"stage_id": stages[1].pk, "node_id": node.pk})
        assert r.status_code == 400 and "node" in errors_of(r)
    for kind in (StageKind.WON, StageKind.LOST):
        r = send(client, f"{BASE}/{opp.pk}/move", {"stage_id": stage_of(opp.pipeline, kind).pk})
        assert r.status_code == 400 and "stage" in errors_of(r)
    # a stage of another pipeline of the same organisation
    other = Pipeline.objects.filter(org=world.org).exclude(pk=opp.pipeline_id).first()
    assert other is not None
    r = send(client, f"{BASE}/{opp.pk}/move", {"stage_id": open_stages(other)[0].pk})
    assert r.status_code == 400 and "stage" in errors_of(r)
    assert StageHistory.objects.filter(opportunity=opp).count() == 2


def test_win_needs_amount_and_date_and_closes_once(world: World, api_client: Any) -> None:
    # R4.8 R4.1: win records the actual amount and date, moves to the won stage at 100 %;
    # a closed opportunity cannot be won, lost, moved or paused again
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    client = api_client(rep)
    url = f"{BASE}/{opp.pk}"
    r = send(client, f"{url}/win", {"actual_close_date": "2026-03-01"})
    assert r.status_code == 422 and "actual_amount" in errors_of(r)
    r = send(client, f"{url}/win", {"actual_amount": None, "actual_close_date": "2026-03-01"})
    assert r.status_code == 400 and "actual_amount" in errors_of(r)
    r = send(client, f"{url}/win", {"actual_amount": "-5", "actual_close_date": "2026-03-01"})
    assert r.status_code == 422 and "actual_amount" in errors_of(r)
    r = send(client, f"{url}/win", {"actual_amount": 12345.6, "actual_close_date": "2026-03-01"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "won" and body["is_open"] is False
    assert body["actual_amount"] == "12345.60"
    assert body["actual_close_date"] == "2026-03-01"
    assert body["stage"]["kind"] == "won" and body["probability"] == 100
    assert body["closed_at"] is not None
    before = row(opp)
    for action, payload in (
        ("win", {"actual_amount": "1", "actual_close_date": "2026-03-02"}),
        ("lose", {"loss_reason": "price"}),
        ("abandon", {"loss_reason": "price"}),
        ("pause", {}),
        ("move", {"stage_id": open_stages(opp.pipeline)[1].pk}),
    ):
        r = send(client, f"{url}/{action}", payload)
        assert r.status_code == 409, (action, r.content)
        assert r.json()["code"] == "invalid_transition"
    assert row(opp) == before
    customer = Customer.objects.get(pk=opp.customer_id)
    assert customer.open_opportunities == 0 and customer.last_won_at is not None


def test_lose_needs_a_reason_from_the_list_and_reopen_needs_a_manager(
    world: World, api_client: Any
) -> None:
    # R4.8: lost with a listed reason and lessons learnt; only a manager (approve) reopens
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    client = api_client(rep)
    url = f"{BASE}/{opp.pk}"
    r = send(client, f"{url}/lose", {"loss_reason": "bad_luck"})
    assert r.status_code == 400 and errors_of(r) == {
        "loss_reason": ["Choose a value from the list."]
    }
    r = send(client, f"{url}/lose", {"loss_reason": ""})
    assert r.status_code == 422
    open_stage = open_stages(opp.pipeline)[0]
    r = send(client, f"{url}/lose", {"loss_reason": "price", "stage_id": open_stage.pk})
    assert r.status_code == 400 and "stage" in errors_of(r)
    r = send(client, f"{url}/lose", {"loss_reason": "competitor", "note": "价格战", "version": 1})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["status"], body["loss_reason"], body["loss_note"]) == (
        "lost",
        "competitor",
        "价格战",
    )
    assert body["loss_reason_label"] and body["stage"]["kind"] == "lost"
    assert body["probability"] == 0
    # reopening: the rep may not (403), the organisation administrator (approve) may
    r = send(client, f"{url}/reopen", {})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    admin = api_client(world.admin)
    r = send(admin, f"{url}/reopen", {"stage_id": stage_of(opp.pipeline, StageKind.LOST).pk})
    assert r.status_code == 400 and "stage" in errors_of(r)
    r = send(admin, f"{url}/reopen", {"note": "客户回心转意"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "continue" and body["loss_reason"] == ""
    assert body["actual_close_date"] is None and body["stage"]["kind"] == "open"
    r = send(admin, f"{url}/reopen", {})
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"


def test_pause_resume_and_abandon(world: World, api_client: Any) -> None:
    # R4.1 R4.4: continue ⇄ pause; a paused one is not overdue; abandoned needs a reason
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep)
    Opportunity.objects.filter(pk=opp.pk).update(feedback_due_at=timezone.now() - timedelta(days=1))
    client = api_client(rep)
    url = f"{BASE}/{opp.pk}"
    assert client.get(url).json()["overdue"] is True
    r = send(client, f"{url}/resume", {})
    assert r.status_code == 409
    r = send(client, f"{url}/pause", {"note": "客户预算冻结"})
    assert r.status_code == 200 and r.json()["status"] == "pause"
    assert r.json()["overdue"] is False and r.json()["feedback_due_at"] is None
    r = send(client, f"{url}/resume", {"version": r.json()["version"]})
    assert r.status_code == 200 and r.json()["status"] == "continue"
    r = send(client, f"{url}/abandon", {})
    assert r.status_code == 422 and "loss_reason" in errors_of(r)
    r = send(client, f"{url}/abandon", {"loss_reason": "no_budget", "note": "放弃"})
    assert r.status_code == 200 and r.json()["status"] == "abandoned"
    verbs = list(
        Event.objects.filter(object_id=str(opp.pk), object_type="pipeline.opportunity")
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs[-3:] == ["opportunity.paused", "opportunity.resumed", "opportunity.abandoned"]


# --- People ---------------------------------------------------------------------------------------
def test_transfer_needs_the_permission_and_a_colleague_of_the_organisation(
    world: World, other_world: World, api_client: Any
) -> None:
    # R4.1 R1.2: reps may not transfer (403); the administrator transfers to a colleague; a user
    # of another organisation is not found
    rep, colleague = world.users["rep_east"], world.users["rep_east2"]
    opp = make_opportunity(world, rep)
    url = f"{BASE}/{opp.pk}/transfer"
    r = send(api_client(rep), url, {"to_user_id": colleague.pk})
    assert r.status_code == 403
    admin = api_client(world.admin)
    r = send(admin, url, {"to_user_id": other_world.users["rep_east"].pk})
    assert r.status_code == 404
    assert Opportunity.objects.get(pk=opp.pk).owner_id == rep.pk
    r = send(admin, url, {"to_user_id": colleague.pk, "reason": "调岗"})
    assert r.status_code == 200, r.content
    assert r.json()["owner"]["id"] == colleague.pk
    # the former owner no longer sees it; the new one does
    assert api_client(rep).get(f"{BASE}/{opp.pk}").status_code == 404
    assert api_client(colleague).get(f"{BASE}/{opp.pk}").status_code == 200


def test_collaborators_see_the_opportunity(
    world: World, other_world: World, api_client: Any
) -> None:
    # R4.1 R1.3: a collaborator outside the owner's scope sees it; a foreign user is 404
    rep, helper = world.users["rep_east"], world.users["rep_sales2"]
    opp = make_opportunity(world, rep)
    client = api_client(rep)
    url = f"{BASE}/{opp.pk}/collaborators"
    assert api_client(helper).get(f"{BASE}/{opp.pk}").status_code == 404
    r = send(client, url, {"user_ids": [other_world.admin.pk]}, "put")
    assert r.status_code == 404
    r = send(client, url, {"user_ids": [helper.pk]}, "put")
    assert r.status_code == 200, r.content
    assert [c["name"] for c in r.json()["collaborators"]] == [helper.display_name]
    assert api_client(helper).get(f"{BASE}/{opp.pk}").status_code == 200
    assert opp.pk in ids(api_client(helper).get(f"{BASE}/"))
    r = send(client, url, {"user_ids": []}, "put")
    assert r.status_code == 200 and r.json()["collaborators"] == []
    assert api_client(helper).get(f"{BASE}/{opp.pk}").status_code == 404


def test_delete_removes_the_lines_and_is_audited(world: World, api_client: Any) -> None:
    # R4.1: delete answers 204; the lines go with it; the deletion is an event
    rep = world.users["rep_east"]
    opp = make_opportunity(
        world, rep, lines=[{"product": "hardware", "quantity": 1, "unit_price": 9}]
    )
    r = api_client(rep).delete(f"{BASE}/{opp.pk}")
    assert r.status_code == 204
    assert not Opportunity.objects.filter(pk=opp.pk).exists()
    assert not OpportunityLine.objects.filter(opportunity_id=opp.pk).exists()
    assert Event.objects.filter(verb="opportunity.deleted", object_id=str(opp.pk)).exists()


def test_dates_and_days_in_stage_in_the_read(world: World, api_client: Any) -> None:
    # R4.1: days in the current stage, expected close date as YYYY-MM-DD
    rep = world.users["rep_east"]
    opp = make_opportunity(world, rep, expected_close_date="2031-12-31")
    Opportunity.objects.filter(pk=opp.pk).update(
        stage_entered_at=timezone.now() - timedelta(days=3, hours=1)
    )
    body = api_client(rep).get(f"{BASE}/{opp.pk}").json()
    assert body["days_in_stage"] == 3
    assert date.fromisoformat(body["expected_close_date"]) == date(2031, 12, 31)
    assert body["status_label"]


# --- Built-in queries, counts, conditions and saved queries (R4.6) --------------------------------
@pytest.fixture
def queried(world: World) -> dict[str, Opportunity]:
    """rep_east's opportunities in each built-in query, and a colleague's overdue one."""
    u = world.users
    now = timezone.now()
    plain = make_opportunity(world, u["rep_east"], expected_amount="500")
    late = make_opportunity(world, u["rep_east"], expected_amount="5000")
    planned = make_opportunity(world, u["rep_east"], is_key=True)
    done = make_opportunity(world, u["rep_east"])
    colleague = make_opportunity(world, u["rep_east2"], expected_amount="8000")
    Opportunity.objects.filter(pk__in=[late.pk, colleague.pk]).update(
        feedback_due_at=now - timedelta(days=1)
    )
    Opportunity.objects.filter(pk__in=[plain.pk, done.pk, planned.pk]).update(
        feedback_due_at=now + timedelta(days=5)
    )
    Opportunity.objects.filter(pk=planned.pk).update(next_followup_at=now + timedelta(days=3))
    Opportunity.objects.filter(pk=done.pk).update(last_followup_at=now - timedelta(days=2))
    return {"plain": plain, "late": late, "planned": planned, "done": done, "other": colleague}


def test_builtin_queries_filter_the_list_within_the_scope(
    world: World, queried: dict[str, Any], api_client: Any
) -> None:
    # R4.6: mine, overdue (no feedback within the cycle), 7-day plan, 7-day done
    q = {k: v.pk for k, v in queried.items()}
    rep = api_client(world.users["rep_east"])
    cases = {
        "mine": {q["plain"], q["late"], q["planned"], q["done"]},
        "overdue": {q["late"]},
        "plan7": {q["planned"]},
        "done7": {q["done"]},
    }
    for key, expected in cases.items():
        assert ids(rep.get(f"{BASE}/?builtin={key}")) == expected, key
    assert ids(rep.get(f"{BASE}/?builtin=overdue&is_key=true")) == set()
    manager = api_client(world.users["manager1"])
    assert ids(manager.get(f"{BASE}/?builtin=overdue")) == {q["late"], q["other"]}
    assert ids(manager.get(f"{BASE}/?builtin=mine")) == set()
    assert rep.get(f"{BASE}/?builtin=everything").status_code == 422


def test_counts_show_builtin_and_saved_queries_and_overdue_per_rep_in_scope(
    world: World, queried: dict[str, Any], api_client: Any
) -> None:
    # R4.6: live counts "mine [n]" …, the per-rep overdue breakdown, never outside the scope
    rep_user, colleague = world.users["rep_east"], world.users["rep_east2"]
    rep = api_client(rep_user)
    r = rep.get(f"{BASE}/counts")
    assert r.status_code == 200, r.content
    body = r.json()
    assert {b["key"]: b["count"] for b in body["builtin"]} == {
        "mine": 4,
        "overdue": 1,
        "plan7": 1,
        "done7": 1,
    }
    assert all(b["name"] for b in body["builtin"])
    assert body["overdue_by_rep"] == [
        {
            "user": {"id": rep_user.pk, "username": rep_user.username, "name": rep_user.name},
            "count": 1,
        }
    ]
    assert body["saved"] == []
    manager = api_client(world.users["manager1"]).get(f"{BASE}/counts").json()
    assert {(row["user"]["id"], row["count"]) for row in manager["overdue_by_rep"]} == {
        (rep_user.pk, 1),
        (colleague.pk, 1),
    }
    assert {b["key"]: b["count"] for b in manager["builtin"]}["overdue"] == 2
    nobody = api_client(world.users["nobody"])
    assert nobody.get(f"{BASE}/counts").status_code == 403
    assert nobody.get(f"{BASE}/saved-queries").status_code == 403


def test_conditions_in_the_query_string(
    world: World, queried: dict[str, Any], api_client: Any
) -> None:
    # R4.6: flexible conditions (the list page's builder) as JSON; bad ones answer 400
    rep = api_client(world.users["rep_east"])
    cond = {"match": "all", "rules": [{"field": "expected_amount", "op": "gte", "value": "1000"}]}
    r = rep.get(f"{BASE}/", {"conditions": json.dumps(cond)})
    assert ids(r) == {queried["late"].pk}
    cond = {
        "match": "any",
        "rules": [
            {"field": "is_key", "op": "eq", "value": True},
            {"field": "overdue", "op": "eq", "value": True},
        ],
    }
    assert ids(rep.get(f"{BASE}/", {"conditions": json.dumps(cond)})) == {
        queried["planned"].pk,
        queried["late"].pk,
    }
    for bad in ("{not json", json.dumps({"rules": [{"field": "owner__password", "op": "eq"}]})):
        r = rep.get(f"{BASE}/", {"conditions": bad})
        assert r.status_code == 400, r.content
        assert "conditions" in errors_of(r)


def test_saved_queries_owner_writes_shared_ones_are_read_only(
    world: World, other_world: World, queried: dict[str, Any], api_client: Any
) -> None:
    # R4.6: a saved query is the owner's; shared with the department it is visible (read-only)
    # there, invisible elsewhere and in other tenants; its count and list follow its conditions
    owner, teammate = world.users["rep_east"], world.users["dept_east"]
    mine = api_client(owner)
    payload = {
        "name": "大单",
        "conditions": {
            "match": "all",
            "rules": [{"field": "expected_amount", "op": "gte", "value": "1000"}],
        },
        "columns": ["customer", "amount"],
        "sort": "-amount",
        "shared": "team",
        "owner_id": teammate.pk,
        "org_id": other_world.org.pk,
    }
    r = send(mine, f"{BASE}/saved-queries", payload)
    assert r.status_code == 201, r.content
    saved = r.json()
    assert saved["mine"] is True and saved["owner"]["id"] == owner.pk
    assert saved["shared"] == "team" and saved["shared_label"]
    assert saved["conditions"]["rules"][0]["value"] == "1000.00"
    pk = saved["id"]
    url = f"{BASE}/saved-queries/{pk}"
    assert ids(mine.get(f"{BASE}/?saved_query_id={pk}")) == {queried["late"].pk}
    counts = mine.get(f"{BASE}/counts").json()["saved"]
    assert counts == [{"key": str(pk), "name": "大单", "count": 1}]
    # the teammate (same department) reads it but may not change or delete it
    team = api_client(teammate)
    assert team.get(url).status_code == 200 and team.get(url).json()["mine"] is False
    assert pk in ids(team.get(f"{BASE}/saved-queries"))
    assert ids(team.get(f"{BASE}/?saved_query_id={pk}")) == {
        queried["late"].pk,
        queried["other"].pk,
    }
    before = row(SavedQuery.objects.get(pk=pk))
    r = send(team, url, {"name": "改名"}, "patch")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert team.delete(url).status_code == 403
    # another department and another tenant do not see it at all
    for outsider in (world.users["rep_sales2"], other_world.admin):
        client = api_client(outsider)
        assert client.get(url).status_code == 404
        assert send(client, url, {"name": "改名"}, "patch").status_code == 404
        assert client.delete(url).status_code == 404
        assert client.get(f"{BASE}/?saved_query_id={pk}").status_code == 404
        assert pk not in ids(client.get(f"{BASE}/saved-queries"))
    assert row(SavedQuery.objects.get(pk=pk)) == before
    # bad conditions, columns or sort are refused with the field named
    r = send(
        mine, url, {"conditions": {"rules": [{"field": "nope", "op": "eq", "value": 1}]}}, "patch"
    )
    assert r.status_code == 400 and "conditions" in errors_of(r)
    r = send(mine, f"{BASE}/saved-queries", {"name": "x", "columns": ["password"]})
    assert r.status_code == 400 and "columns" in errors_of(r)
    # the owner renames, shares privately, then deletes it
    r = send(mine, url, {"name": "百万大单", "shared": "private"}, "patch")
    assert r.status_code == 200 and r.json()["name"] == "百万大单"
    assert team.get(url).status_code == 404
    assert mine.delete(url).status_code == 204
    assert not SavedQuery.objects.filter(pk=pk).exists()
