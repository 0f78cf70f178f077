"""The opportunity query engine (R4.6): every operator of every field type against a plain-Python
filter, strict validation (a readable error, never a 500), the four built-in queries of seed 001
and the per-rep overdue breakdown against an independent scope oracle for each data scope, the
one-query counts, and saved queries (sharing, owner-only changes, audit events).

The opportunities are made through the real services (``crm.pipeline.opportunities`` and
``crm.activities.services``); the expected results are computed in Python from the rows and
``crm.core.testing.oracle.sees``, without the query layer under test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.activities import services as activity_services
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.oracle import sees
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.org.models import User
from crm.pipeline import opportunities as ops
from crm.pipeline import queries
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus
from crm.pipeline.models import (
    Opportunity,
    Pipeline,
    SavedQuery,
    SavedQueryShare,
    Stage,
)

OWNERS = ["rep_east", "rep_east2", "rep_south", "rep_sales2", "dept_east", "manager1", "director"]
SCOPES = ["rep_east", "dept_east", "manager1", "director", "custom"]


# --- building opportunities through the services ----------------------------------------------
def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def customer_of(user: User, name: str) -> Customer:
    return customer_services.create_customer(actor=fresh(user), data={"name": name})


def new_opportunity(
    user: User, customer: Customer, name: str, *, at: datetime | None = None, **data: Any
) -> Opportunity:
    """An opportunity of ``user`` created at ``at`` (default: now)."""
    if at is None:
        return ops.create_opportunity(
            actor=fresh(user), customer=customer, data={"name": name, **data}
        )
    with time_machine.travel(at, tick=False):
        return ops.create_opportunity(
            actor=fresh(user), customer=customer, data={"name": name, **data}
        )


def follow_up(
    user: User, opportunity: Opportunity, happened: datetime, next_at: datetime | None
) -> None:
    activity_services.record_followup(
        actor=fresh(user),
        customer=opportunity.customer,
        opportunity=opportunity,
        data={
            "method": "call",
            "content": f"跟进 {opportunity.name}",
            "happened_at": happened,
            "next_at": next_at,
        },
    )


def reload(o: Opportunity) -> Opportunity:
    return Opportunity.objects.get(pk=o.pk)


def build_opportunities(world: World, *, prefix: str = "商机") -> list[Opportunity]:
    """A few dozen opportunities of seven owners in nine situations: fresh, overdue (created
    long ago), followed up lately with a plan, followed up long ago, paused, won, lost,
    planned far ahead, and shared with a collaborator in another department."""
    now = timezone.now()
    customers = {k: customer_of(world.users[k], f"{prefix}客户-{k}") for k in OWNERS}
    result = []
    for i in range(42):
        key = OWNERS[i % len(OWNERS)]
        owner = world.users[key]
        scenario = i % 9
        name = f"{prefix}{i:02d}-{key}-s{scenario}"
        old = now - timedelta(days=20)
        amount = str(10_000 * (i + 1))
        o = new_opportunity(
            owner,
            customers[key],
            name,
            at=old if scenario in (1, 3, 4, 6, 8) else None,
            expected_amount=amount,
            is_key=i % 5 == 0,
        )
        if scenario == 2:
            follow_up(owner, o, now - timedelta(days=3), now + timedelta(days=2))
        elif scenario == 3:
            follow_up(owner, o, now - timedelta(days=10), now - timedelta(days=5))
        elif scenario == 4:
            follow_up(owner, o, now - timedelta(days=1), now + timedelta(days=3))
            ops.pause_opportunity(actor=fresh(owner), opportunity=reload(o))
        elif scenario == 5:
            follow_up(owner, o, now - timedelta(days=2), now + timedelta(days=1))
            ops.win_opportunity(
                actor=fresh(owner),
                opportunity=reload(o),
                actual_amount=amount,
                actual_close_date=timezone.localdate(),
            )
        elif scenario == 6:
            ops.lose_opportunity(actor=fresh(owner), opportunity=reload(o), reason="price")
        elif scenario == 7:
            follow_up(owner, o, now - timedelta(days=1), now + timedelta(days=10))
        elif scenario == 8:
            partner = world.users["rep_east"] if key != "rep_east" else world.users["rep_sales2"]
            ops.set_collaborators(actor=fresh(owner), opportunity=reload(o), users=[partner])
        result.append(reload(o))
    return result


def visible_rows(user: User, rows: list[Opportunity]) -> list[Opportunity]:
    """The oracle's view: rows ``user`` should see (owner in scope, or a collaborator)."""
    user = fresh(user)
    return [
        o
        for o in rows
        if sees(
            user,
            o.owner,
            module="opportunities",
            action="view",
            org_id=o.org_id,
            collaborators=list(o.collaborators.all()),
        )
    ]


#: The built-in queries of seed 001 in plain Python.
ORACLE: dict[str, Callable[[Opportunity, User, datetime], bool]] = {
    "mine": lambda o, u, now: o.owner_id == u.pk and o.status in OPEN_STATUSES,
    "overdue": lambda o, u, now: (
        o.status == OpportunityStatus.CONTINUE
        and o.feedback_due_at is not None
        and o.feedback_due_at < now
    ),
    "plan7": lambda o, u, now: (
        o.status in OPEN_STATUSES
        and o.next_followup_at is not None
        and now <= o.next_followup_at <= now + timedelta(days=7)
    ),
    "done7": lambda o, u, now: (
        o.last_followup_at is not None and o.last_followup_at >= now - timedelta(days=7)
    ),
}


@pytest.fixture
def rows(world: World, other_world: World) -> list[Opportunity]:
    build_opportunities(other_world, prefix="别家")  # must never be counted
    return build_opportunities(world)


def names_of(qs: Any) -> set[str]:
    return set(qs.values_list("name", flat=True))


# --- built-in queries and their counts ---------------------------------------------------------
def test_builtin_counts_equal_the_oracle_in_every_scope(
    world: World, rows: list[Opportunity]
) -> None:
    """R4.6: "mine [n]", "overdue", "7-day plan", "7-day done" count exactly the rows the
    viewer may see that match, computed independently in Python, for every data scope; and
    the per-rep overdue breakdown likewise, most first."""
    now = timezone.now()
    for scope in SCOPES:
        user = fresh(world.users[scope])
        seen = visible_rows(user, rows)
        expected = {key: sum(1 for o in seen if test(o, user, now)) for key, test in ORACLE.items()}
        assert queries.builtin_counts(user, now=now) == expected, scope
        # every situation is represented, so the comparison proves something
        assert expected["overdue"] > 0 and expected["done7"] > 0, scope
        # the lists behind the counts hold exactly those rows
        for b in queries.BUILTIN:
            got = names_of(queries.visible(user).filter(b.condition(user, now)))
            assert got == {o.name for o in seen if ORACLE[b.key](o, user, now)}, (scope, b.key)
        per_rep = Counter(o.owner_id for o in seen if ORACLE["overdue"](o, user, now))
        breakdown = queries.overdue_by_rep(user, now=now)
        assert {u.pk: n for u, n in breakdown} == dict(per_rep), scope
        assert [n for _u, n in breakdown] == sorted(per_rep.values(), reverse=True), scope


def test_builtin_counts_of_the_director_cover_every_situation(
    world: World, rows: list[Opportunity]
) -> None:
    """R4.6: for someone who sees everything, each built-in query is non-trivial."""
    user = fresh(world.users["director"])
    counts = queries.builtin_counts(user)
    assert all(counts[key] > 0 for key in ("mine", "overdue", "plan7", "done7"))
    assert counts["overdue"] < len(rows)


def test_counts_are_one_query(world: World, rows: list[Opportunity]) -> None:
    """R4.6: the four counts and the overdue breakdown are one SQL query (a COUNT per built-in
    query and the overdue GROUP BY owner), read once per request; the breakdown's names one
    more; the saved-query counts one query however many there are."""
    from crm.core.context import request_memo_scope

    user = fresh(world.users["manager1"])
    queries.visible(user).exists()  # roles are loaded once per request
    now = timezone.now()
    with request_memo_scope(), CaptureQueriesContext(connection) as ctx:
        queries.builtin_counts(user, now=now)
        assert len(ctx.captured_queries) == 1
        sql = ctx.captured_queries[0]["sql"].upper()
        assert sql.count("COUNT(") >= 4 and "GROUP BY" in sql and "UNION ALL" in sql
        queries.overdue_by_rep(user, now=now)
    assert len(ctx.captured_queries) == 2  # the owners' names
    saved = [
        queries.save_query(
            user,
            {
                "name": f"查询{n}",
                "conditions": {"match": "all", "rules": [rule]},
            },
        )
        for n, rule in enumerate(
            [
                {"field": "is_key", "op": "eq", "value": True},
                {"field": "status", "op": "eq", "value": "won"},
                {"field": "expected_amount", "op": "gte", "value": "100000"},
                {"field": "name", "op": "contains", "value": "s3"},
            ]
        )
    ]
    with CaptureQueriesContext(connection) as ctx:
        counts = queries.saved_counts(user, saved)
    assert len(ctx.captured_queries) == 1
    seen = visible_rows(user, rows)
    assert counts == {
        saved[0].pk: sum(1 for o in seen if o.is_key),
        saved[1].pk: sum(1 for o in seen if o.status == "won"),
        saved[2].pk: sum(1 for o in seen if (o.expected_amount or 0) >= Decimal("100000")),
        saved[3].pk: sum(1 for o in seen if "s3" in o.name),
    }


def test_builtin_rules_mean_the_same_as_the_builtin_queries(
    world: World, rows: list[Opportunity]
) -> None:
    """R4.6: a built-in query saved as conditions finds the same opportunities."""
    user = fresh(world.users["director"])
    now = timezone.now()
    for b in queries.BUILTIN:
        direct = names_of(queries.visible(user).filter(b.condition(user, now)))
        merged = queries.merged_conditions(b, None, None)
        via_rules = names_of(
            queries.visible(user).filter(queries.compile_conditions(user, merged, now=now))
        )
        assert via_rules == direct, b.key


def test_other_organisations_are_never_counted(
    world: World, other_world: World, rows: list[Opportunity]
) -> None:
    """R1.1 R4.6: another tenant's administrator counts only their own organisation."""
    admin = fresh(other_world.admin)
    theirs = Opportunity.objects.filter(org=other_world.org)
    everything = queries.visible(admin)
    assert set(everything.values_list("pk", flat=True)) == set(theirs.values_list("pk", flat=True))
    assert not names_of(everything) & {o.name for o in rows}
    assert queries.overdue_by_rep(admin)  # their own overdue ones only
    assert {u.org_id for u, _n in queries.overdue_by_rep(admin)} == {other_world.org.pk}


# --- every operator against a Python filter ----------------------------------------------------
@pytest.fixture
def sample(world: World) -> dict[str, Any]:
    """Eight opportunities of rep_east with distinct values in every field type, and two of
    the director (who looks at all ten) in the other pipeline."""
    rep = world.users["rep_east"]
    boss = world.users["director"]
    c1, c2 = customer_of(rep, "华东电网"), customer_of(rep, "南方钢铁")
    pipeline = Pipeline.objects.get(org=world.org, is_default=True)
    stages = list(
        Stage.objects.filter(pipeline=pipeline, parent=None, kind="open").order_by("sort_order")
    )
    node = Stage.objects.filter(parent=stages[4]).order_by("sort_order").first()
    today = timezone.localdate()
    now = timezone.now()
    made = []
    specs: list[dict[str, Any]] = [
        {"name": "机房改造", "expected_amount": "50000", "source": "referral", "is_key": True},
        {"name": "云平台迁移", "expected_amount": "120000.50", "source": "exhibition"},
        {"name": "安全加固", "expected_amount": "", "expected_close_date": today},
        {"name": "数据中心", "expected_amount": "800000", "probability": "60"},
        {"name": "办公网络", "expected_close_date": today + timedelta(days=5)},
        {"name": "视频会议", "expected_close_date": today - timedelta(days=3)},
        {"name": "存储扩容", "expected_amount": "0", "probability": "90"},
        {"name": "云桌面", "expected_close_date": today + timedelta(days=40)},
    ]
    for i, data in enumerate(specs):
        customer = c1 if i % 2 == 0 else c2
        at = now - timedelta(days=31) if i in (3, 5) else None
        made.append(new_opportunity(rep, customer, **data, at=at))
    other = Pipeline.objects.get(org=world.org, is_default=False, business_type="product")
    c3 = customer_of(boss, "总部客户")
    for name, data in (("总部项目", {"is_key": True}), ("总部续约", {"source": "referral"})):
        made.append(
            ops.create_opportunity(
                actor=fresh(boss), customer=c3, data={"name": name, **data}, pipeline=other
            )
        )
    # stages, nodes and follow-ups
    ops.move_stage(actor=fresh(rep), opportunity=reload(made[1]), stage=stages[2])
    ops.move_stage(actor=fresh(rep), opportunity=reload(made[2]), stage=stages[4], node=node)
    follow_up(rep, made[0], now - timedelta(days=2), now + timedelta(days=3))
    follow_up(rep, made[4], now - timedelta(days=12), now + timedelta(days=20))
    follow_up(rep, made[6], now - timedelta(hours=5), None)
    ops.pause_opportunity(actor=fresh(rep), opportunity=reload(made[6]))
    ops.lose_opportunity(actor=fresh(rep), opportunity=reload(made[7]), reason="no_budget")
    rows = [reload(o) for o in made]
    now = timezone.now()  # after every row was made: days in stage are never negative
    return {
        "rep": fresh(boss),
        "owner": fresh(rep),
        "rows": rows,
        "stages": stages,
        "node": node,
        "now": now,
    }


def _day(dt: datetime | None) -> Any:
    return timezone.localtime(dt).date() if dt else None


def operator_cases(s: dict[str, Any]) -> list[tuple[dict[str, Any], Callable[[Any], bool]]]:
    """(rule, the same condition in Python) for every operator of every field type."""
    rep, owner, now = s["rep"], s["owner"], s["now"]
    today = timezone.localdate(now)
    st, node = s["stages"], s["node"]
    amt = lambda o: o.expected_amount  # noqa: E731
    close = lambda o: o.expected_close_date  # noqa: E731
    nxt = lambda o: _day(o.next_followup_at)  # noqa: E731
    days = lambda o: (now - o.stage_entered_at).days  # noqa: E731
    d = today.isoformat
    return [
        # text
        ({"field": "name", "op": "eq", "value": "机房改造"}, lambda o: o.name == "机房改造"),
        ({"field": "name", "op": "ne", "value": "机房改造"}, lambda o: o.name != "机房改造"),
        ({"field": "name", "op": "contains", "value": "云"}, lambda o: "云" in o.name),
        (
            {"field": "customer", "op": "contains", "value": "钢铁"},
            lambda o: "钢铁" in o.customer.name,
        ),
        # number
        ({"field": "probability", "op": "eq", "value": 60}, lambda o: o.probability == 60),
        ({"field": "probability", "op": "ne", "value": "60"}, lambda o: o.probability != 60),
        ({"field": "probability", "op": "gt", "value": 20}, lambda o: o.probability > 20),
        ({"field": "probability", "op": "gte", "value": 20}, lambda o: o.probability >= 20),
        ({"field": "probability", "op": "lt", "value": 20}, lambda o: o.probability < 20),
        ({"field": "probability", "op": "lte", "value": 5}, lambda o: o.probability <= 5),
        (
            {"field": "probability", "op": "between", "value": [10, 60]},
            lambda o: 10 <= o.probability <= 60,
        ),
        # money
        (
            {"field": "expected_amount", "op": "eq", "value": "50000"},
            lambda o: amt(o) == Decimal("50000"),
        ),
        (
            {"field": "expected_amount", "op": "ne", "value": "50000"},
            lambda o: amt(o) != Decimal("50000"),
        ),
        (
            {"field": "expected_amount", "op": "gt", "value": "120000.50"},
            lambda o: amt(o) is not None and amt(o) > Decimal("120000.50"),
        ),
        (
            {"field": "expected_amount", "op": "gte", "value": "¥120,000.50"},
            lambda o: amt(o) is not None and amt(o) >= Decimal("120000.50"),
        ),
        (
            {"field": "expected_amount", "op": "lt", "value": 50000},
            lambda o: amt(o) is not None and amt(o) < 50000,
        ),
        (
            {"field": "expected_amount", "op": "lte", "value": "50000"},
            lambda o: amt(o) is not None and amt(o) <= 50000,
        ),
        (
            {"field": "expected_amount", "op": "between", "value": ["0", "120000.50"]},
            lambda o: amt(o) is not None and 0 <= amt(o) <= Decimal("120000.50"),
        ),
        ({"field": "expected_amount", "op": "empty", "value": None}, lambda o: amt(o) is None),
        (
            {"field": "expected_amount", "op": "not_empty", "value": None},
            lambda o: amt(o) is not None,
        ),
        # date
        ({"field": "expected_close_date", "op": "eq", "value": d()}, lambda o: close(o) == today),
        (
            {"field": "expected_close_date", "op": "gt", "value": d()},
            lambda o: close(o) is not None and close(o) > today,
        ),
        (
            {"field": "expected_close_date", "op": "gte", "value": d()},
            lambda o: close(o) is not None and close(o) >= today,
        ),
        (
            {"field": "expected_close_date", "op": "lt", "value": d()},
            lambda o: close(o) is not None and close(o) < today,
        ),
        (
            {"field": "expected_close_date", "op": "lte", "value": d()},
            lambda o: close(o) is not None and close(o) <= today,
        ),
        (
            {
                "field": "expected_close_date",
                "op": "between",
                "value": [(today - timedelta(days=3)).isoformat(), d()],
            },
            lambda o: close(o) is not None and today - timedelta(days=3) <= close(o) <= today,
        ),
        (
            {"field": "expected_close_date", "op": "last_days", "value": 7},
            lambda o: close(o) is not None and today - timedelta(days=7) <= close(o) <= today,
        ),
        (
            {"field": "expected_close_date", "op": "next_days", "value": "30"},
            lambda o: close(o) is not None and today <= close(o) <= today + timedelta(days=30),
        ),
        (
            {"field": "expected_close_date", "op": "empty", "value": None},
            lambda o: close(o) is None,
        ),
        (
            {"field": "expected_close_date", "op": "not_empty", "value": None},
            lambda o: close(o) is not None,
        ),
        # datetime (days in the organisation's time zone)
        (
            {
                "field": "next_followup_at",
                "op": "eq",
                "value": (today + timedelta(days=3)).isoformat(),
            },
            lambda o: nxt(o) == today + timedelta(days=3),
        ),
        (
            {
                "field": "next_followup_at",
                "op": "gt",
                "value": (today + timedelta(days=3)).isoformat(),
            },
            lambda o: nxt(o) is not None and nxt(o) > today + timedelta(days=3),
        ),
        (
            {
                "field": "next_followup_at",
                "op": "gte",
                "value": (today + timedelta(days=3)).isoformat(),
            },
            lambda o: nxt(o) is not None and nxt(o) >= today + timedelta(days=3),
        ),
        (
            {
                "field": "next_followup_at",
                "op": "lt",
                "value": (today + timedelta(days=4)).isoformat(),
            },
            lambda o: nxt(o) is not None and nxt(o) < today + timedelta(days=4),
        ),
        (
            {
                "field": "next_followup_at",
                "op": "lte",
                "value": (today + timedelta(days=3)).isoformat(),
            },
            lambda o: nxt(o) is not None and nxt(o) <= today + timedelta(days=3),
        ),
        (
            {
                "field": "next_followup_at",
                "op": "between",
                "value": [d(), (today + timedelta(days=30)).isoformat()],
            },
            lambda o: nxt(o) is not None and today <= nxt(o) <= today + timedelta(days=30),
        ),
        (
            {"field": "next_followup_at", "op": "next_days", "value": 7},
            lambda o: (
                o.next_followup_at is not None
                and now <= o.next_followup_at <= now + timedelta(days=7)
            ),
        ),
        (
            {"field": "last_followup_at", "op": "last_days", "value": 7},
            lambda o: (
                o.last_followup_at is not None
                and now - timedelta(days=7) <= o.last_followup_at <= now
            ),
        ),
        (
            {"field": "last_followup_at", "op": "empty", "value": None},
            lambda o: o.last_followup_at is None,
        ),
        (
            {"field": "last_followup_at", "op": "not_empty", "value": None},
            lambda o: o.last_followup_at is not None,
        ),
        (
            {"field": "created_at", "op": "lt", "value": d()},
            lambda o: _day(o.created_at) < today,
        ),
        # choice
        ({"field": "status", "op": "eq", "value": "pause"}, lambda o: o.status == "pause"),
        ({"field": "status", "op": "ne", "value": "continue"}, lambda o: o.status != "continue"),
        (
            {"field": "status", "op": "in", "value": ["pause", "lost"]},
            lambda o: o.status in ("pause", "lost"),
        ),
        # dictionary
        ({"field": "source", "op": "eq", "value": "referral"}, lambda o: o.source == "referral"),
        ({"field": "source", "op": "ne", "value": "referral"}, lambda o: o.source != "referral"),
        (
            {"field": "source", "op": "in", "value": ["referral", "exhibition"]},
            lambda o: o.source in ("referral", "exhibition"),
        ),
        ({"field": "source", "op": "empty", "value": None}, lambda o: o.source == ""),
        ({"field": "source", "op": "not_empty", "value": None}, lambda o: o.source != ""),
        (
            {"field": "loss_reason", "op": "eq", "value": "no_budget"},
            lambda o: o.loss_reason == "no_budget",
        ),
        # user
        ({"field": "owner", "op": "eq", "value": "me"}, lambda o: o.owner_id == rep.pk),
        ({"field": "owner", "op": "ne", "value": owner.pk}, lambda o: o.owner_id != owner.pk),
        ({"field": "owner", "op": "in", "value": [owner.pk]}, lambda o: o.owner_id == owner.pk),
        (
            {"field": "last_followup_by", "op": "empty", "value": None},
            lambda o: o.last_followup_by_id is None,
        ),
        (
            {"field": "last_followup_by", "op": "not_empty", "value": None},
            lambda o: o.last_followup_by_id is not None,
        ),
        (
            {"field": "last_followup_by", "op": "eq", "value": owner.pk},
            lambda o: o.last_followup_by_id == owner.pk,
        ),
        # references
        ({"field": "stage", "op": "eq", "value": st[2].pk}, lambda o: o.stage_id == st[2].pk),
        ({"field": "stage", "op": "ne", "value": st[0].pk}, lambda o: o.stage_id != st[0].pk),
        (
            {"field": "stage", "op": "in", "value": [st[2].pk, st[4].pk]},
            lambda o: o.stage_id in (st[2].pk, st[4].pk),
        ),
        ({"field": "node", "op": "eq", "value": node.pk}, lambda o: o.node_id == node.pk),
        ({"field": "node", "op": "empty", "value": None}, lambda o: o.node_id is None),
        ({"field": "node", "op": "not_empty", "value": None}, lambda o: o.node_id is not None),
        (
            {"field": "pipeline", "op": "eq", "value": st[0].pipeline_id},
            lambda o: o.pipeline_id == st[0].pipeline_id,
        ),
        (
            {"field": "department", "op": "eq", "value": owner.department_id},
            lambda o: o.owner.department_id == owner.department_id,
        ),
        # bool and computed
        ({"field": "is_key", "op": "eq", "value": True}, lambda o: o.is_key),
        ({"field": "is_key", "op": "eq", "value": "false"}, lambda o: not o.is_key),
        (
            {"field": "overdue", "op": "eq", "value": True},
            lambda o: (
                o.status == "continue" and o.feedback_due_at is not None and o.feedback_due_at < now
            ),
        ),
        (
            {"field": "overdue", "op": "eq", "value": False},
            lambda o: (
                not (
                    o.status == "continue"
                    and o.feedback_due_at is not None
                    and o.feedback_due_at < now
                )
            ),
        ),
        (
            {"field": "stalled", "op": "eq", "value": True},
            lambda o: (
                o.status == "continue" and o.stall_due_at is not None and o.stall_due_at < now
            ),
        ),
        ({"field": "days_in_stage", "op": "eq", "value": 31}, lambda o: days(o) == 31),
        ({"field": "days_in_stage", "op": "ne", "value": 0}, lambda o: days(o) != 0),
        ({"field": "days_in_stage", "op": "gt", "value": 0}, lambda o: days(o) > 0),
        ({"field": "days_in_stage", "op": "gte", "value": 31}, lambda o: days(o) >= 31),
        ({"field": "days_in_stage", "op": "lt", "value": 31}, lambda o: days(o) < 31),
        ({"field": "days_in_stage", "op": "lte", "value": 0}, lambda o: days(o) <= 0),
        (
            {"field": "days_in_stage", "op": "between", "value": [0, 30]},
            lambda o: 0 <= days(o) <= 30,
        ),
    ]


def test_every_operator_of_every_field_type_matches_python(sample: dict[str, Any]) -> None:
    """R4.6: each rule finds exactly the rows the same condition selects in Python; together
    the cases use every operator of every field type."""
    rep, rows, now = sample["rep"], sample["rows"], sample["now"]
    cases = operator_cases(sample)
    used = {(queries.FIELDS[r["field"]].type, r["op"]) for r, _test in cases}
    expected_pairs = {(f.type, op) for f in queries.FIELDS.values() for op in f.ops}
    assert expected_pairs - used == set()
    mismatches = []
    trivial = []
    for rule, test in cases:
        q = queries.compile_conditions(rep, {"match": "all", "rules": [rule]}, now=now)
        got = names_of(queries.visible(rep).filter(q))
        want = {o.name for o in rows if test(o)}
        if got != want:
            mismatches.append((rule, sorted(got), sorted(want)))
        if not 0 < len(want) < len(rows):
            trivial.append(rule)
    assert mismatches == []
    assert trivial == []  # each case separates the rows, so it proves something


def test_all_any_and_nested_groups(sample: dict[str, Any]) -> None:
    """R4.6: "all" is AND, "any" is OR, groups nest."""
    rep, rows, now = sample["rep"], sample["rows"], sample["now"]
    key = {"field": "is_key", "op": "eq", "value": True}
    big = {"field": "expected_amount", "op": "gte", "value": "100000"}
    paused = {"field": "status", "op": "eq", "value": "pause"}

    def run(conditions: dict[str, Any]) -> set[str]:
        q = queries.compile_conditions(rep, conditions, now=now)
        return names_of(queries.visible(rep).filter(q))

    def amount(o: Opportunity) -> Decimal:
        return o.expected_amount or Decimal(-1)

    assert run({"match": "any", "rules": [key, big]}) == {
        o.name for o in rows if o.is_key or amount(o) >= 100000
    }
    assert run({"match": "all", "rules": [key, big]}) == {
        o.name for o in rows if o.is_key and amount(o) >= 100000
    }
    nested = {
        "match": "all",
        "rules": [{"field": "status", "op": "in", "value": ["continue", "pause"]}],
        "groups": [{"match": "any", "rules": [big, paused]}],
    }
    assert run(nested) == {
        o.name
        for o in rows
        if o.status in ("continue", "pause") and (amount(o) >= 100000 or o.status == "pause")
    }
    assert run({"match": "any", "rules": []}) == {o.name for o in rows}
    assert queries.compile_conditions(rep, None) == queries.compile_conditions(rep, {})


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"rules": [{"field": "password", "op": "eq", "value": "x"}]}, "password"),
        ({"rules": [{"field": "owner__password", "op": "eq", "value": "x"}]}, "owner__password"),
        ({"rules": [{"field": "name", "op": "startswith", "value": "x"}]}, "startswith"),
        ({"rules": [{"field": "expected_amount", "op": "contains", "value": "1"}]}, "contains"),
        ({"rules": [{"field": "name", "op": "empty", "value": None}]}, "empty"),
        ({"rules": [{"field": "name", "op": "eq", "value": ""}]}, None),
        ({"rules": [{"field": "name", "op": "eq", "value": ["a"]}]}, None),
        ({"rules": [{"field": "name", "op": "eq", "value": "x" * 201}]}, None),
        ({"rules": [{"field": "expected_amount", "op": "gt", "value": "abc"}]}, None),
        ({"rules": [{"field": "expected_amount", "op": "gt", "value": "-5"}]}, None),
        ({"rules": [{"field": "probability", "op": "gt", "value": 101}]}, None),
        ({"rules": [{"field": "probability", "op": "gt", "value": True}]}, None),
        ({"rules": [{"field": "expected_close_date", "op": "eq", "value": "2024-13-01"}]}, None),
        ({"rules": [{"field": "expected_close_date", "op": "eq", "value": 20240101}]}, None),
        ({"rules": [{"field": "created_at", "op": "last_days", "value": 0}]}, None),
        ({"rules": [{"field": "created_at", "op": "next_days", "value": "soon"}]}, None),
        ({"rules": [{"field": "probability", "op": "between", "value": [60, 10]}]}, None),
        ({"rules": [{"field": "probability", "op": "between", "value": [10]}]}, None),
        ({"rules": [{"field": "status", "op": "in", "value": []}]}, None),
        ({"rules": [{"field": "status", "op": "in", "value": "won"}]}, None),
        ({"rules": [{"field": "status", "op": "eq", "value": "deleted"}]}, None),
        ({"rules": [{"field": "source", "op": "eq", "value": "no_such_source"}]}, None),
        ({"rules": [{"field": "owner", "op": "eq", "value": "someone"}]}, None),
        ({"rules": [{"field": "owner", "op": "eq", "value": 987654321}]}, None),
        ({"rules": [{"field": "stage", "op": "eq", "value": 987654321}]}, None),
        ({"rules": [{"field": "is_key", "op": "eq", "value": "maybe"}]}, None),
        ({"rules": [{"field": "name", "op": "eq"}], "extra": 1}, "extra"),
        ({"rules": [{"field": "name", "op": "eq", "value": "x", "lookup": "pk"}]}, None),
        ({"match": "xor", "rules": []}, None),
        ({"rules": "name=x"}, None),
        ({"rules": [["name", "eq", "x"]]}, None),
        ([{"field": "name"}], None),
        (
            {
                "groups": [
                    {
                        "groups": [
                            {"groups": [{"rules": [{"field": "name", "op": "eq", "value": "a"}]}]}
                        ]
                    }
                ]
            },
            None,
        ),
        ({"rules": [{"field": "name", "op": "eq", "value": "a"}] * 51}, "50"),
        ({"rules": [{"field": "status", "op": "in", "value": ["won"] * 101}]}, "100"),
    ],
)
def test_bad_conditions_raise_a_readable_validation_error(
    world: World, conditions: Any, message: str | None
) -> None:
    """R4.6 B2: unknown fields and operators and malformed values are refused with a message
    (shown on the page), never turned into a lookup."""
    user = fresh(world.users["rep_east"])
    with pytest.raises(ValidationFailed) as err:
        queries.compile_conditions(user, conditions)
    assert err.value.field_errors["conditions"]
    if message:
        assert message in str(err.value.message)


def test_references_of_another_organisation_are_refused(world: World, other_world: World) -> None:
    """R1.1 A5: a colleague, stage, pipeline or department of another tenant is not a value."""
    user = fresh(world.users["director"])
    theirs_stage = Stage.objects.filter(org=other_world.org, parent=None).first()
    assert theirs_stage is not None
    for rule in (
        {"field": "owner", "op": "eq", "value": other_world.users["rep_east"].pk},
        {"field": "stage", "op": "eq", "value": theirs_stage.pk},
        {"field": "pipeline", "op": "eq", "value": theirs_stage.pipeline_id},
        {"field": "department", "op": "eq", "value": other_world.depts["east"].pk},
        {"field": "node", "op": "eq", "value": theirs_stage.pk},
    ):
        with pytest.raises(ValidationFailed):
            queries.compile_conditions(user, {"rules": [rule]})


def test_parse_conditions_refuses_bad_json() -> None:
    """R4.6: the ``cond`` parameter of the list must be a JSON object."""
    assert queries.parse_conditions(None) is None
    assert queries.parse_conditions("  ") is None
    assert queries.parse_conditions('{"match": "all"}') == {"match": "all"}
    for raw in ("{", "[1, 2]", '"text"', "x" * 20_001):
        with pytest.raises(ValidationFailed):
            queries.parse_conditions(raw)


def test_field_options_describe_every_field(world: World) -> None:
    """R4.6: the builder gets every field with its operators and the values to pick from."""
    user = fresh(world.users["rep_east"])
    options = {f["key"]: f for f in queries.field_options(user)}
    assert set(options) == set(queries.FIELDS)
    assert [o["key"] for o in options["status"]["ops"]] == ["eq", "ne", "in"]
    assert ["me", "我"] in options["owner"]["options"] or options["owner"]["options"][0][0] == "me"
    assert {v for v, _l in options["loss_reason"]["options"]} >= {"price", "no_budget"}
    stage_ids = {v for v, _l in options["stage"]["options"]}
    assert stage_ids == set(
        Stage.objects.filter(org=world.org, parent=None).values_list("pk", flat=True)
    )


# --- sorting ------------------------------------------------------------------------------------
def test_sorting_uses_the_whitelist(sample: dict[str, Any]) -> None:
    """R4.6: sort keys are a whitelist; an unknown key is refused; ties break by id."""
    rep, rows = sample["rep"], sample["rows"]
    qs = queries.visible(rep)
    by_amount = [o.name for o in queries.apply_sort(qs, "-amount")]
    with_amount = sorted(
        (o for o in rows if o.expected_amount is not None),
        key=lambda o: (-o.expected_amount, -o.pk),
    )
    assert by_amount[: len(with_amount)] == [o.name for o in with_amount]
    assert set(by_amount[len(with_amount) :]) == {o.name for o in rows if o.expected_amount is None}
    by_days = [o.pk for o in queries.apply_sort(qs, "days_in_stage")]
    assert by_days == [
        o.pk for o in sorted(rows, key=lambda o: (-o.stage_entered_at.timestamp(), o.pk))
    ]
    for bad in ("owner__password", "-pk", "name;drop"):
        with pytest.raises(ValidationFailed):
            queries.apply_sort(qs, bad)


# --- saved queries ------------------------------------------------------------------------------
def test_saving_validates_and_records_an_event(world: World) -> None:
    """R4.6: a saved query keeps normalised conditions, columns and sort; "savedquery.saved"
    is recorded."""
    rep = fresh(world.users["rep_east"])
    saved = queries.save_query(
        rep,
        {
            "name": " 我的大单 ",
            "conditions": {
                "rules": [{"field": "expected_amount", "op": "gte", "value": "¥100,000"}]
            },
            "columns": ["owner", "amount"],
            "sort": "-amount",
            "shared": "team",
        },
    )
    assert saved.name == "我的大单"
    assert saved.owner_id == rep.pk and saved.subject == "opportunity"
    assert saved.conditions == {
        "match": "all",
        "rules": [{"field": "expected_amount", "op": "gte", "value": "100000.00"}],
    }
    assert saved.columns == ["amount", "owner"]
    assert saved.sort == "-amount" and saved.shared == SavedQueryShare.TEAM
    assert Event.objects.filter(verb="savedquery.saved", object_id=str(saved.pk)).count() == 1
    for data, field in (
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a", "shared": "world"}, "shared"),
        ({"name": "a", "columns": ["password"]}, "columns"),
        ({"name": "a", "sort": "password"}, "sort"),
        (
            {"name": "a", "conditions": {"rules": [{"field": "x", "op": "eq", "value": 1}]}},
            "conditions",
        ),
    ):
        before = SavedQuery.objects.count()
        with pytest.raises(ValidationFailed) as err:
            queries.save_query(rep, data)
        assert field in err.value.field_errors
        assert SavedQuery.objects.count() == before


@pytest.mark.parametrize(
    ("shared", "sees_it"),
    [
        (
            "private",
            {
                "rep_east": True,
                "rep_east2": False,
                "dept_east": False,
                "rep_south": False,
                "manager1": False,
                "director": False,
            },
        ),
        (
            "team",
            {
                "rep_east": True,
                "rep_east2": True,
                "dept_east": True,
                "rep_south": False,
                "manager1": False,
                "director": False,
            },
        ),
        (
            "org",
            {
                "rep_east": True,
                "rep_east2": True,
                "dept_east": True,
                "rep_south": True,
                "manager1": True,
                "director": True,
            },
        ),
    ],
)
def test_who_sees_a_saved_query(
    world: World, other_world: World, shared: str, sees_it: dict[str, bool]
) -> None:
    """R4.6: private queries are their owner's; team ones are shared with the owner's own
    department; org ones with everyone in the organisation (never another tenant)."""
    saved = queries.save_query(fresh(world.users["rep_east"]), {"name": "共享", "shared": shared})
    for key, expected in sees_it.items():
        ids = set(queries.saved_queries(fresh(world.users[key])).values_list("pk", flat=True))
        assert (saved.pk in ids) is expected, key
    assert not queries.saved_queries(fresh(other_world.admin)).filter(pk=saved.pk).exists()


def test_only_the_owner_changes_or_deletes_a_saved_query(world: World) -> None:
    """R4.6: shared queries are read-only to others; strangers do not even find them."""
    owner = fresh(world.users["rep_east"])
    saved = queries.save_query(owner, {"name": "团队查询", "shared": "team"})
    colleague = fresh(world.users["rep_east2"])  # same department: sees it, may not change it
    with pytest.raises(PermissionDenied):
        queries.save_query(colleague, {"name": "改名"}, saved)
    with pytest.raises(PermissionDenied):
        queries.delete_query(colleague, saved)
    stranger = fresh(world.users["rep_south"])  # another department: does not see it
    with pytest.raises(NotFound):
        queries.save_query(stranger, {"name": "改名"}, saved)
    with pytest.raises(NotFound):
        queries.delete_query(stranger, saved)
    saved.refresh_from_db()
    assert saved.name == "团队查询"
    with pytest.raises(PermissionDenied):
        queries.save_query(fresh(world.users["nobody"]), {"name": "无权"})

    queries.save_query(owner, {"name": "改好的名字", "shared": "private"}, saved)
    saved.refresh_from_db()
    assert (saved.name, saved.shared) == ("改好的名字", "private")
    pk = saved.pk
    queries.delete_query(owner, saved)
    assert not SavedQuery.objects.filter(pk=pk).exists()
    assert Event.objects.filter(verb="savedquery.deleted", object_id=str(pk)).count() == 1


def test_a_saved_query_that_no_longer_validates_counts_as_none(world: World) -> None:
    """R4.6: a saved query naming a value removed since shows "!" instead of breaking."""
    rep = fresh(world.users["rep_east"])
    saved = queries.save_query(rep, {"name": "旧值"})
    SavedQuery.objects.filter(pk=saved.pk).update(
        conditions={"rules": [{"field": "source", "op": "eq", "value": "gone"}]}
    )
    saved.refresh_from_db()
    assert queries.saved_counts(rep, [saved]) == {saved.pk: None}


def test_counts_are_capped(world: World) -> None:
    """R4.6: at most MAX_COUNTED saved queries get a live count (one query however many)."""
    rep = fresh(world.users["rep_east"])
    saved = [queries.save_query(rep, {"name": f"q{n}"}) for n in range(queries.MAX_COUNTED + 3)]
    counts = queries.saved_counts(rep, saved)
    assert len(counts) == queries.MAX_COUNTED
    assert set(counts.values()) == {0}
