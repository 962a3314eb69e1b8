"""The store: one SQLite file (WAL mode), its schema and migrations, transactions, and errors.

Every failure (corrupt, locked, full, unwritable) raises HistoryError with a clear message;
the store never answers as if it were empty when it could not be read. A file that is not
what clore-host wrote (a table dropped, a row that does not parse) raises HistoryDamaged: it
is never quietly repaired, since a repair would forget when prices last changed.
"""

from __future__ import annotations

import contextlib
import errno
import math
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


class HistoryDamaged(HistoryError):
    """The history database is not what clore-host wrote: a table is missing, or a row does not
    parse. Nothing repairs it quietly; a person moves it aside, and a new one starts with the
    minimum interval and the availability hold counted from then."""

    headline = "history damaged: move it aside"

    def __init__(self, path: Path | str = "", what: str = "") -> None:
        self.path = str(path)
        self.what = what
        detail = ": ".join(part for part in (self.path, what) if part)
        super().__init__(f"{detail}; nothing changed" if detail else "")


def damaged(path: Path, what: str) -> HistoryDamaged:
    """The error for a database at `path` whose content is not what clore-host wrote."""
    return HistoryDamaged(path, what)


def rollup_table(metric: str) -> str:
    """The rollup table of a metric (a name from GPU_METRICS, so safe in SQL)."""
    return f"rollup_{metric}"


class Store:
    """One SQLite connection, used by one thread at a time. Use it only inside `read()` or
    `write()`: they serialise access and turn SQLite and OS failures into HistoryError."""

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.fresh = False  # set by open(): the file held no table (missing, 0 bytes, emptied)
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
            why = "is mounted read-only" if _read_only(path) else "is not writable by this user"
            raise HistoryError(f"history database {path}: directory {path.parent} {why}")
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
            # A file without a single table is new (or was emptied: truncated to 0 bytes, say);
            # one with some of the tables is damaged, and is not quietly completed: a dropped
            # `change` table recreated empty would reset the minimum interval.
            found = _tables(db)
            self.fresh = not found
            if found:
                self._check_tables(db, found)
            for statement in _schema():
                db.execute(statement)
            version = self.meta("schema")
            if version is None:
                self.set_meta("schema", str(SCHEMA_VERSION))
            elif _schema_version(version, self.path) > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} was written by a newer clore-host "
                    f"(schema {version}); upgrade clore-host or move the file aside"
                )
            _migrate(db)

    def _check_tables(self, db: sqlite3.Connection, found: set[str]) -> None:
        """Raise HistoryDamaged unless every table clore-host made in this file is there."""
        missing = [t for t in (*_BASE_TABLES, *self._added_tables()) if t not in found]
        if "raw" in found:
            # A metric's rollup table goes with its raw column: a column without its table is
            # a dropped table; a metric without either is new to this version (migrated).
            columns = {row[1] for row in db.execute("PRAGMA table_info(raw)")}
            missing += [
                rollup_table(m)
                for m in GPU_METRICS
                if m in columns and rollup_table(m) not in found
            ]
        if missing:
            tables = ", ".join(missing)
            raise damaged(self.path, f"missing table{'s' if len(missing) > 1 else ''} {tables}")
        if self.meta("schema") is None:
            raise damaged(self.path, "no schema version")

    def _added_tables(self) -> tuple[str, ...]:
        """The tables added after schema 1 that this file has had (meta `added_tables`)."""
        if "meta" not in _tables(self._conn):
            return ()
        value = self.meta(ADDED_TABLES)
        return () if value is None else tuple(t for t in value.split(",") if t)

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
        the lock) when it does not, for a caller whose memory may be ahead of the file.

        A failure (a full disk, an I/O error) never leaves the connection inside a
        transaction: the next write starts afresh, so the store works again once the disk has
        room, without being reopened.
        """
        with self.read() as db:
            _end_transaction(db)  # one a failed rollback left open
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                _end_transaction(db)
                if on_rollback is not None:
                    on_rollback()
                raise

    def meta_time(self, key: str) -> float | None:
        """A bookkeeping value that is a time; HistoryDamaged if it is not one."""
        value = self.meta(key)
        if value is None:
            return None
        try:
            when = float(value)
        except ValueError:
            when = math.nan
        if not math.isfinite(when):
            raise damaged(self.path, f"meta {key} {value[:40]!r} is not a time")
        return when

    def meta(self, key: str) -> str | None:
        """A value of the store's own bookkeeping; inside read() or write()."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a bookkeeping value; inside write()."""
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


_BASE_TABLES = ("meta", "raw", "change", "decision", "state")
# Tables added since, within schema 1 (an older clore-host still reads the file and leaves
# them alone). Once made, a file lists them in meta `added_tables`: from then on one missing
# is a dropped table (damage), not a file from before they existed.
ADDED_TABLES = "added_tables"
_ADDED = ("rental", "observation")


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def _schema_version(value: str, path: Path) -> int:
    try:
        return int(value)
    except ValueError:
        raise damaged(path, f"schema version {value[:40]!r} is not a number") from None


def _end_transaction(db: sqlite3.Connection) -> None:
    """Roll back an open transaction; a rollback that fails too leaves SQLite to end it."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the original failure is the one to report
            db.execute("ROLLBACK")


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
        # The rental status's transitions: each row holds from its time to the next row's.
        "CREATE TABLE IF NOT EXISTS rental (ts REAL PRIMARY KEY, status TEXT NOT NULL) "
        "WITHOUT ROWID",
        # What the agent observed beside the GPUs (market summaries, cost records, a
        # reconcile's facts), by kind, as JSON.
        "CREATE TABLE IF NOT EXISTS observation (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
        "kind TEXT NOT NULL, record TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS observation_kind ON observation (kind, ts)",
        "CREATE INDEX IF NOT EXISTS observation_ts ON observation (ts)",
    ]


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file written by an earlier clore-host up to date, within schema 1.

    Metrics added to GPU_METRICS after the file was created get a raw column (and, through the
    schema, a rollup table). The tables added since (`rental`, `observation`) are made by the
    schema and listed in meta `added_tables`. A `host` table (host readings, written but
    never read, and no longer kept) is left alone: an older clore-host still running during
    an upgrade writes to it, and it holds at most the raw retention's worth of rows.
    """
    have = {row[1] for row in db.execute("PRAGMA table_info(raw)")}
    for metric in GPU_METRICS:
        if metric not in have:
            db.execute(f"ALTER TABLE raw ADD COLUMN {metric} REAL")
    added = ",".join(_ADDED)
    row = db.execute("SELECT value FROM meta WHERE key = ?", (ADDED_TABLES,)).fetchone()
    if row is None or row[0] != added:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (ADDED_TABLES, added))


def _translate(exc: sqlite3.Error, path: Path, busy_timeout: float) -> HistoryError:
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return damaged(path, f"corrupt ({text})")
    if "no such table" in lowered or "no such column" in lowered:
        return damaged(path, text)
    if "locked" in lowered or "busy" in lowered:
        return HistoryError(
            f"history database {path} is locked by another process "
            f"(waited {busy_timeout:g}s): {text}"
        )
    if "full" in lowered or _disk_full(path):
        # SQLite says "disk I/O error" when it cannot grow its shared-memory file on a full
        # disk: the free space tells the two apart.
        return _full(path, text)
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        if _read_only(path):
            return HistoryError(
                f"history database {path} cannot be written ({text}); {path.parent} is "
                "mounted read-only"
            )
        return HistoryError(
            f"history database {path} cannot be written ({text}); check that {path.parent} "
            "exists, is not mounted read-only, and that this user may write to it"
        )
    return HistoryError(f"history database {path}: {text}")


def _full(path: Path, text: str) -> HistoryError:
    return HistoryError(
        f"history database {path}: the disk is full ({text}); free space in {path.parent}"
    )


def _disk_full(path: Path) -> bool:
    """True when the filesystem of `path`'s directory has no space left for this user."""
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail == 0 or (stat.f_files > 0 and stat.f_favail == 0)


def _read_only(path: Path) -> bool:
    """True when the filesystem of `path`'s directory is mounted read-only."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _translate_os(exc: OSError, path: Path) -> HistoryError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _full(path, reason)
    if exc.errno == errno.EROFS:
        return HistoryError(
            f"history database {path} cannot be written ({reason}); {path.parent} is "
            "mounted read-only"
        )
    return HistoryError(f"history database {path}: {reason}")
