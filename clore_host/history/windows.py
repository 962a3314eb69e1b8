"""Window queries: an aggregate of one metric over [start, end], per GPU.

A window splits into whole minutes, answered from the per-minute rollups, and the partial
minutes at either end, answered from raw samples. So avg, min and max are exact wherever raw
samples are still kept. p95 is the nearest-rank 95th percentile: exact from raw samples for
windows up to an hour; over longer windows, the per-minute p95s weighted by their sample counts
stand in for the minutes' samples (close for steady metrics, high for spiky ones). Where raw
samples are gone, a window starting mid-minute includes that whole minute. GPUs without a value
for the metric in the window are left out of the answer.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..facts import AGGREGATES, GPU_METRICS, WindowKey
from .store import damaged, rollup_table

MINUTE = 60
RAW_P95_LIMIT = 3600.0  # p95 over windows up to this long is computed from raw samples


def floor_minute(ts: float) -> float:
    return float(ts // MINUTE * MINUTE)


def ceil_minute(ts: float) -> float:
    return float(-(-ts // MINUTE) * MINUTE)


# SQLite keeps whatever a row was given: a number column may hold text or bytes. clore-host
# writes numbers (and NULL for a metric a GPU does not report), so anything else is damage.
_NUMBER_TYPES = "('integer', 'real')"


def is_number(value: Any) -> bool:
    """A number as SQLite gives one back (it has no booleans)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def not_a_sample(path: Path, table: str, metric: str) -> Exception:
    """The error for a row of `table` ("raw", "rollup") whose value is not a number."""
    what = "a GPU sample" if table == "raw" else "a per-minute rollup"
    return damaged(path, f"{what} of {metric} holds a value that is not a number")


def check_key(key: WindowKey) -> tuple[str, str, float]:
    """The key's metric, aggregate and seconds; ValueError for a key no window can answer."""
    metric, agg, seconds = key
    if metric not in GPU_METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(GPU_METRICS)}")
    if agg not in AGGREGATES:
        raise ValueError(f"unknown aggregate {agg!r}; known: {', '.join(AGGREGATES)}")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"a window must be a positive number of seconds, not {seconds!r}")
    return metric, agg, float(seconds)


def aggregate(
    db: sqlite3.Connection,
    metric: str,
    agg: str,
    start: float,
    end: float,
    rolled_until: float | None,
    *,
    path: Path,
) -> dict[int, float | None]:
    """The aggregate of `metric` over [start, end] per GPU; minutes before `rolled_until` are
    rolled up. A row of another type than clore-host writes raises HistoryDamaged (`path`)."""
    stop = math.nextafter(end, math.inf)  # the window includes `end`; ranges below exclude it
    raw_floor = db.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
    # Raw samples cover the window if it starts after the oldest one, or if no rollup is
    # older than that sample (nothing was ever pruned: the database is just young).
    raw_kept = raw_floor is not None and start >= raw_floor
    if raw_floor is not None and not raw_kept:
        oldest = db.execute(f"SELECT MIN(minute) FROM {rollup_table(metric)}").fetchone()[0]
        raw_kept = oldest is None or oldest >= floor_minute(raw_floor)
    # Whole minutes [m0, m1) come from rollups; [start, m0) and [m1, end] from raw samples.
    m0 = ceil_minute(start) if raw_kept else floor_minute(start)
    m1 = max(m0, min(rolled_until or -math.inf, floor_minute(end)))
    if agg == "p95" and raw_kept and end - start <= RAW_P95_LIMIT:
        m0 = m1 = stop  # exact: every sample from raw
    raw = [(start, min(m0, stop)), (m1, stop)]
    rollup = (m0, m1)
    if agg == "p95":
        return _p95(db, metric, raw, rollup, path)
    totals: dict[int, list[Any]] = {}
    # The last column counts the rows of another type: SUM, MIN and MAX would take text for 0,
    # or hand it back.
    raw_sql = (
        f"SELECT gpu, COUNT({metric}), SUM({metric}), MIN({metric}), MAX({metric}), "
        f"SUM(typeof(gpu) != 'integer' OR ({metric} IS NOT NULL "
        f"AND typeof({metric}) NOT IN {_NUMBER_TYPES})) "
        "FROM raw WHERE ts >= ? AND ts < ? GROUP BY 1"
    )
    rollup_sql = (
        "SELECT gpu, SUM(n), SUM(total), MIN(low), MAX(high), "
        "SUM(typeof(gpu) != 'integer' OR typeof(n) != 'integer' "
        f"OR typeof(total) NOT IN {_NUMBER_TYPES} OR typeof(low) NOT IN {_NUMBER_TYPES} "
        f"OR typeof(high) NOT IN {_NUMBER_TYPES}) "
        f"FROM {rollup_table(metric)} WHERE minute >= ? AND minute < ? GROUP BY 1"
    )
    for sql, (lo, hi) in [(raw_sql, raw[0]), (rollup_sql, rollup), (raw_sql, raw[1])]:
        if hi <= lo:
            continue
        table = "raw" if sql is raw_sql else "rollup"
        for gpu, n, total, low, high, bad in db.execute(sql, (lo, hi)):
            if bad:
                raise not_a_sample(path, table, metric)
            acc = totals.setdefault(gpu, [0, 0.0, None, None])
            if n:
                acc[0] += n
                acc[1] += total
                acc[2] = low if acc[2] is None else min(acc[2], low)
                acc[3] = high if acc[3] is None else max(acc[3], high)
    out: dict[int, float | None] = {}
    for gpu, (n, total, low, high) in totals.items():
        if not n:
            continue
        if agg == "avg":
            out[gpu] = total / n
        else:
            out[gpu] = float(low if agg == "min" else high)
    return out


def _p95(
    db: sqlite3.Connection,
    metric: str,
    raw: list[tuple[float, float]],
    rollup: tuple[float, float],
    path: Path,
) -> dict[int, float | None]:
    # Weighted items: a raw sample weighs 1, a minute's p95 its sample count.
    items: list[tuple[int, float, int]] = []
    raw_sql = f"SELECT gpu, {metric}, 1 FROM raw WHERE ts >= ? AND ts < ? AND {metric} IS NOT NULL"
    rollup_sql = f"SELECT gpu, p95, n FROM {rollup_table(metric)} WHERE minute >= ? AND minute < ?"
    for table, sql, (lo, hi) in [
        ("raw", raw_sql, raw[0]),
        ("raw", raw_sql, raw[1]),
        ("rollup", rollup_sql, rollup),
    ]:
        if hi > lo:
            rows = db.execute(sql, (lo, hi)).fetchall()
            for gpu, value, weight in rows:
                if not (isinstance(gpu, int) and is_number(value) and isinstance(weight, int)):
                    raise not_a_sample(path, table, metric)
            items += rows
    by_gpu: dict[int, list[tuple[float, int]]] = {}
    for gpu, value, weight in items:
        by_gpu.setdefault(gpu, []).append((value, weight))
    return {gpu: nearest_rank_p95(found) for gpu, found in by_gpu.items()}


def nearest_rank_p95(items: Iterable[tuple[float, int]]) -> float:
    """The nearest-rank 95th percentile of weighted values (a value weighing w counts w
    times): the smallest value whose cumulative weight reaches 95 %, in integers. A raw
    sample weighs 1, a minute's p95 its sample count; the simulator's samples use it too."""
    ordered = sorted(items)
    total = sum(w for _, w in ordered)
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen * 100 >= total * 95:
            return float(value)
    raise ValueError("no values")
