"""The machine description and the markdown of a run, written into docs/benchmarks.md between
``<!-- bench:<scale>:start -->`` and ``<!-- bench:<scale>:end -->``."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

import django
from django.db import connection


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, database version and settings, Python and Django versions."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": connection.vendor,
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            info["database_version"] = f"PostgreSQL {cursor.fetchone()[0]}"
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost"):
                cursor.execute(f"SHOW {name}")
                info[name] = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT sqlite_version()")
            info["database_version"] = f"SQLite {cursor.fetchone()[0]}"
    return info


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _target(row: dict[str, Any]) -> str:
    parts = []
    if row.get("target_ms") is not None:
        parts.append(f"≤ {row['target_ms']:g} ms")
    if row.get("target_ratio") is not None:
        parts.append(f"≤ {row['target_ratio']:g}×")
    parts.append("≤ 15 q")
    return ", ".join(parts)


def _verdict(row: dict[str, Any]) -> str:
    misses = []
    if not row["meets_ms"]:
        times = row["median_ms"] / row["target_ms"]
        if times >= 2:
            misses.append(f"time {times:.1f}× the target")
        else:
            misses.append(f"time +{times - 1:.0%}" if times >= 1.01 else f"time +{times - 1:.1%}")
    if not row["meets_ratio"]:
        misses.append(f"ratio {row['ratio']:.1f}×")
    if not row["meets_queries"]:
        misses.append(f"{row['queries']} q")
    return "met" if not misses else "**missed**: " + ", ".join(misses)


def render(results: dict[str, Any]) -> str:
    """The markdown block of one run: machine, data set, then the tables."""
    m = results["machine"]
    d = results["dataset"]
    sizes = d.get("sizes", {})
    opportunities = d.get("opportunities") or {}
    # the customers' part (data sets of an earlier harness listed every table together)
    rows = {k: v for k, v in d.get("rows", {}).items() if k not in opportunities.get("rows", {})}
    orgs = sizes.get("orgs", 1) or 1
    lines = [
        f"Run of {results['date']} ({results['scale']} scale): {m['cpu']}, {m['cores']} cores, "
        f"{m['ram_gb']} GB RAM, {m['database_version']} (shared_buffers "
        f"{m.get('shared_buffers', '–')}, work_mem {m.get('work_mem', '–')}), Python "
        f"{m['python']}, Django {m['django']}. Each figure: median and p99 of "
        f"{results['repeat']} runs after {results['warmup']} warm-ups; the floor runs the same "
        f"SQL as often. Peak RSS of the run: {results['peak_rss_mb']} MB."
        + (
            f" Load average of the box (1 min) at the start and the end: "
            f"{results['load_average'][0]} and {results['load_average'][1]}."
            if results.get("load_average")
            else ""
        ),
        "",
        f"Data set: {orgs} organisations, each with {sizes.get('customers', 0):,} customers, "
        f"{rows.get('customers_contact', 0) // orgs:,} contacts, "
        f"{sizes.get('leads', 0):,} leads, {sizes.get('users', 0)} users in "
        f"{sizes.get('departments', 0)} departments, {sizes.get('pool_share', 0):.0%} of the "
        f"customers in the public pool. Generated in {d.get('seconds', 0):,.0f} s: "
        f"{sum(rows.values()):,} rows, {d.get('rows_per_second', 0):,} rows/s "
        f"({d.get('customers_per_second', 0):,} customers/s with their contacts, tags and "
        f"creation events), indexes rebuilt and VACUUM ANALYZE included in the total.",
        "",
    ]
    if opportunities and sizes.get("opportunities"):
        o_rows = opportunities.get("rows", {})
        lines += [
            f"Opportunities: {sizes['opportunities']:,} per organisation with "
            f"{o_rows.get('pipeline_stagehistory', 0) // orgs:,} stage-history rows, "
            f"{o_rows.get('activities_followup', 0) // orgs:,} follow-ups and "
            f"{o_rows.get('activities_visitplan', 0) // orgs:,} visit plans, added in "
            f"{opportunities.get('seconds', 0):,.0f} s: {opportunities.get('rows_total', 0):,} "
            f"rows, {opportunities.get('rows_per_second', 0):,} rows/s "
            f"({opportunities.get('opportunities_per_second', 0):,} opportunities/s with their "
            f"history, follow-ups and plans), indexes rebuilt, customers refreshed and VACUUM "
            f"ANALYZE included.",
            "",
        ]
    tenant = results.get("tenant_check")
    if tenant:
        lines += [
            f"Tenant check: the director's customer list counts {tenant['listed']:,} customers "
            f"(their organisation's {tenant['own_org']:,}; {tenant['all_orgs']:,} in the table).",
            "",
        ]
    lines += [
        "| Scenario | Actor (scope) | Median ms | p99 ms | Floor ms | Ratio | Queries | Rows "
        "| Target (issue 8) | Verdict |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in results["reads"]:
        if r.get("error"):
            lines.append(
                f"| {r['label']} | {r['actor']} ({r['scope']}) | – | – | – | – | – | – | – "
                f"| **not measured**: {r['error'].splitlines()[0][:120]} |"
            )
            continue
        found = "–" if r["rows"] is None else f"{r['rows']:,}"
        lines.append(
            f"| {r['label']} | {r['actor']} ({r['scope']}) | {_num(r['median_ms'])} "
            f"| {_num(r['p99_ms'])} | {_num(r['floor_median_ms'], 2)} "
            f"| {_num(r['ratio'])}× | {r['queries']} "
            f"| {found} | {_target(r)} "
            f"| {_verdict(r)} |"
        )
    calls = [r for r in results["reads"] if r.get("result")]
    if calls:
        lines += [
            "",
            "What the counts said (opportunities in each built-in query, in the actor's scope):",
            "",
            "| Actor | Mine | Overdue | 7-day plan | 7-day done | Reps with overdue (top 50) "
            "| Most overdue of a rep |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for r in calls:
            c = r["result"]
            lines.append(
                f"| {r['actor']} ({r['scope']}) | {c.get('mine', 0):,} | {c.get('overdue', 0):,} "
                f"| {c.get('plan7', 0):,} | {c.get('done7', 0):,} | {c.get('reps_overdue', 0):,} "
                f"| {c.get('top_rep_overdue', 0):,} |"
            )
    if results.get("query_budget"):
        lines += [
            "",
            "Queries per request at a small and a large page size (target: no more for the larger "
            "page, ≤ 15):",
            "",
            "| Endpoint | Actor | Small page | Large page | Verdict |",
            "|---|---|--:|--:|---|",
        ]
        for b in results["query_budget"]:
            ok = b["equal"] and b["within_budget"]
            small = b.get("small_size", 10)
            large = b.get("large_size", 100)
            lines.append(
                f"| {b['scenario']} | {b['actor']} "
                f"| {b.get('queries_small', b.get('queries_page_10'))} ({small}) "
                f"| {b.get('queries_large', b.get('queries_page_100'))} ({large}) "
                f"| {'met' if ok else '**missed**'} |"
            )
    if results.get("writes"):
        lines += [
            "",
            "| Write (service call) | Actor (scope) | Median ms | p99 ms | Queries |",
            "|---|---|--:|--:|--:|",
        ]
        for w in results["writes"]:
            lines.append(
                f"| {w['label']} | {w['actor']} ({w['scope']}) | {_num(w['median_ms'])} "
                f"| {_num(w['p99_ms'])} | {w['queries']} |"
            )
    s = results.get("sweep")
    if s:
        verdict = "met" if s["meets_target"] else f"**missed**: +{s['median_s'] / 5 - 1:.0%}"
        lines += [
            "",
            "| Pool sweep | Customers in the organisation | Due (returned) | Median s | p99 s "
            "| Returned / s | Queries | Target (issue 8) | Verdict |",
            "|---|--:|--:|--:|--:|--:|--:|---|---|",
            f"| `sweep_org`, {s['runs']} runs | {s['customers_in_org']:,} | {s['due']:,} "
            f"({s['returned']:,}) | {s['median_s']:.2f} | {s['p99_s']:.2f} "
            f"| {s['returned_per_s'] or 0:,} | {s['queries']:,} "
            f"| ≤ 5 s over 300,000 customers | {verdict} |",
        ]
    lines += _jobs(results.get("jobs") or {})
    return "\n".join(lines) + "\n"


def _jobs(jobs: dict[str, Any]) -> list[str]:
    """The reminder and stalled jobs' table (no target in issue 8: each run must end well within
    the job's period)."""
    if not jobs:
        return []
    lines = [
        "",
        "| Job (whole organisation) | Run | Due | Done | Median s | p99 s | Queries | Period |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    r = jobs.get("reminders")
    if r:
        c, st = r["catch_up"], r["steady"]
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(c.get("by_kind", {}).items()))
        lines += [
            f"| `remind_org`, {r['opportunities_in_org']:,} opportunities | catch-up: all due "
            f"within the 2-day look-back ({kinds}) | {c['sent']:,} | {c['sent']:,} "
            f"| {c['seconds']:.2f} | – | {c['queries']:,} | every 5 min |",
            f"| `remind_org` | steady: 5 minutes later, {st['runs']} runs | {st['sent']:,} new "
            f"| {st['sent']:,} | {st['median_s']:.2f} | {st['p99_s']:.2f} | {st['queries']:,} "
            f"| every 5 min |",
        ]
    s = jobs.get("stalled")
    if s:
        st, b = s["steady"], s["backlog"]
        lines.append(
            f"| `flag_stalled`, {s['working_in_org']:,} being worked | steady: 30 minutes "
            f"later, {st['runs']} runs | {st['flagged']:,} | {st['flagged']:,} "
            f"| {st['median_s']:.2f} | {st['p99_s']:.2f} | {st['queries']:,} | every 30 min |"
        )
        if b.get("runs"):
            lines.append(
                f"| `flag_stalled` | backlog: 1 % of those being worked not flagged, "
                f"{b['runs']} runs | {b['due']:,} | {b['flagged']:,} | {b['median_s']:.2f} "
                f"| {b['p99_s']:.2f} | {b['queries']:,} | every 30 min |"
            )
    return lines


def write_docs(path: Path, results: dict[str, Any]) -> None:
    """Replace the block of this run's scale in ``path`` (appended when it has none)."""
    scale = results["scale"]
    start, end = f"<!-- bench:{scale}:start -->", f"<!-- bench:{scale}:end -->"
    block = f"{start}\n{render(results)}{end}"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n## Results: {scale} scale\n\n{block}\n"
    path.write_text(text)


def summary(results: dict[str, Any]) -> str:
    return render(results)
