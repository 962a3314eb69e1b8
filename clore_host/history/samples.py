"""GPU samples: recorded raw, summarised into per-minute rollups, pruned by age; and what is
asked of them (windows, how long the rig has been idle, how much history there is).

Raw samples (one row per GPU and sample) are kept for `raw_retention`; per-minute rollups
(count, sum, min, max, p95) for `rollup_retention`. The meta value `rolled_until` marks the
minutes rolled up so far; it lives in the file because a one-shot command may record samples
beside the daemon.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..facts import GPU_METRICS, GpuNow, WindowKey
from .store import Store, rollup_table
from .windows import (
    MINUTE,
    aggregate,
    check_key,
    floor_minute,
    is_number,
    nearest_rank_p95,
    not_a_sample,
)

_RAW_COLUMNS = ", ".join(("ts", "gpu", *GPU_METRICS))
_INSERT_RAW = (
    f"INSERT OR REPLACE INTO raw ({_RAW_COLUMNS}) VALUES "
    f"({', '.join('?' * (2 + len(GPU_METRICS)))})"
)
_INSERT_ROLLUP = (
    "INSERT OR REPLACE INTO {table} (minute, gpu, n, total, low, high, p95) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class Samples:
    """The sample tables of one store."""

    def __init__(self, store: Store, *, raw_retention: float, rollup_retention: float) -> None:
        self._store = store
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention
        self._last_prune = -math.inf
        # threshold -> (scanned up to, last time utilization exceeded it or None)
        self._busy_cache: dict[float, tuple[float, float | None]] = {}

    # -- recording ----------------------------------------------------------------------------

    def record(self, ts: float, gpus: Sequence[GpuNow]) -> None:
        """Store one reading of every GPU; a lost GPU stores nothing. Rollups and retention are
        brought up to date whenever the sample starts a new minute."""
        rows = [
            (ts, gpu.index, *(getattr(gpu, m) for m in GPU_METRICS)) for gpu in gpus if not gpu.lost
        ]
        minute = floor_minute(ts)
        # A rolled-back write may leave the cache ahead of the file: forget it.
        with self._store.write(on_rollback=self._busy_cache.clear) as db:
            rolled = self._rolled_until()  # another process (a one-shot run) may have rolled up
            db.executemany(_INSERT_RAW, rows)
            if self._busy_cache and ts <= max(s for s, _ in self._busy_cache.values()):
                self._busy_cache.clear()  # a sample in the past: rescan next time
            if rolled is None:
                self._store.set_meta("rolled_until", repr(minute))
            elif minute < rolled:
                self._roll(db, minute, minute + MINUTE)  # a late sample: redo its minute
            elif minute > rolled:
                self._roll(db, rolled, minute)
                self._store.set_meta("rolled_until", repr(minute))
                # A prune stamped ahead of this sample: the clock went back; prune again.
                if ts - self._last_prune >= MINUTE or ts < self._last_prune:
                    self._prune(db, ts, rolled_until=minute)

    def _rolled_until(self) -> float | None:
        """Minutes before this are rolled up; None before the first sample."""
        return self._store.meta_time("rolled_until")

    def _roll(self, db: sqlite3.Connection, start: float, end: float) -> None:
        """Summarise the raw samples of the minutes in [start, end) into rollups."""
        groups: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        cursor = db.execute(
            f"SELECT {_RAW_COLUMNS} FROM raw WHERE ts >= ? AND ts < ?", (start, end)
        )
        for row in cursor:
            if not isinstance(row[1], int):
                raise not_a_sample(self._store.path, "raw", "GPU index")
            groups.setdefault((int(floor_minute(row[0])), row[1]), []).append(row)
        for i, metric in enumerate(GPU_METRICS):
            records = []
            for (minute, gpu), rows in groups.items():
                values = [r[2 + i] for r in rows if r[2 + i] is not None]
                if not all(is_number(v) for v in values):
                    raise not_a_sample(self._store.path, "raw", metric)
                if values:  # a metric the GPU does not report takes no room
                    records.append((minute, gpu, *_summary(values)))
            table = rollup_table(metric)
            db.execute(f"DELETE FROM {table} WHERE minute >= ? AND minute < ?", (start, end))
            db.executemany(_INSERT_ROLLUP.format(table=table), records)

    def _prune(self, db: sqlite3.Connection, ts: float, *, rolled_until: float) -> None:
        # Whole minutes only, so a minute is either all in raw samples or only in its rollup.
        raw_cut = min(floor_minute(ts - self.raw_retention), rolled_until)
        rollup_cut = ts - self.rollup_retention
        db.execute("DELETE FROM raw WHERE ts < ?", (raw_cut,))
        for metric in GPU_METRICS:
            db.execute(f"DELETE FROM {rollup_table(metric)} WHERE minute < ?", (rollup_cut,))
        self._last_prune = ts
        # A remembered "last busy" time that has aged out of history no longer holds.
        for threshold, (_, last) in list(self._busy_cache.items()):
            if last is not None and last < rollup_cut:
                del self._busy_cache[threshold]

    def forget_future(self, db: sqlite3.Connection, now: float) -> int:
        """Inside write(): remove the samples taken after `now` and the rollups of minutes that
        start after it; how many rows went. The minute holding `now` is rolled up again from
        its raw samples when the next minute starts."""
        removed = db.execute("DELETE FROM raw WHERE ts > ?", (now,)).rowcount
        for metric in GPU_METRICS:
            table = rollup_table(metric)
            removed += db.execute(f"DELETE FROM {table} WHERE minute > ?", (now,)).rowcount
        rolled = self._rolled_until()
        if rolled is not None and rolled > floor_minute(now):
            self._store.set_meta("rolled_until", repr(floor_minute(now)))
        self._busy_cache.clear()
        self._last_prune = -math.inf
        return removed

    # -- questions ----------------------------------------------------------------------------

    def window(self, key: WindowKey, now: float) -> dict[int, float | None]:
        """The aggregate over the samples in [now - seconds, now], per GPU index. A GPU without
        a value for the metric in the window (lost, unsupported, no samples) is absent."""
        metric, agg, seconds = check_key(key)
        with self._store.read() as db:
            # Read each time: another process may have rolled up (and pruned) since.
            rolled = self._rolled_until()
            return aggregate(db, metric, agg, now - seconds, now, rolled, path=self._store.path)

    def idle_for(self, threshold: float, now: float) -> float | None:
        """Seconds since any GPU's utilization last exceeded `threshold`; if it never did in
        the stored history, seconds since the oldest utilization sample; None without any
        (samples without a utilization reading say nothing about idleness)."""
        with self._store.read() as db:
            last = self._last_busy(db, threshold, now)
            if last is None:
                oldest = _oldest(db, self._store.path, "utilization")
                return None if oldest is None else max(0.0, now - oldest)
            return max(0.0, now - last)

    def _last_busy(self, db: sqlite3.Connection, threshold: float, now: float) -> float | None:
        cached = self._busy_cache.get(threshold)
        if cached is not None and now >= cached[0]:
            # Only samples newer than the last scan can change the answer.
            scanned, last = cached
            row = db.execute(
                "SELECT ts FROM raw WHERE ts > ? AND ts <= ? AND utilization > ? "
                "ORDER BY ts DESC LIMIT 1",
                (scanned, now, threshold),
            ).fetchone()
        else:
            last = None
            row = db.execute(
                "SELECT ts FROM raw WHERE ts <= ? AND utilization > ? ORDER BY ts DESC LIMIT 1",
                (now, threshold),
            ).fetchone()
            if row is None:
                # Minutes whose raw samples are gone: the end of the minute stands in.
                floor = db.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
                pruned = math.inf if floor is None else floor_minute(floor)
                found = db.execute(
                    f"SELECT minute FROM {rollup_table('utilization')} WHERE minute < ? "
                    "AND minute <= ? AND high > ? ORDER BY minute DESC LIMIT 1",
                    (pruned, now, threshold),
                ).fetchone()
                if found is not None:
                    last = min(float(found[0]) + MINUTE, now)
        if row is not None:
            last = float(row[0])
        self._busy_cache[threshold] = (now, last)
        return last

    def coverage(self, now: float) -> float:
        """Seconds of history available: now minus the oldest stored sample; 0 without any."""
        with self._store.read() as db:
            oldest = _oldest(db, self._store.path)
        return 0.0 if oldest is None else max(0.0, now - oldest)


def _oldest(db: sqlite3.Connection, path: Path, metric: str | None = None) -> float | None:
    """The oldest sample (of `metric`, when given: rows without it do not count)."""
    where = "" if metric is None else f" WHERE {metric} IS NOT NULL"
    raw = db.execute(f"SELECT MIN(ts) FROM raw{where}").fetchone()[0]
    firsts = [
        db.execute(f"SELECT MIN(minute) FROM {rollup_table(m)}").fetchone()[0]
        for m in (GPU_METRICS if metric is None else (metric,))
    ]
    if not all(f is None or is_number(f) for f in (raw, *firsts)):
        raise not_a_sample(path, "raw", "time")
    rollup = min((f for f in firsts if f is not None), default=None)
    if raw is not None and (rollup is None or rollup >= floor_minute(raw)):
        return float(raw)  # nothing pruned: the exact time of the first sample
    return None if rollup is None else float(rollup)  # to the minute


def _summary(values: list[float]) -> tuple[int, float, float, float, float]:
    """Count, sum, min, max and nearest-rank 95th percentile of a minute's values."""
    ordered = sorted(values)
    p95 = nearest_rank_p95((v, 1) for v in ordered)
    return len(ordered), math.fsum(ordered), ordered[0], ordered[-1], p95
