"""The approval engine (R9.1): flows chosen by conditions, steps to a named person, the
submitter's manager or a role, any-one and all-of-them (会签) steps, rejection with a comment,
withdrawal and resubmission, one pending request per record, notifications to each next
approver and the submitter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crm.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.models import Notification
from crm.core.testing.world import World, make_role, make_user
from crm.customers.services import create_customer
from crm.org.models import User
from crm.sales import approvals
from crm.sales.choices import ApprovalStatus, ApprovalSubject, TaskStatus
from crm.sales.models import ApprovalFlow, ApprovalStep, ApprovalTask


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    monkeypatch.setitem(
        approvals.OUTCOMES,
        ApprovalSubject.RETURN,
        approvals.Outcomes(
            approved=lambda r, a: calls.append(("approved", r.pk)),
            rejected=lambda r, a: calls.append(("rejected", r.pk)),
            withdrawn=lambda r, a: calls.append(("withdrawn", r.pk)),
        ),
    )
    return calls


def flow(world: World, *steps: dict[str, Any], **conditions: Any) -> ApprovalFlow:
    f = ApprovalFlow.objects.create(
        org=world.org, name=f"流程{ApprovalFlow.objects.count()}", subject="return", **conditions
    )
    for i, step in enumerate(steps):
        ApprovalStep.objects.create(
            org=world.org, flow=f, sort_order=i, name=f"第{i + 1}步", **step
        )
    return f


@pytest.fixture
def record(world: World) -> Any:
    return create_customer(actor=fresh(world.users["rep_east"]), data={"name": "审批测试客户"})


def test_no_matching_flow_means_approved_at_once(world: World, record: Any) -> None:
    flow(world, {"approver_kind": "manager"}, min_amount=Decimal("10000"))
    rep = fresh(world.users["rep_east"])
    assert (
        approvals.submit(actor=rep, subject="return", obj=record, amount=Decimal("9999.99")) is None
    )


def test_flow_is_chosen_by_amount_and_discount(world: World) -> None:
    small = flow(world, {"approver_kind": "manager"}, max_amount=Decimal("10000"))
    big = flow(world, {"approver_kind": "manager"}, min_amount=Decimal("10000.01"))
    deep = flow(world, {"approver_kind": "manager"}, min_discount_percent=Decimal("20"))
    ApprovalFlow.objects.filter(pk=deep.pk).update(sort_order=0)
    ApprovalFlow.objects.filter(pk__in=[small.pk, big.pk]).update(sort_order=1)
    org = world.org.pk
    assert approvals.find_flow(org, "return", amount=Decimal("10000")) == small
    assert approvals.find_flow(org, "return", amount=Decimal("10000.01")) == big
    assert (
        approvals.find_flow(org, "return", amount=Decimal("5"), discount_percent=Decimal("25"))
        == deep
    )


def test_manager_step_then_all_of_a_role(world: World, record: Any, outcomes: list) -> None:
    # R9.1: step 1 the submitter's manager (department head), step 2 every finance person (会签)
    admin = world.admin
    finance_role = make_role(admin, "审批财务", "all", ["finance:view"])
    f1 = make_user(admin, "财务甲", world.depts["root"], [finance_role])
    f2 = make_user(admin, "财务乙", world.depts["root"], [finance_role])
    rep = fresh(world.users["rep_east"])
    User.objects.filter(pk=rep.pk).update(manager=world.users["dept_east"])
    rep = fresh(rep)
    flow(
        world,
        {"approver_kind": "manager"},
        {"approver_kind": "role", "role": finance_role, "mode": "all"},
    )
    request = approvals.submit(actor=rep, subject="return", obj=record, amount=Decimal("500"))
    assert request is not None
    boss = fresh(world.users["dept_east"])
    assert [t.request_id for t in approvals.my_pending_tasks(boss)] == [request.pk]
    assert not approvals.my_pending_tasks(f1).exists()  # waiting for step 1
    assert Notification.objects.filter(recipient=boss, verb="approval.requested").count() == 1
    with pytest.raises(PermissionDenied):
        approvals.approve(actor=fresh(f1), request=request)
    approvals.approve(actor=boss, request=request, comment="同意")
    assert {t.approver_id for t in approvals.my_pending_tasks(f1)} | {
        t.approver_id for t in approvals.my_pending_tasks(f2)
    } == {f1.pk, f2.pk}
    approvals.approve(actor=fresh(f1), request=request)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING and outcomes == []  # f2 still has to agree
    approvals.approve(actor=fresh(f2), request=request)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert outcomes == [("approved", request.pk)]
    assert Notification.objects.filter(recipient=rep, verb="approval.approved").count() == 1
    with pytest.raises(InvalidTransition):
        approvals.approve(actor=fresh(f2), request=request)


def test_any_one_of_a_role_is_enough(world: World, record: Any, outcomes: list) -> None:
    admin = world.admin
    role = make_role(admin, "任一审批", "all", ["sales:view"])
    a = make_user(admin, "审批甲", world.depts["root"], [role])
    b = make_user(admin, "审批乙", world.depts["root"], [role])
    flow(world, {"approver_kind": "role", "role": role, "mode": "any"})
    request = approvals.submit(actor=fresh(world.users["rep_east"]), subject="return", obj=record)
    assert request is not None
    approvals.approve(actor=fresh(b), request=request)
    assert outcomes == [("approved", request.pk)]
    assert ApprovalTask.objects.get(request=request, approver=a).status == TaskStatus.SKIPPED


def test_reject_needs_a_comment_and_resubmission_starts_over(
    world: World, record: Any, outcomes: list
) -> None:
    flow(world, {"approver_kind": "user", "user": world.users["director"]})
    rep = fresh(world.users["rep_east"])
    director = fresh(world.users["director"])
    request = approvals.submit(actor=rep, subject="return", obj=record)
    assert request is not None
    with pytest.raises(Conflict):  # one pending request per record
        approvals.submit(actor=rep, subject="return", obj=record)
    with pytest.raises(ValidationFailed):
        approvals.reject(actor=director, request=request, comment="  ")
    approvals.reject(actor=director, request=request, comment="金额不对")
    assert outcomes == [("rejected", request.pk)]
    note = Notification.objects.get(recipient=rep, verb="approval.rejected")
    assert "金额不对" in note.message
    again = approvals.submit(actor=rep, subject="return", obj=record)
    assert again is not None and again.pk != request.pk
    approvals.withdraw(actor=rep, request=again)
    assert outcomes[-1] == ("withdrawn", again.pk)
    with pytest.raises(InvalidTransition):
        approvals.withdraw(actor=rep, request=again)


def test_only_the_submitter_withdraws_and_other_tenants_cannot_decide(
    world: World, other_world: World, record: Any, outcomes: list
) -> None:
    flow(world, {"approver_kind": "user", "user": world.users["director"]})
    request = approvals.submit(actor=fresh(world.users["rep_east"]), subject="return", obj=record)
    assert request is not None
    with pytest.raises(PermissionDenied):
        approvals.withdraw(actor=fresh(world.users["rep_east2"]), request=request)
    with pytest.raises(PermissionDenied):
        approvals.approve(actor=fresh(other_world.users["director"]), request=request)
    assert outcomes == []


def test_a_flow_nobody_can_approve_is_refused_clearly(world: World, record: Any) -> None:
    flow(world, {"approver_kind": "manager"})
    from crm.org.models import Department

    lonely = fresh(world.users["director"])  # no manager, and no department head above
    User.objects.filter(pk=lonely.pk).update(manager=None)
    Department.objects.filter(org=world.org).update(head=None)
    with pytest.raises(ValidationFailed) as exc:
        approvals.submit(actor=fresh(lonely), subject="return", obj=record)
    assert "第1步" in str(exc.value.message)


def test_pending_approvals_show_in_my_day(
    world: World, record: Any, outcomes: list, client_for: Any
) -> None:
    # R9.1, R5.4: "waiting for my approval" is on the approver's My day, nobody else's
    flow(world, {"approver_kind": "user", "user": world.users["director"]})
    request = approvals.submit(actor=fresh(world.users["rep_east"]), subject="return", obj=record)
    assert request is not None
    page = client_for(world.users["director"]).get("/activities/my-day/").content.decode()
    assert 'id="my-day-approvals"' in page and "审批测试客户" in page
    other = client_for(world.users["rep_east2"]).get("/activities/my-day/").content.decode()
    assert "审批测试客户" not in other
