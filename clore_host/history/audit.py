"""The audit trail: settings changes (pending, applied, abandoned) and the prior state they
give the rails, the latest decisions, and the agent's small key/value state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..facts import PriorState, Settings
from .store import HistoryError, Store

MAX_DECISIONS = 1000
CHANGE_STATUSES = ("pending", "applied", "abandoned")
_CHANGE_COLUMNS = "id, ts, server, before, after, reasons, status, status_ts"


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


class Audit:
    """The audit tables of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- changes ------------------------------------------------------------------------------

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
        with self._store.write() as db:
            cursor = db.execute(
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
        with self._store.write() as db:
            cursor = db.execute(
                "UPDATE change SET status = ?, status_ts = ? WHERE id = ?",
                (status, ts, change_id),
            )
            if cursor.rowcount == 0:
                raise HistoryError(
                    f"history database {self._store.path} has no change #{change_id}"
                )

    def changes(
        self, since: float | None = None, status: str | None = "applied"
    ) -> list[ChangeRecord]:
        """Changes recorded at or after `since`, oldest first; of every status if None."""
        if status is not None:
            _check_status(status)
        with self._store.read() as db:
            rows = db.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change "
                "WHERE (? IS NULL OR ts >= ?) AND (? IS NULL OR status = ?) ORDER BY ts, id",
                (since, since, status, status),
            ).fetchall()
        return [_change(row) for row in rows]

    def pending_changes(self) -> list[ChangeRecord]:
        """Changes recorded but not yet known to be applied or abandoned, oldest first."""
        return self.changes(status="pending")

    def last_change(self) -> ChangeRecord | None:
        """The most recently recorded change, of any status."""
        with self._store.read() as db:
            row = db.execute(
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
        with self._store.read() as db:
            cursor = db.execute(
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

    # -- decisions ----------------------------------------------------------------------------

    def record_decision(self, ts: float, summary: dict[str, Any]) -> None:
        """Keep a decision's summary; only the latest MAX_DECISIONS are kept."""
        text = json.dumps(summary)
        with self._store.write() as db:
            cursor = db.execute("INSERT INTO decision (ts, summary) VALUES (?, ?)", (ts, text))
            assert cursor.lastrowid is not None
            db.execute("DELETE FROM decision WHERE id <= ?", (cursor.lastrowid - MAX_DECISIONS,))

    def last_decision(self) -> tuple[float, dict[str, Any]] | None:
        with self._store.read() as db:
            row = db.execute("SELECT ts, summary FROM decision ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else (float(row[0]), json.loads(row[1]))

    # -- state --------------------------------------------------------------------------------

    def get_state(self, key: str) -> Any | None:
        with self._store.read() as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._store.write() as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, text))


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
