"""Pages of the customers module (R3.1–R3.5, R11.1): who may open what, each action's exact
effect (owner, pool, events), and that refused actions change nothing.

Out-of-scope records (rep_east2 on rep_east's customer) and another organisation's records (the
admin of ``other_world``) answer 404; a missing permission answers 403.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.core.models import Event, Notification
from crm.core.registry import Section, record_sections, register_section
from crm.core.scoping import DataScope
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World, make_role, make_user, role
from crm.customers import pool_services, services
from crm.customers.models import Contact, Customer, OwnershipMove, PublicPool, Tag
from crm.org.models import Organization, User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

# --- helpers -------------------------------------------------------------------------------------


def english(client: Client) -> Client:
    """Switch a client to English so messages can be asserted verbatim."""
    client.cookies["crm_language"] = "en"
    return client


@pytest.fixture
def as_user(client_for: Any):
    def make(user: User) -> Client:
        return english(client_for(user))

    return make


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def pool_of(world: World) -> PublicPool:
    return PublicPool.objects.get(org=world.org, is_default=True)


def owned(user: User, name: str, **data: Any) -> Customer:
    contacts = data.pop("contacts", None)
    return services.create_customer(
        actor=fresh(user), data={"name": name, **data}, contacts=contacts
    )


def in_pool(world: World, name: str, **data: Any) -> Customer:
    """A customer created by the admin and released to the default pool."""
    c = owned(world.admin, name, **data)
    return pool_services.release(actor=fresh(world.admin), customer=c, reason="测试")


def manager_of(world: World) -> User:
    """A built-in sales manager of 销售一部 (has customers:transfer)."""
    return make_user(world.admin, "内置经理", world.depts["sales1"], [role(world.org, "manager")])


def viewer_of(world: World) -> User:
    """Someone who may only view customers (all of them)."""
    viewer_role = make_role(world.admin, "只读", DataScope.ALL, ["customers:view"])
    return make_user(world.admin, "只读员", world.depts["root"], [viewer_role])


def state(org: Organization) -> tuple[Any, ...]:
    """Everything the customer pages can change in one organisation."""
    return (
        list(Customer.objects.filter(org=org).order_by("pk").values()),
        list(Contact.objects.filter(org=org).order_by("pk").values()),
        list(PublicPool.objects.filter(org=org).order_by("pk").values()),
        sorted(
            Customer.tags.through.objects.filter(customer__org=org).values_list(
                "customer_id", "tag_id"
            )
        ),
        sorted(Tag.objects.filter(org=org).values_list("name", flat=True)),
        OwnershipMove.objects.filter(org=org).count(),
        Event.objects.filter(org=org).count(),
    )


def verbs(obj: Any) -> list[str]:
    return list(
        Event.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        .order_by("id")
        .values_list("verb", flat=True)
    )


def flashes(client: Client) -> list[str]:
    """The flash messages waiting for ``client`` (shown, and so consumed, by the next page)."""
    response = client.get("/customers/contacts/")
    return [str(m) for m in response.context["messages"]]


def text(response: Any) -> str:
    return response.content.decode()


def row_ids(response: Any, table: str = "customer-table") -> list[int]:
    body = text(response).split(f'id="{table}"', 1)[1]
    return [int(pk) for pk in re.findall(r'<tr data-customer="(\d+)"', body)]


# --- who may open what ---------------------------------------------------------------------------
def test_menu_lists_the_customer_pages(world: World, as_user: Any) -> None:
    # R11.1 R3.1: the Customers menu has My customers, Public pools, Contacts, Duplicates and merge
    page = text(as_user(world.users["rep_east"]).get("/"))
    for nav, url in (
        ("my_customers", "/customers/"),
        ("public_pools", "/customers/pools/"),
        ("contacts", "/customers/contacts/"),
        ("customer_merge", "/customers/merge/"),
    ):
        assert f'href="{url}" data-nav="{nav}"' in page
    assert 'data-nav="customers"' not in text(as_user(world.users["nobody"]).get("/"))


def test_every_page_renders_for_the_right_user(world: World, as_user: Any) -> None:
    # R3.1 R3.2 R3.3 R3.4 R3.5: each page opens for someone allowed to use it
    rep = world.users["rep_east"]
    c = owned(rep, "杭州云帆科技有限公司", contacts=[{"name": "王五", "mobile": "13800138000"}])
    contact = Contact.objects.get(customer=c)
    waiting = in_pool(world, "宁波港务")
    pool = pool_of(world)
    client = as_user(rep)
    for url in (
        "/customers/",
        "/customers/new/",
        f"/customers/{c.pk}/",
        f"/customers/{c.pk}/edit/",
        f"/customers/{c.pk}/contacts/new/",
        f"/customers/contacts/{contact.pk}/edit/",
        "/customers/contacts/",
        "/customers/pools/",
        f"/customers/pools/{pool.pk}/",
        f"/customers/{waiting.pk}/",
        "/customers/merge/",
        f"/customers/merge/?source={c.pk}&target={c.pk}",
        "/customers/check-duplicates/?name=杭州云帆科技",
        "/customers/pick/?field=parent&parent_q=hzyf",
    ):
        assert client.get(url).status_code == 200, url
    boss = as_user(manager_of(world))
    assert boss.get(f"/customers/{c.pk}/transfer/").status_code == 200
    assert boss.get(f"/customers/{waiting.pk}/assign/").status_code == 200
    admin = as_user(world.admin)
    assert admin.get("/customers/pools/new/").status_code == 200
    assert admin.get(f"/customers/pools/{pool.pk}/edit/").status_code == 200


def test_out_of_scope_and_other_tenant_records_answer_404(
    world: World, other_world: World, as_user: Any
) -> None:
    # R1.3 R3.1: rep_east2 may not see rep_east's customer; another organisation sees nothing
    rep = world.users["rep_east"]
    c = owned(rep, "华东私有客户", contacts=[{"name": "李四", "mobile": "13900139000"}])
    contact = Contact.objects.get(customer=c)
    pool = pool_of(world)
    waiting = in_pool(world, "公海客户")
    before = state(world.org)
    for outsider in (world.users["rep_east2"], other_world.admin):
        client = as_user(outsider)
        for url in (
            f"/customers/{c.pk}/",
            f"/customers/{c.pk}/edit/",
            f"/customers/{c.pk}/contacts/new/",
            f"/customers/contacts/{contact.pk}/edit/",
            f"/customers/merge/?source={c.pk}",
            f"/customers/merge/?target={c.pk}",
        ):
            assert client.get(url).status_code == 404, (outsider, url)
        posts = [
            (f"/customers/{c.pk}/edit/", {"name": "改名", "version": "1"}),
            (f"/customers/{c.pk}/release/", {"reason_text": "抢走"}),
            (f"/customers/{c.pk}/claim/", {}),
            (f"/customers/{c.pk}/contacts/new/", {"name": "插入"}),
            (f"/customers/contacts/{contact.pk}/edit/", {"name": "改", "version": "1"}),
            (f"/customers/contacts/{contact.pk}/delete/", {}),
            ("/customers/bulk/", {"ids": [c.pk], "action": "tag", "new_tag": "抢"}),
        ]
        for url, data in posts:
            assert client.post(url, data).status_code == 404, (outsider, url)
    # another organisation's pool, its customers and its settings
    stranger = as_user(other_world.admin)
    assert stranger.get(f"/customers/pools/{pool.pk}/").status_code == 404
    assert stranger.get(f"/customers/pools/{pool.pk}/edit/").status_code == 404
    assert stranger.post(f"/customers/pools/{pool.pk}/edit/", {"name": "x"}).status_code == 404
    assert with_sections(stranger, f"/customers/{waiting.pk}/").status_code == 404
    assert stranger.post(f"/customers/{waiting.pk}/claim/").status_code == 404
    assert stranger.get(f"/customers/{waiting.pk}/assign/").status_code == 404
    assert (
        stranger.post("/customers/merge/", {"source": c.pk, "target": waiting.pk}).status_code
        == 404
    )
    assert state(world.org) == before
    # nor do their lists show it
    assert row_ids(stranger.get("/customers/?view=all")) == []
    assert c.name not in text(stranger.get("/customers/contacts/"))
    assert "李四" not in text(as_user(world.users["rep_east2"]).get("/customers/contacts/"))


def test_a_missing_permission_answers_403_and_changes_nothing(world: World, as_user: Any) -> None:
    # R1.3: without the permission the page refuses (403), and nothing is written
    rep = world.users["rep_east"]
    c = owned(rep, "权限测试客户")
    waiting = in_pool(world, "权限公海客户")
    pool = pool_of(world)
    viewer = as_user(viewer_of(world))
    before = state(world.org)
    nobody = as_user(world.users["nobody"])
    for url in ("/customers/", "/customers/contacts/", "/customers/pools/", "/customers/new/"):
        assert nobody.get(url).status_code == 403, url
    rep_client = as_user(rep)
    assert rep_client.get(f"/customers/{c.pk}/transfer/").status_code == 403
    assert (
        rep_client.post(
            f"/customers/{c.pk}/transfer/", {"to_user": world.users["rep_south"].pk}
        ).status_code
        == 403
    )
    assert rep_client.get(f"/customers/{waiting.pk}/assign/").status_code == 403
    assert (
        rep_client.post(f"/customers/{waiting.pk}/assign/", {"to_user": rep.pk}).status_code == 403
    )
    assert (
        rep_client.post(
            "/customers/bulk/",
            {"ids": [c.pk], "action": "transfer", "to_user": world.users["rep_south"].pk},
        ).status_code
        == 403
    )
    assert rep_client.get("/customers/pools/new/").status_code == 403
    assert rep_client.post("/customers/pools/new/", {"name": "私建公海"}).status_code == 403
    assert rep_client.get(f"/customers/pools/{pool.pk}/edit/").status_code == 403
    assert with_sections(viewer, f"/customers/{c.pk}/").status_code == 200
    for url in (
        "/customers/new/",
        f"/customers/{c.pk}/edit/",
        f"/customers/{c.pk}/contacts/new/",
        "/customers/merge/",
    ):
        assert viewer.get(url).status_code == 403, url
    assert viewer.post(f"/customers/{c.pk}/release/", {"reason_text": "x"}).status_code == 403
    assert viewer.post(f"/customers/{waiting.pk}/claim/").status_code == 403
    assert state(world.org) == before


# --- the customer list ---------------------------------------------------------------------------
def test_list_tabs_show_mine_shared_team_and_all(world: World, as_user: Any) -> None:
    # R3.1: saved-query tabs; "my team" only for a scope wider than one's own
    rep, rep2 = world.users["rep_east"], world.users["rep_east2"]
    mine = owned(rep, "我的客户")
    theirs = owned(rep2, "同事客户")
    services.set_collaborators(actor=fresh(rep2), customer=theirs, users=[rep])
    in_pool(world, "公海里的")
    client = as_user(rep)
    page = text(client.get("/customers/"))
    assert 'data-tab="team"' not in page
    assert row_ids(client.get("/customers/")) == [mine.pk]
    assert row_ids(client.get("/customers/?view=shared")) == [theirs.pk]
    assert row_ids(client.get("/customers/?view=all")) == [theirs.pk, mine.pk]
    boss = as_user(world.users["manager1"])
    assert 'data-tab="team"' in text(boss.get("/customers/"))
    assert row_ids(boss.get("/customers/?view=team")) == [theirs.pk, mine.pk]
    assert row_ids(boss.get("/customers/")) == []


def test_list_filters_search_sort_and_columns(world: World, as_user: Any) -> None:
    # R3.1 R3.5: filter bar, pinyin-initials search, sorting, column choice kept in the session
    rep = world.users["rep_east"]
    cmcc = owned(rep, "中国移动通信集团有限公司", industry="telecom", region="北京")
    steel = owned(rep, "宝山钢铁股份有限公司", industry="manufacturing", phone="021-26646000")
    anhui = owned(rep, "安徽海螺水泥", industry="manufacturing", email="info@conch.example")
    Customer.objects.filter(pk=steel.pk).update(grade="A", is_new=False)
    tag = services.create_tag(actor=fresh(rep), name="重点")
    services.tag_customers(actor=fresh(rep), customers=[anhui], tags=[tag])
    client = as_user(rep)
    assert row_ids(client.get("/customers/?q=zgyd")) == [cmcc.pk]
    assert row_ids(client.get("/customers/?q=26646000")) == [steel.pk]
    assert row_ids(client.get("/customers/?q=info@conch.example")) == [anhui.pk]
    assert row_ids(client.get("/customers/?industry=manufacturing&sort=name")) == [
        anhui.pk,
        steel.pk,
    ]
    assert row_ids(client.get("/customers/?grade=A")) == [steel.pk]
    assert row_ids(client.get("/customers/?is_new=false")) == [steel.pk]
    assert row_ids(client.get(f"/customers/?tag_id={tag.pk}")) == [anhui.pk]
    assert row_ids(client.get("/customers/?region=北")) == [cmcc.pk]
    assert row_ids(client.get("/customers/?sort=-name")) == [cmcc.pk, steel.pk, anhui.pk]
    # a bad filter or sort is reported, not a crash
    bad = client.get("/customers/?grade=Z&sort=nope")
    assert bad.status_code == 200 and len(row_ids(bad)) == 3
    # column choice: the cols parameter wins and is remembered
    page = text(client.get("/customers/?cols=industry,signed_amount_12m"))
    header = page.split('id="customer-table"', 1)[1].split("</thead>", 1)[0]
    assert "Industry" in header and "Signed in 12 months" in header and "Owner" not in header
    # dictionary labels are organisation data, stored in the default language when seeded
    telecom = dictionaries.label(world.org.pk, "industry", "telecom")
    assert "¥0.00" in page and telecom in page
    header = text(client.get("/customers/")).split('id="customer-table"', 1)[1]
    assert "Owner" not in header.split("</thead>", 1)[0]


def test_list_paginates_by_fifty(world: World, as_user: Any) -> None:
    # R3.1: lists are paginated (50 a page)
    rep = world.users["rep_east"]
    for i in range(51):
        owned(rep, f"分页客户{i:02d}")
    client = as_user(rep)
    assert len(row_ids(client.get("/customers/"))) == 50
    assert len(row_ids(client.get("/customers/?page=2"))) == 1


def test_list_queries_do_not_grow_with_rows(world: World, as_user: Any) -> None:
    # R3.1 (DESIGN: performance): no query per row
    rep = world.users["rep_east"]
    tag = services.create_tag(actor=fresh(rep), name="标签")
    client = as_user(rep)
    cols = "/customers/?cols=" + ",".join(
        ["owner", "grade", "industry", "tags", "phone", "last_followup", "signed_amount_12m"]
    )

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(cols).status_code == 200
        return len(ctx)

    for i in range(3):
        services.tag_customers(actor=fresh(rep), customers=[owned(rep, f"少量{i}")], tags=[tag])
    few = count_queries()
    for i in range(20):
        services.tag_customers(actor=fresh(rep), customers=[owned(rep, f"更多{i}")], tags=[tag])
    assert count_queries() == few


def test_bulk_transfer_release_and_tag(world: World, as_user: Any) -> None:
    # R3.1 R3.3: bulk actions on checked rows, each with its exact effect
    rep, south = world.users["rep_east"], world.users["rep_south"]
    a, b, c = (owned(rep, n) for n in ("批量甲", "批量乙", "批量丙"))
    boss = as_user(manager_of(world))
    r = boss.post(
        "/customers/bulk/",
        {"ids": [a.pk, b.pk], "action": "transfer", "to_user": south.pk, "next": "/customers/"},
    )
    assert r.status_code == 302 and r.url == "/customers/"
    assert flashes(boss) == ["2 customers transferred."]
    assert [Customer.objects.get(pk=x.pk).owner_id for x in (a, b, c)] == [
        south.pk,
        south.pk,
        rep.pk,
    ]
    assert verbs(a)[-1] == "customer.transferred"
    # release with a reason from the list plus details
    client = as_user(rep)
    r = client.post(
        "/customers/bulk/",
        {"ids": [c.pk], "action": "release", "reason_choice": "no_need", "reason_text": "明年再谈"},
    )
    assert flashes(client) == ["1 customer released to the pool."]
    c.refresh_from_db()
    no_need = dictionaries.label(world.org.pk, DictionaryKind.RELEASE_REASON, "no_need")
    assert (c.owner_id, c.pool_id, c.release_reason) == (
        None,
        pool_of(world).pk,
        f"{no_need}：明年再谈",
    )
    assert verbs(c)[-1] == "customer.released"
    # add a new tag to customers the rep owns
    d = owned(rep, "批量丁")
    r = client.post("/customers/bulk/", {"ids": [d.pk], "action": "tag", "new_tag": "渠道"})
    assert flashes(client) == ["Tag “渠道” added to 1 customer."]
    assert list(d.tags.values_list("name", flat=True)) == ["渠道"]
    # refused: a release without reason, an empty selection; nothing changes
    before = state(world.org)
    r = client.post("/customers/bulk/", {"ids": [d.pk], "action": "release"})
    assert flashes(client) == ["Say why the customers are released."]
    r = client.post("/customers/bulk/", {"action": "tag", "new_tag": "空"})
    assert flashes(client) == ["Check at least one customer."]
    # all or nothing: d would be released, but c already waits in the pool
    r = client.post(
        "/customers/bulk/", {"ids": [d.pk, c.pk], "action": "release", "reason_text": "x"}
    )
    assert flashes(client) == ["This customer is already in the public pool."]
    assert state(world.org) == before


# --- create and edit -----------------------------------------------------------------------------
def test_create_with_every_field_tags_parent_and_first_contact(world: World, as_user: Any) -> None:
    # R3.1 R3.2 R7.2: the create form takes every field, tags, parent, invoicing, one contact
    rep = world.users["rep_east"]
    group = owned(rep, "云帆集团")
    old_tag = services.create_tag(actor=fresh(rep), name="重点")
    r = as_user(rep).post(
        "/customers/new/",
        {
            "name": "云帆（杭州）网络科技有限公司",
            "short_name": "云帆网络",
            "customer_type": "enterprise",
            "category": "customer",
            "business_category": "project",
            "industry": "it",
            "source": "referral",
            "region": "浙江 杭州",
            "phone": "0571-88886666",
            "email": "hello@yunfan.example",
            "website": "yunfan.example",
            "address": "西湖区文三路 1 号",
            "notes": "老客户介绍",
            "tags": [old_tag.pk],
            "new_tags": "渠道，华东",
            "parent": group.pk,
            "invoice_title": "云帆（杭州）网络科技有限公司",
            "tax_number": "91330100MA27XXXX1X",
            "invoice_address_phone": "杭州市西湖区 0571-88886666",
            "bank_name": "招商银行杭州分行",
            "bank_account": "571900000000001",
            "contact-name": "赵六",
            "contact-title": "采购经理",
            "contact-mobile": "13700137000",
            "contact-email": "zhao@yunfan.example",
        },
    )
    c = Customer.objects.get(org=world.org, short_name="云帆网络")
    assert r.status_code == 302 and r.url == f"/customers/{c.pk}/"
    assert (c.owner_id, c.parent_id, c.industry, c.tax_number, c.bank_account) == (
        rep.pk,
        group.pk,
        "it",
        "91330100MA27XXXX1X",
        "571900000000001",
    )
    assert sorted(c.tags.values_list("name", flat=True)) == ["华东", "渠道", "重点"]
    contact = Contact.objects.get(customer=c)
    assert (contact.name, contact.title, contact.mobile, contact.owner_id) == (
        "赵六",
        "采购经理",
        "13700137000",
        rep.pk,
    )
    assert verbs(c) == ["customer.created"]
    page = text(with_sections(as_user(rep), f"/customers/{c.pk}/"))
    assert "云帆集团" in page and "91330100MA27XXXX1X" in page and "赵六" in page


def test_create_refuses_bad_input_and_writes_nothing(world: World, as_user: Any) -> None:
    # R3.1: a dictionary value outside the list, a contact without a name: errors on the form
    rep = world.users["rep_east"]
    before = state(world.org)
    r = as_user(rep).post(
        "/customers/new/",
        {"name": "坏数据", "industry": "astrology", "contact-mobile": "13700137000"},
    )
    assert r.status_code == 200
    assert set(r.context["form"].errors) == {"industry"}
    assert set(r.context["contact_form"].errors) == {"name"}
    assert state(world.org) == before


def test_duplicate_on_create_shows_masked_candidates(world: World, as_user: Any) -> None:
    # R3.5: 撞单 is refused; the candidate owned by someone else is named but masked, no link
    rep, rep2 = world.users["rep_east"], world.users["rep_east2"]
    c = owned(rep, "华为技术有限公司", phone="13800138000")
    before = state(world.org)
    client = as_user(rep2)
    r = client.post(
        "/customers/new/", {"name": "华为技术（深圳）有限公司", "allow_duplicate": "on"}
    )
    page = text(r)
    assert r.status_code == 200 and 'id="duplicate-candidates"' in page
    assert "华为技术有限公司" in page and "owned by 华东销售甲" in page
    assert f"/customers/{c.pk}/" not in page
    assert state(world.org) == before
    # the check while typing (htmx) masks the phone of a customer the user may not see
    check = text(client.get("/customers/check-duplicates/?name=x&phone=138-0013-8000"))
    assert "138****8000" in check and "13800138000" not in check
    # the owner sees its own candidate with a link
    mine = text(as_user(rep).get("/customers/check-duplicates/?name=华为技术"))
    assert f"/customers/{c.pk}/" in mine
    assert text(client.get("/customers/check-duplicates/")).strip() == ""


def test_duplicate_of_a_pool_customer_may_be_created_knowingly(world: World, as_user: Any) -> None:
    # R3.5: a same-name customer waiting in a pool is shown, and may be created anyway
    waiting = in_pool(world, "大疆创新")
    client = as_user(world.users["rep_east"])
    r = client.post("/customers/new/", {"name": "大疆创新"})
    assert r.status_code == 200 and f"/customers/{waiting.pk}/" in text(r)
    assert Customer.objects.filter(org=world.org, name="大疆创新").count() == 1
    r = client.post("/customers/new/", {"name": "大疆创新", "allow_duplicate": "on"})
    assert r.status_code == 302
    assert Customer.objects.filter(org=world.org, name="大疆创新").count() == 2


def test_edit_saves_and_a_stale_version_keeps_the_input(world: World, as_user: Any) -> None:
    # R3.1 H1: the hidden version refuses a stale edit with a clear message, keeping the input
    rep = world.users["rep_east"]
    c = owned(rep, "版本客户", region="浙江")
    client = as_user(rep)
    form = client.get(f"/customers/{c.pk}/edit/").context["form"]
    assert form.initial["version"] == 1 and form.initial["region"] == "浙江"
    r = client.post(
        f"/customers/{c.pk}/edit/", {"name": "版本客户", "region": "江苏", "version": 1}
    )
    assert r.status_code == 302
    c.refresh_from_db()
    assert (c.region, c.version) == ("江苏", 2)
    assert Event.objects.filter(object_id=str(c.pk), verb="customer.updated").get().changes[
        "region"
    ] == ["浙江", "江苏"]
    before = state(world.org)
    r = client.post(
        f"/customers/{c.pk}/edit/", {"name": "版本客户", "region": "上海", "version": 1}
    )
    assert r.status_code == 200
    assert r.context["form"].non_field_errors() == [
        "This record was changed by someone else since you opened it. "
        "Reload it to see their changes, then make yours again."
    ]
    assert 'value="上海"' in text(r)
    assert state(world.org) == before


# --- the 360 page --------------------------------------------------------------------------------
def test_360_header_shows_grade_follow_up_and_pool_countdown(world: World, as_user: Any) -> None:
    # R3.1 R3.3: header facts; returns in 30 - 10 = 20 days by the follow-up rule
    rep = world.users["rep_east"]
    c = owned(rep, "倒计时客户")
    tag = services.create_tag(actor=fresh(rep), name="重点")
    services.tag_customers(actor=fresh(rep), customers=[c], tags=[tag])
    Customer.objects.filter(pk=c.pk).update(
        grade="B", is_new=False, last_followup_at=timezone.now() - timedelta(days=10)
    )
    page = text(with_sections(as_user(rep), f"/customers/{c.pk}/"))
    assert "Grade B" in page and "Existing customer" in page and "重点" in page
    assert "10 days ago" in page
    assert "Returns to the pool in 20 days" in page
    for action in ("customer-edit", "customer-add-contact", "customer-release-toggle"):
        assert f'id="{action}"' in page
    assert 'id="customer-claim"' not in page and 'id="customer-transfer"' not in page
    # a won deal excludes it from the rules (default pool excludes won customers)
    Customer.objects.filter(pk=c.pk).update(last_won_at=timezone.now())
    assert "No return rule applies" in text(with_sections(as_user(rep), f"/customers/{c.pk}/"))


def test_360_lists_every_registered_section_in_order(
    world: World, as_user: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # R3.1: later modules add sections through the registry; the page renders them all, in order
    options = dict(django_settings.TEMPLATES[0]["OPTIONS"])
    options["loaders"] = [
        (
            "django.template.loaders.locmem.Loader",
            {"test/section.html": "<p id='probe'>{{ probe }} · {{ customer.name }}</p>"},
        ),
        "django.template.loaders.filesystem.Loader",
        "django.template.loaders.app_directories.Loader",
    ]
    settings.TEMPLATES = [{**django_settings.TEMPLATES[0], "APP_DIRS": False, "OPTIONS": options}]
    monkeypatch.setitem(
        record_sections, "customers.customer", list(record_sections["customers.customer"])
    )
    register_section(
        "customers.customer",
        Section(
            15, "probe", "探针区块", "test/section.html", lambda request, obj: {"probe": "已注册"}
        ),
    )
    register_section(
        "customers.customer",
        Section(16, "hidden", "隐藏区块", "test/section.html", lambda request, obj: None),
    )
    c = owned(world.users["rep_east"], "区块客户")
    page = text(with_sections(as_user(world.users["rep_east"]), f"/customers/{c.pk}/"))
    keys = re.findall(r'data-section="([a-z_]+)"', page)
    order = [s.key for s in record_sections["customers.customer"]]
    assert keys == sorted(keys, key=order.index)  # in registry order (sections may hide)
    assert keys[:3] == ["contacts", "probe", "family"] and keys[-1] == "history"
    assert "hidden" not in keys
    assert "<p id='probe'>已注册 · 区块客户</p>" in page and "探针区块" in page
    assert "隐藏区块" not in page
    assert "Customer created" in page  # the history section


def test_360_of_a_pool_customer_masks_contacts_and_offers_claim(world: World, as_user: Any) -> None:
    # R3.3 R3.4: phones and e-mails masked while waiting in a masking pool; Claim offered
    waiting = in_pool(
        world,
        "掩码客户",
        phone="13912345678",
        contacts=[{"name": "钱七", "mobile": "13812345678", "email": "qian@mask.example"}],
    )
    client = as_user(world.users["rep_east"])
    page = text(with_sections(client, f"/customers/{waiting.pk}/"))
    assert "138****5678" in page and "139****5678" in page and "q***@mask.example" in page
    assert "13812345678" not in page and "qian@mask.example" not in page
    assert 'id="customer-claim"' in page and 'id="customer-edit"' not in page
    assert "138****5678" in text(client.get("/customers/contacts/?q=钱七"))
    boss_page = text(with_sections(as_user(manager_of(world)), f"/customers/{waiting.pk}/"))
    assert 'id="customer-assign"' in boss_page


def test_parent_and_subsidiaries_section(world: World, as_user: Any) -> None:
    # R3.1: groups and subsidiaries
    rep = world.users["rep_east"]
    group = owned(rep, "海康集团")
    child = services.create_customer(actor=fresh(rep), data={"name": "海康威视"}, parent=group)
    client = as_user(rep)
    assert f'href="/customers/{child.pk}/"' in text(
        with_sections(client, f"/customers/{group.pk}/")
    )
    assert f'href="/customers/{group.pk}/"' in text(
        with_sections(client, f"/customers/{child.pk}/")
    )


# --- ownership moves from the pages ---------------------------------------------------------------
def test_release_from_the_360_page_needs_a_reason(world: World, as_user: Any) -> None:
    # R3.3: release with a reason from the list or free text
    rep = world.users["rep_east"]
    c = owned(rep, "释放客户")
    client = as_user(rep)
    before = state(world.org)
    r = client.post(f"/customers/{c.pk}/release/", {"reason_choice": "", "reason_text": " "})
    assert r.status_code == 302 and flashes(client) == ["Say why the customer is released."]
    assert state(world.org) == before
    r = client.post(f"/customers/{c.pk}/release/", {"reason_choice": "competitor"})
    assert r.status_code == 302 and r.url == "/customers/"
    c.refresh_from_db()
    competitor = dictionaries.label(world.org.pk, DictionaryKind.RELEASE_REASON, "competitor")
    assert (c.owner_id, c.released_by_id, c.release_reason) == (None, rep.pk, competitor)
    assert OwnershipMove.objects.filter(customer=c, kind="release").count() == 1
    assert verbs(c)[-1] == "customer.released"


def test_transfer_page_moves_the_customer(world: World, as_user: Any) -> None:
    # R3.3: transfer to a colleague (customers:transfer)
    rep, south = world.users["rep_east"], world.users["rep_south"]
    c = owned(rep, "转移页客户", contacts=[{"name": "孙八"}])
    r = as_user(manager_of(world)).post(
        f"/customers/{c.pk}/transfer/", {"to_user": south.pk, "reason": "区域调整"}
    )
    assert r.status_code == 302 and r.url == f"/customers/{c.pk}/"
    c.refresh_from_db()
    assert c.owner_id == south.pk
    assert Contact.objects.get(customer=c).owner_id == south.pk
    assert OwnershipMove.objects.get(customer=c, kind="transfer").reason == "区域调整"
    assert verbs(c)[-1] == "customer.transferred"


def test_pool_list_and_claim_from_the_pool(world: World, as_user: Any) -> None:
    # R3.3: pools with waiting counts; Claim takes the customer; the row leaves the pool list
    rep = world.users["rep_east"]
    a, b = in_pool(world, "公海甲"), in_pool(world, "公海乙")
    pool = pool_of(world)
    client = as_user(rep)
    pools = text(client.get("/customers/pools/"))
    assert re.search(r'class="h1 mb-0 me-2 pool-waiting">2<', pools)
    assert row_ids(client.get(f"/customers/pools/{pool.pk}/"), "pool-table") == [b.pk, a.pk]
    assert row_ids(client.get(f"/customers/pools/{pool.pk}/?q=ghj"), "pool-table") == [a.pk]
    r = client.post(f"/customers/{a.pk}/claim/", {"pool": pool.pk})
    assert r.status_code == 302 and r.url == f"/customers/{a.pk}/"
    a.refresh_from_db()
    assert (a.owner_id, a.pool_id) == (rep.pk, pool.pk)
    assert verbs(a)[-1] == "customer.claimed"
    assert OwnershipMove.objects.filter(customer=a, kind="claim", to_user=rep).count() == 1
    assert row_ids(client.get(f"/customers/pools/{pool.pk}/"), "pool-table") == [b.pk]
    assert row_ids(client.get("/customers/"), "customer-table") == [a.pk]


def test_refused_claims_are_flash_messages_and_change_nothing(world: World, as_user: Any) -> None:
    # R3.3 R3.4: taken by someone else, the daily limit, the cool-down
    rep, rep2 = world.users["rep_east"], world.users["rep_east2"]
    pool = pool_of(world)
    PublicPool.objects.filter(pk=pool.pk).update(daily_claim_limit=1, reclaim_cooldown_days=7)
    a, b = in_pool(world, "限额甲"), in_pool(world, "限额乙")
    pool_services.claim(actor=fresh(rep2), customer=a)
    client = as_user(rep)
    before = state(world.org)
    r = client.post(f"/customers/{a.pk}/claim/", {"pool": pool.pk})
    assert r.url == f"/customers/pools/{pool.pk}/"
    assert flashes(client) == ["Someone else has already claimed this customer."]
    assert state(world.org) == before
    # seen by a manager who tries to claim it: the service's refusal
    boss = as_user(world.users["manager1"])
    r = boss.post(f"/customers/{a.pk}/claim/", {"pool": pool.pk})
    assert flashes(boss) == ["Someone else has already claimed this customer."]
    # the daily limit
    client.post(f"/customers/{b.pk}/claim/", {"pool": pool.pk})
    assert flashes(client) == ["“限额乙” is now your customer."]
    c = in_pool(world, "限额丙")
    before = state(world.org)
    r = client.post(f"/customers/{c.pk}/claim/", {"pool": pool.pk})
    assert flashes(client) == ["You have reached today's limit of 1 claims."]
    assert state(world.org) == before
    # the cool-down after releasing it oneself
    PublicPool.objects.filter(pk=pool.pk).update(daily_claim_limit=None)
    pool_services.release(actor=fresh(rep), customer=Customer.objects.get(pk=b.pk), reason="x")
    before = state(world.org)
    r = client.post(f"/customers/{b.pk}/claim/", {"pool": pool.pk})
    assert flashes(client)[0].startswith("You released this customer recently")
    assert state(world.org) == before


def test_manager_assigns_from_the_pool(world: World, as_user: Any) -> None:
    # R3.3: assign needs customers:transfer; the colleague is notified
    waiting = in_pool(world, "指派客户")
    rep = world.users["rep_east"]
    r = as_user(manager_of(world)).post(f"/customers/{waiting.pk}/assign/", {"to_user": rep.pk})
    assert r.status_code == 302 and r.url == f"/customers/pools/{pool_of(world).pk}/"
    waiting.refresh_from_db()
    assert waiting.owner_id == rep.pk
    assert verbs(waiting)[-1] == "customer.assigned"
    assert Notification.objects.filter(recipient=rep, verb="customer.assigned").count() == 1


# --- contacts -------------------------------------------------------------------------------------
def test_contact_create_edit_delete_and_search(world: World, as_user: Any) -> None:
    # R3.2: contacts on the customer page and the contact list
    rep = world.users["rep_east"]
    c = owned(rep, "联系人客户")
    client = as_user(rep)
    r = client.post(
        f"/customers/{c.pk}/contacts/new/",
        {"name": "周九", "title": "总经理", "mobile": "13600136000", "email": "zhou@lx.example"},
    )
    assert r.status_code == 302 and r.url == f"/customers/{c.pk}/#section-contacts"
    contact = Contact.objects.get(customer=c)
    assert (contact.title, contact.mobile, contact.owner_id) == ("总经理", "13600136000", rep.pk)
    for q in ("周九", "136 0013 6000", "zhou@lx.example"):
        assert f'data-contact="{contact.pk}"' in text(client.get("/customers/contacts/", {"q": q}))
    assert f'data-contact="{contact.pk}"' not in text(client.get("/customers/contacts/?q=nobody"))
    r = client.post(
        f"/customers/contacts/{contact.pk}/edit/", {"name": "周九", "title": "董事长", "version": 1}
    )
    assert r.status_code == 302
    contact.refresh_from_db()
    assert (contact.title, contact.version) == ("董事长", 2)
    before = state(world.org)
    r = client.post(
        f"/customers/contacts/{contact.pk}/edit/", {"name": "周九", "title": "旧版本", "version": 1}
    )
    assert r.status_code == 200 and r.context["form"].non_field_errors()
    assert state(world.org) == before
    r = client.post(f"/customers/contacts/{contact.pk}/delete/")
    assert r.status_code == 302 and not Contact.objects.filter(pk=contact.pk).exists()
    assert Event.objects.filter(verb="contact.deleted", object_id=str(contact.pk)).count() == 1


def test_contact_with_another_customers_phone_is_refused(world: World, as_user: Any) -> None:
    # R3.5: a contact's mobile belonging to another customer shows the candidates
    owned(world.users["rep_east2"], "别人家", contacts=[{"name": "甲", "mobile": "13500135000"}])
    c = owned(world.users["rep_east"], "我家")
    before = state(world.org)
    r = as_user(world.users["rep_east"]).post(
        f"/customers/{c.pk}/contacts/new/", {"name": "乙", "mobile": "13500135000"}
    )
    page = text(r)
    assert r.status_code == 200 and "别人家" in page and "owned by 华东销售乙" in page
    assert (
        'href="/customers/' not in page.split('id="duplicate-candidates"', 1)[1].split("</ul>")[0]
    )
    assert state(world.org) == before


# --- pool settings and merge ----------------------------------------------------------------------
def test_pool_settings_create_and_edit(world: World, as_user: Any) -> None:
    # R3.4: every rule of a pool, grade overrides and departments, by customers:configure
    admin = as_user(world.admin)
    r = admin.post(
        "/customers/pools/new/",
        {
            "name": "华东公海",
            "is_active": "on",
            "departments": [world.depts["east"].pk],
            "days_without_followup": "15",
            "days_without_deal": "60",
            "exclude_won": "on",
            "warning_days": "2",
            "owner_cap": "50",
            "reclaim_cooldown_days": "5",
            "daily_claim_limit": "10",
            "mask_contacts": "on",
            "grade_A_days_without_followup": "45",
            "grade_A_days_without_deal": "180",
            "grade_C_days_without_followup": "7",
        },
    )
    pool = PublicPool.objects.get(org=world.org, name="华东公海")
    assert r.status_code == 302 and r.url == f"/customers/pools/{pool.pk}/"
    assert (
        pool.days_without_followup,
        pool.days_without_deal,
        pool.exclude_won,
        pool.exclude_open_opportunities,
        pool.warning_days,
        pool.owner_cap,
        pool.reclaim_cooldown_days,
        pool.daily_claim_limit,
        pool.mask_contacts,
        pool.is_default,
    ) == (15, 60, True, False, 2, 50, 5, 10, True, False)
    assert pool.grade_rules == {
        "A": {"days_without_followup": 45, "days_without_deal": 180},
        "C": {"days_without_followup": 7},
    }
    assert list(pool.departments.all()) == [world.depts["east"]]
    assert verbs(pool) == ["pool.created"]
    form = admin.get(f"/customers/pools/{pool.pk}/edit/").context["form"]
    assert form.initial["grade_A_days_without_deal"] == 180
    r = admin.post(
        f"/customers/pools/{pool.pk}/edit/",
        {"name": "华东公海", "warning_days": "0", "reclaim_cooldown_days": "0"},
    )
    pool.refresh_from_db()
    assert (pool.days_without_followup, pool.grade_rules, pool.is_active) == (None, {}, False)
    assert list(pool.departments.all()) == []
    # the pool is open to 华东组 only: rep_south does not see it, rep_east does
    assert as_user(world.users["rep_south"]).get(f"/customers/pools/{pool.pk}/").status_code == 404
    before = state(world.org)
    r = admin.post(
        "/customers/pools/new/",
        {"name": "华东公海", "warning_days": "1", "reclaim_cooldown_days": "0"},
    )
    assert r.status_code == 200
    assert r.context["form"].errors == {"name": ["A pool with this name already exists."]}
    assert state(world.org) == before


def test_merge_page_previews_and_merges(world: World, as_user: Any) -> None:
    # R3.5: pick two, compare side by side, merge; contacts move and the source leaves the lists
    rep = world.users["rep_east"]
    keep = owned(rep, "合并保留", region="杭州")
    away = owned(rep, "合并去掉", phone="0571-88001122", contacts=[{"name": "吴十"}])
    client = as_user(rep)
    page = text(client.get(f"/customers/merge/?source={away.pk}&target={keep.pk}"))
    assert 'id="merge-compare"' in page and "0571-88001122" in page and "杭州" in page
    picked = text(client.get("/customers/merge/?source_q=hbqd"))
    assert f'value="{away.pk}"' in picked
    r = client.post("/customers/merge/", {"source": away.pk, "target": keep.pk})
    assert r.status_code == 302 and r.url == f"/customers/{keep.pk}/"
    keep.refresh_from_db()
    away.refresh_from_db()
    assert (away.merged_into_id, keep.phone) == (keep.pk, "0571-88001122")
    assert Contact.objects.get(name="吴十").customer_id == keep.pk
    assert verbs(keep)[-1] == "customer.merged"
    assert row_ids(client.get("/customers/")) == [keep.pk]
    # the same customer twice is refused with a message, nothing changes
    before = state(world.org)
    r = client.post("/customers/merge/", {"source": keep.pk, "target": keep.pk})
    assert flashes(client) == ["Choose two different customers."]
    assert state(world.org) == before
