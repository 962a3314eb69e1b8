"""The history store as a file: opening, restarts, older files, the connection, clear failures."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from clore_host.errors import EXIT_UNAVAILABLE, describe
from clore_host.facts import GpuNow, PriorState, WindowKey
from clore_host.history import Connect, History, HistoryDamaged, HistoryError

from ..tmpfs import fill_up, tmpfs
from .factories import T0, A, fill


def keeping(kept: list[sqlite3.Connection]) -> Connect:
    """A connection factory that hands the store a plain connection and keeps it."""

    def connect(name: str) -> sqlite3.Connection:
        conn = sqlite3.connect(name, check_same_thread=False)
        kept.append(conn)
        return conn

    return connect


def test_a_restart_keeps_samples_rollups_and_the_audit_trail(tmp_path):
    path = tmp_path / "history.db"
    keys = [WindowKey("utilization", agg, 1800) for agg in ("avg", "min", "max", "p95")]
    with History.open(path) as history:
        fill(history, T0, 300)
        change = history.record_change(T0, "rig", A, A._replace(on_demand=12.0), ["busy"])
        history.mark_change(change, "applied", T0 + 1)
        history.set_state("rental_status", {"status": "spot", "since": T0})
        history.record_decision(T0, {"changed": True})
        now = T0 + 2990
        before = [history.window(k, now) for k in keys]
        idle = history.idle_for(50, now)
    with History.open(path) as history:
        assert [history.window(k, now) for k in keys] == before
        assert history.idle_for(50, now) == idle
        assert history.coverage(now) == 2990
        assert [c.id for c in history.changes()] == [change]
        assert history.get_state("rental_status") == {"status": "spot", "since": T0}
        assert history.last_decision() == (T0, {"changed": True})
        # Recording goes on where it stopped: the open minute is rolled up later.
        fill(history, T0 + 3000, 300)
        assert history.window(keys[0], now) == before[0]
        assert history.window(WindowKey("utilization", "max", 6000), T0 + 5990) == {0: 99, 1: 99}


def test_the_file_is_in_wal_mode(tmp_path):
    History.open(tmp_path / "history.db").close()
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- the connection a caller supplies -------------------------------------------------------------


def test_a_supplied_connection_is_the_one_used_and_set_up_for_the_store(tmp_path):
    kept: list[sqlite3.Connection] = []
    with History.open(tmp_path / "history.db", busy_timeout=0.25, connect=keeping(kept)) as h:
        [conn] = kept
        # The store runs its own transactions and waits busy_timeout for a lock.
        assert conn.isolation_level is None
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 250
        h.set_state("k", 1)
        assert conn.execute("SELECT value FROM state WHERE key = 'k'").fetchone() == ("1",)
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the history
        conn.execute("SELECT 1")


def test_a_failing_connection_factory_is_reported(tmp_path):
    def connect(name: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{name}?mode=ro", uri=True)  # the file does not exist

    with pytest.raises(HistoryError, match="cannot be written"):
        History.open(tmp_path / "history.db", connect=connect)


def test_a_full_disk_is_reported_and_earlier_history_stays_readable(tmp_path):
    path = tmp_path / "history.db"
    kept: list[sqlite3.Connection] = []
    with History.open(path, connect=keeping(kept)) as history:
        fill(history, T0, 10)
        [conn] = kept  # SQLite's page limit is per connection: set on the history's own
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(HistoryError, match="disk is full") as info:
            fill(history, T0 + 100, 500)
        assert str(path.parent) in str(info.value)
        # The failed write rolled back; what was there is intact and readable.
        assert history.coverage(T0 + 100) == 100
        assert history.window(WindowKey("temperature", "avg", 95), T0 + 90) == {0: 60, 1: 60}


def test_once_space_returns_the_same_history_writes_again(tmp_path):
    # The daemon keeps its history open across a full-disk episode: no reopening needed.
    kept: list[sqlite3.Connection] = []
    with History.open(tmp_path / "history.db", connect=keeping(kept)) as history:
        fill(history, T0, 10)
        [conn] = kept
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        for attempt in range(3):  # every try fails alike, and leaves no transaction open
            with pytest.raises(HistoryError, match="disk is full"):
                history.record_decision(T0 + attempt, {"plan": "x" * 20_000})
            assert not conn.in_transaction
        conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        history.record_decision(T0 + 5, {"plan": "x" * 20_000})
        fill(history, T0 + 100, 10)
        assert history.last_decision() == (T0 + 5, {"plan": "x" * 20_000})
        assert history.coverage(T0 + 190) == 190


class FailingRollback(sqlite3.Connection):
    """COMMIT and ROLLBACK fail (an I/O error): the transaction is left open."""

    broken = False

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.broken and sql in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, parameters)


def test_a_transaction_a_failed_rollback_left_open_does_not_wedge_the_store(tmp_path):
    kept: list[FailingRollback] = []

    def connect(name: str) -> sqlite3.Connection:
        kept.append(sqlite3.connect(name, factory=FailingRollback))
        return kept[-1]

    with History.open(tmp_path / "history.db", connect=connect) as history:
        kept[0].broken = True
        with pytest.raises(HistoryError, match="disk I/O error"):
            history.set_state("k", 1)
        assert kept[0].in_transaction
        kept[0].broken = False
        history.set_state("k", 2)  # not "cannot start a transaction within a transaction"
        assert history.get_state("k") == 2


def test_opening_on_a_full_tmpfs_says_the_disk_is_full(tmp_path):
    # SQLite says "disk I/O error" when it cannot make its shared-memory file on a full disk.
    with tmpfs(tmp_path / "state", "512k") as mount:
        with History.open(mount / "history.db") as history:
            fill(history, T0, 10)
        fill_up(mount / "filler")
        with pytest.raises(HistoryError, match="the disk is full") as info:
            History.open(mount / "history.db")
        assert f"free space in {mount}" in str(info.value)
        (mount / "filler").unlink()
        with History.open(mount / "history.db") as history:
            fill(history, T0 + 100, 10)
            assert history.coverage(T0 + 190) == 190


class NoSpaceConnection(sqlite3.Connection):
    """A connection whose statements fail as on a full disk once `full` is set."""

    full = False

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().execute(sql, parameters)


def test_a_full_disk_from_the_os_is_reported(tmp_path):
    kept: list[NoSpaceConnection] = []

    def connect(name: str) -> sqlite3.Connection:
        kept.append(sqlite3.connect(name, factory=NoSpaceConnection))
        return kept[-1]

    with History.open(tmp_path / "history.db", connect=connect) as history:
        kept[0].full = True
        with pytest.raises(HistoryError, match="disk is full"):
            history.get_state("x")
        kept[0].full = False


# -- clear failures -------------------------------------------------------------------------------


def test_a_corrupt_file_is_reported_not_replaced(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(HistoryDamaged) as info:
        History.open(path)
    assert describe(info.value) == (
        EXIT_UNAVAILABLE,
        f"history damaged: move it aside: {path}: corrupt (file is not a database); "
        "nothing changed",
    )
    assert path.read_bytes().startswith(b"this is not a database")


def test_corruption_found_later_is_reported(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path) as history:
        fill(history, T0, 600)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # trash every page past the schema
        data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(HistoryDamaged, match=r"history.db: corrupt \(database disk image"):
        history = History.open(path)
        try:
            history.window(WindowKey("utilization", "avg", 6000), T0 + 6000)
            history.idle_for(50, T0 + 6000)
        finally:
            history.close()


def test_a_locked_database_is_reported_after_the_busy_timeout(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path, busy_timeout=0.1) as history:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(HistoryError, match="is locked by another process"):
                fill(history, T0, 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        fill(history, T0, 1)  # fine once the other writer is gone


def test_an_unusable_directory_is_reported(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(HistoryError, match="cannot create"):
        History.open(blocker / "state" / "history.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_directory_is_reported(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(HistoryError, match="not writable"):
        History.open(locked / "history.db")


def test_retention_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        History.open(tmp_path / "history.db", raw_retention=0)


def test_rollups_shorter_lived_than_raw_samples_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rollup retention"):
        History.open(tmp_path / "history.db", raw_retention=7200, rollup_retention=3600)


# -- files from other versions --------------------------------------------------------------------


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "history.db"
    History.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(HistoryError, match="newer clore-host"):
        History.open(path)


# The metrics and the host fields as the previous version (schema 1, with a `host` table) knew them.
V1_METRICS = (
    "utilization",
    "memory_utilization",
    "temperature",
    "power",
    "power_limit",
    "memory_used",
    "fan",
    "sm_clock",
    "mem_clock",
)
V1_HOST = ("cpu_percent", "load1", "mem_percent", "disk_free_mib", "uptime_s")


def write_v1_file(path: Path) -> None:
    """A database as the previous version left it: ten minutes of one GPU at 40 % (the first
    nine rolled up), a host reading each sample, an applied change, a decision and a state."""
    raw = ", ".join(f"{m} REAL" for m in V1_METRICS)
    host = ", ".join(f"{f} REAL" for f in V1_HOST)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            f"CREATE TABLE raw (ts REAL NOT NULL, gpu INTEGER NOT NULL, {raw}, "
            "PRIMARY KEY (ts, gpu)) WITHOUT ROWID"
        )
        for m in V1_METRICS:
            db.execute(
                f"CREATE TABLE rollup_{m} (minute INTEGER NOT NULL, gpu INTEGER NOT NULL, "
                "n INTEGER NOT NULL, total REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, "
                "p95 REAL NOT NULL, PRIMARY KEY (minute, gpu)) WITHOUT ROWID"
            )
        db.execute(f"CREATE TABLE host (ts REAL PRIMARY KEY, {host}) WITHOUT ROWID")
        db.execute(
            "CREATE TABLE change (id INTEGER PRIMARY KEY, ts REAL NOT NULL, server TEXT NOT NULL, "
            "before TEXT NOT NULL, after TEXT NOT NULL, reasons TEXT NOT NULL, "
            "status TEXT NOT NULL, status_ts REAL)"
        )
        db.execute("CREATE INDEX change_status ON change (status, ts)")
        db.execute(
            "CREATE TABLE decision (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
            "summary TEXT NOT NULL)"
        )
        db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "INSERT INTO meta VALUES ('schema', '1'), ('rolled_until', ?)", (repr(T0 + 540),)
        )
        for i in range(60):  # every 10 s for ten minutes
            db.execute("INSERT INTO raw (ts, gpu, utilization) VALUES (?, 0, 40.0)", (T0 + i * 10,))
            db.execute("INSERT INTO host (ts, cpu_percent) VALUES (?, 5.0)", (T0 + i * 10,))
        for minute in range(9):
            db.execute(
                "INSERT INTO rollup_utilization VALUES (?, 0, 6, 240.0, 40.0, 40.0, 40.0)",
                (T0 + minute * 60,),
            )
        db.execute(
            "INSERT INTO change (ts, server, before, after, reasons, status, status_ts) "
            "VALUES (?, 'rig', ?, ?, '[\"busy\"]', 'applied', ?)",
            (T0, json.dumps(A._asdict()), json.dumps(A._replace(spot=6.0)._asdict()), T0 + 2),
        )
        db.execute("INSERT INTO decision (ts, summary) VALUES (?, '{\"changed\": true}')", (T0,))
        db.execute("INSERT INTO state VALUES ('rental_status', '\"spot\"')")


def test_a_file_from_the_previous_version_opens_and_works(tmp_path):
    path = tmp_path / "history.db"
    write_v1_file(path)
    with History.open(path) as history:
        assert history.window(WindowKey("utilization", "avg", 600), T0 + 590) == {0: 40.0}
        assert history.idle_for(50, T0 + 590) == 590
        assert history.coverage(T0 + 590) == 590
        [change] = history.changes()
        assert change.after == A._replace(spot=6.0) and change.reasons == ("busy",)
        assert history.prior_state() == PriorState(last_price_change=T0 + 2)
        assert history.last_decision() == (T0, {"changed": True})
        assert history.get_state("rental_status") == "spot"
        # It goes on recording and rolling up; the retired host table is left as it was.
        history.record_sample(T0 + 600, [GpuNow(index=0, utilization=80.0)])
        history.record_sample(T0 + 660, [GpuNow(index=0, utilization=80.0)])
        assert history.window(WindowKey("utilization", "max", 3600), T0 + 660) == {0: 80.0}
        # The tables added since are made, and work.
        history.record_rental_status(T0 + 600, "spot")
        history.record_observation(T0 + 600, "costs", {"n": 1})
        assert history.rental_transitions(T0, T0 + 700) == [(T0 + 600, "spot")]
        assert history.observations("costs", T0) == [(T0 + 600, {"n": 1})]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM host").fetchone()[0] == 60
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "1"
        added = db.execute("SELECT value FROM meta WHERE key = 'added_tables'").fetchone()[0]
        assert added == "rental,observation"
        rolled = db.execute("SELECT COUNT(*) FROM rollup_utilization").fetchone()[0]
        assert rolled == 11  # the open tenth minute and the one at T0 + 600 rolled up


def test_a_file_from_the_previous_version_is_not_damaged_for_lacking_the_new_tables(tmp_path):
    # Without `added_tables` in meta, a missing `rental` or `observation` is a file from before
    # they existed: made, not damage. Once listed, a missing one is damage (test_damage).
    path = tmp_path / "history.db"
    write_v1_file(path)
    with History.open(path) as history:
        assert history.observations("costs", 0) == []
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE observation")
        db.execute("DELETE FROM meta WHERE key = 'added_tables'")
    with History.open(path) as history:
        assert history.observations("costs", 0) == []


def test_a_new_file_has_no_host_table(tmp_path):
    History.open(tmp_path / "history.db").close()
    with sqlite3.connect(tmp_path / "history.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "host" not in tables and {"raw", "change", "decision", "state"} <= tables


def test_a_read_only_remount_is_named(tmp_path):
    with tmpfs(tmp_path / "state", "256k") as mount:
        History.open(mount / "history.db").close()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(HistoryError, match="is mounted read-only"):
            History.open(mount / "history.db")
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        with History.open(mount / "history.db") as history:
            fill(history, T0, 3)
