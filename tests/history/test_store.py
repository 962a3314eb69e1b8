"""The history store as a file: restarts, the audit trail, state, and clear failures."""

from __future__ import annotations

import errno
import os
import sqlite3

import pytest

from clore_host.facts import GpuNow, HostNow, PriorState, Settings, WindowKey
from clore_host.history import MAX_DECISIONS, History, HistoryError

T0 = 1_767_225_600.0
A = Settings(on_demand=10.0, spot=5.0, availability=True, mrl=72)


def fill(history: History, start: float, count: int, every: float = 10.0) -> None:
    for i in range(count):
        gpus = [
            GpuNow(index=g, utilization=float((i + g) % 100), temperature=60.0) for g in range(2)
        ]
        history.record_sample(start + i * every, gpus, HostNow(cpu_percent=5.0))


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


def test_audit_trail_and_prior_state(tmp_path):
    with History.open(tmp_path / "history.db") as history:
        assert history.last_change() is None
        assert history.prior_state() == PriorState()
        price = history.record_change(T0, "rig", A, A._replace(spot=6.0), ["spot up"])
        history.mark_change(price, "applied", T0 + 2)
        hidden = history.record_change(T0 + 100, "rig", A, A._replace(availability=False), ["hot"])
        history.mark_change(hidden, "applied", T0 + 101)
        lost = history.record_change(T0 + 200, "rig", A, A._replace(on_demand=1.0), ["x"])
        history.mark_change(lost, "abandoned", T0 + 201)
        pending = history.record_change(T0 + 300, "rig", A, A._replace(mrl=24), ["mrl"])
        assert [c.id for c in history.changes()] == [price, hidden]
        assert [c.id for c in history.changes(since=T0 + 50)] == [hidden]
        assert [c.id for c in history.changes(status=None)] == [price, hidden, lost, pending]
        assert [c.id for c in history.pending_changes()] == [pending]
        last = history.last_change()
        assert last is not None and last.id == pending and last.status == "pending"
        assert last.before == A and last.after == A._replace(mrl=24) and last.reasons == ("mrl",)
        assert isinstance(last.after.availability, bool) and isinstance(last.after.mrl, int)
        # An abandoned change moved nothing; the last applied price change was `price`,
        # timed by when it was applied (T0 + 2), not when it was decided (T0).
        assert history.prior_state() == PriorState(
            last_price_change=T0 + 2, availability_since=T0 + 101
        )
        with pytest.raises(HistoryError, match="no change #999"):
            history.mark_change(999, "applied", T0)
        with pytest.raises(ValueError, match="unknown change status"):
            history.mark_change(price, "done", T0)


def test_decisions_are_bounded(tmp_path):
    with History.open(tmp_path / "history.db") as history:
        assert history.last_decision() is None
        for i in range(MAX_DECISIONS + 50):
            history.record_decision(T0 + i, {"i": i})
        assert history.last_decision() == (T0 + MAX_DECISIONS + 49, {"i": MAX_DECISIONS + 49})
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("SELECT COUNT(*) FROM decision").fetchone()[0] == MAX_DECISIONS


def test_state_values_round_trip_as_json(tmp_path):
    with History.open(tmp_path / "history.db") as history:
        assert history.get_state("missing") is None
        history.set_state("k", [1, "two", {"three": 3.0}])
        history.set_state("k", {"replaced": True})
        assert history.get_state("k") == {"replaced": True}


def test_the_file_is_in_wal_mode(tmp_path):
    History.open(tmp_path / "history.db").close()
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_corrupt_file_is_reported_not_replaced(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(HistoryError) as info:
        History.open(path)
    message = str(info.value)
    assert f"history database {path} is corrupt" in message and "move it aside" in message
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
    with pytest.raises(HistoryError, match="is corrupt"):
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


def test_a_full_disk_is_reported_and_earlier_history_stays_readable(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path) as history:
        fill(history, T0, 10)
        pages = history._conn.execute("PRAGMA page_count").fetchone()[0]
        history._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(HistoryError, match="disk is full") as info:
            fill(history, T0 + 100, 500)
        assert str(path.parent) in str(info.value)
        # The failed write rolled back; what was there is intact and readable.
        assert history.coverage(T0 + 100) == 100
        assert history.window(WindowKey("temperature", "avg", 95), T0 + 90) == {0: 60, 1: 60}


def test_a_full_disk_from_the_os_is_reported(tmp_path, monkeypatch):
    with History.open(tmp_path / "history.db") as history:

        class NoSpace:
            def __getattr__(self, name):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(history, "_conn", NoSpace())
        with pytest.raises(HistoryError, match="disk is full"):
            history.get_state("x")
        monkeypatch.undo()


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


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "history.db"
    History.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(HistoryError, match="newer clore-host"):
        History.open(path)


def test_retention_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        History.open(tmp_path / "history.db", raw_retention=0)


def test_a_second_process_sees_the_writers_rollups_and_pruning(tmp_path):
    path = tmp_path / "history.db"
    key = WindowKey("utilization", "avg", 3000)
    with (
        History.open(path, raw_retention=600) as reader,
        History.open(path, raw_retention=600) as writer,
    ):
        fill(writer, T0, 60)
        assert reader.window(key, T0 + 590) == writer.window(key, T0 + 590)
        fill(writer, T0 + 600, 300)  # the writer rolls up and prunes the raw samples
        expected = writer.window(key, T0 + 3590)
        assert expected == {0: pytest.approx(49.9, abs=0.5), 1: pytest.approx(50, abs=0.5)}
        assert reader.window(key, T0 + 3590) == expected
        reader.record_sample(T0 + 3600, [GpuNow(index=0, utilization=1.0)])
        assert reader.window(key, T0 + 3600) == writer.window(key, T0 + 3600)


def test_a_recreated_database_keeps_the_rails_counting(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path, now=T0) as history:
        change = history.record_change(T0, "rig", A, A._replace(on_demand=0.2), ("r",))
        history.mark_change(change, "applied", T0)
        assert history.prior_state().last_price_change == T0
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"history.db{suffix}").unlink(missing_ok=True)
    with History.open(path, now=T0 + 50) as history:  # deleted, then recreated
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)
    with History.open(path, now=T0 + 99) as history:  # reopened: not recreated again
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)
    fresh = tmp_path / "fresh" / "history.db"
    with History.open(fresh, now=T0) as history:  # a first start has nothing to keep
        assert history.prior_state() == PriorState()


def test_p95_on_a_database_younger_than_the_window_is_exact(tmp_path):
    # Found in review: a young database used the per-minute approximation, not raw samples.
    with History.open(tmp_path / "history.db") as history:
        for i in range(180):  # 30 minutes every 10 s, one spike every 10 minutes
            util = 100.0 if i % 60 == 0 else 0.0
            history.record_sample(T0 + i * 10, [GpuNow(index=0, utilization=util)])
        now = T0 + 179 * 10
        assert history.window(WindowKey("utilization", "p95", 3600.0), now) == {0: 0.0}
        assert history.window(WindowKey("utilization", "max", 3600.0), now) == {0: 100.0}


def test_prior_state_counts_only_the_named_server(tmp_path):
    with History.open(tmp_path / "history.db") as history:
        change = history.record_change(T0, "rig-b", A, A._replace(on_demand=11.0), ("r",))
        history.mark_change(change, "applied", T0 + 1)
        assert history.prior_state("rig-a") == PriorState()
        assert history.prior_state("rig-b") == PriorState(last_price_change=T0 + 1)
        assert history.prior_state() == PriorState(last_price_change=T0 + 1)


def test_rollups_shorter_lived_than_raw_samples_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rollup retention"):
        History.open(tmp_path / "history.db", raw_retention=7200, rollup_retention=3600)


def test_samples_without_utilization_do_not_make_a_rig_idle(tmp_path):
    # Found in review: hours of samples from a card that reports no utilization read as idle.
    with History.open(tmp_path / "history.db") as history:
        for i in range(7 * 60):
            history.record_sample(T0 + i * 60, [GpuNow(index=0, temperature=40.0)])
        assert history.idle_for(10.0, T0 + 7 * 3600) is None
        history.record_sample(T0 + 7 * 3600, [GpuNow(index=0, utilization=1.0)])
        assert history.idle_for(10.0, T0 + 7 * 3600 + 60) == 60.0
