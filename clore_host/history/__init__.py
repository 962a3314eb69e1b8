"""The history: GPU samples and their rollups, the audit trail, decisions and agent state, in
one SQLite file in the state directory.

`History` is the one object the rest of the program uses. It owns its parts, one module each:

- store.py: the file itself: opening, schema and migrations, transactions, HistoryError.
- samples.py: recording samples, per-minute rollups, retention, idle time and coverage,
  with the window arithmetic in windows.py.
- audit.py: settings changes and the prior state they give the rails, decisions, agent state.
- rental.py: the rental status's transitions, and the GPUs' power draw while rented.
- observations.py: what the agent observed beside the GPUs (market, costs, facts), by kind.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..facts import GpuNow, PriorState, Settings, WindowKey
from .audit import MAX_DECISIONS, RECREATED_UNSTAMPED, Audit, ChangeRecord
from .observations import Observations
from .rental import PowerDraw, Rentals
from .samples import Samples
from .store import Connect, HistoryDamaged, HistoryError, Store

__all__ = [
    "MAX_DECISIONS",
    "ChangeRecord",
    "Connect",
    "History",
    "HistoryDamaged",
    "HistoryError",
    "PowerDraw",
]

log = logging.getLogger(__name__)


class History:
    """Samples, rollups, audit trail and agent state in one SQLite file. Thread-safe."""

    def __init__(self, store: Store, *, raw_retention: float, rollup_retention: float) -> None:
        self.path = store.path
        self._store = store
        self._samples = Samples(
            store, raw_retention=raw_retention, rollup_retention=rollup_retention
        )
        self._audit = Audit(store)
        self._rentals = Rentals(store, retention=rollup_retention)
        self._observations = Observations(store, retention=rollup_retention)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        raw_retention: float = 48 * 3600,
        rollup_retention: float = 90 * 86400,
        busy_timeout: float = 5.0,
        now: float | None = None,
        connect: Connect | None = None,
    ) -> History:
        """Open (or create) the database. `now` dates a database found missing or emptied
        (truncated to 0 bytes, say) where one existed before (its marker file remains):
        prior_state() then counts from then. Opened without `now` (a command that only reads),
        the recreation is kept to be dated by the next open that knows the time.

        `connect` opens the file and returns its connection (default: sqlite3.connect): the way
        a caller supplies the connection, or keeps it (a test harness that limits the file's
        size to play a full disk). The store sets it to autocommit and to `busy_timeout`.
        """
        path = Path(path)
        marker = path.with_name(path.name + ".created")
        if not raw_retention > 0 or not rollup_retention > 0:
            raise ValueError("history retention periods must be positive")
        if rollup_retention < raw_retention:
            raise ValueError("rollup retention must be at least the raw retention")
        had_marker = marker.exists()
        store = Store.open(path, busy_timeout=busy_timeout, connect=connect)
        history = cls(store, raw_retention=raw_retention, rollup_retention=rollup_retention)
        try:
            history._date_recreation(store.fresh and had_marker, now)
            if not had_marker:
                marker.touch()
        except OSError as exc:
            store.close()
            raise HistoryError(
                f"history database {path}: cannot write beside it: {exc.strerror or exc}"
            ) from None
        except BaseException:
            store.close()
            raise
        return history

    def _date_recreation(self, recreated: bool, now: float | None) -> None:
        """Hold the rails from `now` when the database was lost and made anew (fail closed)."""
        if recreated:
            log.warning(
                "history database %s was missing or empty and is recreated: the minimum "
                "interval and availability hold count from now",
                self.path,
            )
        if now is None:
            if recreated:
                self.set_state(RECREATED_UNSTAMPED, True)
            return
        if recreated or self.get_state(RECREATED_UNSTAMPED):
            self._audit.stamp_recreation(now)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- samples (samples.py) -----------------------------------------------------------------

    def record_sample(self, ts: float, gpus: Sequence[GpuNow]) -> None:
        """Store one reading of every GPU; a lost GPU stores nothing."""
        self._samples.record(ts, gpus)

    def window(self, key: WindowKey, now: float) -> dict[int, float | None]:
        """The aggregate over the samples in [now - seconds, now], per GPU index. A GPU without
        a value for the metric in the window (lost, unsupported, no samples) is absent."""
        return self._samples.window(key, now)

    def idle_for(self, threshold: float, now: float) -> float | None:
        """Seconds since any GPU's utilization last exceeded `threshold` (or since the oldest
        utilization sample, if it never did); None without any utilization sample."""
        return self._samples.idle_for(threshold, now)

    def coverage(self, now: float) -> float:
        """Seconds of history available: now minus the oldest stored sample; 0 without any."""
        return self._samples.coverage(now)

    # -- rental status and power while rented (rental.py) ---------------------------------------

    def record_rental_status(self, ts: float, status: str) -> None:
        """Note the rental status read at `ts` ("not_rented", "spot", "on_demand"); only a
        change is stored. Kept for the rollup retention."""
        self._rentals.record(ts, status)

    def rental_transitions(self, since: float, until: float) -> list[tuple[float, str]]:
        """The status in force at `since` (stamped when it began) and each change until
        `until`, oldest first."""
        return self._rentals.transitions(since, until)

    def rented_power(self, since: float, until: float) -> list[PowerDraw]:
        """The GPUs' total power draw at each sample in [since, until] taken while the server
        was rented (spot or on demand), oldest first; see PowerDraw."""
        return self._rentals.rented_power(since, until)

    # -- observations (observations.py) ------------------------------------------------------

    def record_observation(self, ts: float, kind: str, record: dict[str, Any]) -> None:
        """Keep a JSON object observed at `ts` ("market", "costs", "facts", ...), for the
        rollup retention."""
        self._observations.record(ts, kind, record)

    def observations(
        self, kind: str, since: float, until: float | None = None
    ) -> list[tuple[float, dict[str, Any]]]:
        """The `kind` observations stamped in [since, until] (until None: no end), oldest
        first; HistoryDamaged for one that does not parse."""
        return self._observations.query(kind, since, until)

    # -- audit trail (audit.py) ---------------------------------------------------------------

    def record_change(
        self,
        ts: float,
        server: str,
        before: Settings,
        after: Settings,
        reasons: Sequence[str],
        status: str = "pending",
    ) -> int:
        """Record a settings change (pending until marked); its id."""
        return self._audit.record_change(ts, server, before, after, reasons, status)

    def mark_change(self, change_id: int, status: str, ts: float) -> None:
        """Set a change's status (applied or abandoned) as of `ts`."""
        self._audit.mark_change(change_id, status, ts)

    def changes(
        self, since: float | None = None, status: str | None = "applied"
    ) -> list[ChangeRecord]:
        """Changes recorded at or after `since`, oldest first; of every status if None."""
        return self._audit.changes(since, status)

    def pending_changes(self) -> list[ChangeRecord]:
        return self._audit.pending_changes()

    def last_change(self) -> ChangeRecord | None:
        """The most recently recorded change, of any status."""
        return self._audit.last_change()

    def prior_state(self, server: str | None = None) -> PriorState:
        """When prices and availability last changed, from the applied changes."""
        return self._audit.prior_state(server)

    def record_decision(self, ts: float, summary: dict[str, Any]) -> None:
        """Keep a decision's summary; only the latest MAX_DECISIONS are kept."""
        self._audit.record_decision(ts, summary)

    def last_decision(self) -> tuple[float, dict[str, Any]] | None:
        return self._audit.last_decision()

    def get_state(self, key: str) -> Any | None:
        """A value the agent keeps between runs (JSON); None if never set."""
        return self._audit.get_state(key)

    def set_state(self, key: str, value: Any) -> None:
        self._audit.set_state(key, value)

    # -- a clock that ran ahead ---------------------------------------------------------------

    def forget_future(self, now: float) -> int:
        """Remove what is stamped after `now`: changes, decisions, the rental status's start and
        transitions, samples and rollups, observations, a recreation time; return how many
        records went.

        For a clock that jumped ahead and came back: what it stamped ahead would block writes
        ("in the future") until that time passed. A person runs this knowingly. Removing a
        change (it may have been applied, at a real time no later than now) or a recreation
        time still holds the rails from `now`, as after a lost database: the minimum interval
        and the availability hold count from now, not from never.
        """
        if not math.isfinite(now):
            raise ValueError(f"forget_future needs a finite time, not {now!r}")
        with self._store.write() as db:
            removed = self._audit.forget_future(db, now)
            removed += self._samples.forget_future(db, now)
            removed += self._rentals.forget_future(db, now)
            removed += self._observations.forget_future(db, now)
        if removed:
            log.warning("history %s: forgot %d records stamped after %s", self.path, removed, now)
        return removed
