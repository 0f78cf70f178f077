"""Opportunity pages (R4.1–R4.3, R4.7–R4.8): the form, the opportunity page with its actions and
the customer 360 section, for the owner, a manager of the department tree and the director;
out-of-scope and other-tenant ids answer 404 on every page and action with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World, make_role, make_user, role
from crm.customers.models import Contact, Customer
from crm.customers.services import create_customer
from crm.pipeline import opportunities as svc
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, OpportunityLine, Stage, StageHistory
from tests.pipeline.conftest import fresh

ACTIONS = (
    "move",
    "win",
    "lose",
    "abandon",
    "pause",
    "resume",
    "reopen",
    "key",
    "transfer",
    "delete",
)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


def customer_of(
    world: World, key: str = "rep_east", name: str = "杭州海康科技有限公司"
) -> Customer:
    return create_customer(
        actor=fresh(world.users[key]),
        data={"name": name},
        contacts=[{"name": "王经理", "mobile": f"1390000{len(name):04d}", "title": "采购经理"}],
    )


def opportunity_of(
    world: World, customer: Customer, key: str = "rep_east", **data: Any
) -> Opportunity:
    data.setdefault("name", "智慧园区一期")
    data.setdefault("expected_amount", "120000")
    return svc.create_opportunity(actor=fresh(world.users[key]), customer=customer, data=data)


def open_stages(opportunity: Opportunity) -> list[Stage]:
    return list(
        Stage.objects.filter(
            pipeline=opportunity.pipeline, parent=None, is_active=True, kind=StageKind.OPEN
        ).order_by("sort_order", "pk")
    )


def approver(world: World) -> Any:
    """A sales manager of 销售一部 with the built-in manager role (approve, transfer)."""
    return make_user(
        world.admin, "一部审批经理", world.depts["sales1"], [role(world.org, "manager")]
    )


def row(opportunity: Opportunity) -> dict[str, Any]:
    return Opportunity.objects.filter(pk=opportunity.pk).values().get()


def page(client: Client, url: str) -> str:
    response = with_sections(client, url)  # a record page with its sections loaded
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.fixture
def deal(world: World) -> Opportunity:
    return opportunity_of(world, customer_of(world))


# --- the form -------------------------------------------------------------------------------------
def test_create_page_prefills_the_customer_and_creates_with_lines(world: World, client_for) -> None:
    # R4.1: ?customer= chooses the customer; the stage's probability and the lines' total apply
    rep = world.users["rep_east"]
    customer = customer_of(world)
    contact = Contact.objects.get(customer=customer)
    client = client_for(rep)
    html = page(client, f"/opportunities/new/?customer={customer.pk}")
    assert f'<option value="{customer.pk}" selected>杭州海康科技有限公司</option>' in html
    assert f'value="{contact.pk}"' in html  # the customer's contacts are offered
    assert 'name="line-product"' in html and "opportunity-form.js" in html
    pipeline = svc.default_pipeline(world.org.pk)
    first = svc.first_stage(pipeline)
    second = Stage.objects.filter(pipeline=pipeline, parent=None, kind="open").order_by(
        "sort_order"
    )[1]
    node = Stage.objects.filter(parent=second, is_active=True).order_by("sort_order").first()
    form = {
        "name": "数据中心扩容",
        "customer": customer.pk,
        "contact": contact.pk,
        "contacts": [contact.pk],
        "pipeline": pipeline.pk,
        "stage": second.pk,
        "node": node.pk if node else "",
        "source": "referral",
        "probability": "",
        "feedback_cycle": "3d",
        "expected_amount": "",
        "expected_close_date": "2026-12-31",
        "collaborators": [world.users["rep_east2"].pk],
        "is_key": "on",
        "notes": "客户预算已批",
        "line-product": ["hardware", "定制开发", ""],
        "line-quantity": ["0.5", "1", ""],
        "line-unit_price": ["2.01", "1,000", ""],
        "line-notes": ["", "按人天", ""],
    }
    response = client.post("/opportunities/new/", form)
    assert response.status_code == 302
    opportunity = Opportunity.objects.get(name="数据中心扩容")
    assert response["Location"] == f"/opportunities/{opportunity.pk}/"
    assert (opportunity.owner_id, opportunity.customer_id, opportunity.stage_id) == (
        rep.pk,
        customer.pk,
        second.pk,
    )
    assert opportunity.node_id == (node.pk if node else None)
    assert opportunity.probability == second.default_probability
    assert opportunity.expected_amount == Decimal("1001.01")  # 0.5 × 2.01 = 1.005 → 1.01
    assert opportunity.is_key and opportunity.feedback_cycle == "3d"
    assert [
        (li.product, li.amount) for li in OpportunityLine.objects.filter(opportunity=opportunity)
    ] == [
        ("hardware", Decimal("1.01")),
        ("定制开发", Decimal("1000.00")),
    ]
    assert list(opportunity.collaborators.values_list("pk", flat=True)) == [
        world.users["rep_east2"].pk
    ]
    assert StageHistory.objects.filter(opportunity=opportunity).count() == 1
    assert first.pk != second.pk


def test_create_refuses_bad_input_on_its_fields_and_writes_nothing(
    world: World, client_for
) -> None:
    # R4.1: invalid amounts, probability and lines show on the form; nothing is half-written
    customer = customer_of(world)
    client = client_for(world.users["rep_east"])
    events = Event.objects.count()
    base = {"name": "坏数据", "customer": customer.pk, "pipeline": "", "stage": ""}
    pipeline = svc.default_pipeline(world.org.pk)
    base.update(pipeline=pipeline.pk, stage=svc.first_stage(pipeline).pk)
    for bad, field in (
        ({"expected_amount": "abc"}, "expected_amount"),
        ({"expected_amount": "-1"}, "expected_amount"),
        ({"expected_amount": "1e400"}, "expected_amount"),
        ({"probability": "101"}, "probability"),
        ({"expected_close_date": "2026-13-01"}, "expected_close_date"),
        ({"line-product": ["hardware"], "line-quantity": ["0"], "line-unit_price": ["1"]}, "lines"),
    ):
        response = client.post("/opportunities/new/", {**base, **bad})
        assert response.status_code == 200, bad
        html = response.content.decode()
        if field == "lines":
            assert 'id="line-errors"' in html
        else:
            assert f'name="{field}"' in html and "is-invalid" in html, bad
    response = client.post("/opportunities/new/", {"name": "", "customer": customer.pk})
    assert response.status_code == 200
    assert Opportunity.objects.count() == 0 and OpportunityLine.objects.count() == 0
    assert StageHistory.objects.count() == 0 and Event.objects.count() == events


def test_create_ignores_or_refuses_a_customer_out_of_sight(
    world: World, other_world: World, client_for
) -> None:
    # R4.1 R1.3: ?customer= of someone else's customer is ignored; posting it is refused
    customer = customer_of(world)
    for intruder in (world.users["rep_east2"], other_world.admin):
        client = client_for(intruder)
        html = page(client, f"/opportunities/new/?customer={customer.pk}")
        assert "杭州海康科技有限公司" not in html
        pipeline = svc.default_pipeline(intruder.org_id)
        response = client.post(
            "/opportunities/new/",
            {
                "name": "越权商机",
                "customer": customer.pk,
                "pipeline": pipeline.pk,
                "stage": svc.first_stage(pipeline).pk,
            },
        )
        assert response.status_code == 200
        assert "杭州海康科技有限公司" not in response.content.decode()
    assert Opportunity.objects.count() == 0
    nobody = client_for(world.users["nobody"])
    assert nobody.get("/opportunities/new/").status_code == 403


def test_edit_saves_fields_lines_and_collaborators(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.1: the edit form shows the record and saves through the service with its version
    client = client_for(world.users["rep_east"])
    html = page(client, f"/opportunities/{deal.pk}/edit/")
    assert 'name="version"' in html and f'value="{deal.version}"' in html
    assert 'name="pipeline"' not in html and 'name="customer"' not in html
    response = client.post(
        f"/opportunities/{deal.pk}/edit/",
        {
            "name": "智慧园区一期（调整）",
            "version": deal.version,
            "probability": "35",
            "expected_amount": "",
            "action_principle": "strive",
            "line-product": ["software"],
            "line-quantity": ["2"],
            "line-unit_price": ["10.005"],
            "line-notes": [""],
            "collaborators": [world.users["rep_east2"].pk],
        },
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.name == "智慧园区一期（调整）" and deal.probability == 35
    assert deal.expected_amount == Decimal("20.02")  # 10.005 → 10.01, × 2
    assert deal.action_principle == "strive"
    assert list(deal.collaborators.values_list("pk", flat=True)) == [world.users["rep_east2"].pk]


def test_a_collaborator_who_cannot_see_the_customer_keeps_its_contacts(
    world: World, client_for
) -> None:
    # R4.1 R1.3: contacts are not offered to (nor emptied by) a collaborator without the customer
    customer = customer_of(world)
    contact = Contact.objects.get(customer=customer)
    deal = svc.create_opportunity(
        actor=fresh(world.users["rep_east"]),
        customer=customer,
        data={"name": "协作商机", "contact": contact},
        contacts=[contact],
        collaborators=[fresh(world.users["rep_east2"])],
    )
    client = client_for(world.users["rep_east2"])
    html = page(client, f"/opportunities/{deal.pk}/edit/")
    assert 'name="contact"' not in html and "王经理" not in html
    response = client.post(
        f"/opportunities/{deal.pk}/edit/",
        {
            "name": "协作商机（改）",
            "version": deal.version,
            "collaborators": [world.users["rep_east2"].pk],
        },
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.contact_id) == ("协作商机（改）", contact.pk)
    assert list(deal.contacts.values_list("pk", flat=True)) == [contact.pk]


def test_edit_conflict_shows_the_other_persons_change(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.1 (optimistic lock): the second editor sees who changed what, with current values
    client = client_for(world.users["rep_east"])
    stale = deal.version
    page(client, f"/opportunities/{deal.pk}/edit/")
    manager = fresh(world.users["manager1"])
    svc.update_opportunity(
        actor=manager,
        opportunity=Opportunity.objects.get(pk=deal.pk),
        data={"name": "经理改过的名字"},
        version=stale,
    )
    current = Opportunity.objects.get(pk=deal.pk)
    response = client.post(
        f"/opportunities/{deal.pk}/edit/",
        {"name": "我的名字", "version": stale, "notes": "我的备注", "expected_amount": "1"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "一部经理" in html  # who changed it
    assert "智慧园区一期 → 经理改过的名字" in html  # old → new, beside the field
    assert 'value="经理改过的名字"' in html  # the current values are loaded
    assert f'name="version" value="{current.version}"' in html
    after = Opportunity.objects.get(pk=deal.pk)
    assert (after.name, after.notes, after.version) == ("经理改过的名字", "", current.version)
    assert after.expected_amount == Decimal("120000.00")
    # re-applied on the current version, the change goes through
    response = client.post(
        f"/opportunities/{deal.pk}/edit/",
        {"name": "经理改过的名字", "version": current.version, "notes": "我的备注"},
    )
    assert response.status_code == 302
    assert Opportunity.objects.get(pk=deal.pk).notes == "我的备注"


# --- the opportunity page -------------------------------------------------------------------------
def test_opportunity_page_for_owner_manager_and_director(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.2 R4.3 R4.7: header, stage path with nodes and guidance, facts, lines, history
    for key in ("rep_east", "dept_east", "manager1", "director"):
        html = page(client_for(world.users[key]), f"/opportunities/{deal.pk}/")
        assert "智慧园区一期" in html and 'id="stage-steps"' in html, key
        assert 'id="stage-history"' in html and 'id="history"' in html, key
        assert "¥120,000.00" in html
        assert 'aria-current="step"' in html
    owner_html = page(client_for(world.users["rep_east"]), f"/opportunities/{deal.pk}/")
    for action in ("move", "win", "lose", "abandon", "pause", "delete"):
        assert f'id="action-{action}"' in owner_html, action
    assert 'id="action-reopen"' not in owner_html and 'id="action-transfer"' not in owner_html
    assert 'id="action-resume"' not in owner_html
    assert 'id="key-toggle"' in owner_html and 'id="opportunity-edit"' in owner_html
    assert deal.stage.guidance and 'id="stage-guidance"' in owner_html
    steps = open_stages(deal)
    assert (
        owner_html.count('class="step-item')
        == len(steps)
        + Stage.objects.filter(pipeline=deal.pipeline, parent=None, is_active=True)
        .exclude(kind=StageKind.OPEN)
        .count()
    )


def test_out_of_scope_and_other_tenant_get_404_everywhere_and_nothing_changes(
    world: World, other_world: World, deal: Opportunity, client_for
) -> None:
    # R1.3 R4.2: every page and action answers 404 to who may not see the opportunity
    approver_other = make_user(
        world.admin, "二部审批经理", world.depts["sales2"], [role(world.org, "manager")]
    )
    assert approver_other.can("opportunities", "approve")
    intruders = [
        world.users["rep_east2"],
        world.users["rep_south"],
        world.users["rep_sales2"],
        approver_other,
        other_world.admin,
    ]
    before = row(deal)
    events = Event.objects.count()
    history = StageHistory.objects.count()
    for intruder in intruders:
        client = client_for(intruder)
        for url in (f"/opportunities/{deal.pk}/", f"/opportunities/{deal.pk}/edit/"):
            assert client.get(url).status_code == 404, (intruder, url)
        assert client.post(f"/opportunities/{deal.pk}/edit/", {"name": "x"}).status_code == 404
        for action in ACTIONS:
            response = client.post(
                f"/opportunities/{deal.pk}/{action}/",
                {
                    "version": deal.version,
                    "stage": deal.stage_id,
                    "reason": "price",
                    "actual_amount": "1",
                    "actual_close_date": "2026-01-01",
                    "to_user": intruder.pk,
                    "is_key": "1",
                },
            )
            assert response.status_code in (403, 404), (intruder, action, response.status_code)
            if intruder.can("opportunities", "approve") or action not in ("reopen", "transfer"):
                assert response.status_code == 404, (intruder, action)
    assert row(deal) == before
    assert Event.objects.count() == events and StageHistory.objects.count() == history


def test_actions_need_their_permission(world: World, deal: Opportunity, client_for) -> None:
    # R4.8: reopen needs opportunities:approve, transfer opportunities:transfer (403 otherwise)
    svc.win_opportunity(
        actor=fresh(world.users["rep_east"]),
        opportunity=deal,
        actual_amount="100",
        actual_close_date="2026-06-01",
    )
    client = client_for(world.users["rep_east"])
    assert client.post(f"/opportunities/{deal.pk}/reopen/", {}).status_code == 403
    assert (
        client.post(
            f"/opportunities/{deal.pk}/transfer/", {"to_user": world.users["rep_east2"].pk}
        ).status_code
        == 403
    )
    assert client.get(f"/opportunities/{deal.pk}/win/").status_code == 405
    assert Opportunity.objects.get(pk=deal.pk).status == OpportunityStatus.WON


def test_move_stage_and_node_with_contact_and_note(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.2 R4.3: the move modal and the node sub-steps write stage history
    client = client_for(world.users["rep_east"])
    contact = Contact.objects.get(customer=deal.customer)
    target = next(s for s in open_stages(deal) if Stage.objects.filter(parent=s).exists())
    nodes = list(Stage.objects.filter(parent=target, is_active=True).order_by("sort_order"))
    response = client.post(
        f"/opportunities/{deal.pk}/move/",
        {
            "stage": target.pk,
            "node": nodes[0].pk,
            "contact": contact.pk,
            "note": "客户确认需求",
            "version": deal.version,
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/opportunities/{deal.pk}/"
    deal.refresh_from_db()
    assert (deal.stage_id, deal.node_id, deal.probability) == (
        target.pk,
        nodes[0].pk,
        target.default_probability,
    )
    last = StageHistory.objects.filter(opportunity=deal).order_by("-entered_at", "-pk").first()
    assert last is not None
    assert (last.stage_id, last.node_id, last.contact_id, last.note) == (
        target.pk,
        nodes[0].pk,
        contact.pk,
        "客户确认需求",
    )
    html = page(client, f"/opportunities/{deal.pk}/")
    assert 'id="stage-nodes"' in html and f'data-node="{nodes[1].pk}"' in html
    assert 'id="days-in-stage"' in html
    # a click on the next node moves there
    response = client.post(
        f"/opportunities/{deal.pk}/move/",
        {"stage": target.pk, "node": nodes[1].pk, "version": deal.version},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.node_id == nodes[1].pk
    assert StageHistory.objects.filter(opportunity=deal).count() == 3
    # a stale version is refused with a message, nothing moves
    response = client.post(
        f"/opportunities/{deal.pk}/move/",
        {"stage": target.pk, "node": nodes[0].pk, "version": deal.version - 1},
        follow=True,
    )
    assert "alert-danger" in response.content.decode()
    deal.refresh_from_db()
    assert deal.node_id == nodes[1].pk


def test_win_lose_abandon_pause_resume_reopen_key_transfer_delete(world: World, client_for) -> None:
    # R4.8: every action through its modal form, refusals as flash messages
    rep = world.users["rep_east"]
    customer = customer_of(world)
    client = client_for(rep)
    deal = opportunity_of(world, customer)

    def post(action: str, data: dict[str, Any], who: Client = client) -> str:
        response = who.post(f"/opportunities/{deal.pk}/{action}/", data, follow=True)
        assert response.status_code == 200, (action, response.status_code)
        return response.content.decode()

    # key star
    post("key", {"is_key": "1"})
    deal.refresh_from_db()
    assert deal.is_key
    # pause / resume
    post("pause", {"note": "客户内部调整", "version": deal.version})
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.PAUSE
    assert 'id="action-resume"' in page(client, f"/opportunities/{deal.pk}/")
    post("resume", {"version": deal.version})
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.CONTINUE
    # win needs an amount and a date
    html = post("win", {"actual_amount": "", "actual_close_date": "", "version": deal.version})
    assert "alert-danger" in html
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.CONTINUE
    post(
        "win",
        {"actual_amount": "98,000.5", "actual_close_date": "2026-05-20", "version": deal.version},
    )
    deal.refresh_from_db()
    assert (deal.status, deal.actual_amount) == (OpportunityStatus.WON, Decimal("98000.50"))
    html = page(client, f"/opportunities/{deal.pk}/")
    assert "¥98,000.50" in html and 'id="action-win"' not in html
    assert 'id="action-reopen"' not in html  # a rep may not reopen
    # a manager reopens it
    manager = approver(world)
    manager_client = client_for(manager)
    html = page(manager_client, f"/opportunities/{deal.pk}/")
    assert 'id="action-reopen"' in html and 'id="action-transfer"' in html
    stage = open_stages(deal)[2]
    post("reopen", {"stage": stage.pk, "note": "客户追加", "version": deal.version}, manager_client)
    deal.refresh_from_db()
    assert (deal.status, deal.stage_id, deal.actual_amount) == (
        OpportunityStatus.CONTINUE,
        stage.pk,
        None,
    )
    # lose needs a reason from the list
    html = post("lose", {"reason": "", "version": deal.version})
    assert "alert-danger" in html
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.CONTINUE
    post("lose", {"reason": "price", "note": "报价高于对手", "version": deal.version})
    deal.refresh_from_db()
    assert (deal.status, deal.loss_reason, deal.loss_note, deal.stage.kind) == (
        OpportunityStatus.LOST,
        "price",
        "报价高于对手",
        StageKind.LOST,
    )
    # abandon (after reopening)
    post("reopen", {"version": deal.version}, manager_client)
    deal.refresh_from_db()
    html = post("abandon", {"reason": "not-a-reason", "version": deal.version})
    assert "alert-danger" in html
    post("abandon", {"reason": "no_budget", "note": "预算取消", "version": deal.version})
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.ABANDONED
    # transfer by the manager
    post("reopen", {"version": deal.version}, manager_client)
    post("transfer", {"to_user": world.users["rep_south"].pk, "reason": "区域调整"}, manager_client)
    deal.refresh_from_db()
    assert deal.owner_id == world.users["rep_south"].pk
    # the former owner no longer sees it; the manager deletes it
    assert with_sections(client, f"/opportunities/{deal.pk}/").status_code == 404
    response = manager_client.post(f"/opportunities/{deal.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert not Opportunity.objects.filter(pk=deal.pk).exists()


def test_owner_deletes_and_lands_on_the_customer(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.2: delete (the world roles may delete) goes back to the customer's page
    client = client_for(world.users["rep_east"])
    response = client.post(f"/opportunities/{deal.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{deal.customer_id}/"
    assert not Opportunity.objects.filter(pk=deal.pk).exists()
    assert Customer.objects.get(pk=deal.customer_id).open_opportunities == 0


def test_manager_and_director_act_on_their_teams_opportunity(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.2 R1.3: the department-tree manager and the director may edit in scope
    target = open_stages(deal)[1]
    response = client_for(world.users["manager1"]).post(
        f"/opportunities/{deal.pk}/move/", {"stage": target.pk, "version": deal.version}
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage_id == target.pk
    response = client_for(world.users["director"]).post(
        f"/opportunities/{deal.pk}/edit/",
        {"name": "总监改名", "version": deal.version, "expected_amount": "5"},
    )
    assert response.status_code == 302
    assert Opportunity.objects.get(pk=deal.pk).name == "总监改名"


@pytest.mark.parametrize("key", ["rep_east", "dept_east", "manager1", "director"])
def test_owner_and_managers_use_every_edit_action(
    world: World, deal: Opportunity, client_for, key: str
) -> None:
    # R4.2 R4.8 R1.3: the owner, the department lead, the tree manager and the director
    client = client_for(world.users[key])
    html = page(client, f"/opportunities/{deal.pk}/")
    assert 'id="action-move"' in html and 'id="action-win"' in html
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("key", {"is_key": "1"}, "continue"),
        ("pause", {}, "pause"),
        ("resume", {}, "continue"),
        ("move", {"stage": open_stages(deal)[1].pk}, "continue"),
        ("win", {"actual_amount": "500", "actual_close_date": "2026-07-01"}, "won"),
    ]
    for action, data, status in steps:
        deal.refresh_from_db()
        response = client.post(
            f"/opportunities/{deal.pk}/{action}/", {**data, "version": deal.version}
        )
        assert response.status_code == 302, (key, action)
        assert response["Location"] == f"/opportunities/{deal.pk}/", (key, action)
        assert Opportunity.objects.get(pk=deal.pk).status == status, (key, action)
    deal.refresh_from_db()
    assert deal.is_key and deal.actual_amount == Decimal("500.00")


def test_stalled_and_overdue_badges(world: World, deal: Opportunity, client_for) -> None:
    # R4.7: stalled when the stage's day limit ran out, overdue when the feedback cycle did
    past = timezone.now() - timedelta(days=1)
    Opportunity.objects.filter(pk=deal.pk).update(stall_due_at=past, feedback_due_at=past)
    html = page(client_for(world.users["rep_east"]), f"/opportunities/{deal.pk}/")
    assert 'id="badge-stalled"' in html and 'id="badge-overdue"' in html
    Opportunity.objects.filter(pk=deal.pk).update(status=OpportunityStatus.PAUSE)
    html = page(client_for(world.users["rep_east"]), f"/opportunities/{deal.pk}/")
    assert 'id="badge-stalled"' not in html and 'id="badge-overdue"' not in html


# --- customer 360 section -------------------------------------------------------------------------
def test_customer_page_lists_the_opportunities_the_user_may_see(world: World, client_for) -> None:
    # R4.2 R3.3: the 商机 section shows visible opportunities only, with a create link
    customer = customer_of(world)
    mine = opportunity_of(world, customer, name="我的商机")
    director = fresh(world.users["director"])
    theirs = svc.create_opportunity(
        actor=director,
        customer=customer,
        data={"name": "华南同事的商机", "expected_amount": "5000"},
        owner=fresh(world.users["rep_south"]),
    )
    html = page(client_for(world.users["rep_east"]), f"/customers/{customer.pk}/")
    assert 'id="section-opportunities"' in html
    assert f'data-opportunity="{mine.pk}"' in html and f'data-opportunity="{theirs.pk}"' not in html
    assert f"/opportunities/new/?customer={customer.pk}" in html
    manager_html = page(client_for(world.users["manager1"]), f"/customers/{customer.pk}/")
    assert f'data-opportunity="{mine.pk}"' in manager_html
    assert f'data-opportunity="{theirs.pk}"' in manager_html
    viewer = make_user(
        world.admin,
        "只看客户",
        world.depts["east"],
        [make_role(world.admin, "只看客户", "all", ["customers:view"])],
    )
    html = page(client_for(viewer), f"/customers/{customer.pk}/")
    assert 'id="section-opportunities"' not in html


def test_sections_registered_for_opportunities_render_on_its_page(
    world: World, deal: Opportunity, client_for
) -> None:
    # R4.2: other modules' sections appear like on the customer 360 page, history last
    from crm.core.registry import Section, record_sections, register_section

    saved = list(record_sections.get("pipeline.opportunity", []))
    try:
        register_section(
            "pipeline.opportunity",
            Section(
                50,
                "probe",
                "探针",
                "core/_history.html",
                lambda request, opportunity: {"history": []},
            ),
        )
        register_section(
            "pipeline.opportunity",
            Section(60, "hidden", "隐藏", "core/_history.html", lambda request, o: None),
        )
        html = page(client_for(world.users["rep_east"]), f"/opportunities/{deal.pk}/")
        assert 'id="section-probe"' in html and 'id="section-hidden"' not in html
        assert html.index('id="section-probe"') < html.index('id="section-history"')
    finally:
        record_sections["pipeline.opportunity"] = saved
