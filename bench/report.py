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
    rows = d.get("rows", {})
    orgs = sizes.get("orgs", 1) or 1
    lines = [
        f"Run of {results['date']} ({results['scale']} scale): {m['cpu']}, {m['cores']} cores, "
        f"{m['ram_gb']} GB RAM, {m['database_version']} (shared_buffers "
        f"{m.get('shared_buffers', '–')}, work_mem {m.get('work_mem', '–')}), Python "
        f"{m['python']}, Django {m['django']}. Each figure: median and p99 of "
        f"{results['repeat']} runs after {results['warmup']} warm-ups; the floor runs the same "
        f"SQL as often. Peak RSS of the run: {results['peak_rss_mb']} MB.",
        "",
        f"Data set: {orgs} organisations, each with {sizes.get('customers', 0):,} customers, "
        f"{rows.get('customers_contact', 0) // orgs:,} contacts, "
        f"{sizes.get('leads', 0):,} leads, {sizes.get('users', 0)} users in "
        f"{sizes.get('departments', 0)} departments, {sizes.get('pool_share', 0):.0%} of the "
        f"customers in the public pool. Generated in {d.get('seconds', 0):,.0f} s: "
        f"{d.get('rows_total', 0):,} rows, {d.get('rows_per_second', 0):,} rows/s "
        f"({d.get('customers_per_second', 0):,} customers/s with their contacts, tags and "
        f"creation events), indexes rebuilt and VACUUM ANALYZE included in the total.",
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
        found = "–" if r["rows"] is None else f"{r['rows']:,}"
        lines.append(
            f"| {r['label']} | {r['actor']} ({r['scope']}) | {_num(r['median_ms'])} "
            f"| {_num(r['p99_ms'])} | {_num(r['floor_median_ms'], 2)} "
            f"| {_num(r['ratio'])}× | {r['queries']} "
            f"| {found} | {_target(r)} "
            f"| {_verdict(r)} |"
        )
    if results.get("query_budget"):
        lines += [
            "",
            "Queries per request at page size 10 and 100 (target: equal, ≤ 15):",
            "",
            "| Endpoint | Actor | page_size=10 | page_size=100 | Verdict |",
            "|---|---|--:|--:|---|",
        ]
        for b in results["query_budget"]:
            ok = b["equal"] and b["within_budget"]
            lines.append(
                f"| {b['scenario']} | {b['actor']} | {b['queries_page_10']} "
                f"| {b['queries_page_100']} | {'met' if ok else '**missed**'} |"
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
    return "\n".join(lines) + "\n"


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
