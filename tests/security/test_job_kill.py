"""Periodic jobs under several processes, one killed mid-run (RELIABILITY J1/J2, release gate
10): four processes run the public-pool sweep (and the reminder job) for one organisation at the
same instant, one of them is killed with SIGKILL at a random moment, and a later run finishes
the work. Every due customer is returned exactly once — one return move, one audit event — and
every due reminder is sent exactly once, whether the killed process died before, during or after
its transaction. Real processes, real database (the SQLite file or the PostgreSQL test
database); nothing is mocked.

The Huey lock (crm.core.tasks.run_job) keeps two schedulers from starting the same job; these
tests go further and bypass the lock, so the exactly-once effect rests on the database alone
(conditional updates and unique keys), as it must when a lock expires or a worker dies holding
it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from crm.activities import services as activity_services
from crm.activities.models import Reminder
from crm.core.models import Event, Notification
from crm.core.testing.world import build_world
from crm.customers import services as customer_services
from crm.customers.models import Customer, MoveKind, OwnershipMove, PublicPool
from crm.org.models import User

RUNNER = Path(__file__).with_name("job_process.py")
PROCESSES = 4
CUSTOMERS = 80
#: when the first process is killed, in seconds after the common start; the long tier
#: (CRM_KILL_TIMES="0,0.02,0.05,0.1,0.2,0.4,0.8") covers more moments
KILL_TIMES = [float(t) for t in os.environ.get("CRM_KILL_TIMES", "0.1,0.4").split(",")]

pytestmark = pytest.mark.django_db(transaction=True)


def run_processes(job: str, org_id: int, kill_after: float) -> list[int]:
    """Start PROCESSES runs of ``job`` together; SIGKILL the first ``kill_after`` seconds after
    the common start. Returns the exit codes (-9 for the killed one, if it was still running)."""
    connection.close()  # SQLite: let the children write
    start_at = time.time() + 2.5  # Django starts in well under that
    name = str(connection.settings_dict["NAME"])
    procs = [
        subprocess.Popen(
            [sys.executable, str(RUNNER), name, str(start_at), str(org_id), job],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    time.sleep(max(0.0, start_at - time.time() + kill_after))
    procs[0].send_signal(signal.SIGKILL)
    codes = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
    return codes


@pytest.mark.parametrize("kill_after", KILL_TIMES)
def test_the_pool_sweep_returns_each_customer_once_when_a_process_is_killed(
    kill_after: float,
) -> None:
    # J1 J2: 4 processes at once, one killed; then the next scheduled run — each customer once
    world = build_world()
    reps = [User.objects.get(pk=world.users[k].pk) for k in ("rep_east", "rep_east2", "rep_south")]
    for i in range(CUSTOMERS):
        customer_services.create_customer(
            actor=reps[i % len(reps)], data={"name": f"回收测试客户{kill_after}-{i}"}
        )
    PublicPool.objects.filter(org_id=world.org.pk, is_default=True).update(
        days_without_followup=30, exclude_open_opportunities=False, exclude_won=False
    )
    long_ago = timezone.now() - timedelta(days=90)
    Customer.objects.filter(org_id=world.org.pk).update(owner_since=long_ago, last_followup_at=None)
    codes = run_processes("sweep", world.org.pk, kill_after)
    # The next scheduled run picks up whatever the killed process left.
    run_processes("sweep", world.org.pk, 0.0)
    ids = set(Customer.objects.filter(org_id=world.org.pk).values_list("pk", flat=True))
    assert len(ids) == CUSTOMERS
    assert not Customer.objects.filter(org_id=world.org.pk, owner__isnull=False).exists()
    moves = Counter(
        OwnershipMove.objects.filter(org_id=world.org.pk, kind=MoveKind.RETURN).values_list(
            "customer_id", flat=True
        )
    )
    assert set(moves) == ids and set(moves.values()) == {1}, codes
    events = Counter(
        Event.objects.filter(org_id=world.org.pk, verb="customer.returned").values_list(
            "object_id", flat=True
        )
    )
    assert {int(k) for k in events} == ids and set(events.values()) == {1}, codes


@pytest.mark.parametrize("kill_after", KILL_TIMES[:1])
def test_the_reminder_job_sends_each_reminder_once_when_a_process_is_killed(
    kill_after: float,
) -> None:
    # J1 J2: next-follow-up reminders — one Reminder row and one notification per due item
    world = build_world()
    rep = User.objects.get(pk=world.users["rep_east"].pk)
    activity_services.install_default_rules(world.org)
    count = 40
    for i in range(count):
        customer = customer_services.create_customer(
            actor=rep, data={"name": f"提醒测试客户{kill_after}-{i}"}
        )
        activity_services.record_followup(
            actor=rep,
            customer=customer,
            data={
                "method": "call",
                "content": "约了下次",
                "next_at": timezone.now() + timedelta(minutes=30),
            },
        )
    codes = run_processes("reminders", world.org.pk, kill_after)
    run_processes("reminders", world.org.pk, 0.0)
    assert Reminder.objects.filter(kind="next_followup").count() == count, codes
    per_user = Notification.objects.filter(verb="reminder.next_followup").count()
    assert per_user == count, codes
