"""Telemetry benchmark: the sample-and-store tick, window queries over 30 days, database size.

History: 30 days of an 8-GPU rig sampled every 5 s, kept as the store keeps it: raw samples
for the last 48 h (recorded through `record_sample`, which also rolls them up) and per-minute
rollups for the 28 days before (written in bulk, as the rollup path would have left them).

Targets: median tick (fake backend read + record_sample, 8 GPUs) under 2 ms; a 24 h window
query under 20 ms; the database under 200 MB. Prints the figures, PASS/FAIL, and exits 1 on FAIL.
Run: .venv/bin/python bench/bench_telemetry.py
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clore_host.facts import GPU_METRICS, GpuNow, WindowKey
from clore_host.gpu import open_backend
from clore_host.history import History
from clore_host.testing import FakeClock
from clore_host.testing.scenario import WHOLE

GPUS = 8
EVERY = 5.0
DAYS = 30
RAW_HOURS = 48
TICK_TARGET_MS = 2.0
QUERY_TARGET_MS = 20.0
SIZE_TARGET_MB = 200.0


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _old_rollups(conn: sqlite3.Connection, start: float, end: float) -> int:
    """Per-minute rollup rows for [start, end), as 12 samples a minute would have produced,
    written straight into the history's file (the public path would take minutes)."""
    rng = random.Random(7)
    conn.execute("BEGIN")
    count = 0
    for metric in GPU_METRICS:
        base = {"utilization": 60, "temperature": 65, "power": 300}.get(metric, 1000)
        bodies = []
        for _ in range(997):  # a pool of realistic minutes, reused in turn
            values = sorted(base * (0.8 + 0.4 * rng.random()) for _ in range(12))
            if metric in WHOLE:
                values = [float(round(v)) for v in values]
            bodies.append((12, sum(values), values[0], values[-1], values[11]))
        rows = [
            (minute, gpu, *bodies[(minute // 60 * GPUS + gpu) % len(bodies)])
            for minute in range(int(start), int(end), 60)
            for gpu in range(GPUS)
        ]
        conn.executemany(
            f"INSERT INTO rollup_{metric} (minute, gpu, n, total, low, high, p95) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        count += len(rows)
    conn.execute("COMMIT")
    return count


def _size_mb(conn: sqlite3.Connection, path: Path) -> float:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob("history.db*")) / 1e6


def _recent_raw(history: History, clock: FakeClock, start: float, end: float) -> int:
    """Samples every 5 s through record_sample, from a pool of fake-backend readings."""
    backend = open_backend("fake", scenario="mixed-8gpu", clock=clock)
    pool: list[list[GpuNow]] = []
    for i in range(251):
        clock.set(start + i * 37.0)
        pool.append([gpu.to_now() for gpu in backend.read().gpus])
    backend.close()
    ticks = int((end - start) / EVERY)
    for i in range(ticks):
        history.record_sample(start + i * EVERY, pool[i % len(pool)])
    return ticks


def main() -> int:
    clock = FakeClock()
    now = clock.now() + DAYS * 86400
    raw_start = now - RAW_HOURS * 3600
    results: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="clore-bench-") as tmp:
        path = Path(tmp) / "history.db"
        kept: list[sqlite3.Connection] = []

        def connect(name: str) -> sqlite3.Connection:
            kept.append(sqlite3.connect(name, check_same_thread=False))
            return kept[-1]

        history = History.open(path, connect=connect)
        conn = kept[0]  # the history's own connection, for the bulk load and the checkpoint
        started = time.perf_counter()
        rollups = _old_rollups(conn, now - DAYS * 86400, raw_start)
        rollup_mb = _size_mb(conn, path)
        ticks = _recent_raw(history, clock, raw_start, now)
        print(
            f"built {DAYS} days of {GPUS}-GPU history in {time.perf_counter() - started:.1f}s: "
            f"{rollups} bulk rollup rows, {ticks} recorded ticks ({RAW_HOURS} h raw)"
        )

        # One tick: read 8 GPUs from the fake backend, store them.
        clock.set(now)
        backend = open_backend("fake", scenario="mixed-8gpu", clock=clock)
        tick_ms: list[float] = []
        for _ in range(1200):
            clock.advance(EVERY)
            started = time.perf_counter()
            snapshot = backend.read()
            history.record_sample(clock.now(), [gpu.to_now() for gpu in snapshot.gpus])
            tick_ms.append((time.perf_counter() - started) * 1000)
        backend.close()
        tick = statistics.median(tick_ms)
        slow = sorted(tick_ms)[int(len(tick_ms) * 0.99)]
        results.append(("tick, 8 GPUs (median)", tick, TICK_TARGET_MS, "ms"))
        print(f"  tick p99 {slow:.2f} ms (a tick that opens a new minute also rolls up and prunes)")

        end = clock.now()
        queries = {
            "24 h window, avg per GPU": lambda: history.window(
                WindowKey("utilization", "avg", 86400), end
            ),
            "24 h window, max per GPU": lambda: history.window(
                WindowKey("temperature", "max", 86400), end
            ),
            "24 h window, p95 per GPU": lambda: history.window(
                WindowKey("power", "p95", 86400), end
            ),
            "24 h window, min per GPU": lambda: history.window(
                WindowKey("memory_used", "min", 86400), end
            ),
        }
        for name, query in queries.items():
            results.append((f"{name} (median)", _median_ms(query, 25), QUERY_TARGET_MS, "ms"))
        for label, key in (
            ("1 h window, p95 per GPU (raw)", WindowKey("power", "p95", 3600)),
            ("7 d window, avg per GPU", WindowKey("utilization", "avg", 7 * 86400)),
        ):
            ms = _median_ms(lambda key=key: history.window(key, end), 10)  # type: ignore[misc]
            print(f"  {label}: {ms:.2f} ms")
        cold = _median_ms(lambda: history.idle_for(random.uniform(99.5, 100), end), 5)
        print(f"  idle_for, first question for a threshold (full scan): {cold:.1f} ms")
        print(f"  idle_for, repeated: {_median_ms(lambda: history.idle_for(5, end), 50):.3f} ms")

        size = _size_mb(conn, path)
        history.close()
        results.append((f"database, {DAYS} days", size, SIZE_TARGET_MB, "MB"))
        per_day = rollup_mb / (DAYS - RAW_HOURS / 24)
        print(f"  rollups take {per_day:.1f} MB a day: {size + 60 * per_day:.0f} MB at 90 days")

    failed = False
    for name, value, target, unit in results:
        ok = value < target
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'}  {name}: {value:.2f} {unit} (target < {target:g} {unit})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
