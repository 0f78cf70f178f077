"""The sales funnel (R8.4) against an independent computation over the stage histories the
tests create through the opportunity services, per scope (rep, manager tree, director), and
the funnel page with its export (H-FORECAST)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.analytics.funnel import FunnelFilters, funnel_rows
from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities as svc
from crm.pipeline.choices import StageKind
from crm.pipeline.models import DictionaryItem, Opportunity, Pipeline, Stage
from tests.conftest import login_client

TZ = ZoneInfo("Asia/Shanghai")
START, LAST = date(2026, 1, 1), date(2026, 3, 31)
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=TZ)


def at(day: int, hour: int = 10) -> datetime:
    """Day ``day`` counted from 2026-01-01 (negative: before), at ``hour`` Shanghai time."""
    return datetime(2026, 1, 1, hour, 0, tzinfo=TZ) + timedelta(days=day)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@dataclass
class Sales:
    """build_world's tree plus reps and managers with the built-in roles (analytics rights)."""

    w: World
    people: dict[str, User]
    pipeline: Pipeline
    stages: list[Stage]
    loss_reason: str
    customers: dict[str, Any] = field(default_factory=dict)
    # what the test did, for the independent computation: opp pk -> [(kind, stage idx, time)]
    log: dict[int, list[tuple[str, int, datetime]]] = field(default_factory=dict)
    owners: dict[int, str] = field(default_factory=dict)

    def user(self, key: str) -> User:
        return fresh(self.people[key])

    def customer(self, key: str) -> Any:
        if key not in self.customers:
            with time_machine.travel(at(-60), tick=False):
                self.customers[key] = create_customer(
                    actor=self.user(key),
                    data={"name": f"{key}客户有限公司"},
                    contacts=[
                        {"name": f"{key}联系人", "mobile": f"1380000{len(self.customers):04d}"}
                    ],
                )
        return self.customers[key]

    def opportunity(self, key: str, when: datetime, stage: int = 0, **data: Any) -> Opportunity:
        data.setdefault("name", f"商机{len(self.log) + 1}")
        with time_machine.travel(when, tick=False):
            o = svc.create_opportunity(
                actor=self.user(key),
                customer=self.customer(key),
                data=data,
                pipeline=self.pipeline,
                stage=self.stages[stage],
            )
        self.log[o.pk] = [("open", stage, when)]
        self.owners[o.pk] = key
        return o

    def move(self, o: Opportunity, stage: int, when: datetime) -> Opportunity:
        with time_machine.travel(when, tick=False):
            o = svc.move_stage(
                actor=self.user(self.owners[o.pk]),
                opportunity=Opportunity.objects.get(pk=o.pk),
                stage=self.stages[stage],
            )
        self.log[o.pk].append(("open", stage, when))
        return o

    def node(self, o: Opportunity, when: datetime) -> Opportunity:
        """A node change inside the current stage (a new history row, not a new stay)."""
        current = Opportunity.objects.get(pk=o.pk)
        node = Stage.objects.filter(parent=current.stage).order_by("sort_order").first()
        assert node is not None
        with time_machine.travel(when, tick=False):
            return svc.move_stage(
                actor=self.user(self.owners[o.pk]),
                opportunity=current,
                stage=current.stage,
                node=node,
            )

    def win(self, o: Opportunity, when: datetime, amount: str = "1000") -> None:
        with time_machine.travel(when, tick=False):
            svc.win_opportunity(
                actor=self.user(self.owners[o.pk]),
                opportunity=Opportunity.objects.get(pk=o.pk),
                actual_amount=amount,
                actual_close_date=when.date().isoformat(),
            )
        self.log[o.pk].append(("won", -1, when))

    def lose(self, o: Opportunity, when: datetime) -> None:
        with time_machine.travel(when, tick=False):
            svc.lose_opportunity(
                actor=self.user(self.owners[o.pk]),
                opportunity=Opportunity.objects.get(pk=o.pk),
                reason=self.loss_reason,
            )
        self.log[o.pk].append(("lost", -1, when))

    def abandon(self, o: Opportunity, when: datetime) -> None:
        with time_machine.travel(when, tick=False):
            svc.abandon_opportunity(
                actor=self.user(self.owners[o.pk]),
                opportunity=Opportunity.objects.get(pk=o.pk),
                reason=self.loss_reason,
            )
        self.log[o.pk].append(("abandoned", -1, when))


def build_sales(name: str | None = None) -> Sales:
    w = build_world(name)
    people = {
        "rep_a": make_user(w.admin, "华东甲", w.depts["east"], [role(w.org, "rep")]),
        "rep_b": make_user(w.admin, "华南乙", w.depts["south"], [role(w.org, "rep")]),
        "rep_c": make_user(w.admin, "二部丙", w.depts["sales2"], [role(w.org, "rep")]),
        "manager": make_user(w.admin, "一部经理", w.depts["sales1"], [role(w.org, "manager")]),
        "director": make_user(w.admin, "总监", w.depts["root"], [role(w.org, "director")]),
    }
    pipeline = Pipeline.objects.get(org=w.org, is_default=True)
    stages = list(
        Stage.objects.filter(
            pipeline=pipeline, parent=None, kind=StageKind.OPEN, is_active=True
        ).order_by("sort_order", "pk")
    )
    reason = DictionaryItem.objects.filter(org=w.org, kind="loss_reason").first()
    assert reason is not None and len(stages) >= 4
    return Sales(w, people, pipeline, stages, reason.value)


# --- the independent computation ----------------------------------------------------------------
def expected_funnel(
    s: Sales, owners: set[str], start: datetime, end: datetime, now: datetime
) -> dict[int, dict[str, Any]]:
    """Per stage index: entered, advanced, lost, open, won, median days, from the test's log."""
    result: dict[int, dict[str, Any]] = {
        i: {"entered": 0, "advanced": 0, "lost": 0, "won": 0, "days": []}
        for i in range(len(s.stages))
    }
    for pk, events in s.log.items():
        if s.owners[pk] not in owners:
            continue
        final = events[-1][0]
        for idx in range(len(s.stages)):
            # stays: consecutive events in idx (the log has no node changes)
            ref = None
            for n, (kind, stage, when) in enumerate(events):
                previous = events[n - 1] if n else None
                starts_stay = (
                    kind == "open"
                    and stage == idx
                    and (previous is None or previous[1] != idx or previous[0] != "open")
                )
                if starts_stay and start <= when < end:
                    ref = n
                    break
            if ref is None:
                continue
            row = result[idx]
            row["entered"] += 1
            later = events[ref + 1 :]
            advanced = any(k == "won" or (k == "open" and st > idx) for k, st, _ in later)
            if advanced:
                row["advanced"] += 1
            elif final in ("lost", "abandoned"):
                row["lost"] += 1
            if final == "won":
                row["won"] += 1
            left = next((when for k, st, when in later if not (k == "open" and st == idx)), now)
            row["days"].append((left - events[ref][2]).total_seconds() / 86400)
    for row in result.values():
        row["open"] = row["entered"] - row["advanced"] - row["lost"]
        row["median"] = (
            Decimal(str(statistics.median(row["days"]))).quantize(Decimal("0.1"), ROUND_HALF_UP)
            if row["days"]
            else None
        )
    return result


def pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def scenario(s: Sales) -> None:
    """Opportunities of three reps in two departments moving through the stages."""
    # rep_a: enters stage 0 in the period, advances to 1 and 2, then wins
    o = s.opportunity("rep_a", at(3))
    s.move(o, 1, at(10))
    s.move(o, 2, at(25))
    s.win(o, at(40))
    # rep_a: stage 0 -> 1, then lost in stage 1
    o = s.opportunity("rep_a", at(5))
    s.move(o, 1, at(6))
    s.lose(o, at(30))
    # rep_a: created before the period in stage 0, enters stage 1 in the period, abandoned
    o = s.opportunity("rep_a", at(-20))
    s.move(o, 1, at(2))
    s.abandon(o, at(50))
    # rep_b: stage 0 -> 2 (skips 1) -> back to 1 -> 2 again, still open
    o = s.opportunity("rep_b", at(8))
    s.move(o, 2, at(9))
    s.move(o, 1, at(20))
    s.move(o, 2, at(33))
    # rep_b: entered stage 1 only after the period: not counted
    o = s.opportunity("rep_b", at(12))
    s.move(o, 1, at(95))
    # rep_c (another department): stage 0 -> 1 -> 3, won
    o = s.opportunity("rep_c", at(14))
    s.move(o, 1, at(15))
    s.move(o, 3, at(45))
    s.win(o, at(60))
    # rep_c: stays in stage 0
    s.opportunity("rep_c", at(70))


def check(s: Sales, viewer: str, owners: set[str], **filters: Any) -> None:
    f = FunnelFilters(start=START, last=LAST, pipeline=s.pipeline, **filters)
    rows = funnel_rows(s.user(viewer), f, now=NOW)
    start = datetime(2026, 1, 1, tzinfo=TZ)
    end = datetime(2026, 4, 1, tzinfo=TZ)
    expected = expected_funnel(s, owners, start, end, NOW)
    by_stage = {r["stage_id"]: r for r in rows}
    for idx, stage in enumerate(s.stages):
        e, r = expected[idx], by_stage[stage.pk]
        got = (r["entered"], r["advanced"], r["lost"], r["open"], r["won"], r["median_days"])
        want = (e["entered"], e["advanced"], e["lost"], e["open"], e["won"], e["median"])
        assert got == want, (viewer, stage.name, got, want)
        assert r["conversion"] == pct(e["advanced"], e["entered"])
        assert r["win_rate"] == pct(e["won"], e["entered"])


@pytest.mark.django_db
def test_funnel_counts_per_scope_match_the_stage_histories() -> None:
    # R8.4: entered / advanced / lost / still open / won and median days per stage, per scope
    s = build_sales()
    scenario(s)
    check(s, "rep_a", {"rep_a"})
    check(s, "manager", {"rep_a", "rep_b"})  # 销售一部 and below: east + south
    check(s, "director", {"rep_a", "rep_b", "rep_c"})
    # a department filter inside the director's scope, and one rep
    check(s, "director", {"rep_c"}, department=s.w.depts["sales2"])
    check(s, "director", {"rep_b"}, owner=s.people["rep_b"])
    # spot-check the numbers the scenario was built for (director, stage 1)
    rows = funnel_rows(s.user("director"), FunnelFilters(START, LAST, s.pipeline), now=NOW)
    stage1 = next(r for r in rows if r["stage_id"] == s.stages[1].pk)
    assert (stage1["entered"], stage1["advanced"], stage1["lost"], stage1["open"]) == (5, 3, 2, 0)


@pytest.mark.django_db
def test_node_changes_are_not_new_entries_and_another_tenant_never_counts() -> None:
    # R8.4: a node change inside a stage is not a second entry; another organisation's
    # opportunities never reach the funnel
    s = build_sales()
    with_nodes = next(
        i for i, st in enumerate(s.stages) if Stage.objects.filter(parent=st).exists()
    )
    o = s.opportunity("rep_a", at(-10), stage=with_nodes)
    s.node(o, at(5))  # inside the period, but the stay began before it
    other = build_sales("另一家公司")
    scenario(other)
    rows = funnel_rows(s.user("director"), FunnelFilters(START, LAST, s.pipeline), now=NOW)
    assert all(r["entered"] == 0 for r in rows)


@pytest.mark.django_db
def test_funnel_query_count_does_not_grow_with_rows() -> None:
    # R8.4: aggregated in SQL, no query per opportunity or stage
    s = build_sales()
    director = s.user("director")
    f = FunnelFilters(START, LAST, s.pipeline)
    with CaptureQueriesContext(connection) as few:
        funnel_rows(director, f, now=NOW)
    scenario(s)
    director = s.user("director")
    with CaptureQueriesContext(connection) as many:
        funnel_rows(director, f, now=NOW)
    assert len(many) == len(few)


@pytest.mark.django_db
def test_funnel_page_chart_table_click_through_and_export() -> None:
    # R8.4: the page shows the funnel chart and table, rows open the filtered list; Excel export
    s = build_sales()
    scenario(s)
    client = login_client(s.user("director"))
    query = f"date_from={START}&date_to={LAST}&pipeline={s.pipeline.pk}"
    response = client.get(f"/analytics/funnel/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="figure-funnel"' in html and "funnel-data" in html
    assert "/opportunities/?cond=" in html
    export = client.get(f"/analytics/funnel/?{query}&export=funnel")
    assert export.status_code == 200
    assert "spreadsheet" in export["Content-Type"]
    # a rep may view but not export
    rep = login_client(s.user("rep_a"))
    assert rep.get(f"/analytics/funnel/?{query}").status_code == 200
    assert rep.get(f"/analytics/funnel/?{query}&export=funnel").status_code == 403
    # bad input answers the form with a message, not an error page
    bad = client.get("/analytics/funnel/?date_from=2026-03-01&date_to=2026-01-01")
    assert bad.status_code == 200 and 'data-error="date_to"' in bad.content.decode()
    # no analytics permission: refused
    nobody = login_client(fresh(s.w.users["nobody"]))
    assert nobody.get("/analytics/funnel/").status_code == 403
