"""The reminder job (R5.2, ``crm.activities.reminders.remind_org``): each rule kind fires exactly
once per due moment however often (and with whichever ``now``) the job runs, never for paused or
closed opportunities or cancelled visits; ``notify_manager`` adds the owner's manager; moments
older than LOOKBACK are skipped; e-mails go out only when the rule says so and the person has an
address."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from crm.activities import reminders, services
from crm.activities.choices import PlanStatus, ReminderKind
from crm.activities.models import Reminder, ReminderRule
from crm.core.models import Notification
from crm.core.testing.world import World
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import Opportunity

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def only_rule(world: World, kind: str, offsets: list[int], **flags: Any) -> ReminderRule:
    """Replace the organisation's default rules by one rule of ``kind``."""
    ReminderRule.objects.filter(org=world.org).delete()
    return services.save_rule(
        actor=fresh(world.admin),
        data={
            "kind": kind,
            "name": f"测试规则 {kind}",
            "offsets": offsets,
            "notify_manager": flags.get("notify_manager", False),
            "send_email": flags.get("send_email", False),
            "is_active": True,
        },
    )


def with_manager(world: World) -> tuple[User, User]:
    """rep_east reports to manager1."""
    rep, manager = world.users["rep_east"], world.users["manager1"]
    User.objects.filter(pk=rep.pk).update(manager=manager)
    return fresh(rep), fresh(manager)


def customer_of(user: User, name: str) -> Customer:
    return create_customer(actor=fresh(user), data={"name": name})


def opportunity_of(user: User, name: str) -> Opportunity:
    customer = customer_of(user, f"{name}客户")
    return opportunities.create_opportunity(
        actor=fresh(user), customer=customer, data={"name": name}
    )


def run(world: World, now: datetime) -> int:
    return reminders.remind_org(world.org.pk, now=now)


def recipients(kind: str) -> list[tuple[int, datetime]]:
    return sorted(Reminder.objects.filter(kind=kind).values_list("recipient_id", "due_at"))


# --- new opportunity without a follow-up ----------------------------------------------------------
def test_new_opportunity_reminders_fire_once_per_offset(world: World) -> None:
    # R5.2: day 1 to the owner, day 3 (the last offset) to the owner and the manager; repeated
    # runs with the same or a later "now" send nothing more
    rule = only_rule(world, ReminderKind.NEW_OPPORTUNITY, [1, 3], notify_manager=True)
    rep, manager = with_manager(world)
    opp = opportunity_of(rep, "新商机提醒")
    created = opp.created_at
    day1 = created + timedelta(days=1) + MINUTE
    assert run(world, day1) == 1
    assert run(world, day1) == 0
    assert run(world, day1 + timedelta(hours=5)) == 0
    assert recipients(ReminderKind.NEW_OPPORTUNITY) == [(rep.pk, created + timedelta(days=1))]
    day3 = created + timedelta(days=3) + MINUTE
    assert run(world, day3) == 2
    assert run(world, day3) == 0
    assert recipients(ReminderKind.NEW_OPPORTUNITY) == sorted(
        [
            (rep.pk, created + timedelta(days=1)),
            (rep.pk, created + timedelta(days=3)),
            (manager.pk, created + timedelta(days=3)),
        ]
    )
    reminder = Reminder.objects.filter(recipient=rep).first()
    assert reminder is not None and reminder.rule_id == rule.pk
    assert reminder.target_type == "pipeline.opportunity"
    assert reminder.target_id == str(opp.pk)
    assert "新商机提醒" in reminder.message
    assert Notification.objects.filter(verb="reminder.new_opportunity").count() == 3


def test_no_new_opportunity_reminder_after_a_followup_or_when_paused_or_closed(
    world: World,
) -> None:
    # R5.2: followed-up, paused and won opportunities are not "without a follow-up"
    only_rule(world, ReminderKind.NEW_OPPORTUNITY, [1])
    rep = fresh(world.users["rep_east"])
    followed = opportunity_of(rep, "已跟进商机")
    services.record_followup(
        actor=rep,
        customer=followed.customer,
        opportunity=followed,
        data={"method": "call", "content": "已联系"},
    )
    paused = opportunity_of(rep, "暂停商机")
    opportunities.pause_opportunity(actor=rep, opportunity=paused)
    won = opportunity_of(rep, "赢单商机")
    opportunities.win_opportunity(
        actor=rep,
        opportunity=won,
        actual_amount="1000",
        actual_close_date=timezone.localdate().isoformat(),
    )
    now = max(o.created_at for o in (followed, paused, won)) + timedelta(days=1) + MINUTE
    assert run(world, now) == 0
    assert Reminder.objects.count() == 0


# --- next follow-up due ---------------------------------------------------------------------------
def test_next_followup_reminders_go_to_owner_and_collaborator_once(world: World) -> None:
    # R5.2: 2 hours before and at the due time, each once, to the rep and the collaborator
    only_rule(world, ReminderKind.NEXT_FOLLOWUP, [0, 2])
    rep, colleague = fresh(world.users["rep_east"]), fresh(world.users["rep_east2"])
    customer = customer_of(rep, "下次跟进客户")
    due = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    services.record_followup(
        actor=rep,
        customer=customer,
        collaborator=colleague,
        data={"method": "call", "content": "约好明天回电", "next_at": due, "next_content": "回电"},
    )
    early = due - timedelta(hours=2) + MINUTE
    assert run(world, early) == 2
    assert run(world, early) == 0
    assert run(world, due + MINUTE) == 2
    assert run(world, due + MINUTE) == 0
    assert run(world, due + timedelta(hours=3)) == 0
    assert recipients(ReminderKind.NEXT_FOLLOWUP) == sorted(
        [
            (rep.pk, due - timedelta(hours=2)),
            (rep.pk, due),
            (colleague.pk, due - timedelta(hours=2)),
            (colleague.pk, due),
        ]
    )


def test_a_superseded_next_followup_is_not_reminded(world: World) -> None:
    # R5.2: a later follow-up of the customer replaces the earlier one's next date
    only_rule(world, ReminderKind.NEXT_FOLLOWUP, [0])
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "被取代客户")
    due = (timezone.now() + timedelta(hours=6)).replace(microsecond=0)
    services.record_followup(
        actor=rep,
        customer=customer,
        data={
            "method": "call",
            "content": "第一次",
            "happened_at": timezone.now() - timedelta(hours=2),
            "next_at": due,
        },
    )
    services.record_followup(actor=rep, customer=customer, data={"method": "call", "content": "x"})
    assert run(world, due + MINUTE) == 0


# --- planned visits -------------------------------------------------------------------------------
def test_visit_plan_reminders_fire_once_and_not_for_cancelled_plans(world: World) -> None:
    # R5.2: N hours before a planned visit, once; a cancelled visit is not reminded
    only_rule(world, ReminderKind.VISIT_PLAN, [2])
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "拜访提醒客户")
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    plan = services.plan_visit(
        actor=rep, customer=customer, data={"planned_at": at, "purpose": "签约"}
    )
    cancelled = services.plan_visit(
        actor=rep, customer=customer, data={"planned_at": at, "purpose": "取消的"}
    )
    services.set_plan_status(actor=rep, plan=cancelled, status=PlanStatus.CANCELLED)
    now = at - timedelta(hours=2) + MINUTE
    assert run(world, now) == 1
    assert run(world, now) == 0
    assert run(world, now + timedelta(hours=1)) == 0
    reminder = Reminder.objects.get()
    assert (reminder.recipient_id, reminder.target_id) == (rep.pk, str(plan.pk))
    assert reminder.due_at == at - timedelta(hours=2)


# --- feedback overdue -----------------------------------------------------------------------------
def test_feedback_overdue_tells_owner_and_manager_once_but_not_for_paused_or_closed(
    world: World,
) -> None:
    # R5.2 R4.6: the owner and (notify_manager) the manager; paused and lost ones are skipped
    only_rule(world, ReminderKind.FEEDBACK_OVERDUE, [0], notify_manager=True)
    rep, manager = with_manager(world)
    due = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    overdue = opportunity_of(rep, "反馈超期商机")
    paused = opportunity_of(rep, "暂停的超期商机")
    lost = opportunity_of(rep, "输单的超期商机")
    opportunities.pause_opportunity(actor=rep, opportunity=paused)
    opportunities.lose_opportunity(actor=rep, opportunity=lost, reason="price")
    Opportunity.objects.filter(pk__in=[overdue.pk, paused.pk, lost.pk]).update(feedback_due_at=due)
    now = timezone.now()
    assert run(world, now) == 2
    assert run(world, now) == 0
    assert run(world, now + timedelta(hours=3)) == 0
    assert recipients(ReminderKind.FEEDBACK_OVERDUE) == sorted([(rep.pk, due), (manager.pk, due)])
    assert set(Reminder.objects.values_list("target_id", flat=True)) == {str(overdue.pk)}
    assert Opportunity.objects.get(pk=paused.pk).status == OpportunityStatus.PAUSE


def test_without_notify_manager_only_the_owner_hears(world: World) -> None:
    # R5.2: notify_manager off → the manager gets nothing
    only_rule(world, ReminderKind.FEEDBACK_OVERDUE, [0], notify_manager=False)
    rep, manager = with_manager(world)
    opp = opportunity_of(rep, "只提醒本人")
    due = (timezone.now() - timedelta(minutes=30)).replace(microsecond=0)
    Opportunity.objects.filter(pk=opp.pk).update(feedback_due_at=due)
    assert run(world, timezone.now()) == 1
    assert not Reminder.objects.filter(recipient=manager).exists()


# --- stale moments and inactive rules -------------------------------------------------------------
def test_moments_older_than_the_lookback_are_skipped(world: World) -> None:
    # R5.2: after an outage (or a new rule) old moments are not sent late
    only_rule(world, ReminderKind.VISIT_PLAN, [0])
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "过期提醒客户")
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    services.plan_visit(actor=rep, customer=customer, data={"planned_at": at, "purpose": "拜访"})
    assert run(world, at + reminders.LOOKBACK + timedelta(minutes=5)) == 0
    assert run(world, at + reminders.LOOKBACK - timedelta(minutes=5)) == 1
    assert Reminder.objects.count() == 1


def test_an_inactive_rule_sends_nothing(world: World) -> None:
    # R5.2: switching a rule off stops it
    rule = only_rule(world, ReminderKind.VISIT_PLAN, [0])
    ReminderRule.objects.filter(pk=rule.pk).update(is_active=False)
    rep = fresh(world.users["rep_east"])
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    services.plan_visit(
        actor=rep,
        customer=customer_of(rep, "停用规则客户"),
        data={"planned_at": at, "purpose": "x"},
    )
    assert run(world, at + MINUTE) == 0


def test_reminders_of_one_organisation_stay_there(world: World, other_world: World) -> None:
    # R1.1: the job of one organisation never touches another's records
    only_rule(world, ReminderKind.VISIT_PLAN, [0])
    ReminderRule.objects.filter(org=other_world.org).delete()
    rep = fresh(other_world.users["rep_east"])
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    services.plan_visit(
        actor=rep, customer=customer_of(rep, "别家的客户"), data={"planned_at": at, "purpose": "x"}
    )
    assert run(world, at + MINUTE) == 0
    assert reminders.remind_org(other_world.org.pk, now=at + MINUTE) == 0


# --- e-mail ---------------------------------------------------------------------------------------
def _plan_due(world: World, user: User, name: str) -> datetime:
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    services.plan_visit(
        actor=fresh(user), customer=customer_of(user, name), data={"planned_at": at, "purpose": "x"}
    )
    return at


def test_an_email_goes_out_when_the_rule_says_so(world: World) -> None:
    # R5.2: send_email and an address → one mail per new reminder, none on repeated runs
    only_rule(world, ReminderKind.VISIT_PLAN, [0], send_email=True)
    rep = fresh(world.users["rep_east"])
    at = _plan_due(world, rep, "邮件提醒客户")
    mail.outbox.clear()
    assert run(world, at + MINUTE) == 1
    assert run(world, at + MINUTE) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [rep.email]
    assert "邮件提醒客户" in mail.outbox[0].body


def test_no_email_without_send_email_or_without_an_address(world: World) -> None:
    # R5.2: the in-app reminder is still written
    only_rule(world, ReminderKind.VISIT_PLAN, [0], send_email=False)
    rep = fresh(world.users["rep_east"])
    at = _plan_due(world, rep, "不发邮件客户")
    mail.outbox.clear()
    assert run(world, at + MINUTE) == 1
    assert mail.outbox == []

    only_rule(world, ReminderKind.VISIT_PLAN, [0], send_email=True)
    other = world.users["rep_east2"]
    User.objects.filter(pk=other.pk).update(email="")
    at2 = _plan_due(world, other, "没有邮箱的客户")
    assert run(world, at2 + MINUTE) == 1
    assert mail.outbox == []
    assert Reminder.objects.filter(recipient=other).count() == 1


# --- mark done ------------------------------------------------------------------------------------
def test_only_the_recipient_marks_a_reminder_done(world: World) -> None:
    # R5.2: someone else's "done" changes nothing
    only_rule(world, ReminderKind.VISIT_PLAN, [0])
    rep = fresh(world.users["rep_east"])
    at = _plan_due(world, rep, "完成提醒客户")
    run(world, at + MINUTE)
    reminder = Reminder.objects.get()
    reminders.mark_done(actor=fresh(world.users["manager1"]), reminder=reminder)
    assert Reminder.objects.get().done_at is None
    reminders.mark_done(actor=rep, reminder=reminder)
    assert Reminder.objects.get().done_at is not None
