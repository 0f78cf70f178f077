"""Claiming from a sub-pool under contention (R2.2, DESIGN: concurrency): of 20 simultaneous
claims of one lead exactly one wins, on SQLite and on PostgreSQL (run with CRM_TEST_DB=postgres)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from crm.core.errors import Conflict
from crm.core.models import Event
from crm.core.testing.world import build_world, make_user, role
from crm.leads import services
from crm.leads.models import Lead
from tests.leads.conftest import fresh, grant_leads, make_pools

THREADS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_claims_have_exactly_one_winner() -> None:
    # R2.2: one conditional UPDATE … WHERE owner IS NULL; exactly one owner, every round
    world = grant_leads(build_world())
    pools = make_pools(world)
    members = [
        make_user(world.admin, f"抢线索{i}", world.depts["east"], [role(world.org, "rep")])
        for i in range(THREADS)
    ]
    mk = fresh(world.users["marketing"])
    services.save_pool(actor=mk, pool=pools.east, data={}, members=members)
    for round_ in range(3):
        lead = services.create_lead(
            actor=mk, data={"company": f"热门线索{round_}", "email": f"hot{round_}@example.com"}
        )
        services.distribute_to_subpool(actor=mk, leads=[lead], pool=pools.east)
        loaded = [(fresh(u), Lead.objects.get(pk=lead.pk)) for u in members]  # all see it free
        barrier = threading.Barrier(THREADS)

        def attempt(i: int, loaded=loaded, barrier=barrier) -> str:
            try:
                barrier.wait()
                services.claim_lead(actor=loaded[i][0], lead=loaded[i][1])
                return "won"
            except Conflict:
                return "lost"
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            outcomes = list(pool.map(attempt, range(THREADS)))
        assert outcomes.count("won") == 1, outcomes
        assert outcomes.count("lost") == THREADS - 1
        owner = Lead.objects.get(pk=lead.pk).owner_id
        assert owner in {u.pk for u in members}
        assert owner == members[outcomes.index("won")].pk
        claims = Event.objects.filter(object_id=str(lead.pk), verb="lead.claimed")
        assert list(claims.values_list("actor_id", flat=True)) == [owner]
