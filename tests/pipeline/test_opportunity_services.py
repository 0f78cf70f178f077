"""Opportunity services (``crm.pipeline.opportunities``, R4.1–R4.3, R4.7–R4.8): defaults, stage
history and days in stage, nodes, win/lose/abandon/reopen/pause/resume rules, the optimistic
lock, the customer's counters, lead conversion, customer merge, stalled detection, hand-over on
deactivation, and refusals of bad input that write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict
from crm.core.models import Event, Notification
from crm.core.testing.world import World, make_role, make_user
from crm.customers.models import Customer
from crm.customers.services import create_customer, merge_customers
from crm.leads import services as lead_services
from crm.org import services as org_services
from crm.org.models import User
from crm.pipeline import opportunities as svc
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, OpportunityLine, Pipeline, Stage, StageHistory
from tests.leads.conftest import grant_leads, new_lead
from tests.pipeline.conftest import b2b_pipeline, fresh, it_pipeline

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rep(world: World, key: str = "rep_east") -> User:
    return fresh(world.users[key])


def customer_of(
    world: World, key: str = "rep_east", name: str = "杭州海康科技有限公司", **kwargs: Any
) -> Customer:
    return create_customer(
        actor=rep(world, key),
        data={"name": name},
        contacts=[{"name": f"{name}联系人", "mobile": f"1380000{len(name):04d}"}],
        **kwargs,
    )


def new(world: World, customer: Customer, key: str = "rep_east", **kwargs: Any) -> Opportunity:
    data = kwargs.pop("data", {})
    data.setdefault("name", "智慧园区一期")
    return svc.create_opportunity(actor=rep(world, key), customer=customer, data=data, **kwargs)


def stages(pipeline: Pipeline, kind: str = StageKind.OPEN) -> list[Stage]:
    return list(
        Stage.objects.filter(pipeline=pipeline, parent=None, is_active=True, kind=kind).order_by(
            "sort_order", "pk"
        )
    )


def reload(opportunity: Opportunity) -> Opportunity:
    return Opportunity.objects.select_related("stage", "pipeline").get(pk=opportunity.pk)


def snapshot(opportunity: Opportunity) -> tuple[Any, ...]:
    return (
        Opportunity.objects.filter(pk=opportunity.pk).values().get(),
        list(OpportunityLine.objects.filter(opportunity=opportunity).values()),
        list(StageHistory.objects.filter(opportunity=opportunity).values()),
        Event.objects.count(),
    )


def approver(world: World) -> User:
    """A sales manager of 销售一部 (department tree) who may approve opportunities."""
    perms = [f"opportunities:{a}" for a in ("view", "create", "edit", "approve")]
    role = make_role(world.admin, "商机审批", "dept_tree", [*perms, "customers:view"])
    return make_user(world.admin, "一部商机经理", world.depts["sales1"], [role])


# --- create -------------------------------------------------------------------------------------
def test_create_takes_the_defaults(world: World) -> None:
    # R4.1: default pipeline, its first open stage, the stage's probability, weekly feedback
    customer = customer_of(world)
    opportunity = reload(new(world, customer))
    pipeline = it_pipeline(world.org)
    first = stages(pipeline)[0]
    assert (opportunity.pipeline_id, opportunity.stage_id, opportunity.node_id) == (
        pipeline.pk,
        first.pk,
        None,
    )
    assert opportunity.probability == first.default_probability
    assert opportunity.feedback_cycle == "7d"
    assert opportunity.status == OpportunityStatus.CONTINUE
    assert opportunity.owner_id == world.users["rep_east"].pk
    assert opportunity.expected_amount is None
    assert opportunity.feedback_due_at == opportunity.created_at + timedelta(days=7)
    assert opportunity.stall_due_at == opportunity.stage_entered_at + timedelta(
        days=first.max_days or 0
    )
    history = StageHistory.objects.get(opportunity=opportunity)
    assert (history.stage_id, history.left_at, history.person_id) == (
        first.pk,
        None,
        world.users["rep_east"].pk,
    )
    # a business type picks its pipeline
    product = reload(new(world, customer, data={"name": "标准产品", "business_type": "product"}))
    assert product.pipeline_id == b2b_pipeline(world.org).pk
    assert product.stage_id == stages(b2b_pipeline(world.org))[0].pk


def test_expected_amount_is_the_lines_total_rounded_half_up(world: World) -> None:
    # R4.1: line amount = quantity × unit price, half-up to the fen; the total is the default
    customer = customer_of(world)
    opportunity = new(
        world,
        customer,
        lines=[
            {"product": "hardware", "quantity": "0.5", "unit_price": "2.01"},  # 1.005 → 1.01
            {"product": "定制开发", "quantity": "3", "unit_price": "1,000"},
        ],
    )
    lines = list(OpportunityLine.objects.filter(opportunity=opportunity).order_by("sort_order"))
    assert [(li.product, li.quantity, li.unit_price, li.amount) for li in lines] == [
        ("hardware", Decimal("0.50"), Decimal("2.01"), Decimal("1.01")),
        ("定制开发", Decimal("3.00"), Decimal("1000.00"), Decimal("3000.00")),
    ]
    assert reload(opportunity).expected_amount == Decimal("3001.01")
    # a unit price is kept to the fen (half-up) before it is multiplied: 0.335 → 0.34, × 3
    second = new(
        world, customer, lines=[{"product": "hardware", "quantity": "3", "unit_price": "0.335"}]
    )
    assert reload(second).expected_amount == Decimal("1.02")
    # an expected amount typed by the user wins over the lines
    third = new(
        world,
        customer,
        data={"name": "有预计金额", "expected_amount": "8,000"},
        lines=[{"product": "hardware", "quantity": "1", "unit_price": "1"}],
    )
    assert reload(third).expected_amount == Decimal("8000.00")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"expected_amount": "abc"}, "expected_amount"),
        ({"expected_amount": "-1"}, "expected_amount"),
        ({"expected_amount": "1e400"}, "expected_amount"),
        ({"expected_amount": "NaN"}, "expected_amount"),
        ({"expected_close_date": "2026-13-01"}, "expected_close_date"),
        ({"expected_close_date": "明天"}, "expected_close_date"),
        ({"probability": 101}, "probability"),
        ({"probability": "-1"}, "probability"),
        ({"probability": "五十"}, "probability"),
        ({"source": "not-in-the-list"}, "source"),
        ({"name": ""}, "name"),
        ({"name": "名" * 201}, "name"),
    ],
)
def test_bad_input_is_refused_per_field_and_nothing_is_written(
    world: World, data: dict[str, Any], field: str
) -> None:
    # R4.1: bad amounts, dates, probabilities give field errors, never a crash
    customer = customer_of(world)
    events = Event.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        svc.create_opportunity(actor=rep(world), customer=customer, data={"name": "坏数据", **data})
    assert field in refused.value.field_errors
    assert Opportunity.objects.count() == 0 and Event.objects.count() == events
    # the same on an edit: nothing changes
    opportunity = new(world, customer)
    before = snapshot(opportunity)
    with pytest.raises(ValidationFailed) as refused:
        svc.update_opportunity(
            actor=rep(world),
            opportunity=reload(opportunity),
            data=data,
            version=opportunity.version,
        )
    assert field in refused.value.field_errors
    assert snapshot(opportunity) == before


@pytest.mark.parametrize(
    "line",
    [
        {"product": "", "quantity": "1", "unit_price": "1"},
        {"product": "hardware", "quantity": "0", "unit_price": "1"},
        {"product": "hardware", "quantity": "abc", "unit_price": "1"},
        {"product": "hardware", "quantity": "1e400", "unit_price": "1"},
        {"product": "hardware", "quantity": "1", "unit_price": "-1"},
        {"product": "hardware", "quantity": "1", "unit_price": "1e400"},
    ],
)
def test_bad_lines_are_refused_and_nothing_is_half_written(
    world: World, line: dict[str, str]
) -> None:
    # R4.1: a bad product line refuses the whole save
    customer = customer_of(world)
    with pytest.raises(ValidationFailed) as refused:
        new(world, customer, lines=[{"product": "ok", "quantity": "1", "unit_price": "1"}, line])
    assert list(refused.value.field_errors) == ["lines"]
    assert Opportunity.objects.count() == 0 and OpportunityLine.objects.count() == 0
    opportunity = new(
        world, customer, lines=[{"product": "ok", "quantity": "2", "unit_price": "5"}]
    )
    before = snapshot(opportunity)
    with pytest.raises(ValidationFailed):
        svc.update_opportunity(
            actor=rep(world),
            opportunity=reload(opportunity),
            data={"name": "新名字"},
            lines=[line],
            version=opportunity.version,
        )
    assert snapshot(opportunity) == before


# --- stages, nodes, history --------------------------------------------------------------------
def test_stage_history_and_days_in_stage_are_exact(world: World) -> None:
    # R4.2 R4.3: each move closes the open history row and opens the next; days are exact
    customer = customer_of(world)
    with time_machine.travel(T0, tick=False):
        opportunity = new(world, customer)
    open_ = stages(opportunity.pipeline)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        svc.move_stage(
            actor=rep(world), opportunity=reload(opportunity), stage=open_[1], note="需求明确"
        )
    with time_machine.travel(T0 + timedelta(days=10, hours=5), tick=False):
        svc.move_stage(actor=rep(world), opportunity=reload(opportunity), stage=open_[2])
    rows = list(StageHistory.objects.filter(opportunity=opportunity).order_by("entered_at"))
    assert [(r.stage_id, r.entered_at, r.left_at) for r in rows] == [
        (open_[0].pk, T0, T0 + timedelta(days=3)),
        (open_[1].pk, T0 + timedelta(days=3), T0 + timedelta(days=10, hours=5)),
        (open_[2].pk, T0 + timedelta(days=10, hours=5), None),
    ]
    assert rows[1].note == "需求明确"
    with time_machine.travel(T0 + timedelta(days=13), tick=False):
        assert [r.days for r in StageHistory.objects.filter(opportunity=opportunity)] == [3, 7, 2]
    current = reload(opportunity)
    assert current.stage_entered_at == T0 + timedelta(days=10, hours=5)
    assert current.probability == open_[2].default_probability
    assert current.stall_due_at == current.stage_entered_at + timedelta(days=open_[2].max_days or 0)


def test_node_moves_keep_the_days_in_stage(world: World) -> None:
    # R4.3: a node of the current stage is a sub-step: history row, same stage entry
    customer = customer_of(world)
    pipeline = it_pipeline(world.org)
    stage = next(s for s in stages(pipeline) if Stage.objects.filter(parent=s).count() >= 2)
    nodes = list(Stage.objects.filter(parent=stage).order_by("sort_order"))
    with time_machine.travel(T0, tick=False):
        opportunity = new(world, customer, stage=stage, node=nodes[0])
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        moved = svc.move_stage(
            actor=rep(world), opportunity=reload(opportunity), stage=stage, node=nodes[1]
        )
    assert (moved.stage_id, moved.node_id, moved.stage_entered_at) == (stage.pk, nodes[1].pk, T0)
    rows = list(StageHistory.objects.filter(opportunity=opportunity).order_by("entered_at"))
    assert [(r.node_id, r.left_at) for r in rows] == [
        (nodes[0].pk, T0 + timedelta(days=2)),
        (nodes[1].pk, None),
    ]
    assert Event.objects.filter(
        object_id=str(opportunity.pk), verb="opportunity.node_changed"
    ).exists()
    # a node of another stage, a closing stage, another pipeline's stage: refused
    other = next(s for s in stages(pipeline) if s.pk != stage.pk)
    for kwargs, field in (
        ({"stage": other, "node": nodes[0]}, "node"),
        ({"stage": stages(pipeline, StageKind.WON)[0]}, "stage"),
        ({"stage": stages(pipeline, StageKind.LOST)[0]}, "stage"),
        ({"stage": stages(b2b_pipeline(world.org))[1]}, "stage"),
    ):
        before = snapshot(opportunity)
        with pytest.raises(ValidationFailed) as refused:
            svc.move_stage(actor=rep(world), opportunity=reload(opportunity), **kwargs)
        assert field in refused.value.field_errors
        assert snapshot(opportunity) == before


# --- closing and reopening --------------------------------------------------------------------
def test_win_needs_the_actual_date_and_amount(world: World) -> None:
    # R4.8: won needs both; the opportunity moves to the won stage at 100 %
    customer = customer_of(world)
    opportunity = new(world, customer)
    before = snapshot(opportunity)
    for amount, day, fields in (
        ("", "2026-05-20", ["actual_amount"]),
        ("1000", "", ["actual_close_date"]),
        ("", "", ["actual_amount", "actual_close_date"]),
        ("abc", "2026-13-01", ["actual_amount", "actual_close_date"]),
        ("-5", "2026-05-20", ["actual_amount"]),
    ):
        with pytest.raises(ValidationFailed) as refused:
            svc.win_opportunity(
                actor=rep(world),
                opportunity=reload(opportunity),
                actual_amount=amount,
                actual_close_date=day,
            )
        assert sorted(refused.value.field_errors) == fields
        assert snapshot(opportunity) == before
    won = svc.win_opportunity(
        actor=rep(world),
        opportunity=reload(opportunity),
        actual_amount="98,000.505",
        actual_close_date="2026-05-20",
    )
    won = reload(won)
    assert (won.status, won.probability, won.actual_amount, str(won.actual_close_date)) == (
        OpportunityStatus.WON,
        100,
        Decimal("98000.51"),
        "2026-05-20",
    )
    assert won.stage.kind == StageKind.WON and won.closed_at is not None
    assert (won.feedback_due_at, won.stall_due_at) == (None, None)
    with pytest.raises(InvalidTransition):
        svc.win_opportunity(
            actor=rep(world), opportunity=won, actual_amount="1", actual_close_date="2026-05-21"
        )


def test_lose_and_abandon_need_a_reason_from_the_list(world: World) -> None:
    # R4.8: the loss reason comes from the loss_reason list; lessons learnt are kept
    customer = customer_of(world)
    lost = new(world, customer)
    abandoned = new(world, customer, data={"name": "放弃的"})
    for opportunity, close in (
        (lost, svc.lose_opportunity),
        (abandoned, svc.abandon_opportunity),
    ):
        before = snapshot(opportunity)
        for reason in ("", "   ", "not-in-the-list"):
            with pytest.raises(ValidationFailed) as refused:
                close(actor=rep(world), opportunity=reload(opportunity), reason=reason)
            assert list(refused.value.field_errors) == ["loss_reason"]
            assert snapshot(opportunity) == before
    svc.lose_opportunity(
        actor=rep(world), opportunity=reload(lost), reason="price", note="报价高于对手"
    )
    lost = reload(lost)
    assert (lost.status, lost.loss_reason, lost.loss_note, lost.probability) == (
        OpportunityStatus.LOST,
        "price",
        "报价高于对手",
        0,
    )
    assert lost.stage.kind == StageKind.LOST
    stage_before = reload(abandoned).stage_id
    svc.abandon_opportunity(
        actor=rep(world), opportunity=reload(abandoned), reason="no_budget", note="预算砍掉"
    )
    abandoned = reload(abandoned)
    assert (abandoned.status, abandoned.loss_reason, abandoned.stage_id) == (
        OpportunityStatus.ABANDONED,
        "no_budget",
        stage_before,
    )
    assert not StageHistory.objects.filter(opportunity=abandoned, left_at__isnull=True).exists()


def test_only_a_manager_reopens(world: World) -> None:
    # R4.8: reopening needs opportunities:approve (the world's roles have no approve)
    customer = customer_of(world)
    opportunity = new(world, customer)
    open_ = stages(opportunity.pipeline)
    svc.move_stage(actor=rep(world), opportunity=reload(opportunity), stage=open_[2])
    svc.lose_opportunity(actor=rep(world), opportunity=reload(opportunity), reason="price")
    before = snapshot(opportunity)
    for key in ("rep_east", "manager1", "director"):
        with pytest.raises(PermissionDenied):
            svc.reopen_opportunity(actor=rep(world, key), opportunity=reload(opportunity))
        assert snapshot(opportunity) == before
    assert not svc.can_reopen(rep(world)) and not svc.can_reopen(rep(world, "manager1"))
    manager = approver(world)
    assert svc.can_reopen(manager)
    reopened = reload(svc.reopen_opportunity(actor=manager, opportunity=reload(opportunity)))
    assert (reopened.status, reopened.stage_id, reopened.loss_reason) == (
        OpportunityStatus.CONTINUE,
        open_[2].pk,  # the last open stage it was in
        "",
    )
    assert reopened.probability == open_[2].default_probability
    assert reopened.actual_close_date is None and reopened.closed_at is None
    with pytest.raises(InvalidTransition):
        svc.reopen_opportunity(actor=manager, opportunity=reopened)
    # out of the manager's department tree: not found
    other = new(world, customer_of(world, "rep_sales2", "二部客户"), key="rep_sales2")
    svc.abandon_opportunity(
        actor=rep(world, "rep_sales2"), opportunity=reload(other), reason="price"
    )
    from crm.core.errors import NotFound

    with pytest.raises(NotFound):
        svc.reopen_opportunity(actor=manager, opportunity=reload(other))


def test_pause_and_resume(world: World) -> None:
    # R4.7: a paused opportunity is neither overdue nor stalled; only continue ↔ pause
    customer = customer_of(world)
    with time_machine.travel(T0, tick=False):
        opportunity = new(world, customer)
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        paused = reload(svc.pause_opportunity(actor=rep(world), opportunity=reload(opportunity)))
    assert paused.status == OpportunityStatus.PAUSE
    assert (paused.feedback_due_at, paused.stall_due_at) == (None, None)
    with pytest.raises(InvalidTransition):
        svc.pause_opportunity(actor=rep(world), opportunity=paused)
    with time_machine.travel(T0 + timedelta(days=100), tick=False):
        assert svc.flag_stalled(world.org.pk) == 0
        resumed = reload(svc.resume_opportunity(actor=rep(world), opportunity=paused))
    assert resumed.status == OpportunityStatus.CONTINUE
    assert resumed.feedback_due_at == T0 + timedelta(days=107)  # the cycle counts from now
    with pytest.raises(InvalidTransition):
        svc.resume_opportunity(actor=rep(world), opportunity=resumed)
    svc.win_opportunity(
        actor=rep(world), opportunity=resumed, actual_amount="1", actual_close_date="2026-06-01"
    )
    with pytest.raises(InvalidTransition):
        svc.pause_opportunity(actor=rep(world), opportunity=reload(opportunity))


def test_key_flag_collaborators_and_transfer(world: World) -> None:
    # R4.1 R4.2: key flag, collaborators see it, transfer needs the permission
    customer = customer_of(world)
    opportunity = new(world, customer)
    svc.set_key(actor=rep(world), opportunity=reload(opportunity), is_key=True)
    assert reload(opportunity).is_key
    colleague = rep(world, "rep_east2")
    assert not Opportunity.objects.visible_to(colleague).filter(pk=opportunity.pk).exists()
    svc.set_collaborators(actor=rep(world), opportunity=reload(opportunity), users=[colleague])
    assert Opportunity.objects.visible_to(fresh(colleague)).filter(pk=opportunity.pk).exists()
    with pytest.raises(PermissionDenied):
        svc.transfer_opportunities(
            actor=rep(world), opportunities=[reload(opportunity)], to_user=colleague
        )
    manager = approver(world)
    transfer_role = make_role(world.admin, "商机转移", "dept_tree", ["opportunities:transfer"])
    org_services.update_user(
        actor=world.admin, user=manager, roles=[*manager.roles.all(), transfer_role]
    )
    moved = svc.transfer_opportunities(
        actor=fresh(manager), opportunities=[reload(opportunity)], to_user=colleague
    )
    assert moved == 1 and reload(opportunity).owner_id == colleague.pk


# --- optimistic lock ------------------------------------------------------------------------------
def test_a_stale_edit_is_refused_with_what_changed(world: World) -> None:
    # R4.1: two editors read the same version; the second save names the first one's change
    customer = customer_of(world)
    opportunity = new(world, customer, lines=[{"product": "a", "quantity": "1", "unit_price": "1"}])
    first, second = reload(opportunity), reload(opportunity)
    version = first.version
    manager = rep(world, "manager1")
    svc.update_opportunity(
        actor=manager, opportunity=first, data={"name": "经理改的名字"}, version=version
    )
    before = snapshot(opportunity)
    with pytest.raises(EditConflict) as conflict:
        svc.update_opportunity(
            actor=rep(world),
            opportunity=second,
            data={"notes": "我的备注", "expected_amount": "5"},
            lines=[{"product": "b", "quantity": "9", "unit_price": "9"}],
            collaborators=[rep(world, "rep_east2")],
            version=version,
        )
    errors = conflict.value.field_errors
    assert list(errors) == ["name"]
    assert "一部经理" in errors["name"][0] and "智慧园区一期 → 经理改的名字" in errors["name"][0]
    assert conflict.value.current_version == version + 1
    assert snapshot(opportunity) == before
    after = reload(opportunity)
    assert (after.name, after.notes, after.version) == ("经理改的名字", "", version + 1)
    # a stage move with the stale version is refused too
    with pytest.raises(EditConflict):
        svc.move_stage(
            actor=rep(world),
            opportunity=reload(opportunity),
            stage=stages(opportunity.pipeline)[1],
            version=version,
        )
    assert snapshot(opportunity) == before


# --- the customer's counters, conversion, merge ---------------------------------------------------
def test_customer_counters_follow_every_status(world: World) -> None:
    # R4.8 R3.3: open_opportunities and last_won_at of the customer
    customer = customer_of(world)
    a = new(world, customer, data={"name": "A"})
    b = new(world, customer, data={"name": "B"})

    def counters() -> tuple[int, Any]:
        c = Customer.objects.get(pk=customer.pk)
        return c.open_opportunities, c.last_won_at

    assert counters() == (2, None)
    svc.pause_opportunity(actor=rep(world), opportunity=reload(a))
    assert counters() == (2, None)  # paused is still open
    with time_machine.travel(T0, tick=False):
        svc.win_opportunity(
            actor=rep(world),
            opportunity=reload(a),
            actual_amount="10",
            actual_close_date="2026-03-02",
        )
    assert counters() == (1, T0)
    svc.lose_opportunity(actor=rep(world), opportunity=reload(b), reason="price")
    assert counters() == (0, T0)
    svc.reopen_opportunity(actor=approver(world), opportunity=reload(b))
    assert counters() == (1, T0)
    svc.delete_opportunity(actor=rep(world), opportunity=reload(b))
    assert counters() == (0, T0)
    svc.delete_opportunity(actor=rep(world), opportunity=reload(a))
    assert counters() == (0, None)


def test_lead_conversion_can_create_an_opportunity(world: World) -> None:
    # R2.3 R4.1: converting with create_opportunity makes one for the new customer
    grant_leads(world)
    owner = rep(world)
    lead = new_lead(
        owner, owner=owner, company="宁波海天塑机有限公司", contact_name="李工", source="exhibition"
    )
    lead = lead_services.mark_qualified(actor=fresh(owner), lead=lead)
    lead = lead_services.convert_lead(actor=fresh(owner), lead=lead, create_opportunity=True)
    opportunity = Opportunity.objects.get()
    assert opportunity.customer_id == lead.converted_customer_id
    assert opportunity.contact_id == lead.converted_contact_id
    assert (opportunity.lead_id, opportunity.owner_id, opportunity.source) == (
        lead.pk,
        owner.pk,
        "exhibition",
    )
    assert opportunity.stage_id == stages(it_pipeline(world.org))[0].pk
    assert Customer.objects.get(pk=lead.converted_customer_id).open_opportunities == 1


def test_merging_customers_moves_their_opportunities(world: World) -> None:
    # R3.5 R4.1: the source's opportunities belong to the kept customer afterwards
    source = customer_of(world, name="海康威视（重复）")
    target = customer_of(world, name="海康威视", allow_duplicate=True)
    moved = new(world, source, data={"name": "随客户合并"})
    kept = new(world, target, data={"name": "原有商机"})
    merge_customers(actor=rep(world), source=source, target=target)
    assert reload(moved).customer_id == target.pk and reload(kept).customer_id == target.pk
    assert Customer.objects.get(pk=target.pk).open_opportunities == 2
    assert Customer.objects.get(pk=source.pk).open_opportunities == 0


# --- stalled detection, hand-over ----------------------------------------------------------------
def test_stalled_opportunities_notify_the_managers_once_per_stay(world: World) -> None:
    # R4.7: past the stage's day limit the owner's manager is told once; a new stage may again
    owner = world.users["rep_east"]
    manager = world.users["manager1"]
    User.objects.filter(pk=owner.pk).update(manager=manager)
    customer = customer_of(world)
    with time_machine.travel(T0, tick=False):
        opportunity = new(world, customer)
    first = stages(opportunity.pipeline)[0]
    assert first.max_days
    limit = T0 + timedelta(days=first.max_days)

    def to_manager() -> int:
        return Notification.objects.filter(
            recipient=manager, verb="opportunity.stalled", target_id=str(opportunity.pk)
        ).count()

    with time_machine.travel(limit - timedelta(minutes=1), tick=False):
        assert svc.flag_stalled(world.org.pk) == 0
    with time_machine.travel(limit + timedelta(minutes=1), tick=False):
        assert svc.flag_stalled(world.org.pk) == 1
        assert svc.flag_stalled(world.org.pk) == 0  # twice: still one notification
    assert to_manager() == 1
    assert Notification.objects.filter(recipient=owner, verb="opportunity.stalled").count() == 1
    second = stages(opportunity.pipeline)[1]
    entered = limit + timedelta(days=1)
    with time_machine.travel(entered, tick=False):
        svc.move_stage(actor=rep(world), opportunity=reload(opportunity), stage=second)
        assert svc.flag_stalled(world.org.pk) == 0
    with time_machine.travel(entered + timedelta(days=second.max_days or 0, hours=1), tick=False):
        assert svc.flag_stalled(world.org.pk) == 1
        assert svc.flag_stalled(world.org.pk) == 0
    assert to_manager() == 2


def test_deactivation_hands_the_opportunities_over(world: World) -> None:
    # R1.4 R4.1: a deactivated rep's opportunities go to the colleague taking over
    customer = customer_of(world)
    a = new(world, customer, data={"name": "A"})
    b = new(world, customer, data={"name": "B"})
    svc.win_opportunity(
        actor=rep(world), opportunity=reload(b), actual_amount="1", actual_close_date="2026-01-01"
    )
    heir = world.users["rep_east2"]
    moved = org_services.deactivate_user(
        actor=world.admin, user=world.users["rep_east"], transfer_to=heir
    )
    assert moved["opportunities"] == 2
    assert {reload(a).owner_id, reload(b).owner_id} == {heir.pk}
    assert Opportunity.objects.visible_to(fresh(heir)).filter(pk__in=[a.pk, b.pk]).count() == 2
