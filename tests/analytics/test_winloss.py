"""Win/loss analysis (R4.8, R8.7 part) on opportunities made through the services, against an
independent computation over what the test did; scope, query count, page, export and API."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.analytics import winloss
from crm.analytics.winloss import WinLossFilters
from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities as svc
from crm.pipeline.choices import StageKind
from crm.pipeline.models import DictionaryItem, Opportunity, Pipeline, Stage
from tests.conftest import login_client

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
START, LAST = date(2026, 1, 1), date(2026, 3, 31)


def at(day: int) -> datetime:
    return datetime(2026, 1, 1, 10, 0, tzinfo=TZ) + timedelta(days=day)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


class Sales:
    """build_world's tree plus reps, a manager and a director with the built-in roles; every
    deal the test makes is logged for the independent computation."""

    def __init__(self, name: str | None = None) -> None:
        self.w: World = build_world(name)
        w = self.w
        self.people = {
            "rep_a": make_user(w.admin, "华东甲", w.depts["east"], [role(w.org, "rep")]),
            "rep_b": make_user(w.admin, "华南乙", w.depts["south"], [role(w.org, "rep")]),
            "rep_c": make_user(w.admin, "二部丙", w.depts["sales2"], [role(w.org, "rep")]),
            "manager": make_user(w.admin, "一部经理", w.depts["sales1"], [role(w.org, "manager")]),
            "director": make_user(w.admin, "总监", w.depts["root"], [role(w.org, "director")]),
        }
        self.pipeline = Pipeline.objects.get(org=w.org, is_default=True)
        self.stages = list(
            Stage.objects.filter(
                pipeline=self.pipeline, parent=None, kind=StageKind.OPEN, is_active=True
            ).order_by("sort_order", "pk")
        )
        item = DictionaryItem.objects.filter(org=w.org, kind="loss_reason").first()
        assert item is not None
        self.reason = item.value
        self.customers: dict[str, Any] = {}
        # opp pk -> dict(owner, status, close day, amount, lines, lost stage idx)
        self.log: dict[int, dict[str, Any]] = {}

    def user(self, key: str) -> User:
        return fresh(self.people[key])

    def new(self, key: str, lines: list[tuple[str, str]], stage: int = 0) -> Opportunity:
        if key not in self.customers:
            self.customers[key] = create_customer(
                actor=self.user(key), data={"name": f"{key}客户有限公司"}
            )
        o = svc.create_opportunity(
            actor=self.user(key),
            customer=self.customers[key],
            data={"name": f"商机{len(self.log) + 1}", "expected_amount": "300"},
            pipeline=self.pipeline,
            stage=self.stages[stage],
            lines=[{"product": p, "quantity": "1", "unit_price": v} for p, v in lines],
        )
        self.log[o.pk] = {
            "owner": key,
            "status": "open",
            "stage": stage,
            "lines": lines,
            "expected": Decimal("300"),
        }
        return o

    def move(self, o: Opportunity, stage: int) -> None:
        svc.move_stage(
            actor=self.user(self.log[o.pk]["owner"]),
            opportunity=Opportunity.objects.get(pk=o.pk),
            stage=self.stages[stage],
        )
        self.log[o.pk]["stage"] = stage

    def win(self, o: Opportunity, day: int, amount: str) -> None:
        with time_machine.travel(at(day), tick=False):
            svc.win_opportunity(
                actor=self.user(self.log[o.pk]["owner"]),
                opportunity=Opportunity.objects.get(pk=o.pk),
                actual_amount=amount,
                actual_close_date=at(day).date().isoformat(),
            )
        self.log[o.pk].update(status="won", day=at(day).date(), amount=Decimal(amount))

    def lose(self, o: Opportunity, day: int) -> None:
        svc.lose_opportunity(
            actor=self.user(self.log[o.pk]["owner"]),
            opportunity=Opportunity.objects.get(pk=o.pk),
            reason=self.reason,
            actual_close_date=at(day).date().isoformat(),
        )
        self.log[o.pk].update(status="lost", day=at(day).date())

    def abandon(self, o: Opportunity) -> None:
        svc.abandon_opportunity(
            actor=self.user(self.log[o.pk]["owner"]),
            opportunity=Opportunity.objects.get(pk=o.pk),
            reason=self.reason,
        )
        self.log[o.pk]["status"] = "abandoned"


def scenario(s: Sales) -> None:
    a1 = s.new("rep_a", [("甲产品", "1000")])
    s.win(a1, 10, "1000")
    a2 = s.new("rep_a", [("甲产品", "400")])
    s.move(a2, 2)
    s.lose(a2, 20)
    s.new("rep_a", [("乙产品", "50")], stage=1)  # open
    b1 = s.new("rep_b", [("甲产品", "200"), ("乙产品", "300")])
    s.win(b1, 40, "500")
    b2 = s.new("rep_b", [("乙产品", "70")])
    s.abandon(b2)  # neither won nor lost
    b3 = s.new("rep_b", [("乙产品", "80")])
    s.lose(b3, 100)  # after the period
    c1 = s.new("rep_c", [("丙产品", "2000")])
    s.win(c1, 5, "2000")
    c2 = s.new("rep_c", [("丙产品", "10")])
    s.lose(c2, 30)


def pct(won: int, closed: int) -> Decimal | None:
    if not closed:
        return None
    return (Decimal(won) * 100 / closed).quantize(Decimal("0.1"), ROUND_HALF_UP)


def expected(s: Sales, owners: set[str], key: str) -> dict[str, dict[str, Any]]:
    """The independent computation: plain Python over the log."""
    depts = {
        "rep_a": (s.w.depts["east"].name, s.w.depts["sales1"].name),
        "rep_b": (s.w.depts["south"].name, s.w.depts["sales1"].name),
        "rep_c": (s.w.depts["sales2"].name, s.w.depts["root"].name),
    }
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"won": 0, "won_value": Decimal(0), "lost": 0}
    )
    for entry in s.log.values():
        if entry["owner"] not in owners or entry["status"] not in ("won", "lost"):
            continue
        if not START <= entry["day"] <= LAST:
            continue
        won = entry["status"] == "won"
        if key == "product":
            seen = set()
            for product, value in entry["lines"]:
                row = acc[product]
                if product not in seen:
                    row["won" if won else "lost"] += 1
                    seen.add(product)
                if won:
                    row["won_value"] += Decimal(value)
            continue
        label = {
            "rep": s.people[entry["owner"]].name,
            "dept": depts[entry["owner"]][0],
            "parent": depts[entry["owner"]][1],
        }[key]
        acc[label]["won" if won else "lost"] += 1
        if won:
            acc[label]["won_value"] += entry["amount"]
    for row in acc.values():
        row["win_rate"] = pct(row["won"], row["won"] + row["lost"])
    return dict(acc)


def crm(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        str(r["label"]): {k: r[k] for k in ("won", "won_value", "lost", "win_rate")} for r in rows
    }


F = WinLossFilters(start=START, last=LAST)


def test_figures_equal_the_log_per_scope() -> None:
    # R4.8 / R8.7: per rep, department, parent department and product, in every scope
    s = Sales()
    scenario(s)
    cases = {
        "director": {"rep_a", "rep_b", "rep_c"},
        "manager": {"rep_a", "rep_b"},
        "rep_a": {"rep_a"},
    }
    for viewer, owners in cases.items():
        me = s.user(viewer)
        assert crm(winloss.by_rep(me, F)) == expected(s, owners, "rep"), viewer
        assert crm(winloss.by_department(me, F)) == expected(s, owners, "dept"), viewer
        assert crm(winloss.by_parent_department(me, F)) == expected(s, owners, "parent"), viewer
        assert crm(winloss.by_product(me, F)) == expected(s, owners, "product"), viewer
    # another organisation never counts
    other = Sales("另一家公司")
    scenario(other)
    assert crm(winloss.by_rep(s.user("director"), F)) == expected(
        s, {"rep_a", "rep_b", "rep_c"}, "rep"
    )


def test_lost_by_stage_reason_and_open_per_stage() -> None:
    # R4.8: where deals are lost and why; open deals per stage (now)
    s = Sales()
    scenario(s)
    me = s.user("director")
    f = WinLossFilters(start=START, last=LAST, pipeline=s.pipeline)
    lost = {r["key"]: r["lost"] for r in winloss.lost_by_stage(me, f)}
    # a2 lost in stage 2, c2 in stage 0 (b3 closed after the period)
    assert lost == {s.stages[2].pk: 1, s.stages[0].pk: 1}
    reasons = winloss.lost_by_reason(me, f)
    assert [(r["key"], r["lost"]) for r in reasons] == [(s.reason, 2)]
    assert reasons[0]["lost_value"] == Decimal("600")  # expected amounts 300 + 300
    opened = {r["key"]: r["open"] for r in winloss.open_by_stage(me, f)}
    assert opened == {st.pk: (1 if i == 1 else 0) for i, st in enumerate(s.stages)}
    total = winloss.totals(me, f)
    assert (total["won"], total["lost"], total["win_rate"]) == (3, 2, Decimal("60.0"))
    assert total["won_value"] == Decimal("3500")
    # unbounded period: b3 counts too
    assert winloss.totals(me, WinLossFilters())["lost"] == 3


def test_query_count_does_not_grow_with_rows() -> None:
    # R8: aggregated in SQL, no query per row
    s = Sales()
    scenario(s)
    me = s.user("director")
    with CaptureQueriesContext(connection) as few:
        winloss.figures(me, F)
    scenario(s)
    scenario(s)
    me = s.user("director")
    with CaptureQueriesContext(connection) as many:
        winloss.figures(me, F)
    assert len(many) == len(few)


def test_page_chart_table_click_through_and_export() -> None:
    # R4.8 page: figures with chart, table, click-through and Excel; permissions; bad input
    s = Sales()
    scenario(s)
    client = login_client(s.user("director"))
    query = f"date_from={START}&date_to={LAST}"
    response = client.get(f"/analytics/winloss/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("wl_rep", "wl_department", "wl_region", "wl_product", "wl_reason"):
        assert f'id="figure-{key}"' in html and f"{key}-data" in html
    assert 'id="figure-wl_open_stage"' in html and "/opportunities/?cond=" in html
    assert "¥3,500.00" in html
    export = client.get(f"/analytics/winloss/?{query}&export=wl_rep")
    assert export.status_code == 200 and "spreadsheet" in export["Content-Type"]
    assert client.get(f"/analytics/winloss/?{query}&export=nope").status_code == 404
    rep = login_client(s.user("rep_a"))
    assert rep.get(f"/analytics/winloss/?{query}").status_code == 200
    assert rep.get(f"/analytics/winloss/?{query}&export=wl_rep").status_code == 403
    bad = client.get("/analytics/winloss/?date_from=2026-03-01&date_to=2026-01-01")
    assert bad.status_code == 200 and 'data-error="date_to"' in bad.content.decode()
    nobody = login_client(fresh(s.w.users["nobody"]))
    assert nobody.get("/analytics/winloss/").status_code == 403


def test_page_fits_and_filters_by_rep() -> None:
    s = Sales()
    scenario(s)
    client = login_client(s.user("director"))
    rep = s.user("rep_b")
    html = client.get(f"/analytics/winloss/?date_from={START}&owner={rep.pk}").content.decode()
    assert rep.name in html and s.user("rep_c").name not in html.split('id="winloss-summary"')[1]


def test_api_figures_validation_and_scope(api_client: Any) -> None:
    # R4.8 API: the same figures; clear errors for bad input; nothing outside the scope
    s = Sales()
    scenario(s)
    client = api_client(s.user("director"))
    body = client.get(
        "/api/v1/winloss/", {"date_from": START.isoformat(), "date_to": LAST.isoformat()}
    ).json()
    reps = {
        r["name"]: {
            "won": r["won"],
            "won_value": Decimal(r["won_value"]),
            "lost": r["lost"],
            "win_rate": None if r["win_rate"] is None else Decimal(r["win_rate"]),
        }
        for r in body["reps"]
    }
    assert reps == expected(s, {"rep_a", "rep_b", "rep_c"}, "rep")
    assert body["totals"]["won_value"] == "3500.00" and body["totals"]["win_rate"] == "60.0"
    bad = client.get("/api/v1/winloss/", {"date_from": "2026-03-01", "date_to": "2026-01-01"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
    assert [e["field"] for e in bad.json()["errors"]] == ["date_to"]
    assert client.get("/api/v1/winloss/", {"date_from": "nonsense"}).status_code in (400, 422)
    # a rep asking for a department outside their scope, or another tenant's pipeline: 404
    rep = api_client(s.user("rep_a"))
    answer = rep.get("/api/v1/winloss/", {"department_id": s.w.depts["sales2"].pk})
    assert answer.status_code == 404
    other = Sales("另一家公司")
    assert client.get("/api/v1/winloss/", {"pipeline_id": other.pipeline.pk}).status_code == 404
    owner = other.people["rep_a"].pk
    assert client.get("/api/v1/winloss/", {"owner_id": owner}).status_code == 404
    mine = rep.get("/api/v1/winloss/").json()
    assert {r["name"] for r in mine["reps"]} == {s.people["rep_a"].name}
