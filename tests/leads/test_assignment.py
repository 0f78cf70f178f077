"""Assignment rules (R2.4): conditions, first match, round-robin (exact order, skipping inactive
and capped reps, concurrent creates spread evenly), least load, fixed person, target sub-pool,
and the note that says which rule assigned a lead and why."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from crm.core.models import Event, Notification
from crm.core.testing.world import World, make_user, role
from crm.leads import services
from crm.leads.models import AssignmentRule, Lead
from crm.org.models import User
from tests.leads.conftest import Pools, fresh, grant_leads, make_pools, new_lead, stored

RR = "Rule “%(rule)s”: round-robin → %(user)s (position %(pos)d of %(n)d)"
LL = "Rule “%(rule)s”: least open workload → %(user)s (%(load)d open leads)"
FIXED = "Rule “%(rule)s”: fixed person → %(user)s"
NOBODY = "Rule “%(rule)s”: no eligible rep is available; the lead waits in the pool “%(pool)s”."
NO_MATCH = "No assignment rule matches this lead; it waits in the pool “%(pool)s”."


def skipped(*parts: str) -> str:
    return stored("; skipped: %(names)s", names=", ".join(parts))


def reps(world: World, n: int = 3) -> list[User]:
    """``n`` reps with the built-in rep role (leads view/create/edit), in id order."""
    return [
        make_user(
            world.admin, f"销售{chr(0x7532 + i)}", world.depts["east"], [role(world.org, "rep")]
        )
        for i in range(n)
    ]


def rule(world: World, name: str, **kwargs: Any) -> AssignmentRule:
    data = {
        "name": name,
        "order": kwargs.pop("order", 10),
        "strategy": kwargs.pop("strategy", "round_robin"),
        "conditions": kwargs.pop("conditions", {}),
        "cap": kwargs.pop("cap", None),
        "is_active": kwargs.pop("is_active", True),
    }
    return services.save_rule(actor=fresh(world.users["marketing"]), data=data, **kwargs)


def incoming(world: World, **data: Any) -> Lead:
    """A lead arriving through the total pool (marketing creates it; the rules decide)."""
    lead = new_lead(world.users["marketing"], **data)
    lead.refresh_from_db()
    return lead


def test_round_robin_order_is_exact_and_skips_inactive_and_capped_reps(lw: World) -> None:
    # R2.4: round-robin among eligible reps, in order; inactive and capped reps are skipped
    r1, r2, r3 = reps(lw)
    rr = rule(lw, "华东制造", eligible_users=[r3, r1, r2])  # rotation order is by id
    owners = [incoming(lw, company=f"客户{i}").owner_id for i in range(6)]
    assert owners == [r1.pk, r2.pk, r3.pk, r1.pk, r2.pk, r3.pk]
    first = Lead.objects.filter(owner=r1).order_by("pk").first()
    assert first.assigned_by_rule_id == rr.pk
    assert first.assignment_note == stored(RR, rule="华东制造", user=r1.display_name, pos=1, n=3)

    User.objects.filter(pk=r2.pk).update(is_active=False)
    a, b, c = (incoming(lw, company=f"新客户{i}") for i in range(3))
    assert [a.owner_id, b.owner_id, c.owner_id] == [r1.pk, r3.pk, r1.pk]
    assert b.assignment_note == stored(
        RR, rule="华东制造", user=r3.display_name, pos=3, n=3
    ) + skipped(f"{r2.display_name} ({stored('inactive')})")

    services.save_rule(actor=fresh(lw.users["marketing"]), rule=rr, data={"cap": 4})
    # open leads now: r1 = 4, r3 = 3 → r3 gets one more, then everyone is at the cap
    d = incoming(lw, company="客户D")
    assert d.owner_id == r3.pk
    e = incoming(lw, company="客户E")
    assert (e.owner_id, e.assigned_by_rule_id) == (None, None)
    cap = stored("at the cap of %(cap)d open leads", cap=4)
    assert e.assignment_note == stored(NOBODY, rule="华东制造", pool=e.pool.name) + skipped(
        f"{r1.display_name} ({cap})",
        f"{r2.display_name} ({stored('inactive')})",
        f"{r3.display_name} ({cap})",
    )
    assert Event.objects.filter(object_id=str(e.pk), verb="lead.pooled").count() == 1
    # a lead that leaves the open statuses frees a place under the cap
    services.mark_invalid(actor=fresh(lw.users["marketing"]), lead=a, reason="spam")
    assert incoming(lw, company="客户F").owner_id == r1.pk


def test_least_load_picks_the_rep_with_fewest_open_leads(lw: World) -> None:
    # R2.4: least open workload; ties go to the earlier rep; closed leads do not count
    r1, r2, r3 = reps(lw)
    for owner, n in ((r1, 2), (r3, 1)):
        for i in range(n):
            new_lead(owner, owner=fresh(owner), company=f"{owner.name}{i}")
    closed = new_lead(r2, owner=fresh(r2), company="已无效")
    services.mark_invalid(actor=fresh(r2), lead=closed, reason="spam")
    rule(lw, "按负载", strategy="least_load", eligible_users=[r1, r2, r3])
    first = incoming(lw, company="甲")
    assert first.owner_id == r2.pk
    assert first.assignment_note == stored(LL, rule="按负载", user=r2.display_name, load=0)
    assert [incoming(lw, company=f"乙{i}").owner_id for i in range(3)] == [r2.pk, r3.pk, r1.pk]


def test_fixed_person_and_cap(lw: World) -> None:
    # R2.4: a fixed person gets every matching lead until they reach the cap
    (r1,) = reps(lw, 1)
    rule(lw, "大客户", strategy="fixed_user", fixed_user=r1, cap=1)
    lead = incoming(lw)
    assert (lead.owner_id, lead.assignment_note) == (
        r1.pk,
        stored(FIXED, rule="大客户", user=r1.display_name),
    )
    assert Notification.objects.filter(recipient=r1, verb="lead.assigned").count() == 1
    second = incoming(lw, company="第二个")
    assert second.owner_id is None
    assert second.assignment_note == stored(NOBODY, rule="大客户", pool=second.pool.name) + skipped(
        f"{r1.display_name} ({stored('at the cap of %(cap)d open leads', cap=1)})"
    )


def test_first_matching_active_rule_wins(lw: World) -> None:
    # R2.4: conditions on region, industry, source, product line; order decides; empty = any
    r1, r2, r3 = reps(lw)
    rule(lw, "停用", order=1, strategy="fixed_user", fixed_user=r3, is_active=False)
    rule(
        lw,
        "华南制造",
        order=2,
        strategy="fixed_user",
        fixed_user=r2,
        conditions={
            "region": ["华南"],
            "industry": ["manufacturing"],
            "source": [],
            "product_line": [],
        },
    )
    rule(
        lw,
        "展会",
        order=3,
        strategy="fixed_user",
        fixed_user=r3,
        conditions={"source": ["exhibition"]},
    )
    rule(lw, "兜底", order=4, strategy="fixed_user", fixed_user=r1)
    assert incoming(lw, region=" 华南 ", industry="manufacturing").owner_id == r2.pk
    assert incoming(lw, region="华南", industry="it").owner_id == r1.pk
    assert incoming(lw, region="华南", industry="it", source="exhibition").owner_id == r3.pk
    assert incoming(lw, region="华东").owner_id == r1.pk


def test_no_matching_rule_leaves_the_lead_in_the_pool_and_says_why(lw: World) -> None:
    # R2.4: no rule matches → unassigned in the total pool, with the reason
    (r1,) = reps(lw, 1)
    rule(lw, "华北", strategy="fixed_user", fixed_user=r1, conditions={"region": ["华北"]})
    lead = incoming(lw, region="华东")
    total = services.total_pool(lw.org.pk)
    assert (lead.owner_id, lead.pool_id, lead.assigned_by_rule_id) == (None, total.pk, None)
    assert lead.assignment_note == stored(NO_MATCH, pool=total.name)
    event = Event.objects.get(object_id=str(lead.pk), verb="lead.pooled")
    assert event.data == {"rule": None, "note": lead.assignment_note}


def test_a_rule_sends_leads_to_its_sub_pool_members(lw: World, pools: Pools) -> None:
    # R2.2 R2.4: a rule with a target sub-pool and no reps listed rotates among its members
    rule(lw, "华东分配", target_pool=pools.east, conditions={"region": ["华东"]})
    owners = [incoming(lw, region="华东", company=f"华东{i}") for i in range(3)]
    east = [lw.users["rep_east"].pk, lw.users["rep_east2"].pk]
    assert [lead.owner_id for lead in owners] == [east[0], east[1], east[0]]
    assert {lead.pool_id for lead in owners} == {pools.east.pk}


def test_the_rules_run_for_every_channel(lw: World, api_client) -> None:
    # R2.4: rules apply on create, on the API and on the public form alike
    (r1,) = reps(lw, 1)
    rule(lw, "全部", strategy="fixed_user", fixed_user=r1)
    client = api_client(lw.users["marketing"])
    r = client.post(
        "/api/v1/leads/leads",
        data={"company": "接口线索", "email": "api@example.com"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["owner"]["id"] == r1.pk
    assert r.json()["source"] == "api"


def _run_threads(n: int, fn) -> list[Any]:
    barrier = threading.Barrier(n)

    def call(i: int) -> Any:
        try:
            barrier.wait()
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_spread_evenly() -> None:
    # R2.4: simultaneous creates never take the same round-robin turn
    from crm.core.testing.world import build_world

    world = grant_leads(build_world())
    make_pools(world)
    team = reps(world)
    rule(world, "并发轮询", eligible_users=team)
    marketers = [fresh(world.users["marketing"]) for _ in range(9)]
    _run_threads(
        9,
        lambda i: services.create_lead(
            actor=marketers[i], data={"company": f"并发{i}", "email": f"c{i}@example.com"}
        ),
    )
    counts = sorted(Lead.objects.filter(owner__in=team).values_list("owner_id", flat=True))
    assert counts == sorted([u.pk for u in team] * 3)
    assert AssignmentRule.objects.get(name="并发轮询").cursor == 9
