"""The audit trail: settings changes (pending, applied, abandoned) and the prior state they
give the rails, the latest decisions, and the agent's small key/value state.

Every row is read strictly: a value that is not what clore-host wrote (JSON that does not
parse, settings of the wrong shape, a time that is not a number) raises HistoryDamaged, never
a guess: a guess could reset the minimum interval.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..facts import PriorState, Settings
from .store import HistoryError, Store, damaged

MAX_DECISIONS = 1000
CHANGE_STATUSES = ("pending", "applied", "abandoned")
_CHANGE_COLUMNS = "id, ts, server, before, after, reasons, status, status_ts"

# State keys the history itself keeps: the rails count from no earlier than these times.
RECREATED_AT = "recreated_at"  # the database was found missing (or emptied) and recreated
RECREATED_UNSTAMPED = "recreated_unstamped"  # recreated by a run that did not know the time
FUTURE_FORGOTTEN_AT = "future_forgotten_at"  # forget_future() removed changes stamped ahead
RENTAL_STATUS = "rental_status"  # the agent's: {"status": ..., "since": time}
# The costs room's (costs.FX_STATE): the last market rate accepted per currency,
# {"bitcoin": {"rate": 95000.0, "at": time}}; the exchange-rate move check reads it.
FX_ACCEPTED = "fx_accepted"


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
        return [_change(row, self._store.path) for row in rows]

    def pending_changes(self) -> list[ChangeRecord]:
        """Changes recorded but not yet known to be applied or abandoned, oldest first."""
        return self.changes(status="pending")

    def last_change(self) -> ChangeRecord | None:
        """The most recently recorded change, of any status."""
        with self._store.read() as db:
            row = db.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _change(row, self._store.path)

    def prior_state(self, server: str | None = None) -> PriorState:
        """When prices and availability last changed, from the applied changes.

        The time is when a change was applied (a write slowed by retries lands late), and
        never before the database was recreated in a state directory that had one, nor before
        changes stamped in the future were forgotten: a lost audit trail must not reset the
        minimum interval or the availability hold.
        """
        price: float | None = None
        availability: float | None = None
        floors = [self.get_state(key) for key in (RECREATED_AT, FUTURE_FORGOTTEN_AT)]
        with self._store.read() as db:
            cursor = db.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM change WHERE status = 'applied' "
                "AND (? IS NULL OR server = ?) ORDER BY ts DESC, id DESC",
                (server, server),
            )
            for row in cursor:
                change = _change(row, self._store.path)
                b, a = change.before, change.after
                if price is None and (b.on_demand != a.on_demand or b.spot != a.spot):
                    price = change.status_ts
                if availability is None and b.availability != a.availability:
                    availability = change.status_ts
                if price is not None and availability is not None:
                    break
        for floor in floors:
            if floor is not None:
                price = floor if price is None else max(price, floor)
                availability = floor if availability is None else max(availability, floor)
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
            row = db.execute(
                "SELECT id, ts, summary FROM decision ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        path = self._store.path
        where = f"decision #{row[0]}"
        summary = _json(row[2], path, where)
        if not isinstance(summary, dict):
            raise damaged(path, f"{where}: its summary is not an object")
        return _time(row[1], path, where), summary

    # -- state --------------------------------------------------------------------------------

    def get_state(self, key: str) -> Any | None:
        """A value kept between runs; HistoryDamaged if it does not parse, or (for the keys
        the history and the agent rely on) is not of its shape."""
        with self._store.read() as db:
            return self._state_in(db, key)

    def set_state(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._store.write() as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, text))

    def stamp_recreation(self, now: float) -> None:
        """The database was recreated: the rails count from `now` (no earlier)."""
        with self._store.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                (RECREATED_AT, json.dumps(now)),
            )
            self.delete_state(db, RECREATED_UNSTAMPED)

    def delete_state(self, db: sqlite3.Connection, key: str) -> int:
        """Remove a state value, inside write(); how many rows went (0 or 1)."""
        return db.execute("DELETE FROM state WHERE key = ?", (key,)).rowcount

    # -- a clock that ran ahead ---------------------------------------------------------------

    def forget_future(self, db: sqlite3.Connection, now: float) -> int:
        """Inside write(): remove the changes, decisions and state stamped after `now`; how
        many records went. Removing a change (it may have been applied, at a real time no
        later than now) or a future recreation time leaves a hold from `now`: the rails count
        the minimum interval and the availability hold from then."""
        removed_changes = db.execute(
            "DELETE FROM change WHERE ts > ? OR COALESCE(status_ts, ts) > ?", (now, now)
        ).rowcount
        removed = removed_changes
        removed += db.execute("DELETE FROM decision WHERE ts > ?", (now,)).rowcount
        status = self._state_in(db, RENTAL_STATUS)
        if isinstance(status, dict) and status["since"] > now:
            removed += self.delete_state(db, RENTAL_STATUS)
        held = removed_changes > 0
        for key in (RECREATED_AT, FUTURE_FORGOTTEN_AT):
            when = self._state_in(db, key)
            if isinstance(when, (int, float)) and when > now:
                removed += self.delete_state(db, key)
                held = True
        if held:
            db.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                (FUTURE_FORGOTTEN_AT, json.dumps(now)),
            )
        return removed

    def _state_in(self, db: sqlite3.Connection, key: str) -> Any | None:
        """get_state, on the connection (inside read() or write())."""
        row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = _json(row[0], self._store.path, f"state {key}")
        check = _STATE_SHAPES.get(key)
        problem = check(value) if check is not None else None
        if problem:
            raise damaged(self._store.path, f"state {key}: {problem}")
        return value


def _check_status(status: str) -> None:
    if status not in CHANGE_STATUSES:
        raise ValueError(f"unknown change status {status!r}; known: {', '.join(CHANGE_STATUSES)}")


# -- reading rows strictly ------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """A JSON number a float can hold: not text, not infinite, not an integer of hundreds of
    digits (JSON reads those exactly, and math.isfinite raises OverflowError on them)."""
    if not _is_number(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _shown(value: Any) -> str:
    """A value from a row, short enough for one line (an integer may have thousands of
    digits: str() refuses those past Python's limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "an integer too large for a number"
    return repr(str(value)[:40])


def _json(text: Any, path: Path, where: str) -> Any:
    if not isinstance(text, str):
        raise damaged(path, f"{where} is not JSON text")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise damaged(path, f"{where} is not JSON ({text[:40]!r})") from None


def _time(value: Any, path: Path, where: str) -> float:
    if not _finite(value):
        raise damaged(path, f"{where}: its time {_shown(value)} is not a number")
    return float(value)


def _a_time(value: Any) -> str | None:
    if _finite(value):
        return None
    return f"{_shown(value)} is not a time"


def _a_rental_status(value: Any) -> str | None:
    if isinstance(value, str):  # as the previous version kept it: read as first sight
        return None
    if not isinstance(value, dict):
        return "not an object"
    if not isinstance(value.get("status"), str):
        return "no status"
    return None if _a_time(value.get("since")) is None else "no time since"


def _a_flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _accepted_rates(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "not an object"
    for currency, seen in value.items():
        if not isinstance(seen, dict) or _a_time(seen.get("at")) is not None:
            return f"{_shown(currency)} has no time"
        rate: Any = seen.get("rate")
        if not _finite(rate) or rate <= 0:
            return f"{_shown(currency)} has no rate"
    return None


_STATE_SHAPES: dict[str, Callable[[Any], str | None]] = {
    RECREATED_AT: _a_time,
    FUTURE_FORGOTTEN_AT: _a_time,
    RECREATED_UNSTAMPED: _a_flag,
    RENTAL_STATUS: _a_rental_status,
    FX_ACCEPTED: _accepted_rates,
}

_SETTINGS_FIELDS = ("on_demand", "spot", "availability", "mrl")


def _settings(text: Any, path: Path, where: str) -> Settings:
    data = _json(text, path, where)
    if not isinstance(data, dict) or not all(field in data for field in _SETTINGS_FIELDS):
        raise damaged(path, f"{where} are not the four settings")
    for price in ("on_demand", "spot"):
        value = data[price]
        if not _finite(value):
            raise damaged(path, f"{where}: {price} {_shown(value)} is not a price")
    if not isinstance(data["availability"], bool):
        raise damaged(path, f"{where}: availability {data['availability']!r} is not true or false")
    mrl = data["mrl"]
    if not isinstance(mrl, int) or isinstance(mrl, bool):
        raise damaged(path, f"{where}: mrl {str(mrl)[:40]!r} is not a whole number of hours")
    return Settings(
        on_demand=float(data["on_demand"]),
        spot=float(data["spot"]),
        availability=data["availability"],
        mrl=mrl,
    )


def _change(row: tuple[Any, ...], path: Path) -> ChangeRecord:
    change_id, ts, server, before, after, reasons, status, status_ts = row
    where = f"change #{change_id}"
    if not isinstance(server, str):
        raise damaged(path, f"{where}: its server is not a name")
    if status not in CHANGE_STATUSES:
        raise damaged(path, f"{where}: status {str(status)[:40]!r} is not one clore-host writes")
    why = _json(reasons, path, f"{where} reasons")
    if not isinstance(why, list) or not all(isinstance(r, str) for r in why):
        raise damaged(path, f"{where}: its reasons are not a list of text")
    when = _time(ts, path, where)
    return ChangeRecord(
        id=int(change_id),
        ts=when,
        server=server,
        before=_settings(before, path, f"{where} settings before"),
        after=_settings(after, path, f"{where} settings after"),
        reasons=tuple(why),
        status=status,
        # A change from before status times were kept counts from when it was recorded.
        status_ts=when if status_ts is None else _time(status_ts, path, where),
    )
