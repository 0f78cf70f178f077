"""The follow-ups API (R5.1, R5.2, R4.2, R10.1): contracts for follow-ups and visit plans (401,
404 across tenants and scopes with nothing changed, audited edits), recording a follow-up moves
the opportunity's and customer's follow-up blocks, a record's follow-ups, plans and their status,
your reminders, reminder rules, mass-assignment probes, locking and translated messages."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from crm.activities import services
from crm.activities.models import FollowUp, Reminder, ReminderRule, VisitPlan
from crm.core.models import Event
from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.pipeline import opportunities as opportunity_services
from crm.pipeline.models import Opportunity

BASE = "/api/v1/activities"
_seq = itertools.count(1)


# --- helpers --------------------------------------------------------------------------------------
def make_customer(world: World, owner: Any) -> Customer:
    return customer_services.create_customer(
        actor=world.admin,
        owner=owner,
        data={"name": f"跟进测试客户{next(_seq)}有限公司"},
        contacts=[{"name": f"联系人{next(_seq)}", "mobile": f"136{next(_seq):08d}"}],
    )


def make_opportunity(world: World, owner: Any, customer: Customer) -> Opportunity:
    return opportunity_services.create_opportunity(
        actor=world.admin, customer=customer, owner=owner, data={"name": f"跟进商机{next(_seq)}"}
    )


def make_followup(world: World, owner: Any, **data: Any) -> FollowUp:
    """A follow-up written by ``owner`` on their own new customer."""
    customer = data.pop("customer", None) or make_customer(world, owner)
    return services.record_followup(
        actor=owner,
        customer=customer,
        data={"method": "call", "content": f"电话沟通{next(_seq)}", **data},
    )


def make_plan(world: World, owner: Any, **data: Any) -> VisitPlan:
    customer = data.pop("customer", None) or make_customer(world, owner)
    return services.plan_visit(
        actor=owner,
        customer=customer,
        data={
            "planned_at": timezone.now() + timedelta(days=2),
            "purpose": f"拜访{next(_seq)}",
            **data,
        },
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


def errors_of(response: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for err in response.json()["errors"]:
        out.setdefault(err["field"], []).append(err["message"])
    return out


# --- Contracts ------------------------------------------------------------------------------------
class TestFollowUpContract(ApiContract):
    # R5.1 R4.2 R10.1 R1.3: 401, 404 out of scope and across tenants, nothing changes, audited
    list_url = f"{BASE}/followups"
    detail_url = f"{BASE}/followups/{{id}}"
    update_payload = {"version": 1, "content": "改过的跟进内容"}

    def make_record(self, world: World, owner: Any) -> FollowUp:
        return make_followup(world, owner)


class TestVisitPlanContract(ApiContract):
    # R5.1 R10.1 R1.3: plans are cancelled, never deleted
    list_url = f"{BASE}/plans"
    detail_url = f"{BASE}/plans/{{id}}"
    update_payload = {"version": 1, "purpose": "改期拜访"}
    deletable = False

    def make_record(self, world: World, owner: Any) -> VisitPlan:
        return make_plan(world, owner)


def test_plan_status_and_reminder_done_of_invisible_records_are_404(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.3: the status action and the reminder's "done" answer like a missing id, nothing changes
    rep = world.users["rep_east"]
    plan = make_plan(world, rep)
    reminder = Reminder.objects.create(
        org=world.org,
        recipient=rep,
        kind="visit_plan",
        target_type="activities.visitplan",
        target_id=str(plan.pk),
        due_at=timezone.now(),
        message="拜访提醒",
    )
    intruders = [api_client(u) for u in (other_world.admin, world.users["rep_east2"])]
    admin = api_client(world.admin)
    before = (row(plan), row(reminder), Event.objects.count())
    for client in intruders:
        r = send(client, f"{BASE}/plans/{plan.pk}/status", {"status": "cancelled"})
        missing = send(client, f"{BASE}/plans/987654321/status", {"status": "cancelled"})
        assert r.status_code == missing.status_code == 404
        assert r.json() == missing.json()
    for client in [*intruders, admin]:
        r = send(client, f"{BASE}/reminders/{reminder.pk}/done")
        assert r.status_code == 404  # a reminder is its recipient's only, even for the admin
    assert (row(plan), row(reminder), Event.objects.count()) == before


# --- Follow-ups -----------------------------------------------------------------------------------
def test_recording_a_followup_moves_the_opportunity_and_customer_blocks(
    world: World, api_client: Any
) -> None:
    # R4.2 R5.1: the follow-up keeps the opportunity's stage; last/next blocks move with it
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    contact = customer.contacts.get()
    opp = make_opportunity(world, rep, customer)
    happened = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)
    nxt = happened + timedelta(days=3)
    client = api_client(rep)
    r = send(
        client,
        f"{BASE}/followups",
        {
            "customer_id": customer.pk,
            "opportunity_id": opp.pk,
            "contact_id": contact.pk,
            "collaborator_id": world.users["rep_east2"].pk,
            "method": "visit",
            "content": "现场演示",
            "happened_at": happened.isoformat(),
            "next_at": nxt.isoformat(),
            "next_content": "发报价",
            "location": "杭州市西湖区",
            "latitude": 30.2741,
            "longitude": "120.155",
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["customer"] == {"id": customer.pk, "name": customer.name}
    assert body["opportunity"] == {"id": opp.pk, "name": opp.name}
    assert body["contact"] == {"id": contact.pk, "name": contact.name}
    assert body["stage"]["id"] == opp.stage_id
    assert body["owner"]["name"] == rep.display_name
    assert body["collaborator"]["id"] == world.users["rep_east2"].pk
    assert (body["method"], body["method_label"]) == ("visit", body["method_label"])
    assert body["method_label"] and body["method_label"] != "visit"
    assert (body["latitude"], body["longitude"]) == ("30.274100", "120.155000")
    assert body["happened_at"].endswith(("+00:00", "Z", "+08:00"))
    opp.refresh_from_db()
    customer.refresh_from_db()
    assert opp.last_followup_at == happened and opp.next_followup_at == nxt
    assert opp.last_followup_content == "现场演示" and opp.last_followup_contact_id == contact.pk
    assert customer.last_followup_at == happened
    # the collaborator sees it too (scope: author and collaborator)
    assert (
        api_client(world.users["rep_east2"]).get(f"{BASE}/followups/{body['id']}").status_code
        == 200
    )


def test_followup_validation_and_messages(world: World, api_client: Any, token_for: Any) -> None:
    # R5.1 R12: a future follow-up, a wrong method and a missing content are refused with the
    # field named, in English when asked and in Chinese by default; nothing is written
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    client = api_client(rep)
    url = f"{BASE}/followups"
    count = FollowUp.objects.count()
    future = (timezone.now() + timedelta(days=1)).isoformat()
    r = send(
        client,
        url,
        {"customer_id": customer.pk, "method": "call", "content": "x", "happened_at": future},
    )
    assert r.status_code == 400
    assert errors_of(r) == {
        "happened_at": ["A follow-up cannot happen in the future; plan a visit instead."]
    }
    r = send(client, url, {"customer_id": customer.pk, "method": "telepathy", "content": "x"})
    assert r.status_code == 422 and list(errors_of(r)) == ["method"]
    assert errors_of(r)["method"][0].startswith("Choose one of:")
    r = send(client, url, {"customer_id": customer.pk, "method": "call"})
    assert errors_of(r) == {"content": ["This field is required."]}
    r = send(
        client, url, {"customer_id": customer.pk, "method": "call", "content": "x", "latitude": 91}
    )
    assert r.status_code == 422 and list(errors_of(r)) == ["latitude"]
    zh = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(rep)}")
    r = send(zh, url, {"customer_id": customer.pk, "method": "call"})
    assert r.json()["message"] == "请修正以下错误。"
    assert errors_of(r) == {"content": ["此项为必填项。"]}
    assert FollowUp.objects.count() == count


def test_followup_refuses_records_the_caller_may_not_see(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.3 A11: ids of invisible customers, opportunities, contacts, colleagues, plans are 404
    rep = world.users["rep_east"]
    mine = make_customer(world, rep)
    theirs = make_customer(world, world.users["rep_sales2"])
    their_opp = make_opportunity(world, world.users["rep_sales2"], theirs)
    foreign = make_customer(other_world, other_world.users["rep_east"])
    their_plan = make_plan(world, world.users["rep_sales2"], customer=theirs)
    client = api_client(rep)
    count, events = FollowUp.objects.count(), Event.objects.count()
    for extra in (
        {"customer_id": theirs.pk},
        {"customer_id": foreign.pk},
        {"customer_id": mine.pk, "opportunity_id": their_opp.pk},
        {"customer_id": mine.pk, "contact_id": foreign.contacts.get().pk},
        {"customer_id": mine.pk, "collaborator_id": other_world.admin.pk},
        {"customer_id": mine.pk, "plan_id": their_plan.pk},
    ):
        r = send(client, f"{BASE}/followups", {"method": "call", "content": "越权", **extra})
        assert r.status_code == 404, (extra, r.content)
    # an opportunity the rep sees but of another customer is a validation error
    other_mine = make_customer(world, rep)
    own_opp = make_opportunity(world, rep, other_mine)
    events = Event.objects.count()
    r = send(
        client,
        f"{BASE}/followups",
        {"customer_id": mine.pk, "opportunity_id": own_opp.pk, "method": "call", "content": "x"},
    )
    assert r.status_code == 400 and "opportunity" in errors_of(r)
    assert (FollowUp.objects.count(), Event.objects.count()) == (count, events)


def test_a_records_followups_are_listed_to_whoever_sees_the_record(
    world: World, api_client: Any
) -> None:
    # R5.4 R4.2: filtered by a customer or an opportunity the caller sees, the list shows all of
    # its follow-ups (also a manager's); unfiltered, only the caller's own; invisible record: 404
    rep, manager = world.users["rep_east"], world.users["manager1"]
    customer = make_customer(world, rep)
    opp = make_opportunity(world, rep, customer)
    own = make_followup(world, rep, customer=customer)
    by_manager = services.record_followup(
        actor=manager,
        customer=customer,
        opportunity=opp,
        data={"method": "meeting", "content": "经理陪访"},
    )
    elsewhere = make_followup(world, rep)
    client = api_client(rep)
    assert ids(client.get(f"{BASE}/followups")) == {own.pk, elsewhere.pk}
    assert ids(client.get(f"{BASE}/followups?customer_id={customer.pk}")) == {
        own.pk,
        by_manager.pk,
    }
    assert ids(client.get(f"{BASE}/followups?opportunity_id={opp.pk}")) == {by_manager.pk}
    assert ids(client.get(f"{BASE}/followups?method=meeting&customer_id={customer.pk}")) == {
        by_manager.pk
    }
    assert ids(client.get(f"{BASE}/followups?owner_id={rep.pk}")) == {own.pk, elsewhere.pk}
    future = (timezone.now() + timedelta(minutes=10)).isoformat().replace("+", "%2B")
    assert ids(client.get(f"{BASE}/followups?until={future}")) == {own.pk, elsewhere.pk}
    assert ids(client.get(f"{BASE}/followups?since={future}")) == set()
    outsider = api_client(world.users["rep_sales2"])
    assert outsider.get(f"{BASE}/followups?customer_id={customer.pk}").status_code == 404
    assert outsider.get(f"{BASE}/followups?opportunity_id={opp.pk}").status_code == 404
    nobody = api_client(world.users["nobody"])
    assert nobody.get(f"{BASE}/followups?customer_id={customer.pk}").json()["items"] == []


def test_followup_patch_ignores_protected_fields_and_locks(
    world: World, other_world: World, api_client: Any
) -> None:
    # A6 H1: owner, customer, opportunity, org, creator and stage are not editable; a stale
    # version answers 409 naming the field; null clears the next follow-up
    rep = world.users["rep_east"]
    followup = make_followup(world, rep, next_at=timezone.now() + timedelta(days=1))
    before = row(followup)
    client = api_client(rep)
    url = f"{BASE}/followups/{followup.pk}"
    payload = {
        "version": 1,
        "content": "只改内容",
        "owner_id": world.users["rep_east2"].pk,
        "customer_id": make_customer(world, rep).pk,
        "opportunity_id": 1,
        "org_id": other_world.org.pk,
        "created_by_id": other_world.admin.pk,
        "stage_id": 1,
        "id": 99999,
    }
    r = send(client, url, payload, "patch")
    assert r.status_code == 200, r.content
    after = row(followup)
    assert {k for k in before if before[k] != after[k]} == {"content", "version", "updated_at"}
    r = send(client, url, {"version": 2, "next_at": None}, "patch")
    assert r.status_code == 200 and r.json()["next_at"] is None
    snapshot, events = row(followup), Event.objects.count()
    r = send(client, url, {"version": 2, "content": "过期版本"}, "patch")
    assert r.status_code == 409 and r.json()["code"] == "edit_conflict"
    assert "next_at" in errors_of(r)
    assert send(client, url, {"content": "无版本"}, "patch").status_code == 422
    assert row(followup) == snapshot and Event.objects.count() == events
    assert client.delete(url).status_code == 204
    assert not FollowUp.objects.filter(pk=followup.pk).exists()


# --- Visit plans ----------------------------------------------------------------------------------
def test_plans_filter_status_and_completion_by_a_followup(world: World, api_client: Any) -> None:
    # R5.1: plan → follow-up marks it done; missed/cancelled through the status action only
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    client = api_client(rep)
    when = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    r = send(
        client,
        f"{BASE}/plans",
        {
            "customer_id": customer.pk,
            "planned_at": when.isoformat(),
            "purpose": "方案汇报",
            "status": "done",
            "owner_id": None,
        },
    )
    assert r.status_code == 201, r.content
    plan = r.json()
    assert (plan["status"], plan["owner"]["id"], plan["method"]) == ("planned", rep.pk, "visit")
    assert plan["customer"]["name"] == customer.name and plan["status_label"]
    later = make_plan(world, rep, planned_at=timezone.now() + timedelta(days=10))
    today = timezone.localdate()
    window = f"from={today}&to={today + timedelta(days=3)}"
    assert ids(client.get(f"{BASE}/plans?{window}")) == {plan["id"]}
    assert ids(client.get(f"{BASE}/plans?from={today + timedelta(days=5)}")) == {later.pk}
    # the follow-up made for it completes it
    r = send(
        client,
        f"{BASE}/followups",
        {"customer_id": customer.pk, "method": "visit", "content": "已汇报", "plan_id": plan["id"]},
    )
    assert r.status_code == 201, r.content
    done = client.get(f"{BASE}/plans/{plan['id']}").json()
    assert done["status"] == "done" and done["followup_id"] == r.json()["id"]
    assert ids(client.get(f"{BASE}/plans?status=done")) == {plan["id"]}
    # a done plan can be neither changed nor cancelled
    r = send(
        client, f"{BASE}/plans/{plan['id']}", {"version": done["version"], "purpose": "x"}, "patch"
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = send(client, f"{BASE}/plans/{plan['id']}/status", {"status": "cancelled"})
    assert r.status_code == 409
    # status: only missed or cancelled, once
    r = send(client, f"{BASE}/plans/{later.pk}/status", {"status": "done"})
    assert r.status_code == 422 and list(errors_of(r)) == ["status"]
    r = send(client, f"{BASE}/plans/{later.pk}/status", {"status": "cancelled", "note": "客户出差"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["note"] == "客户出差"
    r = send(client, f"{BASE}/plans/{later.pk}/status", {"status": "missed"})
    assert r.status_code == 409
    assert client.delete(f"{BASE}/plans/{later.pk}").status_code == 405


def test_a_rep_cannot_plan_for_a_colleague_outside_their_scope(
    world: World, api_client: Any
) -> None:
    # R5.1 A6: owner_id is for managers planning for their team; a rep gets 404, nothing made
    rep = world.users["rep_east"]
    customer = make_customer(world, rep)
    count = VisitPlan.objects.count()
    payload = {
        "customer_id": customer.pk,
        "planned_at": (timezone.now() + timedelta(days=1)).isoformat(),
        "purpose": "替人安排",
        "owner_id": world.users["rep_east2"].pk,
    }
    assert send(api_client(rep), f"{BASE}/plans", payload).status_code == 404
    assert VisitPlan.objects.count() == count
    # a manager (department and below) plans a visit for someone of the team
    r = send(api_client(world.users["manager1"]), f"{BASE}/plans", payload)
    assert r.status_code == 201, r.content
    assert r.json()["owner"]["id"] == world.users["rep_east2"].pk
    assert VisitPlan.objects.count() == count + 1


# --- Reminders ------------------------------------------------------------------------------------
def test_reminders_are_the_recipients_own(world: World, api_client: Any) -> None:
    # R5.2: my reminders only, open/due filters, done once
    rep, colleague = world.users["rep_east"], world.users["rep_east2"]
    now = timezone.now()

    def remind(user: Any, due: Any, n: int) -> Reminder:
        return Reminder.objects.create(
            org=world.org,
            recipient=user,
            kind="next_followup",
            target_type="customers.customer",
            target_id=str(n),
            due_at=due,
            message=f"提醒{n}",
            sent_at=now,
        )

    past, ahead = remind(rep, now - timedelta(hours=1), 1), remind(rep, now + timedelta(hours=5), 2)
    theirs = remind(colleague, now - timedelta(hours=1), 3)
    client = api_client(rep)
    assert ids(client.get(f"{BASE}/reminders")) == {past.pk, ahead.pk}
    assert ids(client.get(f"{BASE}/reminders?due=true")) == {past.pk}
    assert ids(client.get(f"{BASE}/reminders?due=false")) == {ahead.pk}
    body = client.get(f"{BASE}/reminders").json()["items"]
    assert {i["id"]: i["overdue"] for i in body} == {past.pk: True, ahead.pk: False}
    r = send(client, f"{BASE}/reminders/{past.pk}/done")
    assert r.status_code == 200 and r.json()["done_at"] is not None
    assert ids(client.get(f"{BASE}/reminders?open=true")) == {ahead.pk}
    assert ids(client.get(f"{BASE}/reminders?open=false")) == {past.pk}
    assert send(client, f"{BASE}/reminders/{theirs.pk}/done").status_code == 404
    assert Reminder.objects.get(pk=theirs.pk).done_at is None


# --- Reminder rules -------------------------------------------------------------------------------
def test_reminder_rules_need_the_configure_permission(
    world: World, other_world: World, api_client: Any
) -> None:
    # R5.2: rules (day 1, 3, 7 after an opportunity is created …) are configured by those who
    # may configure follow-ups (or settings); other tenants' rules are 404
    services.install_default_rules(world.org)
    admin = api_client(world.admin)
    rep = api_client(world.users["rep_east"])
    assert rep.get(f"{BASE}/reminder-rules").status_code == 403
    listed = admin.get(f"{BASE}/reminder-rules").json()
    assert {r["kind"] for r in listed["items"]} == {
        "new_opportunity",
        "next_followup",
        "visit_plan",
        "feedback_overdue",
    }
    payload = {"kind": "new_opportunity", "name": "第二天提醒", "offsets": [7, 1, 3, 1]}
    assert send(rep, f"{BASE}/reminder-rules", payload).status_code == 403
    r = send(admin, f"{BASE}/reminder-rules", payload)
    assert r.status_code == 201, r.content
    rule = r.json()
    assert rule["offsets"] == [1, 3, 7] and rule["kind_label"] and rule["is_active"]
    url = f"{BASE}/reminder-rules/{rule['id']}"
    r = send(admin, url, {"offsets": [9999]}, "patch")
    assert r.status_code == 400 and "offsets" in errors_of(r)
    r = send(admin, url, {"name": "新商机三天提醒", "notify_manager": True}, "patch")
    assert r.status_code == 200, r.content
    assert (r.json()["name"], r.json()["offsets"], r.json()["notify_manager"]) == (
        "新商机三天提醒",
        [1, 3, 7],
        True,
    )
    before = row(ReminderRule.objects.get(pk=rule["id"]))
    foreign = api_client(other_world.admin)
    assert send(foreign, url, {"name": "越权"}, "patch").status_code == 404
    assert foreign.delete(url).status_code == 404
    assert rep.delete(url).status_code == 403
    assert row(ReminderRule.objects.get(pk=rule["id"])) == before
    assert admin.delete(url).status_code == 204
    assert not ReminderRule.objects.filter(pk=rule["id"]).exists()


@pytest.mark.parametrize("kind", ["weekly", ""])
def test_reminder_rule_kind_must_be_known(world: World, api_client: Any, kind: str) -> None:
    # R5.2: an unknown kind is refused by the schema
    r = send(
        api_client(world.admin),
        f"{BASE}/reminder-rules",
        {"kind": kind, "name": "x", "offsets": [1]},
    )
    assert r.status_code == 422 and list(errors_of(r)) == ["kind"]
