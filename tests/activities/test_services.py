"""Follow-up and visit-plan services (R5.1, R5.3, R4.2): recording, editing and deleting a
follow-up moves the customer's and the opportunity's last/next follow-up blocks; a follow-up for
a planned visit marks it done; bad input, foreign links, out-of-scope colleagues and other
organisations are refused and change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.activities import services
from crm.activities.choices import Method, PlanStatus
from crm.activities.models import FollowUp, VisitPlan
from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers.models import Contact, Customer
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def customer_of(user: User, name: str, **kwargs: Any) -> Customer:
    return create_customer(actor=fresh(user), data={"name": name}, **kwargs)


def opportunity_of(user: User, customer: Customer, name: str = "年度采购项目") -> Opportunity:
    return opportunities.create_opportunity(
        actor=fresh(user), customer=customer, data={"name": name}
    )


def reload(obj: Any) -> Any:
    return type(obj)._base_manager.get(pk=obj.pk)


def ago(**kwargs: Any) -> Any:
    return (timezone.now() - timedelta(**kwargs)).replace(microsecond=0)


def ahead(**kwargs: Any) -> Any:
    return (timezone.now() + timedelta(**kwargs)).replace(microsecond=0)


# --- recording moves the blocks --------------------------------------------------------------
def test_recording_a_followup_moves_the_customer_and_opportunity_blocks(world: World) -> None:
    # R5.3 R4.2: last follow-up = this one; next follow-up = its next date and content
    # given
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "杭州跟进测试有限公司", contacts=[{"name": "王经理"}])
    contact = Contact.objects.get(customer=customer)
    opportunity = opportunity_of(rep, customer)
    colleague = world.users["rep_east2"]
    happened, next_at = ago(hours=2), ahead(days=3)
    # when
    followup = services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        contact=contact,
        collaborator=colleague,
        data={
            "method": Method.VISIT,
            "content": "现场演示了方案",
            "happened_at": happened,
            "next_at": next_at,
            "next_content": "发报价",
            "location": "杭州市西湖区文三路",
            "latitude": "30.2741",
            "longitude": "120.1551",
        },
    )
    # then
    customer, opportunity = reload(customer), reload(opportunity)
    assert (customer.last_followup_at, customer.next_followup_at) == (happened, next_at)
    assert opportunity.last_followup_at == happened
    assert opportunity.last_followup_content == "现场演示了方案"
    assert opportunity.last_followup_by_id == rep.pk
    assert opportunity.last_followup_contact_id == contact.pk
    assert opportunity.next_followup_at == next_at
    assert opportunity.next_followup_content == "发报价"
    assert opportunity.next_followup_collaborator_id == colleague.pk
    assert followup.owner_id == rep.pk
    assert followup.stage_id == opportunity.stage_id
    assert (followup.latitude, followup.longitude) == (Decimal("30.274100"), Decimal("120.155100"))
    assert Event.objects.filter(verb="followup.created", object_id=str(followup.pk)).count() == 1


def test_happened_at_defaults_to_now(world: World) -> None:
    # R5.3: a quick add without a time is "now"
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "默认时间客户")
    before = timezone.now()
    followup = services.record_followup(
        actor=rep, customer=customer, data={"method": Method.CALL, "content": "电话沟通"}
    )
    assert before <= followup.happened_at <= timezone.now()
    assert reload(customer).next_followup_at is None


def test_an_older_followup_does_not_replace_the_latest(world: World) -> None:
    # R5.3: the blocks always show the latest follow-up, whatever order they are entered in
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "补录客户")
    opportunity = opportunity_of(rep, customer)
    latest = services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        data={"method": Method.CALL, "content": "最新", "happened_at": ago(hours=1)},
    )
    services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        data={
            "method": Method.CALL,
            "content": "补录的旧记录",
            "happened_at": ago(days=3),
            "next_at": ago(days=2),
        },
    )
    assert reload(customer).last_followup_at == latest.happened_at
    assert reload(customer).next_followup_at is None
    assert reload(opportunity).last_followup_content == "最新"


def test_updating_the_latest_followup_moves_the_blocks(world: World) -> None:
    # R5.3: a changed next date and content show on the customer and the opportunity
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "修改跟进客户")
    opportunity = opportunity_of(rep, customer)
    followup = services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        data={"method": Method.CALL, "content": "初次沟通", "next_at": ahead(days=1)},
    )
    new_next = ahead(days=5)
    services.update_followup(
        actor=rep,
        followup=followup,
        version=followup.version,
        data={"content": "初次沟通（补充）", "next_at": new_next, "next_content": "约拜访"},
    )
    assert reload(customer).next_followup_at == new_next
    opportunity = reload(opportunity)
    assert opportunity.next_followup_at == new_next
    assert opportunity.next_followup_content == "约拜访"
    assert opportunity.last_followup_content == "初次沟通（补充）"
    assert reload(followup).version == 2


def test_deleting_the_latest_followup_moves_the_blocks_back(world: World) -> None:
    # R5.3: after deleting the latest one, the previous follow-up is the last again; deleting
    # the only one empties the blocks
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "删除跟进客户")
    opportunity = opportunity_of(rep, customer)
    first_next = ahead(days=2)
    first = services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        data={
            "method": Method.CALL,
            "content": "第一次",
            "happened_at": ago(days=2),
            "next_at": first_next,
            "next_content": "再打电话",
        },
    )
    latest = services.record_followup(
        actor=rep,
        customer=customer,
        opportunity=opportunity,
        data={"method": Method.WECHAT, "content": "第二次", "next_at": ahead(days=7)},
    )
    services.delete_followup(actor=rep, followup=latest)
    customer, opportunity = reload(customer), reload(opportunity)
    assert (customer.last_followup_at, customer.next_followup_at) == (
        first.happened_at,
        first_next,
    )
    assert opportunity.last_followup_content == "第一次"
    assert opportunity.next_followup_content == "再打电话"
    assert FollowUp.objects.filter(pk=latest.pk).exists() is False

    services.delete_followup(actor=rep, followup=first)
    customer, opportunity = reload(customer), reload(opportunity)
    assert (customer.last_followup_at, customer.next_followup_at) == (None, None)
    assert (opportunity.last_followup_at, opportunity.next_followup_at) == (None, None)
    assert opportunity.last_followup_content == ""


# --- visit plans ------------------------------------------------------------------------------
def test_a_followup_for_a_planned_visit_marks_it_done(world: World) -> None:
    # R5.1: "record the visit" completes the plan with the follow-up
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "拜访计划客户")
    plan = services.plan_visit(
        actor=rep,
        customer=customer,
        data={"planned_at": ahead(hours=1), "purpose": "方案交流"},
    )
    followup = services.record_followup(
        actor=rep,
        customer=customer,
        data={"method": Method.VISIT, "content": "拜访完成"},
        plan=plan,
    )
    plan = reload(plan)
    assert plan.status == PlanStatus.DONE
    assert plan.followup_id == followup.pk
    assert plan.done_at == followup.happened_at
    assert Event.objects.filter(verb="visitplan.done", object_id=str(plan.pk)).count() == 1
    # a done plan cannot be recorded again, and nothing is written
    count = FollowUp.objects.count()
    with pytest.raises(InvalidTransition):
        services.record_followup(
            actor=rep,
            customer=customer,
            data={"method": Method.VISIT, "content": "再记一次"},
            plan=plan,
        )
    assert FollowUp.objects.count() == count


def test_a_plan_for_another_customer_is_refused(world: World) -> None:
    # R5.1: the follow-up and the plan must be about the same customer
    rep = fresh(world.users["rep_east"])
    planned_for = customer_of(rep, "计划里的客户")
    other = customer_of(rep, "另一个客户")
    plan = services.plan_visit(
        actor=rep, customer=planned_for, data={"planned_at": ahead(hours=3), "purpose": "拜访"}
    )
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(
            actor=rep, customer=other, data={"method": "visit", "content": "x"}, plan=plan
        )
    assert "plan" in exc.value.field_errors
    assert reload(plan).status == PlanStatus.PLANNED
    assert not FollowUp.objects.filter(customer=other).exists()


def test_a_manager_plans_for_a_team_member_and_marks_missed(world: World) -> None:
    # R5.1: the plan belongs to the member; missed and cancelled need a planned visit
    manager = fresh(world.users["manager1"])
    rep = world.users["rep_east"]
    customer = customer_of(rep, "经理安排拜访客户")
    plan = services.plan_visit(
        actor=manager,
        customer=customer,
        owner=fresh(rep),
        data={"planned_at": ahead(days=1), "purpose": "陪访"},
    )
    assert plan.owner_id == rep.pk
    services.set_plan_status(actor=fresh(rep), plan=plan, status=PlanStatus.MISSED, note="堵车")
    plan = reload(plan)
    assert (plan.status, plan.note) == (PlanStatus.MISSED, "堵车")
    with pytest.raises(InvalidTransition):
        services.set_plan_status(actor=fresh(rep), plan=plan, status=PlanStatus.CANCELLED)


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "call", "content": "x", "happened_at": ahead(hours=2)}, "happened_at"),
        (
            {
                "method": "call",
                "content": "x",
                "happened_at": ago(hours=1),
                "next_at": ago(hours=2),
            },
            "next_at",
        ),
        ({"method": "call", "content": "x", "latitude": "91"}, "latitude"),
        ({"method": "call", "content": "x", "longitude": "-180.5"}, "longitude"),
        ({"method": "call", "content": "x", "latitude": "北纬30度"}, "latitude"),
        ({"method": "call", "content": "  "}, "content"),
        ({"method": "call"}, "content"),
        ({"content": "没有方式"}, "method"),
        ({"method": "fax", "content": "传真"}, "method"),
        ({"method": "call", "content": "x", "next_at": "明天"}, "next_at"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    world: World, data: dict[str, Any], field: str
) -> None:
    # R5.3: future follow-ups, next before this one, bad coordinates, no content or method
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "校验客户")
    events = Event.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(actor=rep, customer=customer, data=data)
    assert field in exc.value.field_errors
    assert FollowUp.objects.count() == 0
    assert Event.objects.count() == events
    assert reload(customer).last_followup_at is None


def test_an_edit_cannot_put_the_next_date_before_the_followup(world: World) -> None:
    # R5.3: the same rule on edits; the follow-up stays as it was
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "编辑校验客户")
    followup = services.record_followup(
        actor=rep,
        customer=customer,
        data={"method": "call", "content": "x", "happened_at": ago(hours=1)},
    )
    with pytest.raises(ValidationFailed) as exc:
        services.update_followup(actor=rep, followup=followup, data={"next_at": ago(days=1)})
    assert "next_at" in exc.value.field_errors
    assert reload(followup).next_at is None
    assert reload(followup).version == 1


def test_links_to_another_customers_opportunity_or_contact_are_refused(world: World) -> None:
    # R5.3: the opportunity and the contact must belong to the follow-up's customer
    rep = fresh(world.users["rep_east"])
    mine = customer_of(rep, "本客户")
    other = customer_of(rep, "别的客户", contacts=[{"name": "别人的联系人"}])
    other_opportunity = opportunity_of(rep, other)
    other_contact = Contact.objects.get(customer=other)
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(
            actor=rep,
            customer=mine,
            opportunity=other_opportunity,
            contact=other_contact,
            data={"method": "call", "content": "张冠李戴"},
        )
    assert set(exc.value.field_errors) == {"opportunity", "contact"}
    assert FollowUp.objects.count() == 0
    assert reload(other_opportunity).last_followup_at is None


def test_an_out_of_scope_customer_or_colleague_is_refused(world: World) -> None:
    # R5.3 R1.3: a colleague's customer the rep cannot see, or an inactive collaborator
    rep = fresh(world.users["rep_east"])
    theirs = customer_of(world.users["rep_east2"], "同事的客户")
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(
            actor=rep, customer=theirs, data={"method": "call", "content": "越权"}
        )
    assert "customer" in exc.value.field_errors
    mine = customer_of(rep, "自己的客户")
    nobody = world.users["nobody"]
    User.objects.filter(pk=nobody.pk).update(is_active=False)
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(
            actor=rep,
            customer=mine,
            collaborator=reload(nobody),
            data={"method": "call", "content": "x"},
        )
    assert "collaborator" in exc.value.field_errors
    assert FollowUp.objects.count() == 0


def test_another_organisation_is_refused(world: World, other_world: World) -> None:
    # R1.1: another tenant can neither record on, edit nor delete our follow-ups
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "本公司客户")
    followup = services.record_followup(
        actor=rep, customer=customer, data={"method": "call", "content": "原文"}
    )
    intruder = fresh(other_world.admin)
    with pytest.raises(ValidationFailed) as exc:
        services.record_followup(
            actor=intruder, customer=customer, data={"method": "call", "content": "越权"}
        )
    assert "customer" in exc.value.field_errors
    with pytest.raises(NotFound):
        services.update_followup(actor=intruder, followup=followup, data={"content": "改掉"})
    with pytest.raises(NotFound):
        services.delete_followup(actor=intruder, followup=followup)
    plan = services.plan_visit(
        actor=rep, customer=customer, data={"planned_at": ahead(days=1), "purpose": "拜访"}
    )
    with pytest.raises(NotFound):
        services.set_plan_status(actor=intruder, plan=plan, status=PlanStatus.CANCELLED)
    assert reload(followup).content == "原文"
    assert reload(plan).status == PlanStatus.PLANNED
    assert FollowUp.objects.count() == 1


def test_an_out_of_scope_colleague_cannot_edit_or_delete(world: World) -> None:
    # R1.3: rep_east2 (own records only) gets "not found"; the manager of the tree may edit
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "范围测试客户")
    followup = services.record_followup(
        actor=rep, customer=customer, data={"method": "call", "content": "原文"}
    )
    colleague = fresh(world.users["rep_east2"])
    with pytest.raises(NotFound):
        services.update_followup(actor=colleague, followup=followup, data={"content": "改掉"})
    with pytest.raises(NotFound):
        services.delete_followup(actor=colleague, followup=followup)
    assert reload(followup).content == "原文"
    services.update_followup(
        actor=fresh(world.users["manager1"]), followup=followup, data={"content": "经理补充"}
    )
    assert reload(followup).content == "经理补充"


def test_no_permission_no_followup(world: World) -> None:
    # R1.2: someone without activities:create is refused before anything happens
    nobody = fresh(world.users["nobody"])
    customer = customer_of(world.users["rep_east"], "无权限客户")
    with pytest.raises(PermissionDenied):
        services.record_followup(
            actor=nobody, customer=customer, data={"method": "call", "content": "x"}
        )
    assert FollowUp.objects.count() == 0
    assert VisitPlan.objects.count() == 0
