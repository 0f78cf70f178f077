"""Run the benchmark scenarios against the generated data and record the results.

``python -m bench.run [--small] [--repeat 30] [--generate] [--only list_api,search_name]
[--label after]`` (``--label``: a partial run saved apart, docs untouched)
(with ``PYTHONPATH=.`` and ``DJANGO_SETTINGS_MODULE=bench.settings``; ``make bench`` does this).

Every read scenario runs as three actors whose data scopes differ: a rep (SELF), the manager of
a division (DEPT_TREE: the division and its teams) and the director (ALL). Pages and API calls
go through ``django.test.Client`` in-process (session login for pages, a bearer token for the
API), so the time is the server's wall time without a network; a few reads are service calls
(the saved-query counts), timed the same way with the person loaded fresh for each call. After
3 warm-up runs each is timed ``--repeat`` times; one more run captures its SQL, which is then
re-run directly with psycopg on a separate connection as many times: the floor. The jobs (pool
sweep, reminders, stalled detection) run over a whole organisation with a realistic number of
due items and are undone afterwards. Results go to ``bench/results/<date>-<scale>.json`` and
into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench._django import ensure_django

ensure_django()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, F, Max, OuterRef, Subquery  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import generate, report  # noqa: E402
from bench.measure import (  # noqa: E402
    Timing,
    counting_queries,
    ratio,
    run_floor,
    time_calls,
)
from crm.activities import reminders  # noqa: E402
from crm.activities.models import Reminder  # noqa: E402
from crm.core.context import request_memo_scope  # noqa: E402
from crm.core.models import Event, Notification  # noqa: E402
from crm.core.planner import data_statements  # noqa: E402
from crm.customers import pool_services  # noqa: E402
from crm.customers.models import Contact, Customer, OwnershipMove, PublicPool  # noqa: E402
from crm.org import services as org_services  # noqa: E402
from crm.org.models import ApiToken, Department, Organization, User  # noqa: E402
from crm.org.permissions import BuiltinRole  # noqa: E402
from crm.pipeline import opportunities as opportunity_services  # noqa: E402
from crm.pipeline import queries  # noqa: E402
from crm.pipeline.choices import OpportunityStatus  # noqa: E402
from crm.pipeline.models import Opportunity  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
TOKEN_NAME = "bench"  # noqa: S105 - the name of the API tokens the run creates
QUERY_BUDGET = 15  # issue 8: at most 15 queries for any page, whatever its size
SECTION_URL = re.compile(r'hx-get="([^"]*/sections/\?keys=[^"]+)"')


# --- Actors and the things they look at -----------------------------------------------------------
@dataclass
class Actor:
    """One person the scenarios run as, with a logged-in page client and an API client."""

    key: str
    scope: str
    user: User
    page: Client
    api: Client


@dataclass(frozen=True)
class Context:
    """What the scenarios ask for: a customer all three actors may see (the rep's own), the
    search terms taken from it, the default public pool; with opportunities, one the rep is
    working on (continue, followed up lately, of a customer the rep owns), its stage and its
    customer (whose 360 page then has opportunities and follow-ups to show)."""

    org_id: int
    customer_id: int
    pool_id: int
    name_fragment: str
    pinyin_prefix: str
    phone_fragment: str
    opportunity_id: int | None = None
    stage_id: int | None = None
    busy_customer_id: int | None = None


def find_actors(org: Organization) -> dict[str, User]:
    """The rep (first rep of the first team of the first division), that division's manager
    and the director of ``org``."""
    root = Department.objects.filter(org=org, parent__isnull=True).order_by("pk").first()
    division = Department.objects.filter(org=org, parent=root).order_by("pk").first()
    team = Department.objects.filter(org=org, parent=division).order_by("pk").first() or division
    people = User.objects.filter(org=org, is_active=True).order_by("pk")
    found = {
        "rep": people.filter(department=team, roles__code=BuiltinRole.REP).first(),
        "manager": people.filter(department=division, roles__code=BuiltinRole.MANAGER).first(),
        "director": people.filter(roles__code=BuiltinRole.DIRECTOR).first(),
    }
    missing = [k for k, u in found.items() if u is None]
    if missing:
        raise RuntimeError(f"the data set has no {', '.join(missing)} in {org}")
    return found


SCOPES = {"rep": "SELF", "manager": "DEPT_TREE", "director": "ALL"}


def make_actor(key: str, user: User) -> Actor:
    """Log ``user`` in (session, as the UI does) and give them a personal API token."""
    page = Client()
    page.force_login(user, backend="crm.org.backends.LoginBackend")
    _token, raw = org_services.create_token(actor=user, name=TOKEN_NAME)
    return Actor(key, SCOPES.get(key, ""), user, page, Client(HTTP_AUTHORIZATION=f"Bearer {raw}"))


def brand_of(name: str) -> str:
    """The two-character brand word of a generated name (华信 of 上海华信科技有限公司)."""
    for city, _region, _code in generate.CITIES:
        if name.startswith(city):
            return name[len(city) : len(city) + 2]
    return name[:2]


def build_context(org: Organization, rep: User) -> Context:
    customer = (
        Customer.objects.filter(org=org, owner=rep, merged_into__isnull=True)
        .exclude(contacts=None)
        .order_by("pk")
        .first()
    )
    if customer is None:
        raise RuntimeError("the rep owns no customer with contacts")
    contact = Contact.objects.filter(customer=customer).exclude(mobile_digits="").first()
    pool = PublicPool.objects.filter(org=org, is_default=True).first()
    assert contact is not None and pool is not None
    opportunity = (
        Opportunity.objects.filter(
            org=org,
            owner=rep,
            customer__owner=rep,
            status=OpportunityStatus.CONTINUE,
            last_followup_at__isnull=False,
        )
        .order_by("-last_followup_at", "pk")
        .first()
    )
    return Context(
        org_id=org.pk,
        customer_id=customer.pk,
        pool_id=pool.pk,
        name_fragment=brand_of(customer.name),
        pinyin_prefix=customer.name_initials[:4],
        phone_fragment=contact.mobile_digits[-4:],
        opportunity_id=opportunity.pk if opportunity else None,
        stage_id=opportunity.stage_id if opportunity else None,
        busy_customer_id=opportunity.customer_id if opportunity else None,
    )


# --- Scenarios ------------------------------------------------------------------------------------
UrlFor = Callable[[Context, int], str]


Call = Callable[[User, Context], Any]


@dataclass(frozen=True)
class Scenario:
    """A read: a page, an API call or a service call, its issue-8 targets, whether it takes a
    page size (and the two sizes whose query counts must be equal), whether it needs the
    opportunities' data."""

    key: str
    label: str
    kind: str  # "page", "api" or "call"
    path: UrlFor
    target_ms: float | None
    target_ratio: float | None = 3.0
    sized: bool = False
    sizes: tuple[int, int] = (10, 100)
    opportunities: bool = False
    call: Call | None = None
    #: with the figure cache (crm.core.figure_cache) on; every other read runs with it off
    cached: bool = False
    #: a record page and then every request for its later sections (crm.core.record_sections)
    with_sections: bool = False


def _customers_api(query: str = "") -> UrlFor:
    return lambda ctx, size: f"/api/v1/customers/customers?page_size={size}{query and '&' + query}"


def _opportunities_api(query: str = "") -> UrlFor:
    return lambda ctx, size: f"/api/v1/opportunities/?page_size={size}{query and '&' + query}"


def _counts(user: User, ctx: Context) -> dict[str, Any]:
    """What the list page's sidebar shows: the four built-in counts and overdue per rep."""
    now = timezone.now()
    with request_memo_scope():  # as in one request: the counts and the breakdown share a read
        counts = queries.builtin_counts(user, now=now)
        by_rep = queries.overdue_by_rep(user, now=now)
    return {**counts, "reps_overdue": len(by_rep), "top_rep_overdue": by_rep[0][1] if by_rep else 0}


def _no_url(ctx: Context, size: int) -> str:
    return ""


READS: list[Scenario] = [
    Scenario("list_page", "Customer list page (Mine, default sort)", "page",
             lambda ctx, size: "/customers/", 30),
    Scenario("list_page_all", "Customer list page (All)", "page",
             lambda ctx, size: "/customers/?view=all", 30),
    Scenario("list_api", "Customer list API", "api", _customers_api(), 30, sized=True),
    Scenario("search_name", "Customer search: name fragment", "api",
             lambda ctx, size: _customers_api(f"q={quote(ctx.name_fragment)}")(ctx, size),
             30, sized=True),
    Scenario("search_pinyin", "Customer search: pinyin initials", "api",
             lambda ctx, size: _customers_api(f"q={ctx.pinyin_prefix}")(ctx, size),
             30, sized=True),
    Scenario("search_phone", "Customer search: 4 phone digits", "api",
             lambda ctx, size: _customers_api(f"q={ctx.phone_fragment}")(ctx, size),
             30, sized=True),
    Scenario("detail_api", "Customer detail API", "api",
             lambda ctx, size: f"/api/v1/customers/customers/{ctx.customer_id}", 30),
    Scenario("detail_360", "Customer 360 page", "page",
             lambda ctx, size: f"/customers/{ctx.customer_id}/", 80, target_ratio=None),
    Scenario("pool_page", "Public pool page", "page",
             lambda ctx, size: f"/customers/pools/{ctx.pool_id}/", 30),
    Scenario("leads_api", "Lead list API", "api",
             lambda ctx, size: f"/api/v1/leads/leads?page_size={size}", 30, sized=True),
    # opportunities and follow-ups
    Scenario("opp_counts", "Opportunity built-in counts + overdue by rep (service)", "call",
             _no_url, 30, opportunities=True, call=_counts),
    Scenario("opp_list_api", "Opportunity list API (default sort)", "api",
             _opportunities_api(), 30, sized=True, opportunities=True),
    Scenario("opp_list_api_filtered", "Opportunity list API (status + stage)", "api",
             lambda ctx, size: _opportunities_api(f"status=continue&stage_id={ctx.stage_id}")(
                 ctx, size), 30, sized=True, opportunities=True),
    Scenario("opp_list_api_amount", "Opportunity list API (by expected amount)", "api",
             _opportunities_api("sort=-expected_amount"), 30, sized=True, opportunities=True),
    Scenario("opp_list_page", "Opportunity list page", "page",
             lambda ctx, size: f"/opportunities/?size={size}", 30, sized=True, sizes=(20, 100),
             opportunities=True),
    Scenario("opp_board", "Opportunity board page", "page",
             lambda ctx, size: "/opportunities/board/", 30, opportunities=True),
    Scenario("opp_detail", "Opportunity page", "page",
             lambda ctx, size: f"/opportunities/{ctx.opportunity_id}/", 80, target_ratio=None,
             opportunities=True),
    Scenario("detail_360_opps", "Customer 360 page (with opportunities)", "page",
             lambda ctx, size: f"/customers/{ctx.busy_customer_id}/", 80, target_ratio=None,
             opportunities=True),
    Scenario("detail_360_all", "Customer 360 page + its section requests, in sequence", "page",
             lambda ctx, size: f"/customers/{ctx.busy_customer_id}/", None, target_ratio=None,
             opportunities=True, with_sections=True),
    Scenario("opp_detail_all", "Opportunity page + its section requests, in sequence", "page",
             lambda ctx, size: f"/opportunities/{ctx.opportunity_id}/", None, target_ratio=None,
             opportunities=True, with_sections=True),
    # reports (issue 6): uncached, as each viewer's scope computes them
    Scenario("exec_dashboard", "Executive dashboard page (this year)", "page",
             lambda ctx, size: "/analytics/?period=this_year", 300, target_ratio=None,
             opportunities=True),
    Scenario("funnel", "Funnel page (entries this year, default pipeline)", "page",
             lambda ctx, size: "/analytics/funnel/", 300, target_ratio=None, opportunities=True),
    Scenario("forecast", "Forecast page (this quarter)", "page",
             lambda ctx, size: "/analytics/forecast/?period=quarter", 300, target_ratio=None,
             opportunities=True),
    # the same reports a second time for the same viewer: the figure cache (issue 6: ≤ 30 ms)
    Scenario("exec_dashboard_cached", "Executive dashboard page (this year), cached", "page",
             lambda ctx, size: "/analytics/?period=this_year", 30, target_ratio=None,
             opportunities=True, cached=True),
    Scenario("funnel_cached", "Funnel page, cached", "page",
             lambda ctx, size: "/analytics/funnel/", 30, target_ratio=None, opportunities=True,
             cached=True),
    Scenario("forecast_cached", "Forecast page (this quarter), cached", "page",
             lambda ctx, size: "/analytics/forecast/?period=quarter", 30, target_ratio=None,
             opportunities=True, cached=True),
    Scenario("winloss", "Win/loss analysis page (all time)", "page",
             lambda ctx, size: "/analytics/winloss/", 300, target_ratio=None,
             opportunities=True),
    # contracts and receipts (issue 8): read-only pages of the contracts' part of the data set
    Scenario("contract_list", "Contract list page", "page",
             lambda ctx, size: "/sales/contracts/", 30, opportunities=True),
    Scenario("receipt_list", "Receipt list page", "page",
             lambda ctx, size: "/finance/receipts/", 30, opportunities=True),
    Scenario("receivable_list", "Receivable plan list page", "page",
             lambda ctx, size: "/finance/receivables/", 30, opportunities=True),
]  # fmt: skip


def _ok(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request['PATH_INFO']} answered {response.status_code}")


def _count_of(response: Any) -> int | None:
    if response.get("Content-Type", "").startswith("application/json"):
        body = json.loads(response.content)
        if isinstance(body, dict) and "count" in body:
            return int(body["count"])
    return None


def fresh_user(actor: Actor) -> User:
    """The actor as a request loads them (nothing of an earlier call cached on the object)."""
    return User.objects.select_related("org", "department").get(pk=actor.user.pk)


def measure_call(
    scenario: Scenario,
    actor: Actor,
    ctx: Context,
    *,
    repeat: int,
    warmup: int,
    floor_conn: Any,
    rollback: bool = True,
) -> dict[str, Any]:
    """Time a service call as one actor (the person loaded fresh before each call, untimed),
    capture its SQL, time the floor; one result row whose ``result`` is what the call said."""
    assert scenario.call is not None
    samples = []
    for n in range(warmup + repeat):
        user = fresh_user(actor)
        started = time.perf_counter()
        scenario.call(user, ctx)
        if n >= warmup:
            samples.append((time.perf_counter() - started) * 1000.0)
    user = fresh_user(actor)
    with CaptureQueriesContext(connection) as captured:
        result = scenario.call(user, ctx)
    statements = [q["sql"] for q in captured.captured_queries]
    floor = run_floor(floor_conn, statements, repeat=repeat, rollback=rollback)
    queries = len(data_statements(statements))
    row = _read_row(scenario, actor, "", Timing(samples), floor, queries, None)
    row["result"] = result
    return row


def measure_read(
    scenario: Scenario,
    actor: Actor,
    ctx: Context,
    *,
    repeat: int,
    warmup: int,
    floor_conn: Any,
    rollback: bool = True,
) -> dict[str, Any]:
    """Time one read as one actor, capture its SQL, time the floor; one result row."""
    if scenario.kind == "call":
        return measure_call(
            scenario,
            actor,
            ctx,
            repeat=repeat,
            warmup=warmup,
            floor_conn=floor_conn,
            rollback=rollback,
        )
    client = actor.api if scenario.kind == "api" else actor.page
    url = scenario.path(ctx, 50)
    ttl = settings.CRM_FIGURE_CACHE_SECONDS if scenario.cached else 0
    urls = [url]
    if scenario.with_sections:
        page = client.get(url)
        _ok(page)
        urls += [html.unescape(u) for u in SECTION_URL.findall(page.content.decode())]

    def read() -> Any:
        for one in urls:
            response = client.get(one)
            _ok(response)
        return response

    with override_settings(CRM_FIGURE_CACHE_SECONDS=ttl):
        timing = time_calls(read, repeat=repeat, warmup=warmup, check=_ok)
        with CaptureQueriesContext(connection) as captured:
            response = read()
    _ok(response)
    statements = [q["sql"] for q in captured.captured_queries]
    floor = run_floor(floor_conn, statements, repeat=repeat, rollback=rollback)
    return _read_row(
        scenario,
        actor,
        url,
        timing,
        floor,
        len(data_statements(statements)),
        _count_of(response),
        requests=len(urls),
    )


def _read_row(
    scenario: Scenario,
    actor: Actor,
    url: str,
    timing: Timing,
    floor: Timing,
    queries: int,
    rows: int | None,
    requests: int = 1,
) -> dict[str, Any]:
    r = ratio(timing.median_ms, floor.median_ms)
    return {
        "scenario": scenario.key,
        "label": scenario.label,
        "actor": actor.key,
        "scope": actor.scope,
        "url": url,
        "median_ms": round(timing.median_ms, 2),
        "p99_ms": round(timing.p99_ms, 2),
        "floor_median_ms": round(floor.median_ms, 2),
        "ratio": round(r, 2) if r is not None else None,
        "queries": queries,
        "rows": rows,
        "target_ms": scenario.target_ms,
        "target_ratio": scenario.target_ratio,
        "meets_ms": scenario.target_ms is None or timing.median_ms <= scenario.target_ms,
        "meets_ratio": scenario.target_ratio is None
        or (r is not None and r <= scenario.target_ratio),
        # several requests in sequence: the budget is per request (query_budget checks each)
        "meets_queries": scenario.with_sections or queries <= QUERY_BUDGET,
        "requests": requests,
        "samples_ms": [round(s, 3) for s in timing.samples_ms],
        "floor_samples_ms": [round(s, 3) for s in floor.samples_ms],
    }


def _failed_row(scenario: Scenario, actor: Actor, exc: Exception) -> dict[str, Any]:
    """The result row of a read that could not be measured (it answered an error)."""
    return {
        "scenario": scenario.key,
        "label": scenario.label,
        "actor": actor.key,
        "scope": actor.scope,
        "error": f"{type(exc).__name__}: {exc}"[:300],
    }


def query_budget(scenario: Scenario, actor: Actor, ctx: Context) -> dict[str, Any]:
    """Queries of one request at a small and a large page size (10 and 100; the list page
    offers 20 and 100): the large page must not issue more (issue 8: "a page must not issue
    more queries as its page size grows"; a page that holds every row skips the count) and
    neither more than 15. Each size is requested twice and the
    fewer counts: bookkeeping writes that happen at most once a minute (an API token's last
    use) must not pass for a page-size effect."""
    client = actor.api if scenario.kind == "api" else actor.page
    small, large = scenario.sizes
    counts: dict[int, int] = {}
    for size in (small, large, small, large):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(scenario.path(ctx, size))
        _ok(response)
        issued = len(data_statements([q["sql"] for q in captured.captured_queries]))
        counts[size] = min(counts.get(size, QUERY_BUDGET * 100), issued)
    return {
        "scenario": scenario.key,
        "actor": actor.key,
        "small_size": small,
        "large_size": large,
        "queries_small": counts[small],
        "queries_large": counts[large],
        "equal": counts[large] <= counts[small],  # not more for the larger page
        "within_budget": max(counts.values()) <= QUERY_BUDGET,
    }


# --- Writes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Marks:
    """Highest ids of the append-only tables before a write scenario, to clean up after it."""

    event: int
    notification: int
    move: int
    reminder: int = 0

    @classmethod
    def now(cls, org_id: int) -> Marks:
        def top(model: Any) -> int:
            return model.objects.filter(org_id=org_id).aggregate(m=Max("pk"))["m"] or 0

        return cls(top(Event), top(Notification), top(OwnershipMove), top(Reminder))

    def clean_up(self, org_id: int) -> None:
        """Delete what the scenario appended (events, notifications, ownership moves,
        reminders), so the next run meets the same data (no claim limits or re-claim
        cool-downs, no reminder already sent)."""
        generate.erase_events(org_id, self.event)  # the audit table is append-only
        Notification.objects.filter(org_id=org_id, pk__gt=self.notification).delete()
        OwnershipMove.objects.filter(org_id=org_id, pk__gt=self.move).delete()
        Reminder.objects.filter(org_id=org_id, pk__gt=self.reminder).delete()


def measure_claims(
    actors: list[Actor], ctx: Context, *, repeat: int, warmup: int
) -> list[dict[str, Any]]:
    """Per actor: claim a pool customer (the service, as the claim view calls it), then release
    it back; each on a different customer of the default pool. Times both calls."""
    marks = Marks.now(ctx.org_id)
    per_actor = repeat + warmup
    waiting = list(
        Customer.objects.filter(
            org_id=ctx.org_id, owner__isnull=True, pool_id=ctx.pool_id, merged_into__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)[: per_actor * len(actors)]
    )
    rows = []
    try:
        for n, actor in enumerate(actors):
            ids = waiting[n * per_actor : (n + 1) * per_actor]
            claims, releases = [], []
            claim_queries = release_queries = 0
            for i, pk in enumerate(ids):
                user = User.objects.get(pk=actor.user.pk)  # fresh, as in a request
                customer = Customer.objects.get(pk=pk)
                with counting_queries(connection) as count:
                    started = time.perf_counter()
                    customer = pool_services.claim(actor=user, customer=customer)
                    claimed = time.perf_counter()
                assert customer.owner_id == user.pk
                claim_queries = count[0]
                user = User.objects.get(pk=actor.user.pk)
                with counting_queries(connection) as count:
                    released = time.perf_counter()
                    pool_services.release(actor=user, customer=customer, reason="基准测试")
                    done = time.perf_counter()
                release_queries = count[0]
                if i >= warmup:
                    claims.append((claimed - started) * 1000)
                    releases.append((done - released) * 1000)
            for key, label, samples, queries in (
                ("pool_claim", "Pool claim (service)", claims, claim_queries),
                ("pool_release", "Pool release (service)", releases, release_queries),
            ):
                timing = Timing(samples)
                rows.append(
                    {
                        "scenario": key,
                        "label": label,
                        "actor": actor.key,
                        "scope": actor.scope,
                        "median_ms": round(timing.median_ms, 2),
                        "p99_ms": round(timing.p99_ms, 2),
                        "queries": queries,
                        "samples_ms": [round(s, 3) for s in samples],
                    }
                )
    finally:
        marks.clean_up(ctx.org_id)
    return rows


def measure_sweep(
    org: Organization, *, runs: int, due_share: float = 0.01, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """The pool sweep over the whole organisation (``sweep_org``) with ``due_share`` of its
    customers due: owned customers without won deals or open opportunities are picked at
    random and their last follow-up set 40 days before the sweep's ``now`` (default pool: 30
    days). After each run the returned customers go back to their owners, so every run
    returns the same set; at the end their follow-up dates are restored."""
    marker = org.settings.get(generate.MARKER, {})
    generated = (
        datetime.fromisoformat(marker["generated_at"]) if marker.get("generated_at") else None
    )
    now = (generated or timezone.now()) + timedelta(minutes=1)
    total = Customer.objects.filter(org=org).count()
    eligible = list(
        Customer.objects.filter(
            org=org,
            owner__isnull=False,
            merged_into__isnull=True,
            last_won_at__isnull=True,
            open_opportunities=0,
        )
        .order_by("pk")
        .values_list("pk", "last_followup_at")
    )
    chosen = random.Random(8).sample(eligible, min(max(1, round(total * due_share)), len(eligible)))
    ids = [pk for pk, _ in chosen]
    Customer.objects.filter(pk__in=ids).update(last_followup_at=now - timedelta(days=40))
    seconds, queries, returned = [], 0, 0
    try:
        for _ in range(runs):
            marks = Marks.now(org.pk)
            with counting_queries(connection) as count:
                started = time.perf_counter()
                returned = pool_services.sweep_org(org.pk, now=now)["returned"]
                seconds.append(time.perf_counter() - started)
            queries = count[0]
            log(f"  sweep: {returned:,} returned in {seconds[-1]:.2f} s, {queries:,} queries")
            _undo_sweep(org.pk, ids, marks)
    finally:
        Customer.objects.bulk_update(
            [Customer(pk=pk, last_followup_at=value) for pk, value in chosen],
            ["last_followup_at"],
            batch_size=1_000,
        )
    timing = Timing([s * 1000 for s in seconds])
    median_s = timing.median_ms / 1000
    return {
        "scenario": "pool_sweep",
        "label": "Pool sweep (whole organisation)",
        "customers_in_org": total,
        "due": len(ids),
        "returned": returned,
        "runs": runs,
        "median_s": round(median_s, 3),
        "p99_s": round(timing.p99_ms / 1000, 3),
        "returned_per_s": round(returned / median_s) if median_s else None,
        "queries": queries,
        "queries_per_returned": round(queries / returned, 2) if returned else None,
        "target_s": 5.0,
        "meets_target": median_s <= 5.0,
        "samples_s": [round(s, 3) for s in seconds],
    }


def _undo_sweep(org_id: int, ids: list[int], marks: Marks) -> None:
    """Give the customers a sweep returned back to their owners (bench housekeeping)."""
    Customer.objects.filter(org_id=org_id, pk__in=ids, owner__isnull=True).update(
        owner=F("released_by"),
        released_by=None,
        released_at=None,
        pool_entered_at=None,
        sweep_token="",
    )
    Contact.objects.filter(org_id=org_id, customer_id__in=ids).update(
        owner=Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("owner")[:1])
    )
    marks.clean_up(org_id)


# --- The opportunities' jobs ----------------------------------------------------------------------
#: How often the jobs run (crm.activities.tasks.send_reminders, crm.pipeline.tasks.stalled).
REMINDER_PERIOD = timedelta(minutes=5)
STALLED_PERIOD = timedelta(minutes=30)


def opportunities_generated_at(org: Organization) -> datetime | None:
    """When the opportunities of the data set were generated (their steady-state moment)."""
    part = org.settings.get(generate.MARKER, {}).get("opportunities") or {}
    return datetime.fromisoformat(part["generated_at"]) if part.get("generated_at") else None


def _timed_job(call: Callable[[], int]) -> tuple[int, float, int]:
    """(what the job returned, seconds, queries) of one run."""
    with counting_queries(connection) as count:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return result, seconds, count[0]


def _job_summary(seconds: list[float]) -> dict[str, Any]:
    timing = Timing([s * 1000 for s in seconds])
    return {
        "runs": len(seconds),
        "median_s": round(timing.median_ms / 1000, 3),
        "p99_s": round(timing.p99_ms / 1000, 3),
        "samples_s": [round(s, 3) for s in seconds],
    }


def measure_reminders(
    org: Organization, *, runs: int, log: Callable[[str], None] = print
) -> dict[str, Any] | None:
    """The reminder job (``remind_org``) over the whole organisation, at the moment the data
    were generated. First the catch-up run: nothing was sent yet, so every reminder due within
    the job's look-back (2 days) goes out — what the first run after a deployment or an outage
    does. Then, ``runs`` times, the steady run 5 minutes later (the job's period): only what
    became due in those minutes is new, the rest is found again and skipped by the unique key;
    what a steady run sent is deleted before the next. At the end every reminder, notification
    and event the runs wrote is deleted."""
    base = opportunities_generated_at(org)
    if base is None:
        return None
    marks = Marks.now(org.pk)
    try:
        caught_up, catch_up_s, catch_up_queries = _timed_job(
            lambda: reminders.remind_org(org.pk, now=base)
        )
        kinds = dict(
            Reminder.objects.filter(org=org, pk__gt=marks.reminder)
            .values_list("kind")
            .annotate(n=Count("pk"))
            .values_list("kind", "n")
        )
        log(
            f"  reminders, catch-up: {caught_up:,} sent in {catch_up_s:.2f} s, "
            f"{catch_up_queries:,} queries"
        )
        seconds, sent, queries = [], 0, 0
        for _ in range(runs):
            step = Marks.now(org.pk)
            sent, took, queries = _timed_job(
                lambda: reminders.remind_org(org.pk, now=base + REMINDER_PERIOD)
            )
            seconds.append(took)
            step.clean_up(org.pk)
            log(f"  reminders, 5 minutes on: {sent:,} sent in {took:.2f} s, {queries:,} queries")
    finally:
        marks.clean_up(org.pk)
    return {
        "scenario": "reminders",
        "label": "Reminder job (remind_org, whole organisation)",
        "opportunities_in_org": Opportunity.objects.filter(org=org).count(),
        "catch_up": {
            "sent": caught_up,
            "by_kind": kinds,
            "seconds": round(catch_up_s, 3),
            "queries": catch_up_queries,
            "queries_per_sent": round(catch_up_queries / caught_up, 2) if caught_up else None,
        },
        "steady": {
            "period_minutes": REMINDER_PERIOD.total_seconds() / 60,
            "sent": sent,
            "queries": queries,
            **_job_summary(seconds),
        },
    }


def measure_stalled(
    org: Organization,
    *,
    runs: int,
    backlog_share: float = 0.01,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Stalled detection (``flag_stalled``) over the whole organisation. The data are in a
    steady state (every opportunity past its stage's limit was flagged), so: the steady run
    30 minutes after the generation (the job's period) flags what ran out in those minutes; the
    backlog run, prepared like the sweep's due customers, finds ``backlog_share`` of the
    opportunities being worked flagged no more (as after a day-long outage) and flags them (at
    most 5,000 a run, the job's cap). Each run's flags, notifications and events are undone."""
    base = opportunities_generated_at(org)
    if base is None:
        return None
    later = base + STALLED_PERIOD
    seconds, flagged, queries = [], 0, 0
    for _ in range(runs):
        marks = Marks.now(org.pk)
        try:
            flagged, took, queries = _timed_job(
                lambda: opportunity_services.flag_stalled(org.pk, now=later)
            )
        finally:
            Opportunity.objects.filter(org=org, stall_notified_at=later).update(
                stall_notified_at=None
            )
            marks.clean_up(org.pk)
        seconds.append(took)
        log(f"  stalled, 30 minutes on: {flagged:,} flagged in {took:.2f} s, {queries:,} queries")
    working = Opportunity.objects.filter(org=org, status=OpportunityStatus.CONTINUE)
    notified = list(
        working.filter(stall_notified_at__isnull=False, stall_due_at__lt=base)
        .order_by("pk")
        .values_list("pk", "stall_notified_at")
    )
    size = min(len(notified), max(1, round(working.count() * backlog_share)))
    chosen = random.Random(8).sample(notified, size) if notified else []
    backlog_seconds, backlog_flagged, backlog_queries = [], 0, 0
    for _ in range(runs if chosen else 0):
        marks = Marks.now(org.pk)
        Opportunity.objects.filter(pk__in=[pk for pk, _ in chosen]).update(stall_notified_at=None)
        try:
            backlog_flagged, took, backlog_queries = _timed_job(
                lambda: opportunity_services.flag_stalled(org.pk, now=base)
            )
        finally:
            Opportunity.objects.bulk_update(
                [Opportunity(pk=pk, stall_notified_at=value) for pk, value in chosen],
                ["stall_notified_at"],
                batch_size=1_000,
            )
            marks.clean_up(org.pk)
        backlog_seconds.append(took)
        log(
            f"  stalled, backlog of {size:,}: {backlog_flagged:,} flagged in {took:.2f} s, "
            f"{backlog_queries:,} queries"
        )
    return {
        "scenario": "stalled",
        "label": "Stalled detection (flag_stalled, whole organisation)",
        "working_in_org": working.count(),
        "steady": {
            "period_minutes": STALLED_PERIOD.total_seconds() / 60,
            "flagged": flagged,
            "queries": queries,
            **_job_summary(seconds),
        },
        "backlog": {
            "due": size,
            "flagged": backlog_flagged,
            "queries": backlog_queries,
            **(_job_summary(backlog_seconds) if backlog_seconds else {}),
        },
    }


# --- The run --------------------------------------------------------------------------------------
def floor_connection(*, shared: bool = False) -> tuple[Any, bool]:
    """A separate psycopg connection to the same database (PostgreSQL), configured as Django
    configures its own (UTC session, no prepared statements), or the Django connection's own
    DB-API connection elsewhere or when ``shared`` (the smoke test, whose data lives in its
    uncommitted test transaction; then never rolled back)."""
    if connection.vendor == "postgresql" and not shared:
        import psycopg

        db = connection.settings_dict
        conn = psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            host=db["HOST"],
            port=db["PORT"],
            options=" ".join(("-c TimeZone=UTC", db["OPTIONS"].get("options", ""))).strip(),
            prepare_threshold=None,
        )
        return conn, True
    connection.ensure_connection()
    return connection.connection, False


def tenant_check(director: Actor, org: Organization) -> dict[str, Any]:
    """The director's customer list counts exactly the customers of their own organisation,
    although another organisation of the same size shares every table."""
    response = director.api.get("/api/v1/customers/customers?page_size=1&exact_count=true")
    _ok(response)
    listed = _count_of(response)
    own = Customer.objects.filter(org=org, merged_into__isnull=True).count()
    everyone = Customer.objects.count()
    if listed != own:
        raise RuntimeError(f"the director's list counts {listed}, the organisation has {own}")
    return {"listed": listed, "own_org": own, "all_orgs": everyone, "ok": True}


def run(
    *,
    repeat: int,
    warmup: int,
    only: set[str] | None,
    sweep_runs: int,
    job_runs: int = 3,
    log: Callable = print,
) -> dict[str, Any]:
    """Every scenario on the generated data set; returns the results document."""
    org = Organization.objects.filter(**{f"settings__{generate.MARKER}__index": 1}).first()
    if org is None:
        raise SystemExit("No data set: run python -m bench.generate (or make bench) first.")
    dataset = org.settings[generate.MARKER]
    users = find_actors(org)
    ApiToken.objects.filter(user__in=users.values(), name=TOKEN_NAME).delete()
    actors = [make_actor(key, user) for key, user in users.items()]
    ctx = build_context(org, users["rep"])
    log(f"Context: {ctx}")
    started = time.perf_counter()
    load_before = os.getloadavg()
    tenant = tenant_check(actors[-1], org)
    conn, owned = floor_connection()
    reads, budget = [], []
    try:
        for scenario in READS:
            if only and scenario.key not in only:
                continue
            if scenario.opportunities and ctx.opportunity_id is None:
                log(f"{scenario.key:15} skipped: the data set has no opportunities")
                continue
            for actor in actors:
                try:
                    row = measure_read(
                        scenario, actor, ctx, repeat=repeat, warmup=warmup, floor_conn=conn
                    )
                except Exception as exc:  # a page broken by work in progress: noted, go on
                    if owned:
                        conn.rollback()
                    reads.append(_failed_row(scenario, actor, exc))
                    log(f"{scenario.key:15} {actor.key:9} failed: {reads[-1]['error']}")
                    continue
                reads.append(row)
                log(
                    f"{scenario.key:15} {actor.key:9} median {row['median_ms']:8.2f} ms  "
                    f"p99 {row['p99_ms']:8.2f}  floor {row['floor_median_ms']:7.2f}  "
                    f"ratio {row['ratio'] or 0:5.2f}  queries {row['queries']:3}  "
                    f"rows {row['rows'] if row['rows'] is not None else '-'}"
                )
                if scenario.sized:
                    budget.append(query_budget(scenario, actor, ctx))
    finally:
        if owned:
            conn.close()
    writes: list[dict[str, Any]] = []
    if not only or {"pool_claim", "pool_release"} & only:
        writes = measure_claims(actors, ctx, repeat=repeat, warmup=warmup)
        for row in writes:
            log(f"{row['scenario']:15} {row['actor']:9} median {row['median_ms']:8.2f} ms")
    sweep = None
    if not only or "pool_sweep" in only:
        sweep = measure_sweep(org, runs=sweep_runs, log=log)
    jobs: dict[str, Any] = {}
    if not only or "reminders" in only:
        jobs["reminders"] = measure_reminders(org, runs=job_runs, log=log)
    if not only or "stalled" in only:
        jobs["stalled"] = measure_stalled(org, runs=job_runs, log=log)
    return {
        "date": timezone.localdate().isoformat(),
        "scale": dataset.get("scale", "custom"),
        "repeat": repeat,
        "warmup": warmup,
        "machine": report.machine(),
        "dataset": {k: v for k, v in dataset.items() if k not in ("index", "complete")},
        "context": ctx.__dict__,
        "tenant_check": tenant,
        "reads": reads,
        "query_budget": budget,
        "writes": writes,
        "sweep": sweep,
        "jobs": {k: v for k, v in jobs.items() if v is not None},
        "run_seconds": round(time.perf_counter() - started, 1),
        # the box is shared: how busy it was (1-minute load average) when the run began and ended
        "load_average": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    generate.add_size_arguments(parser)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per scenario (30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    parser.add_argument("--sweep-runs", type=int, default=3, help="timed pool sweeps (3)")
    parser.add_argument(
        "--job-runs", type=int, default=3, help="timed runs of the reminder and stalled jobs (3)"
    )
    parser.add_argument(
        "--generate", action="store_true", help="build the data set first unless present"
    )
    parser.add_argument("--only", help="comma-separated scenario keys")
    parser.add_argument("--no-record", action="store_true", help="do not write JSON and docs")
    parser.add_argument(
        "--label",
        help="write bench/results/<date>-<scale>-<label>.json only (docs untouched): a partial "
        "run, e.g. a before/after comparison with --only",
    )
    args = parser.parse_args(argv)
    sizes, scale = generate.sizes_from_args(args)
    if args.generate:
        generate.prepare(sizes, scale=scale, reset=False, if_needed=True)
    else:
        dataset = generate.current_dataset()
        if not generate.matches(dataset, sizes):
            raise SystemExit(
                f"crm_bench does not hold the {scale} data set: pass --generate to build it."
            )
    call_command("migrate", verbosity=0, interactive=False)  # tables of newer modules
    results = run(
        repeat=args.repeat,
        warmup=args.warmup,
        only=set(args.only.split(",")) if args.only else None,
        sweep_runs=args.sweep_runs,
        job_runs=args.job_runs,
    )
    if args.label and not args.no_record:
        results["label"] = args.label
        path = RESULTS_DIR / f"{results['date']}-{results['scale']}-{args.label}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
        print(f"Wrote {path.relative_to(ROOT)}")
    elif not args.no_record:
        path = RESULTS_DIR / f"{results['date']}-{results['scale']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
        report.write_docs(DOCS, results)
        print(f"Wrote {path.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
