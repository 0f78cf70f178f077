"""Contracts under contention (R6.2, DESIGN: concurrency), on SQLite and on PostgreSQL (run with
CRM_TEST_DB=postgres): 20 simultaneous creations get 20 distinct numbers; of 20 simultaneous
signings of one approved contract exactly one wins and the opportunity is won once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from crm.core.errors import Conflict, InvalidTransition
from crm.core.models import Event
from crm.core.testing.world import build_world
from crm.sales import contract_services as svc
from crm.sales.choices import ContractStatus
from crm.sales.models import Contract
from tests.sales.contract_helpers import customer, fresh, grant_sales, opportunity

THREADS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_get_twenty_distinct_numbers() -> None:
    # R6.2: numbers come from the race-free sequence; the unique constraint never fires
    world = grant_sales(build_world())
    cust = customer(world)
    rep = world.users["rep_east"]
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> str:
        try:
            actor = fresh(rep)
            barrier.wait()
            return svc.create_contract(
                actor=actor, customer=cust, data={"name": f"并发合同{i}", "amount": "100"}
            ).number
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        numbers = list(pool.map(attempt, range(THREADS)))
    year = timezone.localdate().year
    assert sorted(numbers) == [f"HT-{year}-{n:05d}" for n in range(1, THREADS + 1)]
    assert Contract.objects.filter(org=world.org).count() == THREADS


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_signings_have_one_winner_and_win_the_opportunity_once() -> None:
    world = grant_sales(build_world())
    opp = opportunity(world, customer(world))
    rep = world.users["rep_east"]
    c = svc.create_contract(actor=fresh(rep), opportunity=opp, data={"amount": "1000"})
    c = svc.submit_contract(actor=fresh(rep), contract=c)
    assert c.status == ContractStatus.APPROVED
    loaded = [(fresh(rep), Contract.objects.get(pk=c.pk)) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def attempt(i: int) -> str:
        try:
            barrier.wait()
            svc.sign_contract(
                actor=loaded[i][0], contract=loaded[i][1], signed_on=timezone.localdate()
            )
            return "won"
        except (InvalidTransition, Conflict):
            return "lost"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))
    assert outcomes.count("won") == 1, outcomes
    assert Contract.objects.get(pk=c.pk).status == ContractStatus.SIGNED
    assert Event.objects.filter(object_id=str(c.pk), verb="contract.signed").count() == 1
    assert Event.objects.filter(object_id=str(opp.pk), verb="opportunity.won").count() == 1
