"""The public pool 公海 (R3.3, R3.4): claim, release, assign, limits, cool-down, masking, the
sweep with its rules, warnings, and concurrency on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.models import Event, Notification
from crm.core.testing.world import World, make_user, role
from crm.customers import pool_services, services
from crm.customers.models import Customer, OwnershipMove, PublicPool
from crm.org.models import User


@pytest.fixture(autouse=True)
def _english():
    """Messages are matched in English here (the default language is Simplified Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def pool_of(world: World) -> PublicPool:
    return PublicPool.objects.get(org=world.org, is_default=True)


def in_pool(world: World, name: str, **fields) -> Customer:
    """A customer created by the admin and released to the default pool."""
    c = services.create_customer(actor=world.admin, data={"name": name})
    c = pool_services.release(actor=world.admin, customer=c, reason="测试")
    if fields:
        Customer.objects.filter(pk=c.pk).update(**fields)
        c.refresh_from_db()
    return c


def test_a_new_organisation_has_a_default_pool(world: World) -> None:
    # R3.3
    pool = pool_of(world)
    assert (pool.days_without_followup, pool.days_without_deal) == (30, 90)


def test_claim_release_and_claim_again(world: World) -> None:
    # R3.3: claim takes ownership; release needs a reason; claiming what you own is a no-op
    rep = fresh(world.users["rep_east"])
    c = in_pool(world, "杭州海康")
    c = pool_services.claim(actor=rep, customer=c)
    assert (c.owner_id, c.pool_id) == (rep.pk, pool_of(world).pk)
    assert pool_services.claim(actor=rep, customer=c).owner_id == rep.pk  # idempotent
    assert OwnershipMove.objects.filter(customer=c, kind="claim").count() == 1
    with pytest.raises(ValidationFailed):
        pool_services.release(actor=rep, customer=c, reason="  ")
    c = pool_services.release(actor=rep, customer=c, reason="暂无需求")
    assert c.owner_id is None and c.released_by_id == rep.pk and c.release_reason == "暂无需求"
    verbs = list(
        Event.objects.filter(object_id=str(c.pk), object_type="customers.customer")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs[-2:] == ["customer.claimed", "customer.released"]


def test_pool_customers_are_visible_to_those_who_may_claim(
    world: World, other_world: World
) -> None:
    # R3.3: pool rows show to members of the allowed departments, never to another tenant
    c = in_pool(world, "苏州科达")
    pool = pool_of(world)
    assert Customer.objects.visible_to(fresh(world.users["rep_south"])).filter(pk=c.pk).exists()
    pool.departments.set([world.depts["east"]])
    assert Customer.objects.visible_to(fresh(world.users["rep_east"])).filter(pk=c.pk).exists()
    assert not Customer.objects.visible_to(fresh(world.users["rep_south"])).filter(pk=c.pk).exists()
    with pytest.raises(NotFound):
        pool_services.claim(actor=fresh(world.users["rep_south"]), customer=c)
    with pytest.raises(NotFound):
        pool_services.claim(actor=fresh(other_world.users["director"]), customer=c)
    assert Customer.objects.get(pk=c.pk).owner_id is None


def test_owner_cap_daily_limit_and_cooldown(world: World) -> None:
    # R3.4: a cap on owned customers, a daily claim limit, a re-claim cool-down
    rep = fresh(world.users["rep_east"])
    pool = pool_of(world)
    PublicPool.objects.filter(pk=pool.pk).update(
        daily_claim_limit=2, owner_cap=None, reclaim_cooldown_days=7
    )
    a, b, c = (in_pool(world, n) for n in ("甲公司", "乙公司", "丙公司"))
    pool_services.claim(actor=rep, customer=a)
    pool_services.claim(actor=rep, customer=b)
    with pytest.raises(ValidationFailed, match="limit"):
        pool_services.claim(actor=rep, customer=Customer.objects.get(pk=c.pk))
    pool_services.release(actor=rep, customer=Customer.objects.get(pk=a.pk), reason="无意向")
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        with pytest.raises(ValidationFailed, match="recently"):
            pool_services.claim(actor=fresh(rep), customer=Customer.objects.get(pk=a.pk))
        pool_services.claim(actor=fresh(rep), customer=Customer.objects.get(pk=c.pk))
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        pool_services.claim(actor=fresh(rep), customer=Customer.objects.get(pk=a.pk))
    PublicPool.objects.filter(pk=pool.pk).update(owner_cap=3, daily_claim_limit=None)
    d = in_pool(world, "丁公司")
    with (
        time_machine.travel(timezone.now() + timedelta(days=9)),
        pytest.raises(ValidationFailed, match="already own 3"),
    ):
        pool_services.claim(actor=fresh(rep), customer=Customer.objects.get(pk=d.pk))
    assert Customer.objects.get(pk=d.pk).owner_id is None


def test_claim_of_a_claimed_customer_is_refused(world: World) -> None:
    # R3.3: no two reps own the same customer
    c = in_pool(world, "深圳大疆")
    pool_services.claim(actor=fresh(world.users["rep_east"]), customer=c)
    stale = Customer.objects.get(pk=c.pk)
    stale.owner_id = None  # as read by a second rep a moment earlier
    with pytest.raises(Conflict):
        pool_services.claim(actor=fresh(world.users["rep_south"]), customer=stale)
    assert Customer.objects.get(pk=c.pk).owner_id == world.users["rep_east"].pk


def test_manager_assigns_from_the_pool_and_the_rep_is_notified(world: World) -> None:
    # R3.3: assign needs the transfer permission
    c = in_pool(world, "青岛海尔")
    manager = make_user(
        world.admin, "内置经理", world.depts["sales1"], [role(world.org, "manager")]
    )
    rep = world.users["rep_east"]
    with pytest.raises(Exception):  # noqa: B017 - a rep lacks customers:transfer
        pool_services.assign(actor=fresh(rep), customer=c, to_user=rep)
    c = pool_services.assign(
        actor=fresh(manager), customer=Customer.objects.get(pk=c.pk), to_user=rep
    )
    assert c.owner_id == rep.pk
    assert Notification.objects.filter(recipient=rep, verb="customer.assigned").count() == 1


def _set_clock(
    c: Customer, *, owner_days: int, followup_days: int | None, won_days: int | None = None
) -> None:
    now = timezone.now()
    Customer.objects.filter(pk=c.pk).update(
        owner_since=now - timedelta(days=owner_days),
        last_followup_at=None if followup_days is None else now - timedelta(days=followup_days),
        last_won_at=None if won_days is None else now - timedelta(days=won_days),
    )


def test_sweep_returns_exactly_the_due_customers_once(world: World) -> None:
    # R3.4: 30 days without follow-up or 90 without a won deal; won and open-deal customers kept
    rep = world.users["rep_east"]
    made = {}
    for name, owner_days, followup, won, open_opps in [
        ("逾期未跟进", 40, 31, None, 0),  # due: no follow-up for 31 days
        ("从未跟进", 35, None, None, 0),  # due: owned 35 days, never followed up
        ("近期跟进", 40, 5, None, 0),  # kept
        ("久未成交", 100, 5, None, 0),  # due: 100 days without a deal
        ("已成交", 100, 40, 50, 0),  # kept: has a won deal (exclude_won)
        ("有进行中商机", 40, 31, None, 2),  # kept: open opportunities
    ]:
        c = services.create_customer(actor=rep, data={"name": name})
        _set_clock(c, owner_days=owner_days, followup_days=followup, won_days=won)
        Customer.objects.filter(pk=c.pk).update(open_opportunities=open_opps)
        made[name] = c.pk
    result = pool_services.sweep_org(world.org.pk)
    returned = set(
        Customer.objects.filter(org=world.org, owner__isnull=True).values_list("name", flat=True)
    )
    assert returned == {"逾期未跟进", "从未跟进", "久未成交"} and result == {"returned": 3}
    assert pool_services.sweep_org(world.org.pk) == {"returned": 0}
    moves = OwnershipMove.objects.filter(kind="return").order_by("customer__name")
    assert [(m.customer.name, m.from_user_id, m.reason) for m in moves] == [
        ("久未成交", rep.pk, "no_deal"),
        ("从未跟进", rep.pk, "no_followup"),
        ("逾期未跟进", rep.pk, "no_followup"),
    ]
    assert Event.objects.filter(verb="customer.returned").count() == 3
    assert Notification.objects.filter(recipient=rep, verb="customer.returned").count() == 3
    # rep_east has no manager and 华东组 no head: nobody else is told
    assert Notification.objects.filter(verb="customer.returned").exclude(recipient=rep).count() == 0


def test_the_sweep_tells_the_reps_manager(world: World) -> None:
    # R3.4: the loser and their manager are notified, once per returned customer
    rep, manager = world.users["rep_south"], world.users["manager1"]
    User.objects.filter(pk=rep.pk).update(manager=manager)
    for i in range(2):
        c = services.create_customer(actor=rep, data={"name": f"华南到期{i}"})
        _set_clock(c, owner_days=40, followup_days=35)
    assert pool_services.sweep_org(world.org.pk) == {"returned": 2}
    notes = Notification.objects.filter(verb="customer.returned")
    assert notes.filter(recipient=rep).count() == 2
    assert notes.filter(recipient=manager).count() == 2
    assert "华南销售" in notes.filter(recipient=manager).first().message


def test_grade_rules_override_the_pool_rule(world: World) -> None:
    # R3.4: different days per grade (A customers kept longer)
    pool = pool_of(world)
    pool.grade_rules = {"A": {"days_without_followup": 60}}
    pool.save()
    rep = world.users["rep_east"]
    a = services.create_customer(actor=rep, data={"name": "A级客户"})
    c = services.create_customer(actor=rep, data={"name": "C级客户"})
    Customer.objects.filter(pk=a.pk).update(grade="A")
    Customer.objects.filter(pk=c.pk).update(grade="C")
    for x in (a, c):
        _set_clock(x, owner_days=45, followup_days=45)
    pool_services.sweep_org(world.org.pk)
    assert Customer.objects.get(pk=a.pk).owner_id == rep.pk
    assert Customer.objects.get(pk=c.pk).owner_id is None


def test_warning_before_return_is_sent_once(world: World) -> None:
    # R3.4: the owner is warned X days before, once
    rep = world.users["rep_east"]
    c = services.create_customer(actor=rep, data={"name": "将到期客户"})
    _set_clock(c, owner_days=28, followup_days=28)
    assert pool_services.warn_org(world.org.pk) == 1
    assert pool_services.warn_org(world.org.pk) == 0
    assert Notification.objects.filter(recipient=rep, verb="customer.return_warning").count() == 1
    assert Customer.objects.get(pk=c.pk).owner_id == rep.pk


def _run_threads(n: int, fn, prepare=lambda i: None) -> list:
    """Run ``fn(i, prepared)`` in ``n`` threads released together; ``prepare(i)`` runs before
    the barrier (e.g. the page each rep loaded a moment earlier)."""
    barrier = threading.Barrier(n)

    def call(i: int):
        try:
            prepared = prepare(i)
            barrier.wait()
            return fn(i, prepared)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_have_exactly_one_winner() -> None:
    # R3.3 H3: N reps claim one customer at the same moment; exactly one wins, every round
    from crm.core.testing.world import build_world

    world = build_world()
    reps = [
        make_user(world.admin, f"抢单{i}", world.depts["east"], [role(world.org, "rep")])
        for i in range(50 if connection.vendor == "postgresql" else 12)
    ]
    rounds = 20 if connection.vendor == "postgresql" else 4
    PublicPool.objects.filter(org=world.org).update(daily_claim_limit=None, owner_cap=None)
    for r in range(rounds):
        c = in_pool(world, f"热门客户{r}")

        def load(i: int, pk=c.pk):
            return fresh(reps[i]), Customer.objects.get(pk=pk)  # every rep sees it unclaimed

        def attempt(i: int, loaded):
            try:
                pool_services.claim(actor=loaded[0], customer=loaded[1])
                return "won"
            except Conflict:
                return "lost"

        outcomes = _run_threads(len(reps), attempt, load)
        assert outcomes.count("won") == 1, outcomes
        winner = Customer.objects.get(pk=c.pk).owner_id
        assert winner in {u.pk for u in reps}
        assert OwnershipMove.objects.filter(customer_id=c.pk, kind="claim").count() == 1
        assert Event.objects.filter(object_id=str(c.pk), verb="customer.claimed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_return_each_customer_once() -> None:
    # R3.4 J2: two schedulers running the sweep at the same moment
    from crm.core.testing.world import build_world

    world = build_world()
    rep = world.users["rep_east"]
    ids = []
    for i in range(30):
        c = services.create_customer(actor=rep, data={"name": f"到期客户{i}"})
        _set_clock(c, owner_days=40, followup_days=35)
        ids.append(c.pk)
    results = _run_threads(2, lambda i, _p: pool_services.sweep_org(world.org.pk)["returned"])
    assert sum(results) == 30
    assert OwnershipMove.objects.filter(customer_id__in=ids, kind="return").count() == 30
    assert Event.objects.filter(verb="customer.returned").count() == 30
    assert Customer.objects.filter(pk__in=ids, owner__isnull=True).count() == 30


def test_periodic_jobs_run_and_record_their_runs(world: World) -> None:
    # R9.2: the sweep, warnings, grading and care jobs are scheduled Huey jobs with a run record
    from crm.core.models import JobRun
    from crm.customers import tasks

    rep = world.users["rep_east"]
    c = services.create_customer(actor=rep, data={"name": "定时回收"})
    _set_clock(c, owner_days=40, followup_days=35)
    assert tasks.pool_sweep.call_local() == "returned 1"
    for job in (tasks.pool_warnings, tasks.regrade, tasks.care_reminders):
        job.call_local()
    runs = dict(JobRun.objects.values_list("name", "last_status"))
    assert runs == {
        "customers.pool_sweep": "ok",
        "customers.pool_warnings": "ok",
        "customers.grading": "ok",
        "customers.care_reminders": "ok",
    }
    assert Customer.objects.get(pk=c.pk).owner_id is None
