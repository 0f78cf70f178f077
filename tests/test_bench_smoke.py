"""Smoke test of the benchmark harness (issue 8, R11.2) on the SQLite test database: the
generator's building blocks make a tiny organisation, one read scenario, the pool claims and the
sweep run on it, and the statistics, the SQL floor and the ratio are computed exactly."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from bench import generate, measure, report
from bench import run as bench_run
from django.db.models import Q
from django.utils import timezone

from crm.core.models import Event
from crm.customers.models import Contact, Customer, OwnershipMove
from crm.customers.normalize import normalize_name, phone_digits, pinyin_of
from crm.leads.models import Lead
from crm.org.models import User


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
    assert row["ratio"] == pytest.approx(raw_ratio, abs=0.01)
    assert 1 <= row["queries"] <= bench_run.QUERY_BUDGET
    budget = bench_run.query_budget(scenario, actors[0], ctx)
    assert budget["queries_page_10"] == budget["queries_page_100"]

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
