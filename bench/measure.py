"""Measuring helpers of the harness: timing over repeated runs, the statistics, query capture
and the SQL floor. Pure functions over a clock and a DB-API connection, so they are tested
exactly (tests/test_bench_smoke.py) with a fake clock and a fake connection.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


def median(samples: Sequence[float]) -> float:
    """The median of ``samples`` (the mean of the middle two for an even count)."""
    if not samples:
        raise ValueError("no samples")
    return float(statistics.median(samples))


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct`` % of the samples at
    or below it (p99 of 30 runs is the slowest run)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def ratio(end_to_end_ms: float, floor_ms: float) -> float | None:
    """End-to-end time over the floor; None when the floor is zero (nothing to compare)."""
    if floor_ms <= 0:
        return None
    return end_to_end_ms / floor_ms


@dataclass(frozen=True)
class Timing:
    """Samples in milliseconds and their median and p99."""

    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return median(self.samples_ms)

    @property
    def p99_ms(self) -> float:
        return percentile(self.samples_ms, 99)


def time_calls(
    call: Callable[[], Any],
    *,
    repeat: int,
    warmup: int = 3,
    clock: Clock = time.perf_counter,
    check: Callable[[Any], None] | None = None,
) -> Timing:
    """Run ``call`` ``warmup`` times untimed, then ``repeat`` times timed (wall clock, ms).
    ``check`` sees every result (e.g. asserts the response status)."""
    for _ in range(warmup):
        result = call()
        if check:
            check(result)
    samples = []
    for _ in range(repeat):
        started = clock()
        result = call()
        samples.append((clock() - started) * 1000.0)
        if check:
            check(result)
    return Timing(samples)


_DECLARE = re.compile(
    r'^\s*DECLARE\s+"[^"]+"\s+NO SCROLL CURSOR\s+WITH(?:OUT)? HOLD\s+FOR\s+', re.I
)


def plain_sql(sql: str) -> str:
    """The query itself: Django iterates big querysets (``.iterator()``, e.g. the options of a
    select) through a server-side cursor, ``DECLARE "…" NO SCROLL CURSOR WITH HOLD FOR <query>``,
    whose rows it then fetches; the floor runs ``<query>`` and fetches the rows directly."""
    return _DECLARE.sub("", sql, count=1)


def run_floor(
    conn: Any,
    statements: Sequence[str],
    *,
    repeat: int,
    clock: Clock = time.perf_counter,
    rollback: bool = True,
) -> Timing:
    """The floor: run exactly ``statements`` (the SQL a request issued, parameters inlined)
    on the DB-API connection ``conn`` ``repeat`` times, fetching every row, and time each
    round (ms). With ``rollback`` each round runs in one transaction rolled back afterwards,
    outside the timing, so the bookkeeping writes a request may make (session touch, token
    last-used) change nothing. Server-side cursor declarations run as their query
    (:func:`plain_sql`)."""
    plain = [plain_sql(sql) for sql in statements]
    samples = []
    for _ in range(repeat):
        cursor = conn.cursor()
        started = clock()
        for sql in plain:
            cursor.execute(sql)
            if cursor.description is not None:
                cursor.fetchall()
        samples.append((clock() - started) * 1000.0)
        cursor.close()
        if rollback:
            conn.rollback()
    return Timing(samples)


@contextmanager
def counting_queries(connection: Any) -> Iterator[list[int]]:
    """Count the statements run on ``connection`` with a cheap execute wrapper (no SQL kept),
    for long operations such as the pool sweep. Yields a one-item list holding the count."""
    count = [0]

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield count
