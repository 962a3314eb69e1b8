"""The store: one SQLite file (WAL mode), its schema and migrations, transactions, and errors.

Every failure (corrupt, locked, full, unwritable) raises HistoryError with a clear message;
the store never answers as if it were empty when it could not be read.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import Failure
from ..facts import GPU_METRICS

SCHEMA_VERSION = 1

Connect = Callable[[str], sqlite3.Connection]
"""Opens the database file at a path: the way a caller supplies (or keeps) the connection."""


class HistoryError(Failure):
    """The history store cannot be used; the message says why and what to do."""

    headline = "history unavailable, nothing changed"


def rollup_table(metric: str) -> str:
    """The rollup table of a metric (a name from GPU_METRICS, so safe in SQL)."""
    return f"rollup_{metric}"


class Store:
    """One SQLite connection, used by one thread at a time. Use it only inside `read()` or
    `write()`: they serialise access and turn SQLite and OS failures into HistoryError."""

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float, connect: Connect | None = None) -> Store:
        """Open (or create) the file and bring its schema up to date.

        `connect` opens the file (default: sqlite3.connect). Whatever it returns, the store
        puts in autocommit mode (it runs its own transactions) and sets to wait `busy_timeout`
        seconds for a lock; a connection used from several threads needs
        check_same_thread=False.
        """
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
        if connect is None:

            def connect(name: str) -> sqlite3.Connection:
                return sqlite3.connect(
                    name, timeout=busy_timeout, isolation_level=None, check_same_thread=False
                )

        try:
            conn = connect(str(path))
        except sqlite3.Error as exc:
            raise _translate(exc, path, busy_timeout) from exc
        store = cls(conn, path, busy_timeout)
        try:
            store._setup()
        except BaseException:
            conn.close()
            raise
        return store

    def _setup(self) -> None:
        with self.read() as db:
            db.isolation_level = None
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise HistoryError(f"history database {self.path}: cannot use WAL mode ({mode})")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent on crash
        with self.write() as db:
            for statement in _schema():
                db.execute(statement)
            version = self.meta("schema")
            if version is None:
                self.set_meta("schema", str(SCHEMA_VERSION))
            elif int(version) > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} was written by a newer clore-host "
                    f"(schema {version}); upgrade clore-host or move the file aside"
                )
            _migrate(db)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone; SQLite failures become HistoryError."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, self.busy_timeout) from exc
            except OSError as exc:
                raise _translate_os(exc, self.path) from exc

    @contextmanager
    def write(self, on_rollback: Callable[[], None] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it. `on_rollback` runs (under
        the lock) when it does not, for a caller whose memory may be ahead of the file."""
        with self.read() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if on_rollback is not None:
                    on_rollback()
                raise

    def meta(self, key: str) -> str | None:
        """A value of the store's own bookkeeping; inside read() or write()."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a bookkeeping value; inside write()."""
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _schema() -> list[str]:
    raw = ", ".join(f"{m} REAL" for m in GPU_METRICS)
    return [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # One row per GPU and sample; a rollup table per metric, so a long window reads only
        # its metric.
        "CREATE TABLE IF NOT EXISTS raw (ts REAL NOT NULL, gpu INTEGER NOT NULL, "
        f"{raw}, PRIMARY KEY (ts, gpu)) WITHOUT ROWID",
        *(
            f"CREATE TABLE IF NOT EXISTS {rollup_table(m)} (minute INTEGER NOT NULL, "
            "gpu INTEGER NOT NULL, n INTEGER NOT NULL, total REAL NOT NULL, low REAL NOT NULL, "
            "high REAL NOT NULL, p95 REAL NOT NULL, PRIMARY KEY (minute, gpu)) WITHOUT ROWID"
            for m in GPU_METRICS
        ),
        "CREATE TABLE IF NOT EXISTS change (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        "server TEXT NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL, "
        "reasons TEXT NOT NULL, status TEXT NOT NULL, status_ts REAL)",
        "CREATE INDEX IF NOT EXISTS change_status ON change (status, ts)",
        "CREATE TABLE IF NOT EXISTS decision (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        "summary TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file written by an earlier clore-host up to date, within schema 1.

    Metrics added to GPU_METRICS after the file was created get a raw column (and, through the
    schema, a rollup table). A `host` table (host readings, written but never read, and no
    longer kept) is left alone: an older clore-host still running during an upgrade writes to
    it, and it holds at most the raw retention's worth of rows.
    """
    have = {row[1] for row in db.execute("PRAGMA table_info(raw)")}
    for metric in GPU_METRICS:
        if metric not in have:
            db.execute(f"ALTER TABLE raw ADD COLUMN {metric} REAL")


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
