"""Observations: what the agent saw beside the GPUs, by kind (a market summary, a cost record,
a reconcile's facts), as JSON objects with their time. Kept as long as the rollups, for
backtests and for commands that show what the agent last saw."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from .store import Store, damaged
from .windows import is_number

MAX_KIND = 64  # a kind is a short name: "market", "costs", "facts"


class Observations:
    """The observation table of one store."""

    def __init__(self, store: Store, *, retention: float) -> None:
        self._store = store
        self.retention = retention

    def record(self, ts: float, kind: str, record: dict[str, Any]) -> None:
        """Keep `record` (a JSON object) as a `kind` observation at `ts`; drop those older
        than the retention."""
        if not (isinstance(kind, str) and 0 < len(kind) <= MAX_KIND):
            raise ValueError(f"an observation's kind is a short name, not {kind!r}")
        if not math.isfinite(ts):
            raise ValueError(f"an observation needs a finite time, not {ts!r}")
        if not isinstance(record, dict):
            raise ValueError("an observation is a JSON object (a dict)")
        # allow_nan=False: NaN is not JSON, and would not read back as what was meant.
        text = json.dumps(record, allow_nan=False, separators=(",", ":"))
        with self._store.write() as db:
            db.execute(
                "INSERT INTO observation (ts, kind, record) VALUES (?, ?, ?)", (ts, kind, text)
            )
            db.execute("DELETE FROM observation WHERE ts < ?", (ts - self.retention,))

    def query(
        self, kind: str, since: float, until: float | None = None
    ) -> list[tuple[float, dict[str, Any]]]:
        """The `kind` observations stamped in [since, until] (until: no end), oldest first."""
        with self._store.read() as db:
            rows = db.execute(
                "SELECT id, ts, record FROM observation WHERE kind = ? AND ts >= ? "
                "AND (? IS NULL OR ts <= ?) ORDER BY ts, id",
                (kind, since, until, until),
            ).fetchall()
        return [self._row(row) for row in rows]

    def _row(self, row: tuple[Any, ...]) -> tuple[float, dict[str, Any]]:
        row_id, ts, text = row
        where = f"observation #{row_id}"
        if not is_number(ts) or not math.isfinite(ts):
            raise damaged(self._store.path, f"{where}: its time {str(ts)[:40]!r} is not a number")
        if not isinstance(text, str):
            raise damaged(self._store.path, f"{where} is not JSON text")
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            raise damaged(self._store.path, f"{where} is not JSON ({text[:40]!r})") from None
        if not isinstance(record, dict):
            raise damaged(self._store.path, f"{where} is not an object")
        return float(ts), record

    def forget_future(self, db: sqlite3.Connection, now: float) -> int:
        """Inside write(): remove the observations stamped after `now`; how many went."""
        return int(db.execute("DELETE FROM observation WHERE ts > ?", (now,)).rowcount)
