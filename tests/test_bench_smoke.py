"""Smoke test of the benchmark harness (issue 8, R11.2) on the SQLite test database: the
generator's building blocks make a tiny organisation, one read scenario, the pool claims and the
sweep run on it, and the statistics, the SQL floor and the ratio are computed exactly; then its
opportunities, stage history, follow-ups and visit plans are generated consistently with what
the services would have written, and the opportunity scenarios and jobs run on them."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bench import generate, measure, report
from bench import run as bench_run
from django.db.models import Q
from django.utils import timezone

from crm.activities.models import FollowUp, Reminder, VisitPlan
from crm.core.models import Event, Notification
from crm.customers import pool_services
from crm.customers.models import Contact, Customer, OwnershipMove
from crm.customers.normalize import normalize_name, phone_digits, pinyin_of
from crm.leads.models import Lead
from crm.org.models import User
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus
from crm.pipeline.models import Opportunity, StageHistory
from crm.pipeline.opportunities import derive_deadlines


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000.0


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.description: Any = None

    def execute(self, sql: str) -> None:
        self.conn.executed.append(sql)
        self.conn.clock.advance(self.conn.ms_per_statement)
        self.description = [("x",)] if sql.lstrip().upper().startswith("SELECT") else None

    def fetchall(self) -> list[tuple[int]]:
        self.conn.fetched += 1
        return [(1,)]

    def close(self) -> None:
        pass


class FakeConnection:
    """A DB-API connection whose every statement takes ``ms_per_statement`` on the clock."""

    def __init__(self, clock: FakeClock, ms_per_statement: float) -> None:
        self.clock = clock
        self.ms_per_statement = ms_per_statement
        self.executed: list[str] = []
        self.fetched = 0
        self.rollbacks = 0

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def rollback(self) -> None:
        self.rollbacks += 1


def test_statistics_are_exact() -> None:
    # R11.2: median, nearest-rank p99 and the ratio to the floor
    assert measure.median([3.0, 1.0, 2.0]) == 2.0
    assert measure.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    thirty = [float(n) for n in range(1, 31)]
    assert measure.percentile(thirty, 99) == 30.0
    assert measure.percentile(thirty, 50) == 15.0
    assert measure.percentile([float(n) for n in range(1, 201)], 99) == 198.0
    assert measure.ratio(12.0, 4.0) == 3.0
    assert measure.ratio(1.0, 0.0) is None
    with pytest.raises(ValueError):
        measure.median([])


def test_floor_reruns_exactly_the_captured_statements() -> None:
    # R11.2: the floor runs every statement once per round, fetches rows, times only the SQL
    clock = FakeClock()
    conn = FakeConnection(clock, ms_per_statement=1.5)
    statements = [
        'SELECT "a" FROM "t" WHERE "id" = 1',
        'DECLARE "_django_curs_1_sync_1" NO SCROLL CURSOR WITH HOLD FOR SELECT "b" FROM "u"',
        'UPDATE "django_session" SET "expire_date" = \'2026-01-01\'',
    ]
    floor = measure.run_floor(conn, statements, repeat=4, clock=clock)
    assert floor.samples_ms == pytest.approx([4.5, 4.5, 4.5, 4.5], rel=1e-9)
    assert floor.median_ms == pytest.approx(4.5, rel=1e-9)
    assert (
        conn.executed
        == [
            'SELECT "a" FROM "t" WHERE "id" = 1',
            'SELECT "b" FROM "u"',
            'UPDATE "django_session" SET "expire_date" = \'2026-01-01\'',
        ]
        * 4
    )
    assert conn.fetched == 8  # the two SELECTs of each of the 4 rounds
    assert conn.rollbacks == 4  # each round's writes are undone
    kept = FakeConnection(FakeClock(), ms_per_statement=1.0)
    measure.run_floor(kept, statements[:1], repeat=2, clock=kept.clock, rollback=False)
    assert kept.rollbacks == 0


def test_timed_calls_skip_the_warm_up() -> None:
    # R11.2: warm-up runs are made but not timed; each timed run is measured on its own
    clock = FakeClock()
    durations = iter([50.0, 50.0, 50.0, 2.0, 4.0, 3.0])
    calls = []

    def call() -> int:
        clock.advance(next(durations))
        calls.append(1)
        return 200

    seen: list[int] = []
    timing = measure.time_calls(call, repeat=3, warmup=3, clock=clock, check=seen.append)
    assert len(calls) == 6 and seen == [200] * 6
    assert timing.samples_ms == pytest.approx([2.0, 4.0, 3.0])
    assert timing.median_ms == pytest.approx(3.0)
    assert timing.p99_ms == pytest.approx(4.0)


def test_company_names_are_distinct_and_realistic() -> None:
    # R11.2: city + brand + industry word + legal suffix; brand words repeat across names
    names = generate.company_names(500, seed=3)
    assert len({c.name for c in names}) == 500
    assert all(c.name.endswith(("公司", "分公司")) for c in names)
    assert all(c.industry in generate.INDUSTRY_WORDS for c in names)
    brands = [c.brand for c in names]
    assert len(set(brands)) < len(brands)  # partial repetition, like real data
    assert generate.company_names(20, seed=3) == names[:20]  # seeded


@pytest.mark.django_db
def test_harness_runs_on_a_tiny_organisation(tmp_path: Path) -> None:
    # R11.2: the generator's pieces, one read as the rep, claims and the sweep, end to end
    sizes = generate.Sizes(customers=50, leads=20, departments=3, users=10, orgs=1, pool_share=0.3)
    rng = random.Random(5)
    now = timezone.now()
    counter = generate.Counter()
    plan = generate.build_org(1)
    generate.build_departments(plan, sizes.departments)
    assert len(plan.divisions) == 1 and len(plan.teams) == 2
    assert generate.build_users(plan, sizes.users, rng) == 9  # + the admin = 10
    names = generate.company_names(sizes.customers, seed=1)
    derived = generate.derive_search_columns(names)
    generate.build_customers(plan, names, derived, sizes, rng, now, counter, log=lambda _t: None)
    generate.build_leads(plan, sizes.leads, rng, now, counter)
    assert counter.rows == {
        "customers_customer": 50,
        "customers_contact": 100,
        "customers_customer_tags": counter.rows["customers_customer_tags"],
        "customers_customer_collaborators": counter.rows["customers_customer_collaborators"],
        "core_event": 50,
        "leads_lead": 20,
    }
    assert User.objects.filter(org=plan.org).count() == 10
    assert Customer.objects.filter(org=plan.org).count() == 50
    assert Contact.objects.filter(org=plan.org).count() == 100
    assert Lead.objects.filter(org=plan.org).count() == 20
    customer = Customer.objects.filter(org=plan.org).order_by("pk").first()
    assert customer is not None
    assert customer.normalized_name == normalize_name(customer.name)
    assert (customer.name_pinyin, customer.name_initials) == pinyin_of(customer.name)
    assert customer.phone_digits == phone_digits(customer.phone)
    # a history of years, not the moment of the insert
    assert Customer.objects.filter(org=plan.org, created_at__lt=now).count() == 50
    assert Customer.objects.filter(org=plan.org).values("created_at").distinct().count() == 50

    users = bench_run.find_actors(plan.org)
    assert users["rep"].roles.get().code == "rep"
    assert users["manager"].roles.get().code == "manager"
    assert users["director"].roles.get().code == "director"
    actors = [bench_run.make_actor(key, user) for key, user in users.items()]
    ctx = bench_run.build_context(plan.org, users["rep"])
    # the test's own connection (its data is in the uncommitted test transaction), on SQLite
    # and on PostgreSQL alike; never rolled back
    conn, owned = bench_run.floor_connection(shared=True)
    assert owned is False
    scenario = next(s for s in bench_run.READS if s.key == "list_api")
    row = bench_run.measure_read(
        scenario, actors[0], ctx, repeat=2, warmup=1, floor_conn=conn, rollback=False
    )
    rep = users["rep"]
    visible = (
        Customer.objects.filter(org=plan.org)
        .filter(Q(owner=rep) | Q(owner__isnull=True) | Q(collaborators=rep))
        .distinct()
        .count()
    )
    assert row["rows"] == visible
    assert len(row["samples_ms"]) == 2 and len(row["floor_samples_ms"]) == 2
    # samples are stored rounded, so the recomputed medians agree to the last stored digit
    assert row["median_ms"] == pytest.approx(measure.median(row["samples_ms"]), abs=0.011)
    assert row["floor_median_ms"] == pytest.approx(
        measure.median(row["floor_samples_ms"]), abs=0.011
    )
    raw_ratio = measure.median(row["samples_ms"]) / measure.median(row["floor_samples_ms"])
    assert row["ratio"] == pytest.approx(raw_ratio, rel=0.01, abs=0.01)  # samples are rounded
    assert 1 <= row["queries"] <= bench_run.QUERY_BUDGET
    budget = bench_run.query_budget(scenario, actors[0], ctx)
    assert (budget["small_size"], budget["large_size"]) == (10, 100)
    assert budget["queries_large"] <= budget["queries_small"] and budget["equal"]

    moves, events = OwnershipMove.objects.count(), Event.objects.count()
    writes = bench_run.measure_claims(actors[:1], ctx, repeat=2, warmup=1)
    assert [w["scenario"] for w in writes] == ["pool_claim", "pool_release"]
    assert all(len(w["samples_ms"]) == 2 for w in writes)
    assert (OwnershipMove.objects.count(), Event.objects.count()) == (moves, events)

    owners = dict(Customer.objects.filter(org=plan.org).values_list("pk", "owner_id"))
    sweep = bench_run.measure_sweep(plan.org, runs=1, log=lambda _t: None)
    assert sweep["due"] == 1 and sweep["returned"] == 1  # 1 % of 50, rounded up to one
    assert dict(Customer.objects.filter(org=plan.org).values_list("pk", "owner_id")) == owners
    assert (OwnershipMove.objects.count(), Event.objects.count()) == (moves, events)

    results = {
        "date": "2026-01-01",
        "scale": "small",
        "repeat": 2,
        "warmup": 1,
        "machine": {"cpu": "test", "cores": 2, "ram_gb": 1, "python": "3", "django": "6"}
        | {"database_version": "SQLite"},
        "dataset": {"sizes": sizes.as_dict(), "rows": counter.rows},
        "reads": [row],
        "query_budget": [budget],
        "writes": writes,
        "sweep": sweep,
        "peak_rss_mb": 1,
    }
    docs = tmp_path / "benchmarks.md"
    docs.write_text("intro\n<!-- bench:small:start -->\nold\n<!-- bench:small:end -->\nend\n")
    report.write_docs(docs, results)
    text = docs.read_text()
    assert text.startswith("intro\n<!-- bench:small:start -->\nRun of 2026-01-01")
    assert text.endswith("<!-- bench:small:end -->\nend\n")
    assert "old" not in text and "| Customer list API | rep (SELF) |" in text


def _tiny_org(sizes: generate.Sizes, now: Any) -> generate.OrgPlan:
    rng = random.Random(5)
    plan = generate.build_org(1)
    generate.build_departments(plan, sizes.departments)
    generate.build_users(plan, sizes.users, rng)
    names = generate.company_names(sizes.customers, seed=1)
    derived = generate.derive_search_columns(names)
    generate.build_customers(
        plan, names, derived, sizes, rng, now, generate.Counter(), log=lambda _t: None
    )
    return plan


@pytest.mark.django_db
def test_opportunities_are_generated_as_the_services_would_leave_them() -> None:
    # R11.2: opportunities, history, follow-ups and plans are consistent with each other and
    # with the customers, and the derived columns are exactly what derive_deadlines sets
    sizes = generate.Sizes(
        customers=60,
        leads=0,
        departments=3,
        users=10,
        orgs=1,
        pool_share=0.2,
        opportunities=120,
        followups=300,
        visit_plans=30,
    )
    now = timezone.now().replace(microsecond=0)
    plan = _tiny_org(sizes, now)
    org = plan.org
    had_won = dict(
        Customer.objects.filter(org=org, last_won_at__isnull=False).values_list("pk", "last_won_at")
    )
    before = dict(Customer.objects.filter(org=org).values_list("pk", "last_followup_at"))
    counter = generate.Counter()
    generate.build_opportunities(
        org.pk, sizes, random.Random(3), now, counter, batch=50, log=lambda _t: None
    )
    generate.refresh_customers(org.pk)
    opps = list(Opportunity.objects.filter(org=org).select_related("stage", "customer"))
    assert len(opps) == 120 == counter.rows["pipeline_opportunity"]
    assert FollowUp.objects.filter(org=org).count() == 300  # exactly, over the batches
    assert FollowUp.objects.filter(org=org, opportunity__isnull=True).count() == 30
    assert 0 < VisitPlan.objects.filter(org=org).count() <= 30
    assert {o.status for o in opps} <= set(OpportunityStatus.values)
    assert all(o.customer.owner_id is not None for o in opps)  # owned customers only
    amounts = [o.expected_amount for o in opps]
    assert all(a is not None and a == a.quantize(Decimal("0.01")) for a in amounts)
    assert {o.feedback_cycle for o in opps} <= {"3d", "7d", "14d"}
    for o in opps:
        followups = list(FollowUp.objects.filter(opportunity=o).order_by("-happened_at", "-pk"))
        latest = followups[0] if followups else None
        assert o.last_followup_at == (latest.happened_at if latest else None)
        assert o.next_followup_at == (latest.next_at if latest else None)
        assert all(now - timedelta(days=366) <= f.happened_at <= now for f in followups)
        expected = Opportunity(
            status=o.status,
            feedback_cycle=o.feedback_cycle,
            last_followup_at=o.last_followup_at,
            created_at=o.created_at,
            stage_entered_at=o.stage_entered_at,
        )
        derive_deadlines(expected, o.stage)
        assert (o.feedback_due_at, o.stall_due_at) == (
            expected.feedback_due_at,
            expected.stall_due_at,
        )
        history = list(StageHistory.objects.filter(opportunity=o).order_by("entered_at", "pk"))
        assert history and history[0].entered_at == o.created_at
        assert history[-1].stage_id == o.stage_id
        assert history[-1].entered_at == o.stage_entered_at
        assert (history[-1].left_at is None) == (o.status != OpportunityStatus.ABANDONED)
        assert all(h.left_at is not None for h in history[:-1])
        if o.status == OpportunityStatus.WON:
            assert o.probability == 100 and o.actual_amount is not None
        if o.status in OPEN_STATUSES:
            assert o.closed_at is None and o.probability == o.stage.default_probability
    # the customers agree with their opportunities; the pool's steady state did not move
    assert pool_services.sweep_org(org.pk, now=now)["returned"] == 0
    for c in Customer.objects.filter(org=org):
        mine = [o for o in opps if o.customer_id == c.pk]
        assert c.open_opportunities == sum(o.status in OPEN_STATUSES for o in mine)
        won = [o.closed_at for o in mine if o.status == OpportunityStatus.WON and o.closed_at]
        assert c.last_won_at == (max(won) if won else None)
        assert c.last_won_at == had_won.get(c.pk)
        earlier = before[c.pk]
        if earlier is not None:
            assert c.last_followup_at is not None and c.last_followup_at >= earlier
        elif c.owner_id is not None and c.pk not in had_won:  # never followed up: stays so
            assert c.last_followup_at is None
            assert not FollowUp.objects.filter(customer=c).exists()


@pytest.mark.django_db
def test_contracts_plans_and_receipts_are_consistent() -> None:
    # issue 8: contracts from won opportunities, plans adding up to the amount, receipts whose
    # allocations make the denormalised totals, numbers as next_number gives them
    from bench import contracts

    from crm.core.numbering import next_number
    from crm.finance.models import Receipt, ReceiptAllocation, ReceivablePlan
    from crm.sales.choices import ContractStatus
    from crm.sales.models import Contract

    sizes = generate.Sizes(
        customers=60, leads=0, departments=3, users=10, orgs=1, pool_share=0.2,
        opportunities=400, followups=100, visit_plans=0,
    )  # fmt: skip
    now = timezone.now().replace(microsecond=0)
    org = _tiny_org(sizes, now).org
    generate.build_opportunities(
        org.pk, sizes, random.Random(3), now, generate.Counter(), batch=100, log=lambda _t: None
    )
    won = Opportunity.objects.filter(org=org, status=OpportunityStatus.WON).count()
    rows = contracts.build_contracts(org.pk, 30, random.Random(1), now)
    made = list(Contract.objects.filter(org=org).select_related("opportunity"))
    assert len(made) == min(30, won) == rows["sales_contract"] > 0
    today = timezone.localdate(now)
    year = today.year
    assert sorted(c.number for c in made) == [f"HT-{year}-{i:05d}" for i in range(1, len(made) + 1)]
    assert len({c.opportunity_id for c in made}) == len(made)
    for c in made:
        o = c.opportunity
        assert o.status == OpportunityStatus.WON
        assert (c.customer_id, c.owner_id) == (o.customer_id, o.owner_id)
        assert c.amount == (o.actual_amount or o.expected_amount)
        assert o.actual_close_date <= c.signed_on <= today
        plans = list(ReceivablePlan.objects.filter(contract=c).order_by("sequence"))
        assert 1 <= len(plans) <= 4 and sum(p.amount for p in plans) == c.amount
        assert all(p.amount > 0 for p in plans)
        for p in plans:
            allocated = sum(a.amount for a in ReceiptAllocation.objects.filter(plan=p))
            assert p.received_amount == allocated <= p.amount
        assert c.received_amount == sum(p.received_amount for p in plans)
        expected = (
            ContractStatus.COMPLETED if c.received_amount == c.amount
            else ContractStatus.EXECUTING if c.received_amount else ContractStatus.SIGNED
        )  # fmt: skip
        assert c.status == expected
    receipts = list(Receipt.objects.filter(org=org))
    assert receipts and all(r.received_on <= today for r in receipts)
    assert all(r.owner_id == r.contract.owner_id for r in receipts)
    # the product's next numbers follow the generated ones
    assert next_number(org.pk, "HT") == f"HT-{year}-{len(made) + 1:05d}"
    assert next_number(org.pk, "HK") == f"HK-{year}-{len(receipts) + 1:05d}"
    contracts.clear_contracts([org.pk])
    assert not Contract.objects.filter(org=org).exists()


@pytest.mark.django_db
def test_opportunity_scenarios_and_jobs_run_and_clean_up() -> None:
    # R11.2: the counts (a service call), the opportunity list API with its query budget, the
    # reminder and stalled jobs, each undone afterwards
    sizes = generate.Sizes(
        customers=40,
        leads=0,
        departments=3,
        users=10,
        orgs=1,
        pool_share=0.2,
        opportunities=80,
        followups=200,
        visit_plans=20,
    )
    now = timezone.now().replace(microsecond=0)
    plan = _tiny_org(sizes, now)
    generate.build_opportunities(
        plan.org.pk, sizes, random.Random(4), now, generate.Counter(), log=lambda _t: None
    )
    generate.refresh_customers(plan.org.pk)
    plan.org.settings = {
        generate.MARKER: {"index": 1, "opportunities": {"generated_at": now.isoformat()}}
    }
    plan.org.save(update_fields=["settings"])
    users = bench_run.find_actors(plan.org)
    actors = [bench_run.make_actor(key, user) for key, user in users.items()]
    # a rep who works an opportunity of their own customer
    Opportunity.objects.filter(org=plan.org, owner=users["rep"]).update(owner=users["director"])
    customer = Customer.objects.filter(org=plan.org, owner=users["rep"]).order_by("pk").first()
    assert customer is not None
    first = Opportunity.objects.filter(org=plan.org).order_by("pk").first()
    assert first is not None
    Opportunity.objects.filter(pk=first.pk).update(
        owner=users["rep"],
        customer=customer,
        status=OpportunityStatus.CONTINUE,
        last_followup_at=now,
    )
    ctx = bench_run.build_context(plan.org, users["rep"])
    assert ctx.opportunity_id is not None and ctx.busy_customer_id == customer.pk
    conn, _owned = bench_run.floor_connection(shared=True)
    counts = next(s for s in bench_run.READS if s.key == "opp_counts")
    row = bench_run.measure_read(
        counts, actors[2], ctx, repeat=2, warmup=1, floor_conn=conn, rollback=False
    )
    visible = Opportunity.objects.filter(org=plan.org)
    assert (
        row["result"]["overdue"]
        == visible.filter(
            status=OpportunityStatus.CONTINUE, feedback_due_at__lt=timezone.now()
        ).count()
    )
    assert len(row["samples_ms"]) == 2 and row["queries"] >= 1
    listing = next(s for s in bench_run.READS if s.key == "opp_list_api")
    row = bench_run.measure_read(
        listing, actors[2], ctx, repeat=2, warmup=1, floor_conn=conn, rollback=False
    )
    assert row["rows"] == visible.count()
    budget = bench_run.query_budget(listing, actors[2], ctx)  # warm: token use recorded
    assert budget["queries_large"] <= budget["queries_small"] and budget["equal"]

    stalled_before = dict(visible.values_list("pk", "stall_notified_at"))
    kept = (Reminder.objects.count(), Notification.objects.count(), Event.objects.count())
    reminded = bench_run.measure_reminders(plan.org, runs=1, log=lambda _t: None)
    assert reminded is not None and reminded["catch_up"]["sent"] >= 0
    assert reminded["steady"]["runs"] == 1
    stalled = bench_run.measure_stalled(plan.org, runs=1, log=lambda _t: None)
    assert stalled is not None and stalled["backlog"]["flagged"] == stalled["backlog"]["due"]
    assert (Reminder.objects.count(), Notification.objects.count(), Event.objects.count()) == kept
    assert dict(visible.values_list("pk", "stall_notified_at")) == stalled_before


def test_load_summary_takes_the_best_rate_with_p99_under_200ms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 8/9 (RELIABILITY L): "sustained req/s at p99 < 200 ms" from locust's history
    from bench.load import summary

    head = "Type,Name,Request Count,Failure Count,Median Response Time,95%,99%,Requests/s\n"
    stats = tmp_path / "x_stats.csv"
    stats.write_text(
        head + "GET,opportunity list,90,1,40,90,180,3.0\n,Aggregated,100,1,45,95,190,3.3\n",
        encoding="utf-8",
    )
    history = tmp_path / "x_stats_history.csv"
    history.write_text(
        "Timestamp,User Count,Type,Name,Requests/s,99%\n"
        "1,2,,Aggregated,4.0,120\n"
        "2,5,,Aggregated,9.5,180\n"
        "3,9,,Aggregated,14.0,450\n"  # faster, but p99 over the limit: not sustained
        "4,9,GET,opportunity list,20.0,100\n"  # one request type only: ignored
        "5,1,,Aggregated,0.0,N/A\n",
        encoding="utf-8",
    )
    # the machine's busy and total jiffies before and after the run, from run.sh
    monkeypatch.setenv("LOAD_CPU", "1000 5000 1600 6000")
    monkeypatch.setenv("LOAD_LOCUST_CPU_S", "12.5")
    # postgres and gunicorn processes' jiffies before and after: 250 and 300 of the 1,000
    monkeypatch.setenv("LOAD_PROC_CPU", "100 200 350 500")
    result = summary.summarise("pg", str(stats), str(history))
    assert (result["cpu_busy_pct"], result["locust_cpu_s"], result["p95_ms"]) == (60.0, 12.5, 95.0)
    assert (result["db_cpu_pct"], result["app_cpu_pct"]) == (25.0, 30.0)
    assert result["sustained_rate_p99_under_200ms"] == 9.5
    assert result["users_at_that_rate"] == 5
    assert (result["requests"], result["failures"], result["p99_ms"]) == (100, 1, 190.0)
    assert result["per_request"] == {
        "opportunity list": {
            "requests": 90,
            "failures": 1,
            "median_ms": 40.0,
            "p95_ms": 90.0,
            "p99_ms": 180.0,
        }
    }
