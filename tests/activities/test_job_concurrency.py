"""Jobs and edits under contention (R5.2, R4.7, R4.1; RELIABILITY jobs and concurrency gates):
several workers running the reminder job and the stalled detection at the same moment still give
exactly one reminder and one notification per due item, and of concurrent edits of one
opportunity at the same version exactly one is written. On SQLite and on PostgreSQL
(CRM_TEST_DB=postgres)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from crm.activities import reminders
from crm.activities import services as activity_services
from crm.activities.models import Reminder
from crm.core.errors import Conflict
from crm.core.models import Event, Notification
from crm.core.testing.world import build_world
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity, Stage

WORKERS = 6


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def run_at_once(fn: Any, n: int = WORKERS) -> list[Any]:
    barrier = threading.Barrier(n)

    def attempt(i: int) -> Any:
        try:
            barrier.wait()
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(attempt, range(n)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_reminder_jobs_send_each_reminder_once() -> None:
    world = build_world()
    rep = fresh(world.users["rep_east"])
    activity_services.install_default_rules(world.org)
    customers = [create_customer(actor=rep, data={"name": f"并发提醒客户{i}"}) for i in range(5)]
    for customer in customers:
        activity_services.record_followup(
            actor=rep,
            customer=customer,
            data={
                "method": "call",
                "content": "约了下次",
                "next_at": timezone.now() + timedelta(minutes=30),
            },
        )
    later = timezone.now() + timedelta(hours=1)
    sent = run_at_once(lambda _i: reminders.remind_org(world.org.pk, now=later))
    assert sum(sent) == len(customers), sent
    assert Reminder.objects.filter(kind="next_followup").count() == len(customers)
    assert Notification.objects.filter(verb="reminder.next_followup").count() == len(customers)
    # And again, sequentially: nothing new.
    assert reminders.remind_org(world.org.pk, now=later) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_stalled_detection_notifies_once() -> None:
    world = build_world()
    rep = fresh(world.users["rep_east"])
    customer = create_customer(actor=rep, data={"name": "并发停滞客户"})
    opp = opportunities.create_opportunity(actor=rep, customer=customer, data={"name": "停滞商机"})
    Stage.objects.filter(pk=opp.stage_id).update(max_days=3)
    opp = Opportunity.objects.get(pk=opp.pk)
    Opportunity.objects.filter(pk=opp.pk).update(
        stage_entered_at=timezone.now() - timedelta(days=5),
        stall_due_at=timezone.now() - timedelta(days=2),
    )
    flagged = run_at_once(lambda _i: opportunities.flag_stalled(world.org.pk))
    assert sum(flagged) == 1, flagged
    assert Event.objects.filter(verb="opportunity.stalled").count() == 1
    assert opportunities.flag_stalled(world.org.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_at_one_version_have_one_winner() -> None:
    world = build_world()
    rep = fresh(world.users["rep_east"])
    customer = create_customer(actor=rep, data={"name": "并发编辑客户"})
    opp = opportunities.create_opportunity(actor=rep, customer=customer, data={"name": "原名"})
    version = opp.version

    def edit(i: int) -> str:
        loaded = Opportunity.objects.get(pk=opp.pk)
        try:
            opportunities.update_opportunity(
                actor=fresh(rep), opportunity=loaded, data={"name": f"改名{i}"}, version=version
            )
            return f"改名{i}"
        except Conflict:
            return "conflict"

    outcomes = run_at_once(edit)
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1, outcomes
    final = Opportunity.objects.get(pk=opp.pk)
    assert (final.name, final.version) == (winners[0], version + 1)
    assert Event.objects.filter(verb="opportunity.updated", object_id=str(opp.pk)).count() == 1
