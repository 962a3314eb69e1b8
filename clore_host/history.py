"""The history store: GPU samples, per-minute rollups, the audit trail, decisions and state.

One SQLite file (WAL mode) in the state directory. Raw samples (one row per GPU and sample) are
kept for `raw_retention` (48 h by default); per-minute rollups (count, sum, min, max, p95; one
narrow table per metric, so a long window reads only its metric) for `rollup_retention` (90 days).

Window queries split a window into whole minutes, answered from the rollups, and the partial
minutes at either end, answered from raw samples. So avg, min and max are exact wherever raw
samples are still kept. p95 is the nearest-rank 95th percentile: exact from raw samples for
windows up to an hour; over longer windows, the per-minute p95s weighted by their sample counts
stand in for the minutes' samples (close for steady metrics, high for spiky ones). Where raw
samples are gone, a window starting mid-minute includes that whole minute. GPUs without a value
for the metric in the window are left out of the answer.

Every failure (corrupt, locked, full, unwritable) raises HistoryError with a clear message;
the store never answers as if it were empty when it could not be read.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .facts import AGGREGATES, GPU_METRICS, GpuNow, HostNow, PriorState, Settings, WindowKey

SCHEMA_VERSION = 1
MINUTE = 60
MAX_DECISIONS = 1000
RAW_P95_LIMIT = 3600.0  # p95 over windows up to this long is computed from raw samples
CHANGE_STATUSES = ("pending", "applied", "abandoned")
HOST_FIELDS = ("cpu_percent", "load1", "mem_percent", "disk_free_mib", "uptime_s")


class HistoryError(Exception):
    """The history store cannot be used; the message says why and what to do."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeRecord:
    """One settings change in the audit trail."""

    id: int
    ts: float
    server: str
    before: Settings
    after: Settings
    reasons: tuple[str, ...]
    status: str
    status_ts: float  # when the status was set: for an applied change, when it was applied


class History:
    """Samples, rollups, audit trail and agent state in one SQLite file. Thread-safe."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        raw_retention: float,
        rollup_retention: float,
        busy_timeout: float,
    ) -> None:
        self.path = path
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention
        self._conn = conn
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._rolled_until: float | None = None  # minutes before this are rolled up
        self._last_prune = -math.inf
        # threshold -> (scanned up to, last time utilization exceeded it or None)
        self._busy_cache: dict[float, tuple[float, float | None]] = {}

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        raw_retention: float = 48 * 3600,
        rollup_retention: float = 90 * 86400,
        busy_timeout: float = 5.0,
        now: float | None = None,
    ) -> History:
        """Open (or create) the database. `now` dates a database found missing where one
        existed before (its marker file remains): prior_state() then counts from then."""
        path = Path(path)
        marker = path.with_name(path.name + ".created")
        recreated = not path.exists() and marker.exists()
        if not raw_retention > 0 or not rollup_retention > 0:
            raise ValueError("history retention periods must be positive")
        if rollup_retention < raw_retention:
            raise ValueError("rollup retention must be at least the raw retention")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create {path.parent} for the history database: {exc.strerror}"
            ) from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise HistoryError(
                f"history database {path}: directory {path.parent} is not writable by this user"
            )
        try:
            conn = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _translate(exc, path, busy_timeout) from exc
        history = cls(conn, path, raw_retention, rollup_retention, busy_timeout)
        try:
            history._setup()
            if recreated and now is not None:
                log.warning(
                    "history database %s was missing and is recreated: the minimum interval "
                    "and availability hold count from now",
                    path,
                )
                history.set_state("recreated_at", now)
            marker.touch()
        except OSError as exc:
            conn.close()
            raise HistoryError(f"history database {path}: cannot write beside it: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return history

    def _setup(self) -> None:
        with self._db():
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise HistoryError(f"history database {self.path}: cannot use WAL mode ({mode})")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent on crash
        with self._write():
            for statement in _schema():
                self._conn.execute(statement)
            version = self._meta("schema")
            if version is None:
                self._set_meta("schema", str(SCHEMA_VERSION))
            elif int(version) > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} was written by a newer clore-host "
                    f"(schema {version}); upgrade clore-host or move the file aside"
                )
            self._add_missing_columns()
            self._load_rolled()

    def _add_missing_columns(self) -> None:
        """Metrics added to GPU_METRICS after the file was created get a raw column (and,
        through the schema, a rollup table)."""
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(raw)")}
        for metric in GPU_METRICS:
            if metric not in have:
                self._conn.execute(f"ALTER TABLE raw ADD COLUMN {metric} REAL")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- samples ------------------------------------------------------------------------------

    def record_sample(self, ts: float, gpus: Sequence[GpuNow], host: HostNow | None = None) -> None:
        """Store one reading of every GPU and the host.

        A lost GPU stores nothing. Rollups and retention are brought up to date whenever the
        sample starts a new minute.
        """
        rows = [
            (ts, gpu.index, *(getattr(gpu, m) for m in GPU_METRICS)) for gpu in gpus if not gpu.lost
        ]
        minute = _floor_minute(ts)
        with self._write():
            self._load_rolled()  # another process (a one-shot run) may have rolled up since
            self._conn.executemany(_INSERT_RAW, rows)
            if host is not None:
                self._conn.execute(_INSERT_HOST, (ts, *(getattr(host, f) for f in HOST_FIELDS)))
            if self._busy_cache and ts <= max(s for s, _ in self._busy_cache.values()):
                self._busy_cache.clear()  # a sample in the past: rescan next time
            if self._rolled_until is None:
                self._set_rolled(minute)
            elif minute < self._rolled_until:
                self._roll(minute, minute + MINUTE)  # a late sample: redo its minute
            elif minute > self._rolled_until:
                self._roll(self._rolled_until, minute)
                self._set_rolled(minute)
                if ts - self._last_prune >= MINUTE:
                    self._prune(ts)

    def _load_rolled(self) -> None:
        rolled = self._meta("rolled_until")
        self._rolled_until = None if rolled is None else float(rolled)

    def _set_rolled(self, minute: float) -> None:
        self._rolled_until = minute
        self._set_meta("rolled_until", repr(minute))

    def _roll(self, start: float, end: float) -> None:
        """Summarise the raw samples of the minutes in [start, end) into rollups."""
        groups: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        cursor = self._conn.execute(
            f"SELECT {_RAW_COLUMNS} FROM raw WHERE ts >= ? AND ts < ?", (start, end)
        )
        for row in cursor:
            groups.setdefault((int(_floor_minute(row[0])), row[1]), []).append(row)
        for i, metric in enumerate(GPU_METRICS):
            records = []
            for (minute, gpu), rows in groups.items():
                values = [r[2 + i] for r in rows if r[2 + i] is not None]
                if values:  # a metric the GPU does not report takes no room
                    records.append((minute, gpu, *_summary(values)))
            self._conn.execute(
                f"DELETE FROM {_rollup(metric)} WHERE minute >= ? AND minute < ?", (start, end)
            )
            self._conn.executemany(_INSERT_ROLLUP.format(table=_rollup(metric)), records)

    def _prune(self, ts: float) -> None:
        # Whole minutes only, so a minute is either all in raw samples or only in its rollup.
        raw_cut = min(_floor_minute(ts - self.raw_retention), self._rolled_until or ts)
        rollup_cut = ts - self.rollup_retention
        self._conn.execute("DELETE FROM raw WHERE ts < ?", (raw_cut,))
        self._conn.execute("DELETE FROM host WHERE ts < ?", (ts - self.raw_retention,))
        for metric in GPU_METRICS:
            self._conn.execute(f"DELETE FROM {_rollup(metric)} WHERE minute < ?", (rollup_cut,))
        self._last_prune = ts
        # A remembered "last busy" time that has aged out of history no longer holds.
        for threshold, (_, last) in list(self._busy_cache.items()):
            if last is not None and last < rollup_cut:
                del self._busy_cache[threshold]

    # -- windows ------------------------------------------------------------------------------

    def window(self, key: WindowKey, now: float) -> dict[int, float | None]:
        """The aggregate over the samples in [now - seconds, now], per GPU index. A GPU without
        a value for the metric in the window (lost, unsupported, no samples) is absent."""
        metric, agg, seconds = _check_key(key)
        with self._db():
            return self._aggregate(metric, agg, now - seconds, now, by_gpu=True)

    def window_all(self, key: WindowKey, now: float) -> float | None:
        """The aggregate over every GPU's samples in the window; None without any."""
        metric, agg, seconds = _check_key(key)
        with self._db():
            return self._aggregate(metric, agg, now - seconds, now, by_gpu=False).get(-1)

    def _aggregate(
        self, metric: str, agg: str, start: float, end: float, *, by_gpu: bool
    ) -> dict[int, float | None]:
        stop = _after(end)  # the window includes `end`; ranges below exclude their upper bound
        self._load_rolled()  # another process may have rolled up (and pruned) since
        raw_floor = self._conn.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
        # Raw samples cover the window if it starts after the oldest one, or if no rollup is
        # older than that sample (nothing was ever pruned: the database is just young).
        raw_kept = raw_floor is not None and start >= raw_floor
        if raw_floor is not None and not raw_kept:
            oldest = self._conn.execute(f"SELECT MIN(minute) FROM {_rollup(metric)}").fetchone()[0]
            raw_kept = oldest is None or oldest >= _floor_minute(raw_floor)
        # Whole minutes [m0, m1) come from rollups; [start, m0) and [m1, end] from raw samples.
        m0 = _ceil_minute(start) if raw_kept else _floor_minute(start)
        m1 = max(m0, min(self._rolled_until or -math.inf, _floor_minute(end)))
        if agg == "p95" and raw_kept and end - start <= RAW_P95_LIMIT:
            m0 = m1 = stop  # exact: every sample from raw
        raw = [(start, min(m0, stop)), (m1, stop)]
        rollup = (m0, m1)
        group = "gpu" if by_gpu else "-1"
        if agg == "p95":
            return self._p95(metric, group, raw, rollup)
        totals: dict[int, list[Any]] = {}
        raw_sql = (
            f"SELECT {group}, COUNT({metric}), SUM({metric}), MIN({metric}), MAX({metric}) "
            "FROM raw WHERE ts >= ? AND ts < ? GROUP BY 1"
        )
        rollup_sql = (
            f"SELECT {group}, SUM(n), SUM(total), MIN(low), MAX(high) FROM {_rollup(metric)} "
            "WHERE minute >= ? AND minute < ? GROUP BY 1"
        )
        for sql, (lo, hi) in [(raw_sql, raw[0]), (rollup_sql, rollup), (raw_sql, raw[1])]:
            if hi <= lo:
                continue
            for gpu, n, total, low, high in self._conn.execute(sql, (lo, hi)):
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
        self,
        metric: str,
        group: str,
        raw: list[tuple[float, float]],
        rollup: tuple[float, float],
    ) -> dict[int, float | None]:
        # Weighted items: a raw sample weighs 1, a minute's p95 its sample count.
        items: list[tuple[int, float, int]] = []
        raw_sql = (
            f"SELECT {group}, {metric}, 1 FROM raw "
            f"WHERE ts >= ? AND ts < ? AND {metric} IS NOT NULL"
        )
        for lo, hi in raw:
            if hi > lo:
                items += self._conn.execute(raw_sql, (lo, hi)).fetchall()
        lo, hi = rollup
        if hi > lo:
            rollup_sql = (
                f"SELECT {group}, p95, n FROM {_rollup(metric)} WHERE minute >= ? AND minute < ?"
            )
            items += self._conn.execute(rollup_sql, (lo, hi)).fetchall()
        totals: dict[int, int] = {}
        for gpu, _, weight in items:
            totals[gpu] = totals.get(gpu, 0) + weight
        items.sort()
        out: dict[int, float | None] = {}
        current, seen = None, 0
        for gpu, value, weight in items:
            if gpu != current:
                current, seen = gpu, 0
            if gpu in out:
                continue
            seen += weight
            if seen * 100 >= totals[gpu] * 95:  # nearest rank, in integers
                out[gpu] = float(value)
        return out

    def idle_for(self, threshold: float, now: float) -> float | None:
        """Seconds since any GPU's utilization last exceeded `threshold`; if it never did in
        the stored history, seconds since the oldest utilization sample; None without any
        (samples without a utilization reading say nothing about idleness)."""
        with self._db():
            last = self._last_busy(threshold, now)
            if last is None:
                oldest = self._oldest("utilization")
                return None if oldest is None else max(0.0, now - oldest)
            return max(0.0, now - last)

    def _last_busy(self, threshold: float, now: float) -> float | None:
        cached = self._busy_cache.get(threshold)
        if cached is not None and now >= cached[0]:
            # Only samples newer than the last scan can change the answer.
            scanned, last = cached
            row = self._conn.execute(
                "SELECT ts FROM raw WHERE ts > ? AND ts <= ? AND utilization > ? "
                "ORDER BY ts DESC LIMIT 1",
                (scanned, now, threshold),
            ).fetchone()
        else:
            last = None
            row = self._conn.execute(
                "SELECT ts FROM raw WHERE ts <= ? AND utilization > ? ORDER BY ts DESC LIMIT 1",
                (now, threshold),
            ).fetchone()
            if row is None:
                # Minutes whose raw samples are gone: the end of the minute stands in.
                floor = self._conn.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
                pruned = math.inf if floor is None else _floor_minute(floor)
                found = self._conn.execute(
                    f"SELECT minute FROM {_rollup('utilization')} WHERE minute < ? "
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
        with self._db():
            oldest = self._oldest()
        return 0.0 if oldest is None else max(0.0, now - oldest)

    def _oldest(self, metric: str | None = None) -> float | None:
        """The oldest sample (of `metric`, when given: rows without it do not count)."""
        where = "" if metric is None else f" WHERE {metric} IS NOT NULL"
        raw = self._conn.execute(f"SELECT MIN(ts) FROM raw{where}").fetchone()[0]
        firsts = [
            self._conn.execute(f"SELECT MIN(minute) FROM {_rollup(m)}").fetchone()[0]
            for m in (GPU_METRICS if metric is None else (metric,))
        ]
        rollup = min((f for f in firsts if f is not None), default=None)
        if raw is not None and (rollup is None or rollup >= _floor_minute(raw)):
            return float(raw)  # nothing pruned: the exact time of the first sample
        return None if rollup is None else float(rollup)  # to the minute

    # -- audit trail --------------------------------------------------------------------------

    def record_change(
        self,
        ts: float,
        server: str,
        before: Settings,
        after: Settings,
        reasons: Sequence[str],
        status: str = "pending",
    ) -> int:
        _check_status(status)
        with self._write():
            cursor = self._conn.execute(
                "INSERT INTO change (ts, server, before, after, reasons, status, status_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    ts,
                    server,
                    json.dumps(before._asdict()),
                    json.dumps(after._asdict()),
                    json.dumps(list(reasons)),
                    status,
                    ts,
                ),
            )
            change_id = cursor.lastrowid
        assert change_id is not None
        return change_id

    def mark_change(self, change_id: int, status: str, ts: float) -> None:
        _check_status(status)
        with self._write():
            cursor = self._conn.execute(
                "UPDATE change SET status = ?, status_ts = ? WHERE id = ?",
                (status, ts, change_id),
            )
            if cursor.rowcount == 0:
                raise HistoryError(f"history database {self.path} has no change #{change_id}")

    def changes(
        self, since: float | None = None, status: str | None = "applied"
    ) -> list[ChangeRecord]:
        """Changes recorded at or after `since`, oldest first; of every status if None."""
        if status is not None:
            _check_status(status)
        with self._db():
            rows = self._conn.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change "
                "WHERE (? IS NULL OR ts >= ?) AND (? IS NULL OR status = ?) ORDER BY ts, id",
                (since, since, status, status),
            ).fetchall()
        return [_change(row) for row in rows]

    def pending_changes(self) -> list[ChangeRecord]:
        return self.changes(status="pending")

    def last_change(self) -> ChangeRecord | None:
        """The most recently recorded change, of any status."""
        with self._db():
            row = self._conn.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _change(row)

    def prior_state(self, server: str | None = None) -> PriorState:
        """When prices and availability last changed, from the applied changes.

        The time is when a change was applied (a write slowed by retries lands late), and
        never before the database was recreated in a state directory that had one: a lost
        audit trail must not reset the minimum interval or the availability hold.
        """
        price: float | None = None
        availability: float | None = None
        recreated = self.get_state("recreated_at")
        with self._db():
            cursor = self._conn.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change WHERE status = 'applied' "
                "AND (? IS NULL OR server = ?) ORDER BY ts DESC, id DESC",
                (server, server),
            )
            for row in cursor:
                change = _change(row)
                b, a = change.before, change.after
                if price is None and (b.on_demand != a.on_demand or b.spot != a.spot):
                    price = change.status_ts
                if availability is None and b.availability != a.availability:
                    availability = change.status_ts
                if price is not None and availability is not None:
                    break
        if isinstance(recreated, (int, float)):
            price = max(price or recreated, recreated)
            availability = max(availability or recreated, recreated)
        return PriorState(last_price_change=price, availability_since=availability)

    # -- decisions and state ------------------------------------------------------------------

    def record_decision(self, ts: float, summary: dict[str, Any]) -> None:
        """Keep a decision's summary; only the latest MAX_DECISIONS are kept."""
        text = json.dumps(summary)
        with self._write():
            cursor = self._conn.execute(
                "INSERT INTO decision (ts, summary) VALUES (?, ?)", (ts, text)
            )
            assert cursor.lastrowid is not None
            self._conn.execute(
                "DELETE FROM decision WHERE id <= ?", (cursor.lastrowid - MAX_DECISIONS,)
            )

    def last_decision(self) -> tuple[float, dict[str, Any]] | None:
        with self._db():
            row = self._conn.execute(
                "SELECT ts, summary FROM decision ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else (float(row[0]), json.loads(row[1]))

    def get_state(self, key: str) -> Any | None:
        with self._db():
            row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._write():
            self._conn.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, text)
            )

    # -- plumbing -----------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @contextmanager
    def _db(self) -> Iterator[None]:
        """Serialise use of the connection and turn SQLite failures into HistoryError."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, self._busy_timeout) from exc
            except OSError as exc:
                raise _translate_os(exc, self.path) from exc

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: all of it lands, or none of it."""
        with self._db():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                # Memory may be ahead of the rolled-back file: reload it.
                self._load_rolled()
                self._busy_cache.clear()
                raise


# -- schema and helpers -----------------------------------------------------------------------


def _rollup(metric: str) -> str:
    """The rollup table of a metric (a name from GPU_METRICS, so safe in SQL)."""
    return f"rollup_{metric}"


def _schema() -> list[str]:
    raw = ", ".join(f"{m} REAL" for m in GPU_METRICS)
    host = ", ".join(f"{f} REAL" for f in HOST_FIELDS)
    return [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS raw (ts REAL NOT NULL, gpu INTEGER NOT NULL, "
        f"{raw}, PRIMARY KEY (ts, gpu)) WITHOUT ROWID",
        *(
            f"CREATE TABLE IF NOT EXISTS {_rollup(m)} (minute INTEGER NOT NULL, "
            "gpu INTEGER NOT NULL, n INTEGER NOT NULL, total REAL NOT NULL, low REAL NOT NULL, "
            "high REAL NOT NULL, p95 REAL NOT NULL, PRIMARY KEY (minute, gpu)) WITHOUT ROWID"
            for m in GPU_METRICS
        ),
        f"CREATE TABLE IF NOT EXISTS host (ts REAL PRIMARY KEY, {host}) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS change (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        "server TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL, "
        "reasons TEXT NOT NULL, status TEXT NOT NULL, status_ts REAL)",
        "CREATE INDEX IF NOT EXISTS change_status ON change (status, ts)",
        "CREATE TABLE IF NOT EXISTS decision (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        "summary TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]


_RAW_COLUMNS = ", ".join(("ts", "gpu", *GPU_METRICS))
_INSERT_RAW = (
    f"INSERT OR REPLACE INTO raw ({_RAW_COLUMNS}) VALUES "
    f"({', '.join('?' * (2 + len(GPU_METRICS)))})"
)
_INSERT_ROLLUP = (
    "INSERT OR REPLACE INTO {table} (minute, gpu, n, total, low, high, p95) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_HOST = (
    f"INSERT OR REPLACE INTO host (ts, {', '.join(HOST_FIELDS)}) VALUES "
    f"({', '.join('?' * (1 + len(HOST_FIELDS)))})"
)
_CHANGE_COLUMNS = "id, ts, server, before, after, reasons, status, status_ts"


def _floor_minute(ts: float) -> float:
    return float(ts // MINUTE * MINUTE)


def _ceil_minute(ts: float) -> float:
    return float(-(-ts // MINUTE) * MINUTE)


def _after(ts: float) -> float:
    """The smallest float above ts: turns the inclusive end of a window into an exclusive one."""
    return math.nextafter(ts, math.inf)


def _summary(values: list[float]) -> tuple[int, float, float, float, float]:
    """Count, sum, min, max and nearest-rank 95th percentile of a minute's values."""
    ordered = sorted(values)
    rank = -(-95 * len(ordered) // 100)  # ceil(0.95 n) in integers
    return len(ordered), math.fsum(ordered), ordered[0], ordered[-1], ordered[rank - 1]


def _check_key(key: WindowKey) -> tuple[str, str, float]:
    metric, agg, seconds = key
    if metric not in GPU_METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(GPU_METRICS)}")
    if agg not in AGGREGATES:
        raise ValueError(f"unknown aggregate {agg!r}; known: {', '.join(AGGREGATES)}")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"a window must be a positive number of seconds, not {seconds!r}")
    return metric, agg, float(seconds)


def _check_status(status: str) -> None:
    if status not in CHANGE_STATUSES:
        raise ValueError(f"unknown change status {status!r}; known: {', '.join(CHANGE_STATUSES)}")


def _settings(text: str) -> Settings:
    data = json.loads(text)
    return Settings(
        on_demand=float(data["on_demand"]),
        spot=float(data["spot"]),
        availability=bool(data["availability"]),
        mrl=int(data["mrl"]),
    )


def _change(row: tuple[Any, ...]) -> ChangeRecord:
    change_id, ts, server, before, after, reasons, status, status_ts = row
    return ChangeRecord(
        id=int(change_id),
        ts=float(ts),
        server=str(server),
        before=_settings(before),
        after=_settings(after),
        reasons=tuple(json.loads(reasons)),
        status=str(status),
        status_ts=float(status_ts),
    )


def _translate(exc: sqlite3.Error, path: Path, busy_timeout: float) -> HistoryError:
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return HistoryError(
            f"history database {path} is corrupt: {text}; move it aside to start a new one"
        )
    if "locked" in lowered or "busy" in lowered:
        return HistoryError(
            f"history database {path} is locked by another process "
            f"(waited {busy_timeout:g}s): {text}"
        )
    if "full" in lowered:
        return HistoryError(
            f"history database {path}: the disk is full ({text}); free space in {path.parent}"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return HistoryError(
            f"history database {path} cannot be written ({text}); check that {path.parent} "
            "exists and that this user may write to it"
        )
    return HistoryError(f"history database {path}: {text}")


def _translate_os(exc: OSError, path: Path) -> HistoryError:
    if exc.errno == errno.ENOSPC:
        return HistoryError(
            f"history database {path}: the disk is full; free space in {path.parent}"
        )
    return HistoryError(f"history database {path}: {exc.strerror or exc}")
