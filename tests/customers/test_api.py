"""The customers API (R3.1–R3.5, R10.1): contracts for customers and contacts, list filters,
sorting and pinyin search, duplicates (撞单), optimistic locking, pool moves, tenant isolation in
payloads, masking in pools, and a list whose query count does not grow with the page size."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.core.errors import ValidationFailed
from crm.core.models import Event
from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from crm.customers import pool_services, services
from crm.customers.filters import CustomerFilter
from crm.customers.models import Contact, Customer, OwnershipMove, PublicPool, Tag

BASE = "/api/v1/customers"
_seq = itertools.count(1)


def make_customer(
    world: World,
    owner: Any,
    name: str | None = None,
    *,
    contacts: list[dict[str, Any]] | None = None,
    tags: list[Tag] | None = None,
    **data: Any,
) -> Customer:
    """A customer created through the service as the org admin, owned by ``owner``."""
    return services.create_customer(
        actor=world.admin,
        owner=owner,
        data={"name": name or f"测试客户{next(_seq)}号", **data},
        contacts=contacts,
        tags=tags,
    )


def unique_mobile() -> str:
    return f"139{next(_seq):08d}"


def post(client: Any, url: str, payload: dict[str, Any] | None = None, method: str = "post") -> Any:
    return getattr(client, method)(
        url, data=json.dumps(payload or {}), content_type="application/json"
    )


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


def default_pool(world: World) -> PublicPool:
    return PublicPool.objects.get(org=world.org, is_default=True)


def snapshot(*objs: Any) -> list[Any]:
    return [type(o)._base_manager.filter(pk=o.pk).values().first() for o in objs]


# --- Contract suites ----------------------------------------------------------------------------
class TestCustomerContract(ApiContract):
    # R3.1 R10.1 R1.3: 401, 404 out of scope and across tenants, nothing changes, audited edits
    list_url = f"{BASE}/customers"
    detail_url = f"{BASE}/customers/{{id}}"
    update_payload = {"version": 1, "notes": "改过的备注"}
    deletable = False

    def make_record(self, world: World, owner: Any) -> Customer:
        return make_customer(world, owner)


class TestContactContract(ApiContract):
    # R3.2 R10.1 R1.3: contacts are scoped through their customer
    list_url = f"{BASE}/contacts"
    detail_url = f"{BASE}/contacts/{{id}}"
    update_payload = {"version": 1, "title": "采购经理"}

    def make_record(self, world: World, owner: Any) -> Contact:
        customer = make_customer(
            world, owner, contacts=[{"name": f"联系人{next(_seq)}", "mobile": unique_mobile()}]
        )
        return customer.contacts.get()


# --- Lists: filters, sort, search ---------------------------------------------------------------
@pytest.fixture
def listed(world: World) -> dict[str, Any]:
    """Five customers that differ in every filtered attribute; the director sees them all."""
    u = world.users
    now = timezone.now()
    vip = services.create_tag(actor=world.admin, name="重点")
    a = make_customer(
        world,
        u["rep_east"],
        customer_type="enterprise",
        category="partner",
        industry="it",
        source="referral",
        region="广东省深圳市",
        tags=[vip],
    )
    b = make_customer(
        world, u["rep_south"], customer_type="government", industry="finance", region="北京市"
    )
    c = make_customer(world, u["rep_sales2"])
    d = make_customer(world, u["director"])
    p = make_customer(world, u["rep_east2"])
    second_pool = pool_services.save_pool(actor=world.admin, data={"name": "华东公海"})
    pool_services.release(actor=world.admin, customer=p, reason="暂无需求", pool=second_pool)
    Customer.objects.filter(pk=a.pk).update(grade="A", created_at=now - timedelta(days=60))
    Customer.objects.filter(pk=b.pk).update(grade="B", is_new=False)
    Customer.objects.filter(pk=c.pk).update(last_followup_at=now - timedelta(days=10))
    Customer.objects.filter(pk=d.pk).update(last_followup_at=now - timedelta(days=1))
    return {"a": a, "b": b, "c": c, "d": d, "p": p, "vip": vip, "pool2": second_pool}


def test_each_customer_filter_selects_exactly_its_rows(
    world: World, listed: dict[str, Any], api_client: Any
) -> None:
    # R3.1 R10.1: every filter of the list, once, with the exact ids it must return
    a, b, c, d, p = (listed[k].pk for k in "abcdp")
    u = world.users
    today = timezone.localdate()
    client = api_client(u["director"])
    url = f"{BASE}/customers?page_size=200&"
    cases = {
        "": {a, b, c, d, p},
        f"owner_id={u['rep_east'].pk}": {a},
        "mine=true": {d},
        f"department_id={world.depts['sales1'].pk}": {a, b},
        f"department_id={world.depts['east'].pk}": {a},
        "grade=A": {a},
        "customer_type=government": {b},
        "category=partner": {a},
        "industry=finance": {b},
        "source=referral": {a},
        "region=广东": {a},
        f"tag_id={listed['vip'].pk}": {a},
        "in_pool=true": {p},
        "in_pool=false": {a, b, c, d},
        f"pool_id={listed['pool2'].pk}": {p},
        f"pool_id={default_pool(world).pk}": {a, b, c, d},
        "is_new=false": {b},
        f"created_to={today - timedelta(days=30)}": {a},
        f"created_from={today - timedelta(days=30)}": {b, c, d, p},
        f"last_followup_before={today - timedelta(days=5)}": {a, b, c, p},
        f"last_followup_after={today - timedelta(days=5)}": {d},
        "q=测试客户": {a, b, c, d, p},
    }
    for query, expected in cases.items():
        assert ids(client.get(url + query)) == expected, query
    # a rep sees their own and the pool's waiting customers only (scope applies before filters)
    rep = api_client(u["rep_east"])
    assert ids(rep.get(url)) == {a, p}
    assert ids(rep.get(url + "in_pool=false")) == {a}
    bad = client.get(url + "grade=Z")
    assert bad.status_code == 422


def test_customer_list_sorts_by_pinyin_name_amount_and_rejects_unknown_keys(
    world: World, api_client: Any
) -> None:
    # R3.1 R10.1: ?sort over the allowed keys; name sorts by pinyin; unknown key → 400
    director = world.users["director"]
    cq = make_customer(world, director, "重庆火锅有限公司")
    ah = make_customer(world, director, "安徽茶叶有限公司")
    bj = make_customer(world, director, "北京烤鸭有限公司")
    Customer.objects.filter(pk=cq.pk).update(signed_amount_12m=Decimal("500.00"))
    Customer.objects.filter(pk=ah.pk).update(signed_amount_12m=Decimal("9000.50"))
    client = api_client(director)

    def order(sort: str) -> list[int]:
        r = client.get(f"{BASE}/customers?mine=true&sort={sort}")
        assert r.status_code == 200, r.content
        return [item["id"] for item in r.json()["items"]]

    assert order("name") == [ah.pk, bj.pk, cq.pk]
    assert order("-name") == [cq.pk, bj.pk, ah.pk]
    assert order("-signed_amount_12m") == [ah.pk, cq.pk, bj.pk]
    assert order("created") == [cq.pk, ah.pk, bj.pk]
    amounts = {
        i["id"]: i["signed_amount_12m"]
        for i in client.get(f"{BASE}/customers?mine=true").json()["items"]
    }
    assert amounts == {cq.pk: "500.00", ah.pk: "9000.50", bj.pk: "0.00"}
    bad = client.get(f"{BASE}/customers?sort=owner")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "sort"


def test_filters_parse_a_query_string_for_the_pages(db: None) -> None:
    # R3.1: the pages build the same filter from request.GET; empty values are ignored
    parsed = CustomerFilter.from_query({"grade": "A", "mine": "true", "q": "", "tag_id": "7"})
    assert parsed.model_dump(exclude_none=True) == {"grade": "A", "mine": True, "tag_id": 7}
    with pytest.raises(ValidationFailed) as exc:
        CustomerFilter.from_query({"grade": "Z", "created_from": "yesterday"})
    assert sorted(exc.value.field_errors) == ["created_from", "grade"]


def test_search_by_pinyin_initials_and_contact_phone(world: World, api_client: Any) -> None:
    # R3.1: zgyd finds 中国移动…, huawei finds 华为…, a phone fragment finds via a contact mobile
    rep = world.users["rep_east"]
    cm = make_customer(world, rep, "中国移动通信集团有限公司")
    hw = make_customer(world, rep, "华为技术有限公司")
    other = make_customer(
        world, rep, "深圳市腾飞贸易有限公司", contacts=[{"name": "张伟", "mobile": "13912345678"}]
    )
    client = api_client(rep)
    url = f"{BASE}/customers?q="
    assert ids(client.get(url + "zgyd")) == {cm.pk}
    assert ids(client.get(url + "huawei")) == {hw.pk}
    assert ids(client.get(url + "HuaWei")) == {hw.pk}
    assert ids(client.get(url + "12345678")) == {other.pk}
    assert ids(client.get(url + "华为")) == {hw.pk}
    # search never crosses the scope: a colleague of the same team finds nothing
    assert ids(api_client(world.users["rep_east2"]).get(url + "huawei")) == set()


def test_contact_list_filters_by_customer_and_query(world: World, api_client: Any) -> None:
    # R3.2: contacts filtered by customer and by name / mobile
    rep = world.users["rep_east"]
    one = make_customer(
        world,
        rep,
        contacts=[
            {"name": "王芳", "mobile": "13700001111"},
            {"name": "李雷", "mobile": "13700002222"},
        ],
    )
    two = make_customer(world, rep, contacts=[{"name": "王强", "mobile": "13700003333"}])
    client = api_client(rep)
    by_name = {c.name: c.pk for c in Contact.objects.filter(customer__in=[one, two])}
    assert ids(client.get(f"{BASE}/contacts?customer_id={one.pk}")) == {
        by_name["王芳"],
        by_name["李雷"],
    }
    assert ids(client.get(f"{BASE}/contacts?q=王")) == {by_name["王芳"], by_name["王强"]}
    assert ids(client.get(f"{BASE}/contacts?q=0000222")) == {by_name["李雷"]}


# --- Detail, create, edit -------------------------------------------------------------------------
def test_customer_detail_shows_owner_pool_tags_parent_and_countdown(
    world: World, api_client: Any
) -> None:
    # R3.5 R3.4: the 360 header: owner, pool, tags, parent, contacts, days since follow-up,
    # when the pool's rules return it (default pool: 30 days without a follow-up)
    rep = world.users["rep_east"]
    tag = services.create_tag(actor=world.admin, name="渠道")
    group = make_customer(world, rep, "远航集团有限公司")
    sub = make_customer(
        world,
        rep,
        "远航物流有限公司",
        contacts=[{"name": "赵六", "mobile": unique_mobile()}],
        tags=[tag],
    )
    services.update_customer(actor=rep, customer=sub, data={}, parent=group)
    followed = timezone.now() - timedelta(days=3)
    Customer.objects.filter(pk=sub.pk).update(
        last_followup_at=followed, signed_amount_12m=Decimal("12345.6")
    )
    body = api_client(rep).get(f"{BASE}/customers/{sub.pk}").json()
    pool = default_pool(world)
    assert body["owner"] == {"id": rep.pk, "username": rep.username, "name": "华东销售甲"}
    assert body["pool"] == {"id": pool.pk, "name": pool.name}
    assert body["parent"] == {"id": group.pk, "name": "远航集团有限公司"}
    assert body["tags"] == [{"id": tag.pk, "name": "渠道", "color": "blue"}]
    assert body["contacts_count"] == 1
    assert body["days_since_followup"] == 3
    assert body["signed_amount_12m"] == "12345.60"
    assert body["in_pool"] is False and body["masked"] is False
    due = followed + timedelta(days=30)
    assert datetime.fromisoformat(body["pool_return_at"]) == due.replace(
        microsecond=due.microsecond // 1000 * 1000  # the API gives milliseconds
    )
    assert body["version"] == 2


def test_create_with_contacts_and_tags_then_edit(world: World, api_client: Any) -> None:
    # R3.1 R3.2: create with first contacts and tags; PATCH changes fields, never owner or pool
    rep = world.users["rep_east"]
    tag = services.create_tag(actor=world.admin, name="新签")
    client = api_client(rep)
    r = post(
        client,
        f"{BASE}/customers",
        {
            "name": "杭州云帆科技有限公司",
            "industry": "it",
            "phone": "0571-88886666",
            "tag_ids": [tag.pk],
            "contacts": [{"name": "陈静", "mobile": "13588889999", "title": "CTO"}],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    customer = Customer.objects.get(pk=body["id"])
    assert (customer.owner_id, customer.industry, customer.phone) == (
        rep.pk,
        "it",
        "0571-88886666",
    )
    assert body["contacts_count"] == 1 and [t["id"] for t in body["tags"]] == [tag.pk]
    assert list(customer.contacts.values_list("name", "mobile", "owner_id")) == [
        ("陈静", "13588889999", rep.pk)
    ]
    assert Event.objects.filter(object_id=str(customer.pk), verb="customer.created").count() == 1
    other = world.users["rep_east2"]
    r = post(
        client,
        f"{BASE}/customers/{customer.pk}",
        {"version": 1, "region": "浙江省杭州市", "owner_id": other.pk, "pool_id": None},
        "patch",
    )
    assert r.status_code == 200, r.content
    customer.refresh_from_db()
    assert (customer.region, customer.owner_id, customer.pool_id, customer.version) == (
        "浙江省杭州市",
        rep.pk,
        default_pool(world).pk,
        2,
    )
    bad = post(client, f"{BASE}/customers", {"name": "某公司", "industry": "no-such"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "industry"


def test_stale_version_answers_409_and_writes_nothing(world: World, api_client: Any) -> None:
    # R3.1 (DESIGN: concurrency): an edit with a stale version is refused, nothing is written
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    client = api_client(rep)
    url = f"{BASE}/customers/{customer.pk}"
    assert post(client, url, {"version": 1, "notes": "第一次"}, "patch").status_code == 200
    before, events = snapshot(customer), Event.objects.count()
    r = post(client, url, {"version": 1, "notes": "过期的修改", "tag_ids": []}, "patch")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert snapshot(customer) == before
    assert Event.objects.count() == events
    contact = Contact.objects.create(org=world.org, customer=customer, name="钱七", version=3)
    r = post(client, f"{BASE}/contacts/{contact.pk}", {"version": 2, "title": "总监"}, "patch")
    assert r.status_code == 409
    contact.refresh_from_db()
    assert (contact.title, contact.version) == ("", 3)


# --- Duplicates (撞单) ---------------------------------------------------------------------------
def test_duplicate_on_create_answers_409_with_the_candidates(world: World, api_client: Any) -> None:
    # R3.3: duplicates are detected on entry; the caller sees the candidate they may see
    rep = world.users["rep_east"]
    mine = make_customer(world, rep, "华为技术有限公司", phone="0755-28780808")
    client = api_client(rep)
    count, events = Customer.objects.count(), Event.objects.count()
    r = post(client, f"{BASE}/customers", {"name": "华为技术有限公司"})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "duplicate"
    assert body["errors"] == [{"field": "name", "message": "Possible duplicate: 华为技术有限公司"}]
    assert body["candidates"] == [
        {
            "id": mine.pk,
            "name": "华为技术有限公司",
            "visible": True,
            "in_pool": False,
            "owner": "华东销售甲",
            "phone": "0755-28780808",
            "email": "",
            "reasons": ["name"],
        }
    ]
    assert (Customer.objects.count(), Event.objects.count()) == (count, events)


def test_zhuangdan_another_reps_customer_cannot_be_created_twice(
    world: World, api_client: Any
) -> None:
    # R3.3 撞单: rep_east2 cannot create rep_east's customer again, even with another legal
    # suffix and allow_duplicate; the candidate comes back masked (id null, masked phone)
    make_customer(world, world.users["rep_east"], "华为技术有限公司", phone="0755-28780808")
    client = api_client(world.users["rep_east2"])
    count, events = Customer.objects.count(), Event.objects.count()
    r = post(
        client,
        f"{BASE}/customers",
        {"name": "华为技术（深圳）有限公司", "allow_duplicate": True},
    )
    assert r.status_code == 409
    assert r.json()["candidates"] == [
        {
            "id": None,
            "name": "华为技术有限公司",
            "visible": False,
            "in_pool": False,
            "owner": "华东销售甲",
            "phone": "075*****0808",
            "email": "",
            "reasons": ["name"],
        }
    ]
    assert (Customer.objects.count(), Event.objects.count()) == (count, events)
    # the check endpoint answers the same, by phone
    r = post(client, f"{BASE}/customers/check-duplicates", {"phones": ["0755 2878 0808"]})
    assert r.status_code == 200
    assert [(c["id"], c["phone"], c["reasons"]) for c in r.json()["candidates"]] == [
        (None, "075*****0808", ["phone"])
    ]
    assert (
        post(
            api_client(world.users["nobody"]),
            f"{BASE}/customers/check-duplicates",
            {"name": "华为技术"},
        ).status_code
        == 403
    )


def test_contact_with_another_customers_mobile_is_a_duplicate(
    world: World, api_client: Any
) -> None:
    # R3.3: a contact whose mobile belongs to another customer is refused with the candidates
    make_customer(
        world, world.users["rep_south"], contacts=[{"name": "孙八", "mobile": "13611112222"}]
    )
    mine = make_customer(world, world.users["rep_east"])
    r = post(
        api_client(world.users["rep_east"]),
        f"{BASE}/customers/{mine.pk}/contacts",
        {"name": "孙八", "mobile": "136-1111-2222"},
    )
    assert r.status_code == 409
    assert [(c["id"], c["reasons"]) for c in r.json()["candidates"]] == [(None, ["phone"])]
    assert mine.contacts.count() == 0
    ok = post(
        api_client(world.users["rep_east"]),
        f"{BASE}/customers/{mine.pk}/contacts",
        {"name": "周九", "mobile": "13622223333"},
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["customer"] == {"id": mine.pk, "name": mine.name}


# --- Pool moves ----------------------------------------------------------------------------------
def test_release_then_claim_through_the_api(world: World, api_client: Any) -> None:
    # R3.3 R3.4: release with a reason; the releaser is in the cool-down; a colleague claims
    u = world.users
    customer = make_customer(world, u["rep_east"])
    pool = default_pool(world)
    r = post(
        api_client(u["rep_east"]), f"{BASE}/customers/{customer.pk}/release", {"reason": "暂无需求"}
    )
    assert r.status_code == 200, r.content
    assert r.json()["owner"] is None and r.json()["pool"]["id"] == pool.pk
    customer.refresh_from_db()
    assert (customer.owner_id, customer.pool_id, customer.released_by_id) == (
        None,
        pool.pk,
        u["rep_east"].pk,
    )
    event = Event.objects.filter(object_id=str(customer.pk)).latest("id")
    assert (event.verb, event.actor_id, event.changes) == (
        "customer.released",
        u["rep_east"].pk,
        {"owner": [u["rep_east"].pk, None], "pool": [None, pool.pk]},
    )
    again = post(api_client(u["rep_east"]), f"{BASE}/customers/{customer.pk}/claim")
    assert again.status_code == 400  # re-claim cool-down (7 days in the default pool)
    r = post(api_client(u["rep_east2"]), f"{BASE}/customers/{customer.pk}/claim")
    assert r.status_code == 200, r.content
    customer.refresh_from_db()
    assert customer.owner_id == u["rep_east2"].pk
    event = Event.objects.filter(object_id=str(customer.pk)).latest("id")
    assert (event.verb, event.changes) == ("customer.claimed", {"owner": [None, u["rep_east2"].pk]})
    assert list(OwnershipMove.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "claim",
        "release",
        "create",
    ]
    # claimed: no longer in another rep's sight
    late = post(api_client(u["rep_south"]), f"{BASE}/customers/{customer.pk}/claim")
    assert late.status_code == 404
    assert Customer.objects.get(pk=customer.pk).owner_id == u["rep_east2"].pk


def test_assign_transfer_and_bulk_transfer(world: World, api_client: Any) -> None:
    # R3.3: a manager assigns from the pool and transfers; a rep without the right cannot
    u = world.users
    admin = api_client(world.admin)
    waiting = make_customer(world, u["rep_east"])
    pool_services.release(actor=world.admin, customer=waiting, reason="无人跟进")
    r = post(admin, f"{BASE}/customers/{waiting.pk}/assign", {"to_user_id": u["rep_south"].pk})
    assert r.status_code == 200, r.content
    assert r.json()["owner"]["id"] == u["rep_south"].pk
    event = Event.objects.filter(object_id=str(waiting.pk)).latest("id")
    assert (event.verb, event.changes) == (
        "customer.assigned",
        {"owner": [None, u["rep_south"].pk]},
    )

    owned = make_customer(world, u["rep_east"])
    before = snapshot(owned)
    refused = post(
        api_client(u["rep_east"]),
        f"{BASE}/customers/{owned.pk}/transfer",
        {"to_user_id": u["rep_east2"].pk},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert snapshot(owned) == before
    r = post(
        admin,
        f"{BASE}/customers/{owned.pk}/transfer",
        {"to_user_id": u["rep_sales2"].pk, "reason": "区域调整"},
    )
    assert r.status_code == 200, r.content
    owned.refresh_from_db()
    assert owned.owner_id == u["rep_sales2"].pk
    event = Event.objects.filter(object_id=str(owned.pk)).latest("id")
    assert (event.verb, event.changes, event.data) == (
        "customer.transferred",
        {"owner": [u["rep_east"].pk, u["rep_sales2"].pk]},
        {"reason": "区域调整"},
    )

    x, y = make_customer(world, u["rep_east"]), make_customer(world, u["rep_east2"])
    r = post(
        admin, f"{BASE}/customers/transfer", {"ids": [x.pk, y.pk], "to_user_id": u["director"].pk}
    )
    assert r.status_code == 200 and r.json() == {"count": 2}
    assert set(Customer.objects.filter(pk__in=[x.pk, y.pk]).values_list("owner_id", flat=True)) == {
        u["director"].pk
    }


def test_merge_collaborators_tags_and_history(world: World, api_client: Any) -> None:
    # R3.3 R3.5: merge moves contacts and leaves a tombstone; collaborators; bulk tags; history
    u = world.users
    admin = api_client(world.admin)
    target = make_customer(world, u["rep_east"], "星辰科技有限公司")
    source = make_customer(
        world,
        u["rep_east"],
        "星辰软件有限公司",
        contacts=[{"name": "吴十", "mobile": unique_mobile()}],
        region="上海市",
    )
    r = post(admin, f"{BASE}/customers/{target.pk}/merge", {"source_id": source.pk})
    assert r.status_code == 200, r.content
    assert (r.json()["contacts_count"], r.json()["region"]) == (1, "上海市")
    source.refresh_from_db()
    assert (source.merged_into_id, source.owner_id) == (target.pk, None)
    assert list(Contact.objects.filter(customer=target).values_list("name", flat=True)) == ["吴十"]
    assert Event.objects.filter(object_id=str(target.pk), verb="customer.merged").count() == 1
    assert Event.objects.filter(object_id=str(source.pk), verb="customer.merged_away").count() == 1
    assert source.pk not in ids(admin.get(f"{BASE}/customers?page_size=200"))

    rep = api_client(u["rep_east"])
    r = post(
        rep,
        f"{BASE}/customers/{target.pk}/collaborators",
        {"user_ids": [u["rep_east2"].pk]},
        "put",
    )
    assert r.status_code == 200 and [c["id"] for c in r.json()["collaborators"]] == [
        u["rep_east2"].pk
    ]
    assert ids(api_client(u["rep_east2"]).get(f"{BASE}/customers")) == {target.pk}

    tag = post(rep, f"{BASE}/tags", {"name": "重点"})
    assert tag.status_code == 201
    tag_id = tag.json()["id"]
    assert [t["id"] for t in rep.get(f"{BASE}/tags").json()["items"]] == [tag_id]
    r = post(rep, f"{BASE}/customers/tag", {"ids": [target.pk], "tag_ids": [tag_id]})
    assert r.json() == {"count": 1}
    assert list(target.tags.values_list("pk", flat=True)) == [tag_id]
    r = post(
        rep, f"{BASE}/customers/tag", {"ids": [target.pk], "tag_ids": [tag_id], "remove": True}
    )
    assert r.json() == {"count": 1} and target.tags.count() == 0

    history = rep.get(f"{BASE}/customers/{target.pk}/history")
    assert [e["verb"] for e in history.json()["items"]] == [
        "customer.untagged",
        "customer.tagged",
        "customer.collaborators",
        "customer.merged",
        "customer.created",
    ]
    assert (
        api_client(u["rep_south"]).get(f"{BASE}/customers/{target.pk}/history").status_code == 404
    )


def test_other_tenants_ids_in_payloads_answer_404_and_change_nothing(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.3 R10.1: ids of another organisation (user, tag, pool, customer, department) → 404
    foreign_user = other_world.users["rep_east"]
    foreign_tag = services.create_tag(actor=other_world.admin, name="外部")
    foreign_pool = default_pool(other_world)
    foreign_customer = make_customer(other_world, other_world.users["rep_east"])
    waiting = make_customer(world, world.users["rep_east"])
    pool_services.release(actor=world.admin, customer=waiting, reason="无人跟进")
    owned = make_customer(world, world.users["rep_east"])
    admin = api_client(world.admin)
    before = snapshot(waiting, owned, foreign_customer)
    events, customers = Event.objects.count(), Customer.objects.count()
    pools = PublicPool.objects.count()
    calls = [
        (f"{BASE}/customers/{owned.pk}/transfer", {"to_user_id": foreign_user.pk}, "post"),
        (f"{BASE}/customers/transfer", {"ids": [owned.pk], "to_user_id": foreign_user.pk}, "post"),
        (
            f"{BASE}/customers/transfer",
            {"ids": [foreign_customer.pk], "to_user_id": world.users["rep_east2"].pk},
            "post",
        ),
        (f"{BASE}/customers/{waiting.pk}/assign", {"to_user_id": foreign_user.pk}, "post"),
        (f"{BASE}/customers/{foreign_customer.pk}/claim", {}, "post"),
        (
            f"{BASE}/customers/{owned.pk}/release",
            {"reason": "x", "pool_id": foreign_pool.pk},
            "post",
        ),
        (f"{BASE}/customers/{owned.pk}/merge", {"source_id": foreign_customer.pk}, "post"),
        (f"{BASE}/customers/{foreign_customer.pk}/merge", {"source_id": owned.pk}, "post"),
        (f"{BASE}/customers/tag", {"ids": [owned.pk], "tag_ids": [foreign_tag.pk]}, "post"),
        (f"{BASE}/customers/{owned.pk}/collaborators", {"user_ids": [foreign_user.pk]}, "put"),
        (f"{BASE}/customers/{owned.pk}", {"version": 1, "tag_ids": [foreign_tag.pk]}, "patch"),
        (f"{BASE}/customers/{owned.pk}", {"version": 1, "parent_id": foreign_customer.pk}, "patch"),
        (f"{BASE}/customers", {"name": "新客户甲", "tag_ids": [foreign_tag.pk]}, "post"),
        (f"{BASE}/customers", {"name": "新客户乙", "owner_id": foreign_user.pk}, "post"),
        (f"{BASE}/customers/{foreign_customer.pk}/contacts", {"name": "某人"}, "post"),
        (
            f"{BASE}/pools",
            {"name": "外部公海", "department_ids": [other_world.depts["east"].pk]},
            "post",
        ),
        (f"{BASE}/pools/{foreign_pool.pk}", {"name": "改名"}, "patch"),
    ]
    for url, payload, method in calls:
        r = post(admin, url, payload, method)
        assert r.status_code == 404, (url, payload, r.content)
        assert r.json()["code"] == "not_found"
    assert snapshot(waiting, owned, foreign_customer) == before
    assert (Event.objects.count(), Customer.objects.count()) == (events, customers)
    assert PublicPool.objects.count() == pools
    assert owned.tags.count() == 0 and owned.collaborators.count() == 0


# --- Pools ---------------------------------------------------------------------------------------
def test_pool_lists_mask_phones_until_claimed(world: World, api_client: Any) -> None:
    # R3.3 R3.4: a pool that masks contacts shows masked phones and e-mails until claimed
    u = world.users
    customer = make_customer(
        world,
        u["rep_east"],
        phone="13800138000",
        email="info@yunfan.cn",
        contacts=[{"name": "郑一", "mobile": "13912340000", "email": "zheng@yunfan.cn"}],
    )
    pool_services.release(actor=world.admin, customer=customer, reason="无人跟进")
    pool = default_pool(world)
    client = api_client(u["rep_south"])
    pools = client.get(f"{BASE}/pools").json()["items"]
    assert [(p["id"], p["waiting"]) for p in pools] == [(pool.pk, 1)]
    items = client.get(f"{BASE}/pools/{pool.pk}/customers").json()["items"]
    assert [(i["id"], i["phone"], i["email"], i["masked"]) for i in items] == [
        (customer.pk, "138****8000", "i***@yunfan.cn", True)
    ]
    contacts = client.get(f"{BASE}/contacts?customer_id={customer.pk}").json()["items"]
    assert [(c["mobile"], c["email"]) for c in contacts] == [("139****0000", "z***@yunfan.cn")]
    detail = client.get(f"{BASE}/customers/{customer.pk}").json()
    assert (detail["phone"], detail["pool_return_at"]) == ("138****8000", None)
    assert post(client, f"{BASE}/customers/{customer.pk}/claim").status_code == 200
    contacts = client.get(f"{BASE}/contacts?customer_id={customer.pk}").json()["items"]
    assert [(c["mobile"], c["email"]) for c in contacts] == [("13912340000", "zheng@yunfan.cn")]
    assert client.get(f"{BASE}/pools/{pool.pk}/customers").json()["count"] == 0


def test_pools_are_configured_by_admins_and_visible_by_department(
    world: World, api_client: Any
) -> None:
    # R3.3 R3.4: pools with departments that may claim; only configure may create or change
    u = world.users
    admin = api_client(world.admin)
    r = post(
        admin,
        f"{BASE}/pools",
        {
            "name": "二部公海",
            "department_ids": [world.depts["sales2"].pk],
            "days_without_followup": 15,
            "grade_rules": {"A": {"days_without_followup": 45}},
            "mask_contacts": False,
        },
    )
    assert r.status_code == 201, r.content
    pool_id = r.json()["id"]
    assert (r.json()["department_ids"], r.json()["waiting"]) == ([world.depts["sales2"].pk], 0)
    created = PublicPool.objects.get(pk=pool_id)
    assert (created.days_without_followup, created.grade_rules, created.mask_contacts) == (
        15,
        {"A": {"days_without_followup": 45}},
        False,
    )
    assert Event.objects.filter(object_id=str(pool_id), verb="pool.created").count() == 1
    default = default_pool(world).pk
    assert ids(api_client(u["rep_sales2"]).get(f"{BASE}/pools")) == {default, pool_id}
    assert ids(api_client(u["rep_east"]).get(f"{BASE}/pools")) == {default}
    assert api_client(u["rep_east"]).get(f"{BASE}/pools/{pool_id}").status_code == 404
    refused = post(api_client(u["rep_sales2"]), f"{BASE}/pools/{pool_id}", {"name": "x"}, "patch")
    assert refused.status_code == 403
    assert post(api_client(u["rep_east"]), f"{BASE}/pools", {"name": "私人公海"}).status_code == 403
    r = post(
        admin, f"{BASE}/pools/{pool_id}", {"owner_cap": 50, "days_without_followup": None}, "patch"
    )
    assert r.status_code == 200, r.content
    created.refresh_from_db()
    assert (created.name, created.owner_cap, created.days_without_followup) == (
        "二部公海",
        50,
        None,
    )


# --- Performance ---------------------------------------------------------------------------------
def test_customer_list_query_count_does_not_grow_with_page_size(
    world: World, api_client: Any, django_assert_max_num_queries: Any
) -> None:
    # R11.2 R3.1: tags, collaborators, owner, pool, parent and contact counts without N+1
    director = world.users["director"]
    tags = [services.create_tag(actor=world.admin, name=f"标签{i}") for i in range(3)]
    parent = make_customer(world, director)
    for _i in range(30):
        c = make_customer(
            world,
            director,
            tags=tags,
            contacts=[{"name": "联系人", "mobile": unique_mobile()}],
        )
        services.set_collaborators(actor=world.admin, customer=c, users=[world.users["rep_east"]])
        services.update_customer(actor=world.admin, customer=c, data={}, parent=parent)
    client = api_client(director)
    client.get(f"{BASE}/customers?page_size=1")
    with django_assert_max_num_queries(10) as small_ctx:
        small = client.get(f"{BASE}/customers?page_size=2")
    with django_assert_max_num_queries(10) as large_ctx:
        large = client.get(f"{BASE}/customers?page_size=31")
    assert len(small.json()["items"]) == 2 and len(large.json()["items"]) == 31
    assert len(large_ctx.captured_queries) == len(small_ctx.captured_queries)
    assert {i["contacts_count"] for i in large.json()["items"] if i["id"] != parent.pk} == {1}
