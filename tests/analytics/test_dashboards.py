"""The dashboards of H-DASH (R8.1, R8.2, R8.3, R8.6, R8.7, R7.3): every figure equals an
independent computation in plain Python over the records created here through the services,
for a rep (own records), a manager (department tree) and a director (all); another
organisation's records never count; pages render, export needs analytics:export, and the number
of queries does not grow with the rows.

Time is frozen at 2026-06-15 12:00 (Asia/Shanghai): "this quarter" is 2026-04-01 … 2026-06-30."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.activities import services as activity_services
from crm.analytics import dashboards, targets
from crm.analytics.dashboards import Selection
from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.finance import plan_services, receipt_services
from crm.finance.selectors import awaiting_contracts
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity, Pipeline, Stage
from crm.sales import contract_services
from crm.sales.models import Contract

D = Decimal
ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=ZONE)
TODAY = NOW.date()
Q2 = (date(2026, 4, 1), date(2026, 7, 1))
_seq = itertools.count(1)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@dataclass
class Sales:
    """An organisation with reps in 华东组 (a, b) and 销售二部 (c), the manager of 销售一部, a
    director and the records each created (kept as plain dicts for the independent sums)."""

    world: World
    rep_a: User
    rep_b: User
    rep_c: User
    manager: User
    director: User
    contracts: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)

    def user(self, key: str) -> User:
        return fresh(getattr(self, key))

    def customer(self, owner: User, name: str | None = None) -> Customer:
        c = create_customer(actor=fresh(owner), data={"name": name or f"看板客户{next(_seq)}"})
        self.customers.append({"pk": c.pk, "owner": owner.pk, "created": TODAY})
        return c

    def contract(
        self,
        owner: User,
        customer: Customer,
        amount: str,
        signed_on: date,
        *,
        terminated: bool = False,
        **dates: Any,
    ) -> Contract:
        actor = fresh(owner)
        c = contract_services.create_contract(
            actor=actor,
            customer=customer,
            data={"name": f"合同{next(_seq)}", "amount": amount, **dates},
        )
        c = contract_services.submit_contract(actor=actor, contract=c)
        c = contract_services.sign_contract(actor=actor, contract=c, signed_on=signed_on)
        if terminated:
            c = contract_services.terminate_contract(actor=actor, contract=c, reason="客户取消")
        self.contracts.append(
            {
                "pk": c.pk,
                "owner": owner.pk,
                "customer": customer.pk,
                "amount": D(amount),
                "signed_on": signed_on,
                "status": c.status,
                "due": dates.get("renewal_on") or dates.get("ends_on"),
            }
        )
        return c

    def plan_and_collect(
        self, contract: Contract, rows: list[tuple[date, str]], paid: list[tuple[date, str]]
    ) -> None:
        boss = fresh(self.director)
        plan_services.replace_plans(
            actor=boss,
            contract=contract,
            rows=[{"due_on": due, "amount": amount} for due, amount in rows],
        )
        for due, amount in rows:
            self.plans.append({"owner": contract.owner_id, "due_on": due, "amount": D(amount)})
        for day, amount in paid:
            receipt_services.record_receipt(
                actor=boss, contract=contract, data={"amount": amount, "received_on": day}
            )
            self.receipts.append({"owner": contract.owner_id, "on": day, "amount": D(amount)})


def dept_path(user: User) -> str:
    return fresh(user).department.path  # type: ignore[union-attr]


def build_sales(name: str | None = None) -> Sales:
    w = build_world(name)
    admin, org = w.admin, w.org
    s = Sales(
        world=w,
        rep_a=make_user(admin, "看板销售甲", w.depts["east"], [role(org, "rep")]),
        rep_b=make_user(admin, "看板销售乙", w.depts["east"], [role(org, "rep")]),
        rep_c=make_user(admin, "看板销售丙", w.depts["sales2"], [role(org, "rep")]),
        manager=make_user(admin, "看板经理", w.depts["sales1"], [role(org, "manager")]),
        director=make_user(admin, "看板总监", w.depts["root"], [role(org, "director")]),
    )
    a1 = s.customer(s.rep_a)
    a2 = s.customer(s.rep_a)
    b1 = s.customer(s.rep_b)
    c1 = s.customer(s.rep_c)
    # an old customer: created last year (not new in the period)
    old = s.customer(s.rep_b)
    Customer.objects.filter(pk=old.pk).update(created_at=datetime(2025, 3, 1, 9, tzinfo=ZONE))
    s.customers[-1]["created"] = date(2025, 3, 1)
    # rep a: an old contract of a1 (last year) and its renewal in May; a2 in April; a
    # terminated contract that never counts
    k1 = s.contract(s.rep_a, a1, "100000", date(2025, 12, 10), renewal_on=date(2027, 3, 1))
    k2 = s.contract(s.rep_a, a1, "50000", date(2026, 5, 10))
    k3 = s.contract(s.rep_a, a2, "30000", date(2026, 4, 20), renewal_on=date(2026, 7, 15))
    s.contract(
        s.rep_a, a2, "20000", date(2026, 4, 25), terminated=True, renewal_on=date(2026, 8, 1)
    )
    # rep b: b1 in June, ends in September (no renewal date)
    k5 = s.contract(s.rep_b, b1, "80000", date(2026, 6, 1), ends_on=date(2026, 9, 22))
    # rep c (another department): c1 in April, renewal in August
    k6 = s.contract(s.rep_c, c1, "70000", date(2026, 4, 20), renewal_on=date(2026, 8, 14))
    s.plan_and_collect(k1, [(date(2025, 12, 20), "100000")], [(date(2025, 12, 20), "100000")])
    s.plan_and_collect(k2, [(date(2026, 6, 12), "50000")], [(date(2026, 6, 13), "20000")])
    s.plan_and_collect(k3, [(date(2026, 7, 20), "30000")], [])
    s.plan_and_collect(
        k5,
        [(date(2026, 6, 5), "40000"), (date(2026, 7, 15), "40000")],
        [(date(2026, 6, 14), "40000")],
    )
    s.plan_and_collect(k6, [(date(2026, 5, 1), "70000")], [(date(2026, 5, 2), "70000")])
    return s


@pytest.fixture
def frozen() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sales(db: None, frozen: Any) -> Sales:
    s = build_sales()
    other = build_sales("另一家看板公司")  # another tenant with the same kind of data
    assert other.world.org.pk != s.world.org.pk
    return s


# --- independent computations ----------------------------------------------------------------
def visible_owners(s: Sales, viewer: str) -> set[int]:
    """Whose records each viewer sees (their sales/finance data scope)."""
    if viewer in ("rep_a", "rep_b", "rep_c"):
        return {getattr(s, viewer).pk}
    if viewer == "manager":
        return {s.rep_a.pk, s.rep_b.pk, s.manager.pk}
    return {s.rep_a.pk, s.rep_b.pk, s.rep_c.pk, s.manager.pk, s.director.pk}


def pct(part: Decimal, whole: Decimal | None) -> Decimal | None:
    if not whole:
        return None
    return (D(part) * 100 / D(whole)).quantize(D("0.1"), rounding=ROUND_HALF_UP)


def expected(s: Sales, viewer: str, start: date, end: date) -> dict[str, Any]:
    owners = visible_owners(s, viewer)
    binding = {"signed", "executing", "completed"}
    mine = [c for c in s.contracts if c["owner"] in owners]
    signed = [c for c in mine if c["status"] in binding and start <= c["signed_on"] < end]
    renewal = [
        c
        for c in signed
        if any(
            o["customer"] == c["customer"] and o["signed_on"] < c["signed_on"] for o in s.contracts
        )
    ]
    collected = sum(
        (r["amount"] for r in s.receipts if r["owner"] in owners and start <= r["on"] < end), D(0)
    )
    due = sum(
        (p["amount"] for p in s.plans if p["owner"] in owners and start <= p["due_on"] < end), D(0)
    )
    new = [c for c in s.customers if c["owner"] in owners and start <= c["created"] < end]
    return {
        "signed": sum((c["amount"] for c in signed), D(0)),
        "signed_count": len(signed),
        "renewal": sum((c["amount"] for c in renewal), D(0)),
        "renewal_count": len(renewal),
        "collected": collected,
        "due": due,
        "collection_rate": pct(collected, due),
        "new_customers": len(new),
        "per_rep": {
            o: sum((c["amount"] for c in signed if c["owner"] == o), D(0))
            for o in {c["owner"] for c in signed}
        },
    }


def sel(
    s: Sales, viewer: str, start: date = Q2[0], end: date = Q2[1], dept: Any = None
) -> Selection:
    return Selection(viewer=s.user(viewer), start=start, end=end, today=TODAY, department=dept)


# --- R8.1: cards for a rep, a manager and a director ------------------------------------------
@pytest.mark.parametrize("viewer", ["rep_a", "rep_b", "manager", "director"])
def test_cards_equal_an_independent_computation(sales: Sales, viewer: str) -> None:
    # R8.1 (signed, achievement, collected, collection rate, renewal, new customers), R8.6
    board = dashboards.dashboard(sel(sales, viewer))
    want = expected(sales, viewer, *Q2)
    cards = board.cards
    for key in ("signed", "signed_count", "renewal", "renewal_count", "collected", "due"):
        assert cards[key] == want[key], key
    assert cards["collection_rate"] == want["collection_rate"]
    assert cards["new_customers"] == want["new_customers"]
    assert cards["signed_target"] is None  # no targets yet
    assert cards["achievement"] is None


def test_figures_by_hand(sales: Sales) -> None:
    # R8.1: the same numbers written out once, so the definitions are pinned down
    director = dashboards.dashboard(sel(sales, "director")).cards
    # signed in Q2: k2 50,000 + k3 30,000 + k5 80,000 + k6 70,000 (k4 terminated)
    assert director["signed"] == D("230000.00")
    # renewal: k2 (a1 signed k1 before)
    assert director["renewal"] == D("50000.00")
    # collected in Q2: 20,000 + 40,000 + 70,000; due in Q2: 50,000 + 40,000 + 70,000
    assert director["collected"] == D("130000.00")
    assert director["collection_rate"] == D("81.3")
    rep = dashboards.dashboard(sel(sales, "rep_a")).cards
    assert rep["signed"] == D("80000.00") and rep["collected"] == D("20000.00")


def test_targets_and_achievement_per_scope(sales: Sales) -> None:
    # R8.6: targets per rep (months) and per department (quarter); the achievement rate
    boss = sales.user("director")
    months = [date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
    targets.save_grid(
        actor=boss,
        metric="signed",
        period="month",
        year=2026,
        level="rep",
        cells={
            (sales.rep_a.pk, m): v for m, v in zip(months, ["30000", "30000", "40000"], strict=True)
        },
    )
    targets.save_grid(
        actor=boss,
        metric="signed",
        period="quarter",
        year=2026,
        level="rep",
        cells={(sales.rep_b.pk, date(2026, 4, 1)): "100000"},
    )
    sales1 = sales.world.depts["sales1"]
    targets.save_grid(
        actor=boss,
        metric="signed",
        period="quarter",
        year=2026,
        level="department",
        cells={(sales1.pk, date(2026, 4, 1)): "300000"},
    )
    targets.save_grid(
        actor=boss,
        metric="new_customers",
        period="year",
        year=2026,
        level="rep",
        cells={(sales.rep_a.pk, date(2026, 1, 1)): "24"},
    )
    # the rep: own target (3 months), signed 80,000 of 100,000
    rep = dashboards.dashboard(sel(sales, "rep_a")).cards
    assert rep["signed_target"] == D("100000.00")
    assert rep["achievement"] == pct(expected(sales, "rep_a", *Q2)["signed"], D(100000))
    # new customers: the year target spread evenly, 24 / 12 × 3 months
    assert rep["new_customers_target"] == 6
    # the manager: the department's own target of 销售一部
    manager = dashboards.dashboard(sel(sales, "manager")).cards
    assert manager["signed_target"] == D("300000.00")
    assert manager["achievement"] == pct(expected(sales, "manager", *Q2)["signed"], D(300000))
    # the director: the root has no target, so the reps' targets add up
    director = dashboards.dashboard(sel(sales, "director"))
    assert director.cards["signed_target"] == D("200000.00")
    ranking = director.figure("ranking")
    assert ranking is not None
    by_rep = {r["_pk"]: r for r in ranking.rows}
    assert by_rep[sales.rep_a.pk]["signed_target"] == D("100000.00")
    assert by_rep[sales.rep_b.pk]["achievement"] == pct(D(80000), D(100000))
    depts = director.figure("departments")
    assert depts is not None
    sales1_row = next(r for r in depts.rows if r["_pk"] == sales1.pk)
    assert sales1_row["signed_target"] == D("300000.00")
    assert sales1_row["signed"] == expected(sales, "manager", *Q2)["signed"]
    # the monthly trend's target is the months' targets (plus b's quarter ÷ 3)
    trend = director.figure("trend")
    assert trend is not None
    june = next(r for r in trend.rows if r["month"] == "2026-06")
    assert june["signed_target"] == D("40000") + (D("100000") / 3).quantize(D("0.01"))


def test_ranking_and_trend_equal_independent_sums(sales: Sales) -> None:
    # R8.1: team ranking by signed amount, monthly trend of signed vs collected
    board = dashboards.dashboard(sel(sales, "director"))
    want = expected(sales, "director", *Q2)
    ranking = board.figure("ranking")
    assert ranking is not None
    got = {r["_pk"]: r["signed"] for r in ranking.rows if r["signed"]}
    assert got == want["per_rep"]
    amounts = [r["signed"] for r in ranking.rows]
    assert amounts == sorted(amounts, reverse=True)
    trend = board.figure("trend")
    assert trend is not None
    assert [r["month"] for r in trend.rows] == ["2026-04", "2026-05", "2026-06"]
    for row in trend.rows:
        y, m = (int(x) for x in row["month"].split("-"))
        lo = date(y, m, 1)
        hi = targets.add_months(lo, 1)
        assert row["signed"] == expected(sales, "director", lo, hi)["signed"]
        assert row["collected"] == expected(sales, "director", lo, hi)["collected"]


def test_department_filter_narrows_and_never_widens(sales: Sales) -> None:
    # R8.1: the department picker
    sales2 = sales.world.depts["sales2"]
    cards = dashboards.dashboard(sel(sales, "director", dept=sales2)).cards
    assert cards["signed"] == D("70000.00")
    assert cards["collected"] == D("70000.00")
    # the manager cannot pick 销售二部 (outside their scope)
    assert sales2 not in list(targets.departments_in_scope(sales.user("manager")))
    assert sales.world.depts["east"] in list(targets.departments_in_scope(sales.user("manager")))


def test_another_tenant_never_counts(sales: Sales) -> None:
    # R8.1: the other organisation built the same records; none of them are counted
    cards = dashboards.dashboard(sel(sales, "director")).cards
    assert cards["signed"] == expected(sales, "director", *Q2)["signed"]
    assert Contract.objects.count() == 2 * len(sales.contracts)


# --- R8.2 / R7.3 -----------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", ["rep_a", "manager", "director"])
def test_key_customers_order_and_content(sales: Sales, viewer: str) -> None:
    # R8.2: renewal due in 6 months (renewal date, or end date), ordered by 2-year signed total
    figure = dashboards.key_customers(sel(sales, viewer))
    owners = visible_owners(sales, viewer)
    horizon = date(2026, 12, 15)
    binding = {"signed", "executing", "completed"}
    mine = [c for c in sales.contracts if c["owner"] in owners and c["status"] in binding]
    due = {c["customer"] for c in mine if c["due"] and TODAY <= c["due"] <= horizon}
    totals = {
        cust: sum(
            (
                c["amount"]
                for c in mine
                if c["customer"] == cust and c["signed_on"] >= date(2024, 6, 15)
            ),
            D(0),
        )
        for cust in due
    }
    want = sorted(due, key=lambda c: -totals[c])
    assert [r["_pk"] for r in figure.rows] == want
    assert [r["signed_2y"] for r in figure.rows] == [totals[c] for c in want]


def test_awaiting_payment_reuses_finance(sales: Sales) -> None:
    # R7.3: contracts awaiting payment shown prominently, the finance selector's rows
    figure = dashboards.awaiting(sel(sales, "manager"))
    manager = sales.user("manager")
    want = list(awaiting_contracts(manager, TODAY).values_list("number", flat=True))
    assert [r["number"] for r in figure.rows] == want
    assert figure.extra["count"] == len(want)


# --- R8.3 ------------------------------------------------------------------------------------
def test_customers_by_stage_per_rep(sales: Sales) -> None:
    # R8.3: rep × open stage; distinct customers, opportunities and amount
    rep_a, rep_b = sales.user("rep_a"), sales.user("rep_b")
    pipeline = Pipeline.objects.get(org=sales.world.org, is_default=True)
    stages = list(
        Stage.objects.filter(
            pipeline=pipeline, parent__isnull=True, kind="open", is_active=True
        ).order_by("sort_order", "pk")
    )
    cust_a = Customer.objects.filter(owner=rep_a).order_by("pk")[0]
    cust_b = Customer.objects.filter(owner=rep_b).order_by("pk")[0]
    made = []
    for owner, cust, stage, amount in [
        (rep_a, cust_a, stages[0], "1000"),
        (rep_a, cust_a, stages[0], "2000"),
        (rep_a, cust_a, stages[1], "3000"),
        (rep_b, cust_b, stages[1], "4000"),
    ]:
        opp = opportunities.create_opportunity(
            actor=owner,
            customer=cust,
            data={"name": f"商机{next(_seq)}", "expected_amount": amount},
            pipeline=pipeline,
            stage=stage,
        )
        made.append((owner.pk, cust.pk, stage.pk, D(amount), opp))
    for viewer, owners in [("rep_a", {rep_a.pk}), ("manager", {rep_a.pk, rep_b.pk})]:
        matrix = dashboards.stages_by_rep(sel(sales, viewer), pipeline)
        assert [s.pk for s in matrix.stages] == [s.pk for s in stages]
        got = {
            (rep["pk"], cell["stage"].pk): (
                cell["customers"],
                cell["opportunities"],
                cell["amount"],
            )
            for rep in matrix.reps
            for cell in rep["cells"]
            if cell["opportunities"]
        }
        want: dict[tuple[int, int], Any] = {}
        for owner, stage in {(m[0], m[2]) for m in made if m[0] in owners}:
            rows = [m for m in made if m[0] == owner and m[2] == stage]
            want[(owner, stage)] = (
                len({m[1] for m in rows}),
                len(rows),
                sum((m[3] for m in rows), D(0)),
            )
        assert got == want
        assert "cond=" in matrix.reps[0]["cells"][0]["url"]


# --- R8.7 ------------------------------------------------------------------------------------
def test_behaviour_followups_vs_deals_won(sales: Sales) -> None:
    # R8.7: follow-ups by method in the period vs opportunities won and won amount
    rep_a, rep_b = sales.user("rep_a"), sales.user("rep_b")
    cust_a = Customer.objects.filter(owner=rep_a).order_by("pk")[0]
    cust_b = Customer.objects.filter(owner=rep_b).order_by("pk")[0]
    log = [
        (rep_a, cust_a, "call", datetime(2026, 5, 3, 10, tzinfo=ZONE)),
        (rep_a, cust_a, "call", datetime(2026, 6, 1, 10, tzinfo=ZONE)),
        (rep_a, cust_a, "visit", datetime(2026, 6, 2, 10, tzinfo=ZONE)),
        (rep_a, cust_a, "call", datetime(2026, 3, 31, 23, 30, tzinfo=ZONE)),  # before Q2
        (rep_b, cust_b, "wechat", datetime(2026, 4, 1, 0, 10, tzinfo=ZONE)),  # Q2, local time
    ]
    for owner, cust, method, when in log:
        activity_services.record_followup(
            actor=owner,
            customer=cust,
            data={"method": method, "content": "沟通", "happened_at": when},
        )
    opp = opportunities.create_opportunity(
        actor=rep_a, customer=cust_a, data={"name": "赢单商机", "expected_amount": "9000"}
    )
    opportunities.win_opportunity(
        actor=rep_a, opportunity=opp, actual_amount="8800", actual_close_date=date(2026, 5, 20)
    )
    per_rep, by_method = dashboards.behaviour(sel(sales, "director"))
    rows = {r["_pk"]: r for r in per_rep.rows}
    in_q2 = [x for x in log if Q2[0] <= x[3].astimezone(ZONE).date() < Q2[1]]
    for user in (rep_a, rep_b):
        mine = [x for x in in_q2 if x[0].pk == user.pk]
        for method in ("call", "visit", "wechat"):
            assert rows[user.pk][method] == sum(1 for x in mine if x[2] == method)
        assert rows[user.pk]["followups"] == len(mine)
    assert rows[rep_a.pk]["won"] == 1
    assert rows[rep_a.pk]["won_amount"] == D("8800.00")
    assert rows[rep_a.pk]["per_deal"] == D("3.0")
    assert rows[rep_b.pk]["per_deal"] is None
    methods = {r["method"]: r["followups"] for r in by_method.rows}
    assert sum(methods.values()) == len(in_q2)
    # the rep sees only their own follow-ups
    own, _m = dashboards.behaviour(sel(sales, "rep_b"))
    assert {r["_pk"] for r in own.rows} == {rep_b.pk}
    assert Opportunity.objects.filter(status="won").count() >= 1


# --- pages, export, query counts --------------------------------------------------------------
PAGES = [
    "analytics:dashboard",
    "analytics:key_customers",
    "analytics:stages_by_rep",
    "analytics:behaviour",
    "analytics:targets",
]


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_for_rep_and_director(sales: Sales, client_for: Any, name: str) -> None:
    # R8.1–R8.7: every page renders for a rep (own) and a director (all)
    for who in ("rep_a", "director"):
        r = client_for(sales.user(who)).get(reverse(name) + "?period=this_quarter")
        assert r.status_code == 200, (who, name)


def test_dashboard_page_shows_the_figures(sales: Sales, client_for: Any) -> None:
    # R8.1: the landing page of Reports shows the cards and clickable figures
    r = client_for(sales.user("director")).get(
        reverse("analytics:dashboard") + "?period=this_quarter"
    )
    page = r.content.decode()
    assert "¥230,000.00" in page
    assert "¥130,000.00" in page
    assert "81.3%" in page
    assert "signed_from=2026-04-01" in page
    assert 'id="figure-ranking"' in page and 'id="figure-trend"' in page


def test_nobody_without_analytics_view(sales: Sales, client_for: Any) -> None:
    # R8: pages need analytics:view
    nobody = sales.world.users["nobody"]
    for name in PAGES:
        assert client_for(nobody).get(reverse(name)).status_code == 403


def test_export_needs_analytics_export(sales: Sales, client_for: Any) -> None:
    # R8.1: every figure exports to Excel; a rep (analytics:view only) may not export
    url = reverse("analytics:dashboard") + "?period=this_quarter&export=ranking"
    r = client_for(sales.user("director")).get(url)
    assert r.status_code == 200
    assert "spreadsheetml" in r["Content-Type"]
    assert client_for(sales.user("rep_a")).get(url).status_code == 403
    bad = reverse("analytics:dashboard") + "?export=nope"
    assert client_for(sales.user("director")).get(bad).status_code == 404
    for name, key in [
        ("analytics:key_customers", "key_customers"),
        ("analytics:key_customers", "awaiting"),
        ("analytics:stages_by_rep", "stages"),
        ("analytics:behaviour", "behaviour"),
    ]:
        r = client_for(sales.user("manager")).get(reverse(name) + f"?export={key}&format=csv")
        assert r.status_code == 200, key


def test_bad_filters_are_explained(sales: Sales, client_for: Any) -> None:
    # R8.1: a custom range needs both days in order; an unknown department is refused
    client = client_for(sales.user("manager"))
    r = client.get(
        reverse("analytics:dashboard") + "?period=custom&date_from=2026-05-01&date_to=2026-04-01"
    )
    assert r.status_code == 200
    assert "invalid-feedback" in r.content.decode()
    other = sales.world.depts["sales2"].pk
    r = client.get(reverse("analytics:dashboard") + f"?department={other}")
    assert r.status_code == 200
    assert "invalid-feedback" in r.content.decode()


def test_query_count_does_not_grow_with_rows(sales: Sales) -> None:
    # R8: dashboards aggregate in SQL
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            dashboards.dashboard(sel(sales, "director"))
            dashboards.key_customers(sel(sales, "director"))
            dashboards.behaviour(sel(sales, "director"))
        return len(ctx.captured_queries)

    before = count()
    for _i in range(3):
        cust = sales.customer(sales.rep_c)
        sales.contract(sales.rep_c, cust, "1000", date(2026, 5, 5), renewal_on=date(2026, 9, 1))
    assert count() == before


def test_period_presets() -> None:
    # R8.1: this/last month, quarter, year
    day = date(2026, 1, 15)
    assert dashboards.preset_range("this_month", day) == (date(2026, 1, 1), date(2026, 2, 1))
    assert dashboards.preset_range("last_month", day) == (date(2025, 12, 1), date(2026, 1, 1))
    assert dashboards.preset_range("this_quarter", day) == (date(2026, 1, 1), date(2026, 4, 1))
    assert dashboards.preset_range("last_quarter", day) == (date(2025, 10, 1), date(2026, 1, 1))
    assert dashboards.preset_range("this_year", day) == (date(2026, 1, 1), date(2027, 1, 1))
    assert dashboards.preset_range("last_year", day) == (date(2025, 1, 1), date(2026, 1, 1))
    assert dashboards.shift_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
