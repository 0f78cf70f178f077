"""Pages of the follow-up module (R5.1–R5.4, R4.2): who may open what, what each action writes,
and that refused actions change nothing.

rep_east writes follow-ups; rep_east2 (own records only) is out of scope; manager1 (销售一部 and
below) and director (everyone) see them; the admin of ``other_world`` is another organisation.
Out-of-scope and foreign records answer 404, a missing permission 403.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from crm.activities import services
from crm.activities.choices import Method, PlanStatus, ReminderKind
from crm.activities.models import FollowUp, Reminder, ReminderRule, VisitPlan
from crm.core.scoping import DataScope
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World, make_role, make_user
from crm.customers.models import Contact, Customer
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity

pytestmark = pytest.mark.django_db


# --- helpers -------------------------------------------------------------------------------------
@pytest.fixture
def as_user(client_for: Any):
    def make(user: User) -> Client:
        client = client_for(user)
        client.cookies["crm_language"] = "en"
        return client

    return make


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def text(response: Any) -> str:
    return response.content.decode()


def customer_of(user: User, name: str, **kwargs: Any) -> Customer:
    return create_customer(actor=fresh(user), data={"name": name}, **kwargs)


def opportunity_of(user: User, customer: Customer, name: str = "云平台项目") -> Opportunity:
    return opportunities.create_opportunity(
        actor=fresh(user), customer=customer, data={"name": name}
    )


def followup_of(user: User, customer: Customer, content: str = "电话沟通", **data: Any) -> FollowUp:
    return services.record_followup(
        actor=fresh(user),
        customer=customer,
        opportunity=data.pop("opportunity", None),
        data={"method": data.pop("method", Method.CALL), "content": content, **data},
    )


def plan_of(user: User, customer: Customer, purpose: str = "上门拜访", **data: Any) -> VisitPlan:
    return services.plan_visit(
        actor=fresh(user),
        customer=customer,
        data={
            "planned_at": data.pop("planned_at", timezone.now() + timedelta(hours=2)),
            "purpose": purpose,
            **data,
        },
    )


def local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def followup_ids(response: Any) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-followup="(\d+)"', text(response))}


def snapshot(world: World) -> tuple[Any, ...]:
    org = world.org
    return (
        list(FollowUp.objects.filter(org=org).order_by("pk").values()),
        list(VisitPlan.objects.filter(org=org).order_by("pk").values()),
        list(Reminder.objects.filter(org=org).order_by("pk").values()),
        list(ReminderRule.objects.filter(org=org).order_by("pk").values()),
        list(Customer.objects.filter(org=org).order_by("pk").values("pk", "last_followup_at")),
    )


# --- menu and every page -------------------------------------------------------------------------
def test_menu_has_my_day_and_the_followup_pages(world: World, as_user: Any) -> None:
    # R5.4 R11.1: "My day" at the top, the follow-up pages under Follow-ups, rules in Settings
    page = text(as_user(world.users["rep_east"]).get("/"))
    assert 'href="/activities/my-day/" data-nav="my_day"' in page
    for nav, url in (
        ("followups", "/activities/followups/"),
        ("visit_calendar", "/activities/plans/"),
        ("visit_analysis", "/activities/plans/analysis/"),
        ("reminders", "/activities/reminders/"),
    ):
        assert f'href="{url}" data-nav="{nav}"' in page
    assert 'data-nav="reminder_rules"' not in page
    assert 'href="/activities/rules/" data-nav="reminder_rules"' in text(
        as_user(world.admin).get("/")
    )
    assert 'data-nav="my_day"' not in text(as_user(world.users["nobody"]).get("/"))


def test_every_page_renders_for_the_right_user(world: World, as_user: Any) -> None:
    # R5.1–R5.4: each page opens for someone allowed to use it
    rep = world.users["rep_east"]
    customer = customer_of(rep, "杭州页面测试有限公司", contacts=[{"name": "王五"}])
    opp = opportunity_of(rep, customer)
    followup = followup_of(rep, customer, opportunity=opp)
    plan = plan_of(rep, customer)
    client = as_user(rep)
    for url in (
        "/activities/my-day/",
        "/activities/followups/",
        "/activities/followups/new/",
        f"/activities/followups/new/?customer={customer.pk}",
        f"/activities/followups/new/?opportunity={opp.pk}",
        f"/activities/followups/new/?plan={plan.pk}",
        f"/activities/followups/links/?customer={customer.pk}",
        f"/activities/followups/{followup.pk}/edit/",
        "/activities/plans/",
        "/activities/plans/?view=month",
        "/activities/plans/new/",
        f"/activities/plans/new/?customer={customer.pk}",
        f"/activities/plans/{plan.pk}/",
        "/activities/plans/analysis/",
        "/activities/plans/analysis/?period=week",
        "/activities/reminders/",
        "/activities/reminders/?view=done",
    ):
        assert client.get(url).status_code == 200, url
    admin = as_user(world.admin)
    rule = ReminderRule.objects.filter(org=world.org).first()
    assert rule is not None
    for url in (
        "/activities/rules/",
        "/activities/rules/new/",
        f"/activities/rules/{rule.pk}/edit/",
    ):
        assert admin.get(url).status_code == 200, url
    manager = as_user(world.users["manager1"])
    assert manager.get("/activities/my-day/?tab=team").status_code == 200
    assert manager.get("/activities/plans/?who=team&view=month&followups=1").status_code == 200


def test_without_the_permission_pages_answer_403(world: World, as_user: Any) -> None:
    # R1.2: someone without activities permissions gets 403 and nothing changes
    client = as_user(world.users["nobody"])
    before = snapshot(world)
    for url in (
        "/activities/my-day/",
        "/activities/followups/",
        "/activities/followups/new/",
        "/activities/plans/",
        "/activities/plans/new/",
        "/activities/plans/analysis/",
        "/activities/reminders/",
        "/activities/rules/",
    ):
        assert client.get(url).status_code == 403, url
    rep_client = as_user(world.users["rep_east"])
    assert rep_client.get("/activities/rules/").status_code == 403
    assert rep_client.post("/activities/rules/new/", {"name": "x"}).status_code == 403
    assert snapshot(world) == before


# --- recording a follow-up ------------------------------------------------------------------------
def test_record_a_followup_from_the_customer_page(world: World, as_user: Any) -> None:
    # R5.3: the prefilled quick add saves and returns to ``next``; the blocks move
    rep = world.users["rep_east"]
    customer = customer_of(rep, "快速跟进客户", contacts=[{"name": "赵六"}])
    contact = Contact.objects.get(customer=customer)
    opp = opportunity_of(rep, customer)
    client = as_user(rep)
    url = f"/activities/followups/new/?customer={customer.pk}&opportunity={opp.pk}"
    page = text(client.get(url))
    assert "快速跟进客户" in page and 'id="record-customer"' in page
    assert f'<option value="{opp.pk}" selected>' in page
    next_at = timezone.now() + timedelta(days=2)
    back = f"/customers/{customer.pk}/#section-followups"
    r = client.post(
        url,
        {
            "customer": customer.pk,
            "opportunity": opp.pk,
            "contact": contact.pk,
            "method": Method.VISIT,
            "content": "现场拜访，确认需求",
            "next_at": local(next_at),
            "next_content": "发方案",
            "location": "杭州市滨江区",
            "latitude": "30.2084",
            "longitude": "120.2124",
            "next": back,
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == back
    followup = FollowUp.objects.get()
    assert (followup.owner_id, followup.opportunity_id, followup.contact_id) == (
        rep.pk,
        opp.pk,
        contact.pk,
    )
    assert followup.location == "杭州市滨江区"
    assert str(followup.latitude) == "30.208400"
    opp.refresh_from_db()
    assert opp.next_followup_content == "发方案"
    assert Customer.objects.get(pk=customer.pk).last_followup_at == followup.happened_at


def test_an_off_site_next_is_ignored(world: World, as_user: Any) -> None:
    # R5.3 B8: only on-site addresses are followed after saving
    rep = world.users["rep_east"]
    customer = customer_of(rep, "跳转测试客户")
    r = as_user(rep).post(
        f"/activities/followups/new/?customer={customer.pk}",
        {
            "customer": customer.pk,
            "method": Method.CALL,
            "content": "x",
            "next": "https://evil.example/",
        },
    )
    assert r.headers["Location"] == f"/customers/{customer.pk}/#section-followups"


def test_a_searched_customer_can_be_chosen(world: World, as_user: Any) -> None:
    # R5.3: without a prefilled customer the posted one is used (when the user sees it)
    rep = world.users["rep_east"]
    customer = customer_of(rep, "搜索选择客户")
    client = as_user(rep)
    assert 'data-tom-select data-search-url="/api/v1/customers/customers"' in text(
        client.get("/activities/followups/new/")
    )
    r = client.post(
        "/activities/followups/new/",
        {"customer": customer.pk, "method": Method.WECHAT, "content": "微信沟通"},
    )
    assert r.status_code == 302
    assert FollowUp.objects.get().customer_id == customer.pk
    theirs = customer_of(world.users["rep_east2"], "同事的客户")
    r = client.post(
        "/activities/followups/new/",
        {"customer": theirs.pk, "method": Method.CALL, "content": "越权"},
    )
    assert r.status_code == 200
    assert "Choose a customer." in text(r)
    assert FollowUp.objects.count() == 1


def test_invalid_input_shows_errors_and_writes_nothing(world: World, as_user: Any) -> None:
    # R5.3: missing method and content, a future time, bad coordinates
    rep = world.users["rep_east"]
    customer = customer_of(rep, "校验页面客户")
    client = as_user(rep)
    url = f"/activities/followups/new/?customer={customer.pk}"
    r = client.post(url, {"customer": customer.pk})
    assert r.status_code == 200
    assert "Choose how you followed up." in text(r) and "Write what happened." in text(r)
    r = client.post(
        url,
        {
            "customer": customer.pk,
            "method": "call",
            "content": "x",
            "happened_at": local(timezone.now() + timedelta(days=1)),
        },
    )
    assert "A follow-up cannot happen in the future" in text(r)
    r = client.post(
        url, {"customer": customer.pk, "method": "visit", "content": "x", "latitude": "95"}
    )
    assert "Enter a valid coordinate." in text(r)
    assert FollowUp.objects.count() == 0


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_photos_are_attached_to_the_followup(world: World, as_user: Any) -> None:
    # R5.3: visit photos are stored as attachments of the follow-up; a non-image is refused
    # and nothing is written
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm.core.models import Attachment

    rep = world.users["rep_east"]
    customer = customer_of(rep, "拍照客户")
    client = as_user(rep)
    url = f"/activities/followups/new/?customer={customer.pk}"
    data = {"customer": customer.pk, "method": Method.VISIT, "content": "现场照片"}
    r = client.post(
        url, {**data, "photos": [SimpleUploadedFile("门头.txt", b"just text", "text/plain")]}
    )
    assert r.status_code == 200 and "is not a photo" in text(r)
    assert FollowUp.objects.count() == 0 and Attachment.objects.count() == 0
    r = client.post(
        url,
        {
            **data,
            "photos": [
                SimpleUploadedFile("门头.png", PNG, "image/png"),
                SimpleUploadedFile("展厅.png", PNG, "image/png"),
            ],
        },
    )
    assert r.status_code == 302
    followup = FollowUp.objects.get()
    names = set(
        Attachment.objects.filter(
            target_type="activities.followup", target_id=str(followup.pk)
        ).values_list("name", flat=True)
    )
    assert names == {"门头.png", "展厅.png"}
    page = text(with_sections(client, f"/customers/{customer.pk}/"))
    assert "门头.png" in page


def test_record_the_visit_marks_the_plan_done(world: World, as_user: Any) -> None:
    # R5.1: "record the visit" opens the form for the plan; saving marks it done
    rep = world.users["rep_east"]
    customer = customer_of(rep, "计划完成客户")
    plan = plan_of(rep, customer, "签合同", method=Method.MEETING)
    client = as_user(rep)
    page = text(client.get(f"/activities/followups/new/?plan={plan.pk}"))
    assert 'id="followup-plan"' in page and "签合同" in page
    assert 'value="meeting" autocomplete="off" x-model="method" checked' in page
    r = client.post(
        f"/activities/followups/new/?plan={plan.pk}",
        {"customer": customer.pk, "method": Method.MEETING, "content": "签约完成", "plan": plan.pk},
    )
    assert r.status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DONE
    assert plan.followup_id == FollowUp.objects.get().pk


def test_prefills_of_records_the_user_may_not_see_answer_404(
    world: World, other_world: World, as_user: Any
) -> None:
    # R1.3: another organisation's or a colleague's customer, opportunity or plan
    rep = world.users["rep_east"]
    customer = customer_of(rep, "私有跟进客户")
    opp = opportunity_of(rep, customer)
    plan = plan_of(rep, customer)
    before = snapshot(world)
    for outsider in (world.users["rep_east2"], other_world.admin):
        client = as_user(outsider)
        for url in (
            f"/activities/followups/new/?customer={customer.pk}",
            f"/activities/followups/new/?opportunity={opp.pk}",
            f"/activities/followups/new/?plan={plan.pk}",
            f"/activities/followups/links/?customer={customer.pk}",
            f"/activities/plans/new/?customer={customer.pk}",
        ):
            assert client.get(url).status_code == 404, (outsider, url)
            r = client.post(url, {"customer": customer.pk, "method": "call", "content": "越权"})
            assert r.status_code == 404, (outsider, url)
    assert snapshot(world) == before


def test_links_list_the_chosen_customers_opportunities_and_contacts(
    world: World, as_user: Any
) -> None:
    # R5.3: choosing a customer offers its opportunities and contacts only
    rep = world.users["rep_east"]
    customer = customer_of(rep, "联动客户", contacts=[{"name": "钱七"}])
    opp = opportunity_of(rep, customer, "联动商机")
    other = customer_of(rep, "无关客户")
    other_opp = opportunity_of(rep, other, "无关商机")
    body = text(as_user(rep).get(f"/activities/followups/links/?customer={customer.pk}"))
    assert "联动商机" in body and "钱七" in body
    opportunity_select = re.search(r'<select[^>]*id="id_opportunity".*?</select>', body, re.S)
    assert opportunity_select is not None
    offered = re.findall(r'value="(\d+)"', opportunity_select.group(0))
    assert "无关商机" not in body and offered == [str(opp.pk)] and str(other_opp.pk) not in offered


# --- editing and deleting -------------------------------------------------------------------------
def test_the_author_edits_and_a_stale_version_is_refused(world: World, as_user: Any) -> None:
    # R5.3: edit saves; a second edit with the old version shows the conflict and keeps input
    rep = world.users["rep_east"]
    customer = customer_of(rep, "编辑跟进客户")
    followup = followup_of(rep, customer, "原始内容")
    client = as_user(rep)
    assert "原始内容" in text(client.get(f"/activities/followups/{followup.pk}/edit/"))
    form = {
        "method": Method.CALL,
        "content": "修改后的内容",
        "happened_at": local(followup.happened_at),
        "version": followup.version,
    }
    r = client.post(f"/activities/followups/{followup.pk}/edit/", form)
    assert r.status_code == 302
    followup.refresh_from_db()
    assert (followup.content, followup.version) == ("修改后的内容", 2)
    r = client.post(f"/activities/followups/{followup.pk}/edit/", {**form, "content": "过期的"})
    assert r.status_code == 200
    assert "过期的" in text(r)
    followup.refresh_from_db()
    assert followup.content == "修改后的内容"


def test_out_of_scope_and_other_tenant_cannot_open_edit_or_delete(
    world: World, other_world: World, as_user: Any
) -> None:
    # R1.3 R1.1: 404 on every follow-up and plan page, nothing changes
    rep = world.users["rep_east"]
    customer = customer_of(rep, "受保护的客户")
    followup = followup_of(rep, customer, "受保护的跟进")
    plan = plan_of(rep, customer, "受保护的计划")
    before = snapshot(world)
    for outsider in (world.users["rep_east2"], other_world.admin):
        client = as_user(outsider)
        for url in (
            f"/activities/followups/{followup.pk}/edit/",
            f"/activities/plans/{plan.pk}/",
        ):
            assert client.get(url).status_code == 404, (outsider, url)
        for url, data in (
            (f"/activities/followups/{followup.pk}/edit/", {"method": "call", "content": "改"}),
            (f"/activities/followups/{followup.pk}/delete/", {}),
            (f"/activities/plans/{plan.pk}/", {"purpose": "改", "planned_at": "2030-01-01T09:00"}),
            (f"/activities/plans/{plan.pk}/status/", {"status": "cancelled"}),
        ):
            assert client.post(url, data).status_code == 404, (outsider, url)
        listed = followup_ids(client.get("/activities/followups/?view=team"))
        assert followup.pk not in listed
        calendar = text(client.get("/activities/plans/?who=team"))
        assert "受保护的客户" not in calendar
    assert snapshot(world) == before


def test_the_manager_sees_and_edits_the_team_and_deletes(world: World, as_user: Any) -> None:
    # R5.3: manager1's scope covers rep_east: list (team tab), edit and delete
    rep = world.users["rep_east"]
    customer = customer_of(rep, "团队客户")
    followup = followup_of(rep, customer, "团队跟进")
    manager = as_user(world.users["manager1"])
    assert followup.pk in followup_ids(manager.get("/activities/followups/?view=team"))
    assert followup.pk not in followup_ids(manager.get("/activities/followups/"))
    r = manager.post(
        f"/activities/followups/{followup.pk}/edit/",
        {"method": "call", "content": "经理补充", "version": followup.version},
    )
    assert r.status_code == 302
    r = manager.post(f"/activities/followups/{followup.pk}/delete/", {"next": "/activities/"})
    assert r.status_code == 302 and r.headers["Location"] == "/activities/"
    assert not FollowUp.objects.filter(pk=followup.pk).exists()
    assert Customer.objects.get(pk=customer.pk).last_followup_at is None


# --- the list -------------------------------------------------------------------------------------
def test_the_list_filters_and_pages(world: World, as_user: Any) -> None:
    # R5.3: newest first; by method, date range and customer text
    rep = world.users["rep_east"]
    alpha = customer_of(rep, "阿尔法科技")
    beta = customer_of(rep, "贝塔贸易")
    old = followup_of(rep, alpha, "旧的电话", happened_at=timezone.now() - timedelta(days=10))
    visit = followup_of(rep, beta, "新的拜访", method=Method.VISIT)
    client = as_user(rep)
    body = text(client.get("/activities/followups/"))
    assert body.index(f'data-followup="{visit.pk}"') < body.index(f'data-followup="{old.pk}"')
    assert followup_ids(client.get("/activities/followups/?method=visit")) == {visit.pk}
    since = timezone.localdate() - timedelta(days=3)
    assert followup_ids(client.get(f"/activities/followups/?date_from={since}")) == {visit.pk}
    assert followup_ids(client.get("/activities/followups/?q=阿尔法")) == {old.pk}
    assert followup_ids(client.get(f"/activities/followups/?customer={beta.pk}")) == {visit.pk}
    r = client.get("/activities/followups/?date_from=not-a-date")
    assert r.status_code == 200 and "Enter a valid date." in text(r)
    # a rep has no team tab, and ?view=team shows only their own
    theirs = followup_of(world.users["rep_east2"], customer_of(world.users["rep_east2"], "乙"))
    assert theirs.pk not in followup_ids(client.get("/activities/followups/?view=team"))
    assert 'id="followup-tabs"' not in body


# --- record-page sections -------------------------------------------------------------------------
def test_the_customer_page_shows_all_its_followups_and_plans(world: World, as_user: Any) -> None:
    # R5.3: the section shows every follow-up of the customer to whoever sees the customer,
    # with an "add follow-up" button prefilled for it
    rep = world.users["rep_east"]
    customer = customer_of(rep, "三六零客户")
    mine = followup_of(rep, customer, "本人的跟进")
    director = world.users["director"]
    theirs = followup_of(director, customer, "总监的跟进")
    plan = plan_of(rep, customer, "下周拜访")
    page = text(with_sections(as_user(rep), f"/customers/{customer.pk}/"))
    assert 'id="section-followups"' in page
    assert {mine.pk, theirs.pk} <= followup_ids(
        with_sections(as_user(rep), f"/customers/{customer.pk}/")
    )
    assert "总监的跟进" in page and "下周拜访" in page
    assert f"/activities/followups/new/?customer={customer.pk}&amp;next=" in page
    assert f"/activities/followups/{mine.pk}/edit/" in page
    assert f"/activities/followups/{theirs.pk}/edit/" not in page  # not in rep's scope
    assert f"/activities/followups/new/?plan={plan.pk}" in page
    viewer_role = make_role(world.admin, "只看客户", DataScope.ALL, ["customers:view"])
    viewer = make_user(world.admin, "只看客户的人", world.depts["root"], [viewer_role])
    assert 'id="section-followups"' not in text(
        with_sections(as_user(viewer), f"/customers/{customer.pk}/")
    )


def test_the_opportunity_page_shows_its_followups(world: World, as_user: Any) -> None:
    # R4.2: the opportunity's follow-ups, and "add" prefilled with customer and opportunity
    rep = world.users["rep_east"]
    customer = customer_of(rep, "商机页客户")
    opp = opportunity_of(rep, customer, "商机页项目")
    on_opp = followup_of(rep, customer, "商机上的跟进", opportunity=opp)
    elsewhere = followup_of(rep, customer, "客户上的跟进")
    r = with_sections(as_user(rep), f"/opportunities/{opp.pk}/")
    assert r.status_code == 200
    ids = followup_ids(r)
    assert on_opp.pk in ids and elsewhere.pk not in ids
    assert f"?customer={customer.pk}&amp;opportunity={opp.pk}&amp;next=" in text(r)


# --- visit plans ----------------------------------------------------------------------------------
def test_plan_a_visit_edit_it_and_mark_it_missed(world: World, as_user: Any) -> None:
    # R5.1: plan, change, mark missed; the calendar shows it in its status colour
    rep = world.users["rep_east"]
    customer = customer_of(rep, "拜访页面客户")
    client = as_user(rep)
    when = (timezone.localtime() + timedelta(days=1)).replace(hour=10, minute=0)
    r = client.post(
        f"/activities/plans/new/?customer={customer.pk}",
        {
            "customer": customer.pk,
            "method": Method.VISIT,
            "planned_at": when.strftime("%Y-%m-%dT%H:%M"),
            "purpose": "产品演示",
        },
    )
    assert r.status_code == 302
    plan = VisitPlan.objects.get()
    assert (plan.owner_id, plan.purpose, plan.status) == (rep.pk, "产品演示", PlanStatus.PLANNED)
    assert r.headers["Location"] == f"/activities/plans/?day={when.date().isoformat()}"
    week = text(client.get(r.headers["Location"]))
    assert f'data-entry="plan-{plan.pk}"' in week and "bg-blue-lt" in week
    r = client.post(
        f"/activities/plans/{plan.pk}/",
        {
            "method": Method.CALL,
            "planned_at": (when + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "purpose": "电话演示",
            "version": plan.version,
        },
    )
    assert r.status_code == 302
    plan.refresh_from_db()
    assert (plan.purpose, plan.method) == ("电话演示", Method.CALL)
    r = client.post(
        f"/activities/plans/{plan.pk}/status/", {"status": "missed", "note": "客户出差"}
    )
    assert r.status_code == 302
    plan.refresh_from_db()
    assert (plan.status, plan.note) == (PlanStatus.MISSED, "客户出差")
    r = client.post(f"/activities/plans/{plan.pk}/status/", {"status": "done"})
    assert r.status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.MISSED
    month = text(client.get(f"/activities/plans/?view=month&day={when.date().isoformat()}"))
    assert f'data-entry="plan-{plan.pk}"' in month and "bg-red-lt" in month


def test_a_manager_plans_for_a_team_member_and_sees_the_team_calendar(
    world: World, as_user: Any
) -> None:
    # R5.1: owner = a team member; the team calendar shows it, a rep cannot pick the team
    rep = world.users["rep_east"]
    customer = customer_of(rep, "经理安排客户")
    manager = as_user(world.users["manager1"])
    when = timezone.localtime() + timedelta(hours=4)
    r = manager.post(
        f"/activities/plans/new/?customer={customer.pk}",
        {
            "customer": customer.pk,
            "owner": rep.pk,
            "method": Method.VISIT,
            "planned_at": when.strftime("%Y-%m-%dT%H:%M"),
            "purpose": "陪同拜访",
        },
    )
    assert r.status_code == 302
    plan = VisitPlan.objects.get()
    assert plan.owner_id == rep.pk
    day = when.date().isoformat()
    assert f"plan-{plan.pk}" in text(manager.get(f"/activities/plans/?who=team&day={day}"))
    assert f"plan-{plan.pk}" in text(manager.get(f"/activities/plans/?who={rep.pk}&day={day}"))
    assert f"plan-{plan.pk}" not in text(manager.get(f"/activities/plans/?day={day}"))
    # a rep may not plan for someone else: the owner field is not offered and is ignored
    rep_client = as_user(rep)
    assert 'name="owner"' not in text(rep_client.get("/activities/plans/new/"))
    rep_client.post(
        f"/activities/plans/new/?customer={customer.pk}",
        {
            "customer": customer.pk,
            "owner": world.users["rep_east2"].pk,
            "method": Method.CALL,
            "planned_at": when.strftime("%Y-%m-%dT%H:%M"),
            "purpose": "自己的计划",
        },
    )
    assert VisitPlan.objects.get(purpose="自己的计划").owner_id == rep.pk
    other = world.users["rep_east2"]
    assert f"plan-{plan.pk}" not in text(
        as_user(other).get(f"/activities/plans/?who=team&day={day}")
    )


def test_the_plan_analysis_counts_per_rep(world: World, as_user: Any) -> None:
    # R5.1: planned, done, missed, cancelled, completion and follow-ups by method, in scope
    rep = world.users["rep_east"]
    customer = customer_of(rep, "分析客户")
    soon = timezone.now()
    done = plan_of(rep, customer, "完成的", planned_at=soon)
    followup_of(rep, customer, "拜访了", method=Method.VISIT)
    VisitPlan.objects.filter(pk=done.pk).update(status=PlanStatus.DONE)
    missed = plan_of(rep, customer, "错过的", planned_at=soon)
    services.set_plan_status(actor=fresh(rep), plan=missed, status=PlanStatus.MISSED)
    cancelled = plan_of(rep, customer, "取消的", planned_at=soon)
    services.set_plan_status(actor=fresh(rep), plan=cancelled, status=PlanStatus.CANCELLED)
    plan_of(rep, customer, "还没去的", planned_at=soon)
    other_customer = customer_of(world.users["rep_sales2"], "二部客户")
    plan_of(world.users["rep_sales2"], other_customer, "二部计划", planned_at=soon)
    r = as_user(world.users["manager1"]).get("/activities/plans/analysis/?period=month")
    body = text(r)
    row = body.split(f'<tr data-rep="{rep.pk}">', 1)[1].split("</tr>", 1)[0]
    cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', row))
    cells.pop("rate")
    assert cells == {
        "total": "4",
        "done": "1",
        "missed": "1",
        "cancelled": "1",
        "open": "1",
        "followups": "1",
    }
    assert "33%" in row  # 1 done of 3 not cancelled
    assert f'data-rep="{world.users["rep_sales2"].pk}"' not in body  # outside manager1's tree
    chart = json.loads(
        body.split('id="plan-analysis-data" type="application/json">', 1)[1].split("</script>")[0]
    )
    assert rep.display_name in chart["reps"]
    rep_only = text(as_user(rep).get("/activities/plans/analysis/"))
    assert re.findall(r'<tr data-rep="(\d+)">', rep_only) == [str(rep.pk)]
    r = as_user(rep).get("/activities/plans/analysis/?period=custom&date_from=2026-02-01")
    assert "Choose the first and the last day." in text(r)


# --- reminders ------------------------------------------------------------------------------------
def _reminder(world: World, user: User, message: str) -> Reminder:
    return Reminder.objects.create(
        org=world.org,
        recipient=user,
        kind=ReminderKind.VISIT_PLAN,
        target_type="activities.visitplan",
        target_id="1",
        due_at=timezone.now() - timedelta(minutes=5),
        message=message,
        url="/activities/my-day/",
        sent_at=timezone.now(),
    )


def test_my_reminders_and_mark_done(world: World, other_world: World, as_user: Any) -> None:
    # R5.2: only my reminders; only I mark them done; others answer 404
    rep = world.users["rep_east"]
    mine = _reminder(world, rep, "我的提醒")
    theirs = _reminder(world, world.users["manager1"], "经理的提醒")
    client = as_user(rep)
    page = text(client.get("/activities/reminders/"))
    assert "我的提醒" in page and "经理的提醒" not in page
    for outsider in (world.users["manager1"], other_world.admin):
        assert as_user(outsider).post(f"/activities/reminders/{mine.pk}/done/").status_code == 404
    assert Reminder.objects.get(pk=mine.pk).done_at is None
    r = client.post(f"/activities/reminders/{mine.pk}/done/", {"next": "/activities/my-day/"})
    assert r.status_code == 302 and r.headers["Location"] == "/activities/my-day/"
    assert Reminder.objects.get(pk=mine.pk).done_at is not None
    assert "我的提醒" not in text(client.get("/activities/reminders/"))
    assert "我的提醒" in text(client.get("/activities/reminders/?view=done"))
    assert Reminder.objects.get(pk=theirs.pk).done_at is None


def test_reminder_rules_settings(world: World, other_world: World, as_user: Any) -> None:
    # R5.2: the administrator adds, changes and deletes rules; the offsets are explained;
    # another organisation's administrator gets 404
    admin = as_user(world.admin)
    page = text(admin.get("/activities/rules/"))
    assert "Hours before the next follow-up is due" in page
    r = admin.post(
        "/activities/rules/new/",
        {
            "kind": ReminderKind.VISIT_PLAN,
            "name": "拜访前一天",
            "offsets": "24, 2",
            "send_email": "on",
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    rule = ReminderRule.objects.get(name="拜访前一天")
    assert (rule.offsets, rule.send_email, rule.notify_manager) == ([2, 24], True, False)
    r = admin.post(
        "/activities/rules/new/", {"kind": "next_followup", "name": "坏", "offsets": "a"}
    )
    assert r.status_code == 200 and "Enter whole numbers separated by commas" in text(r)
    stranger = as_user(other_world.admin)
    assert stranger.get(f"/activities/rules/{rule.pk}/edit/").status_code == 404
    assert stranger.post(f"/activities/rules/{rule.pk}/delete/").status_code == 404
    r = admin.post(
        f"/activities/rules/{rule.pk}/edit/",
        {"kind": ReminderKind.VISIT_PLAN, "name": "拜访前", "offsets": "3", "is_active": "on"},
    )
    assert r.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.offsets, rule.send_email) == ("拜访前", [3], False)
    assert admin.post(f"/activities/rules/{rule.pk}/delete/").status_code == 302
    assert not ReminderRule.objects.filter(pk=rule.pk).exists()


# --- my day ---------------------------------------------------------------------------------------
def test_my_day_lists_what_is_due(world: World, as_user: Any) -> None:
    # R5.4: due next follow-ups, today's and overdue visits, open reminders, feedback overdue,
    # stalled opportunities — each with a quick action; a colleague's are not listed
    rep = world.users["rep_east"]
    customer = customer_of(rep, "今日客户")
    opp = opportunity_of(rep, customer, "今日商机")
    followup_of(
        rep,
        customer,
        "约了今天回电",
        opportunity=opp,
        happened_at=timezone.now() - timedelta(days=2),
        next_at=timezone.now() - timedelta(hours=1),
        next_content="今天回电",
    )
    plan = plan_of(rep, customer, "今天的拜访", planned_at=timezone.now() - timedelta(minutes=30))
    reminder = _reminder(world, rep, "今天的提醒")
    late = opportunity_of(rep, customer, "反馈超期的商机")
    stalled = opportunity_of(rep, customer, "停滞的商机")
    Opportunity.objects.filter(pk=late.pk).update(
        feedback_due_at=timezone.now() - timedelta(days=1)
    )
    Opportunity.objects.filter(pk=stalled.pk).update(
        stall_due_at=timezone.now() - timedelta(days=1)
    )
    colleague = world.users["rep_east2"]
    plan_of(colleague, customer_of(colleague, "同事的今日客户"), "同事的拜访")
    page = text(as_user(rep).get("/activities/my-day/"))
    assert "今天回电" in page and "今日商机" in page
    assert f"/activities/followups/new/?customer={customer.pk}&amp;opportunity={opp.pk}" in page
    assert f'data-plan="{plan.pk}"' in page and f"?plan={plan.pk}" in page
    assert f'data-reminder="{reminder.pk}"' in page
    assert 'id="my-day-feedback"' in page and "反馈超期的商机" in page
    assert 'id="my-day-stalled"' in page and "停滞的商机" in page
    assert "同事的拜访" not in page
    assert 'id="my-day-tabs"' not in page  # a rep has no team
    assert 'id="team-day"' not in text(as_user(rep).get("/activities/my-day/?tab=team"))


def test_my_day_team_tab_shows_progress(world: World, as_user: Any) -> None:
    # R5.4: per member today's planned vs done visits, follow-ups today and this week, overdue
    rep = world.users["rep_east"]
    customer = customer_of(rep, "团队进度客户")
    today_start = timezone.localtime().replace(hour=0, minute=0, second=1, microsecond=0)
    done = plan_of(rep, customer, "已完成", planned_at=today_start)
    services.record_followup(
        actor=fresh(rep),
        customer=customer,
        data={"method": "visit", "content": "去了", "happened_at": today_start},
        plan=done,
    )
    plan_of(rep, customer, "还没去", planned_at=today_start + timedelta(minutes=1))
    page = text(as_user(world.users["manager1"]).get("/activities/my-day/?tab=team"))
    row = page.split(f'<tr data-member="{rep.pk}">', 1)[1].split("</tr>", 1)[0]
    assert "1 / 2" in row and 'aria-valuenow="50"' in row
    assert re.search(r'data-col="today">1<', row)
    assert f'data-member="{world.users["rep_sales2"].pk}"' not in page
    assert 'id="my-day-tabs"' in page
