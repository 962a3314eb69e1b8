"""The rental status over time, and the GPUs' total power draw while the server was rented.

The agent records the status it read at each reconcile; only a change makes a row, which
holds until the next one. A sample counts as rented when the status in force at its time was
spot or on demand (from when a reconcile saw it: the minutes between the true start and that
reconcile count as not rented). Measured power (costs/power.py) asks for these samples.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
from typing import Any, NamedTuple

from ..facts import RENTAL_STATUSES
from .store import Store, damaged, rollup_table
from .windows import floor_minute, is_number, not_a_sample

RENTED = frozenset({"spot", "on_demand"})


class PowerDraw(NamedTuple):
    """The GPUs' total draw at one sample, or one minute whose samples were pruned."""

    ts: float
    watts: float  # the sum over the GPUs that reported power
    gpus: int  # how many GPUs reported power
    # Samples it stands for: 1 for a raw sample; for a pruned minute, its sample count (the
    # per-minute 95th percentiles of each GPU, summed, stand in for its samples: above their
    # total's own p95 for spiky draws, so a cost floor errs high, not low).
    weight: int


class Rentals:
    """The rental status table of one store."""

    def __init__(self, store: Store, *, retention: float) -> None:
        self._store = store
        self.retention = retention

    def record(self, ts: float, status: str) -> None:
        """Note the status read at `ts`: a row only when it differs from the one in force."""
        if status not in RENTAL_STATUSES:
            raise ValueError(f"unknown rental status {status!r}; known: {RENTAL_STATUSES}")
        if not math.isfinite(ts):
            raise ValueError(f"a rental status needs a finite time, not {ts!r}")
        with self._store.write() as db:
            before = db.execute(
                "SELECT status FROM rental WHERE ts <= ? ORDER BY ts DESC LIMIT 1", (ts,)
            ).fetchone()
            if before is None or before[0] != status:
                db.execute("INSERT OR REPLACE INTO rental (ts, status) VALUES (?, ?)", (ts, status))
            self._prune(db, ts)

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        # The last row before the cut still says what held at the cut: it stays.
        cut = now - self.retention
        keep = db.execute("SELECT MAX(ts) FROM rental WHERE ts <= ?", (cut,)).fetchone()[0]
        if keep is not None:
            db.execute("DELETE FROM rental WHERE ts < ?", (keep,))

    def transitions(self, since: float, until: float) -> list[tuple[float, str]]:
        """The status in force at `since` (stamped when it began) and every change up to
        `until`, oldest first."""
        with self._store.read() as db:
            return self._transitions(db, since, until)

    def _transitions(
        self, db: sqlite3.Connection, since: float, until: float
    ) -> list[tuple[float, str]]:
        first = db.execute(
            "SELECT ts, status FROM rental WHERE ts <= ? ORDER BY ts DESC LIMIT 1", (since,)
        ).fetchall()
        rest = db.execute(
            "SELECT ts, status FROM rental WHERE ts > ? AND ts <= ? ORDER BY ts", (since, until)
        ).fetchall()
        return [self._row(row) for row in (*first, *rest)]

    def _row(self, row: tuple[Any, ...]) -> tuple[float, str]:
        ts, status = row
        if not is_number(ts) or not math.isfinite(ts):
            raise damaged(self._store.path, f"a rental status row's time {str(ts)[:40]!r}")
        if status not in RENTAL_STATUSES:
            raise damaged(
                self._store.path,
                f"rental status {str(status)[:40]!r} is not one clore-host writes",
            )
        return float(ts), str(status)

    def rented_power(self, since: float, until: float) -> list[PowerDraw]:
        """The GPUs' total power draw at each sample in [since, until] taken while rented,
        oldest first. Minutes whose raw samples were pruned come from the per-minute rollups
        (see PowerDraw.weight)."""
        with self._store.read() as db:
            changes = self._transitions(db, since, until)
            starts = [ts for ts, _ in changes]

            def rented(ts: float) -> bool:
                i = bisect.bisect_right(starts, ts) - 1
                return i >= 0 and changes[i][1] in RENTED

            if not any(status in RENTED for _, status in changes):
                return []
            floor = db.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
            if floor is not None and not is_number(floor):
                raise not_a_sample(self._store.path, "raw", "time")
            # Raw rows hold whole minutes from floor_minute(floor) on; before it, rollups.
            raw_from = math.inf if floor is None else floor_minute(floor)
            out: list[PowerDraw] = []
            if since < raw_from:
                rows = db.execute(
                    f"SELECT minute, SUM(p95), COUNT(*), MIN(n), "
                    f"SUM(typeof(p95) NOT IN ('integer', 'real') OR typeof(n) != 'integer') "
                    f"FROM {rollup_table('power')} WHERE minute >= ? AND minute < ? "
                    "AND minute <= ? GROUP BY minute ORDER BY minute",
                    (floor_minute(since), raw_from, until),
                )
                for minute, total, gpus, n, bad in rows:
                    if bad or not is_number(minute):
                        raise not_a_sample(self._store.path, "rollup", "power")
                    if minute >= since and rented(minute):
                        out.append(PowerDraw(float(minute), float(total), gpus, n))
            rows = db.execute(
                "SELECT ts, SUM(power), COUNT(power), "
                "SUM(power IS NOT NULL AND typeof(power) NOT IN ('integer', 'real')) "
                "FROM raw WHERE ts >= ? AND ts <= ? AND power IS NOT NULL GROUP BY ts ORDER BY ts",
                (max(since, raw_from if floor is not None else since), until),
            )
            for ts, total, gpus, bad in rows:
                if bad or not is_number(ts):
                    raise not_a_sample(self._store.path, "raw", "power")
                if rented(ts):
                    out.append(PowerDraw(float(ts), float(total), gpus, 1))
            return out

    def forget_future(self, db: sqlite3.Connection, now: float) -> int:
        """Inside write(): remove the statuses recorded after `now`; how many went."""
        return int(db.execute("DELETE FROM rental WHERE ts > ?", (now,)).rowcount)
