"""Summarise a locust run: totals from ``*_stats.csv`` and, from ``*_stats_history.csv``, the
highest request rate the server sustained while the p99 of the last seconds stayed under
200 ms (issue 8/9: RELIABILITY L); the machine's CPU use over the run (``LOAD_CPU``: busy and
total jiffies before and after, from ``run.sh``) and what locust itself used of it
(``LOAD_LOCUST_CPU_S``), and how the busy time split between PostgreSQL and the app server
(``LOAD_PROC_CPU``: jiffies of the postgres and gunicorn processes before and after; SQLite
runs inside the app server). Appends one JSON line to bench/results/load.jsonl.

``python bench/load/summary.py PROFILE STATS.csv HISTORY.csv``
"""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

P99_LIMIT_MS = 200.0
RESULTS = Path(__file__).resolve().parents[1] / "results" / "load.jsonl"


def _num(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def summarise(profile: str, stats: str, history: str) -> dict[str, object]:
    with open(stats, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    per_request = {
        r["Name"]: {
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "median_ms": _num(r["Median Response Time"]),
            "p95_ms": _num(r["95%"]),
            "p99_ms": _num(r["99%"]),
        }
        for r in rows
        if r["Name"] != "Aggregated"
    }
    sustained, users_then = 0.0, 0
    with open(history, encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["Name"] != "Aggregated":
                continue
            rate, p99 = _num(r["Requests/s"]), _num(r["99%"])
            if rate is not None and p99 is not None and 0 < p99 < P99_LIMIT_MS and rate > sustained:
                sustained, users_then = rate, int(r["User Count"])
    cpu_busy_pct = None
    ticks = [int(t) for t in os.environ.get("LOAD_CPU", "").split()]
    if len(ticks) == 4 and ticks[3] > ticks[1]:
        cpu_busy_pct = round(100 * (ticks[2] - ticks[0]) / (ticks[3] - ticks[1]), 1)
    db_cpu_pct = app_cpu_pct = None
    procs = [int(t) for t in os.environ.get("LOAD_PROC_CPU", "").split()]
    if len(procs) == 4 and len(ticks) == 4 and ticks[3] > ticks[1]:
        span = ticks[3] - ticks[1]
        db_cpu_pct = round(100 * max(0, procs[2] - procs[0]) / span, 1)
        app_cpu_pct = round(100 * max(0, procs[3] - procs[1]) / span, 1)
    return {
        "profile": profile,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "rate_per_s": round(float(total["Requests/s"]), 1),
        "median_ms": _num(total["Median Response Time"]),
        "p95_ms": _num(total["95%"]),
        "p99_ms": _num(total["99%"]),
        "cpu_busy_pct": cpu_busy_pct,
        "db_cpu_pct": db_cpu_pct,
        "app_cpu_pct": app_cpu_pct,
        "locust_cpu_s": _num(os.environ.get("LOAD_LOCUST_CPU_S", "")),
        "sustained_rate_p99_under_200ms": round(sustained, 1),
        "users_at_that_rate": users_then,
        "per_request": per_request,
    }


def main(argv: list[str]) -> int:
    result = summarise(*argv[:3])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")
    print(
        f"{result['profile']}: {result['requests']} requests, {result['failures']} failures, "
        f"{result['rate_per_s']} req/s overall, median {result['median_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, CPU {result['cpu_busy_pct']} % "
        f"(PostgreSQL {result['db_cpu_pct']} %, app server {result['app_cpu_pct']} %, "
        f"locust {result['locust_cpu_s']} s); "
        f"sustained {result['sustained_rate_p99_under_200ms']} req/s "
        f"with p99 < 200 ms ({result['users_at_that_rate']} users)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
