"""A damaged history: emptied, a table dropped, a row that does not parse.

An emptied database (truncated to 0 bytes) counts as a deleted one: the rails hold from the
moment it is found. A table dropped or a row that is not what clore-host wrote is
HistoryDamaged: exit 4, one line "history damaged: move it aside" with the path, never a quiet
repair (a `change` table recreated empty would reset the minimum interval) and never exit 1.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clore_host.errors import EXIT_UNAVAILABLE, describe, is_bug
from clore_host.facts import GpuNow, PriorState, WindowKey
from clore_host.history import History, HistoryDamaged

from .factories import T0, A

DAMAGED = "history damaged: move it aside: "


def made(path: Path) -> None:
    """A database as clore-host leaves it: a change applied at T0, a decision, a state."""
    with History.open(path, now=T0) as history:
        change = history.record_change(T0, "rig", A, A._replace(on_demand=12.0), ["up"])
        history.mark_change(change, "applied", T0)
        history.record_decision(T0, {"changed": True})
        history.set_state("rental_status", {"status": "not_rented", "since": T0})
        history.record_sample(T0, [GpuNow(index=0, utilization=10.0)])
        assert history.prior_state() == PriorState(T0, None)


def sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    sqlite3.connect(path).close()  # the last connection out checkpoints the WAL


def assert_damaged(exc: BaseException, path: Path, *words: str) -> None:
    code, line = describe(exc)
    assert code == EXIT_UNAVAILABLE and not is_bug(exc)
    assert line.startswith(DAMAGED + str(path)), line
    assert line.endswith("; nothing changed") and "\n" not in line
    for word in words:
        assert word in line, line


# -- emptied: as deleted -------------------------------------------------------------------------


def test_a_database_truncated_to_0_bytes_holds_the_rails_as_a_deleted_one(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    path.write_bytes(b"")  # truncated, the daemon stopped (no -wal left)
    with History.open(path, now=T0 + 50) as history:
        # Not "never changed": the minimum interval and the availability hold count from the
        # moment the empty file was found, as after a deletion.
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)
    with History.open(path, now=T0 + 99) as history:  # reopened: found once, not again
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)


def test_truncated_under_a_running_agent_is_damage_then_and_after(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    with History.open(path, now=T0) as history:
        history.record_sample(T0 + 10, [GpuNow(index=0, utilization=1.0)])
        path.write_bytes(b"")
        with pytest.raises(HistoryDamaged) as info:
            history.prior_state()
        assert_damaged(info.value, path, "corrupt")
    # The closing connection leaves the emptied file empty: the next open finds it so, as
    # after a deletion, and the rails hold from then (not a fresh start: "never changed").
    assert path.stat().st_size == 0
    History.open(path, now=T0 + 50).close()
    with History.open(path, now=T0 + 60) as history:
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)


def test_a_first_empty_file_without_a_marker_is_a_first_start(tmp_path):
    path = tmp_path / "history.db"
    path.write_bytes(b"")  # a first run stopped before it wrote anything
    with History.open(path, now=T0) as history:
        assert history.prior_state() == PriorState()


@pytest.mark.parametrize("empty", ["deleted", "truncated"])
def test_found_by_a_command_without_the_time_the_next_run_still_holds(tmp_path, empty):
    # `clore-host status` or `history` (no clock) may be the first to open the new file: the
    # recreation must not be forgotten by the time the agent opens it.
    path = tmp_path / "history.db"
    made(path)
    if empty == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"")
    History.open(path).close()
    with History.open(path, now=T0 + 70) as history:
        assert history.prior_state() == PriorState(T0 + 70, T0 + 70)
    with History.open(path, now=T0 + 90) as history:
        assert history.prior_state() == PriorState(T0 + 70, T0 + 70)


def test_moved_aside_a_new_one_starts_with_the_rails_held(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    sql(path, "UPDATE state SET value = '{' WHERE key = 'rental_status'")
    with History.open(path) as history, pytest.raises(HistoryDamaged):
        history.get_state("rental_status")
    for suffix in ("", "-wal", "-shm"):  # what the README says to do
        moved = tmp_path / f"history.db{suffix}"
        if moved.exists():
            moved.rename(tmp_path / f"history.db.damaged{suffix}")
    with History.open(path, now=T0 + 500) as history:
        assert history.prior_state() == PriorState(T0 + 500, T0 + 500)


# -- a table dropped ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    ["change", "state", "decision", "meta", "raw", "rollup_utilization", "rental", "observation"],
)
def test_a_dropped_table_is_damage_not_a_fresh_start(tmp_path, table):
    path = tmp_path / "history.db"
    made(path)
    sql(path, f"DROP TABLE {table}")
    with pytest.raises(HistoryDamaged) as info:
        History.open(path, now=T0 + 10)
    assert_damaged(info.value, path, f"missing table {table}")
    with sqlite3.connect(path) as db:  # left as it was found, for a person to look at
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert table not in tables


def test_every_table_dropped_but_meta_is_damage(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    sql(path, "DROP TABLE change", "DROP TABLE state")
    with pytest.raises(HistoryDamaged) as info:
        History.open(path)
    assert_damaged(info.value, path, "missing tables change, state")


def test_a_table_dropped_while_open_is_damage(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    with History.open(path) as history:
        sql(path, "DROP TABLE change")
        with pytest.raises(HistoryDamaged) as info:
            history.prior_state()
    assert_damaged(info.value, path, "no such table: change")


def test_another_programs_database_is_damage(tmp_path):
    path = tmp_path / "history.db"
    sql(path, "CREATE TABLE photos (id INTEGER)")
    with pytest.raises(HistoryDamaged) as info:
        History.open(path)
    assert_damaged(info.value, path, "missing tables meta, raw, change, decision, state")


# -- a row that does not parse -------------------------------------------------------------------

SETTINGS = json.dumps(A._asdict())
HUGE = "9" * 400


def _pending(after: str = SETTINGS, **columns: str) -> str:
    values = {
        "ts": str(T0 + 5),
        "server": "'rig'",
        "before": f"'{SETTINGS}'",
        "after": f"'{after}'",
        "reasons": "'[\"r\"]'",
        "status": "'pending'",
        "status_ts": str(T0 + 5),
        **columns,
    }
    return f"INSERT INTO change ({', '.join(values)}) VALUES ({', '.join(values.values())})"


def _settings(**over: Any) -> str:
    data: dict[str, Any] = {**A._asdict(), **over}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


ROWS: dict[str, tuple[str, Callable[[History], object], str]] = {
    "state not JSON": (
        "UPDATE state SET value = '{\"status\": ' WHERE key = 'rental_status'",
        lambda h: h.get_state("rental_status"),
        "state rental_status is not JSON",
    ),
    "rental status without its time": (
        "UPDATE state SET value = '{\"status\": \"rented\"}' WHERE key = 'rental_status'",
        lambda h: h.get_state("rental_status"),
        "state rental_status: no time since",
    ),
    "rental status since text": (
        'UPDATE state SET value = \'{"status": "rented", "since": "noon"}\' '
        "WHERE key = 'rental_status'",
        lambda h: h.get_state("rental_status"),
        "state rental_status: no time since",
    ),
    "recreation time not a time": (
        "INSERT INTO state VALUES ('recreated_at', '\"yesterday\"')",
        lambda h: h.prior_state(),
        "state recreated_at: 'yesterday' is not a time",
    ),
    "pending change missing a setting": (
        _pending(after=_settings(mrl=...)),
        lambda h: h.pending_changes(),
        "change #2 settings after are not the four settings",
    ),
    "pending change with text for a price": (
        _pending(after=_settings(on_demand="0.0001")),
        lambda h: h.pending_changes(),
        "change #2 settings after: on_demand '0.0001' is not a price",
    ),
    "pending change with availability as text": (
        _pending(after=_settings(availability="false")),
        lambda h: h.pending_changes(),
        "availability 'false' is not true or false",
    ),
    "pending change with mrl as text": (
        _pending(after=_settings(mrl="96")),
        lambda h: h.pending_changes(),
        "mrl '96' is not a whole number of hours",
    ),
    "pending change with settings not JSON": (
        _pending(after="{on_demand: 1"),
        lambda h: h.pending_changes(),
        "change #2 settings after is not JSON",
    ),
    "settings column a list": (
        _pending(after="[1, 2, 3, 4]"),
        lambda h: h.last_change(),
        "are not the four settings",
    ),
    "reasons not a list": (
        _pending(reasons="'\"busy\"'"),
        lambda h: h.pending_changes(),
        "its reasons are not a list of text",
    ),
    "an unknown status": (
        _pending(status="'half-done'"),
        lambda h: h.changes(status=None),
        "status 'half-done' is not one clore-host writes",
    ),
    "a time that is text": (
        _pending(ts="'soon'"),
        lambda h: h.pending_changes(),
        "its time 'soon' is not a number",
    ),
    "an applied change that does not parse": (
        "UPDATE change SET before = 'null' WHERE id = 1",
        lambda h: h.prior_state(),
        "change #1 settings before are not the four settings",
    ),
    "a decision not JSON": (
        "UPDATE decision SET summary = 'plan: up'",
        lambda h: h.last_decision(),
        "decision #1 is not JSON",
    ),
    "a decision not an object": (
        "UPDATE decision SET summary = '[]'",
        lambda h: h.last_decision(),
        "decision #1: its summary is not an object",
    ),
    # Integers of hundreds of digits: JSON reads them exactly, and no float holds them.
    "recreation time a huge integer": (
        f"INSERT INTO state VALUES ('recreated_at', '{HUGE}')",
        lambda h: h.prior_state(),
        "state recreated_at: an integer too large for a number is not a time",
    ),
    "rental status since a huge integer": (
        f'UPDATE state SET value = \'{{"status": "rented", "since": {HUGE}}}\' '
        "WHERE key = 'rental_status'",
        lambda h: h.get_state("rental_status"),
        "state rental_status: no time since",
    ),
    "pending change with a huge integer for a price": (
        _pending(after=_settings(spot=10**400)),
        lambda h: h.pending_changes(),
        "change #2 settings after: spot an integer too large for a number is not a price",
    ),
    "applied change with a huge integer for a price": (
        f"UPDATE change SET before = '{_settings(on_demand=10**400)}' WHERE id = 1",
        lambda h: h.prior_state(),
        "change #1 settings before: on_demand an integer too large for a number is not a price",
    ),
    # SQLite keeps whatever a row is given: a sample column may hold text or bytes.
    "a sample that is text, read in a window": (
        "UPDATE raw SET utilization = 'busy'",
        lambda h: h.window(WindowKey("utilization", "max", 600), T0 + 60),
        "a GPU sample of utilization holds a value that is not a number",
    ),
    "a sample that is text, in an average": (
        "UPDATE raw SET utilization = 'half'",
        lambda h: h.window(WindowKey("utilization", "avg", 600), T0 + 60),
        "a GPU sample of utilization holds a value that is not a number",
    ),
    "a sample that is bytes, in a p95": (
        "UPDATE raw SET utilization = x'00ff'",
        lambda h: h.window(WindowKey("utilization", "p95", 600), T0 + 60),
        "a GPU sample of utilization holds a value that is not a number",
    ),
    "a sample's GPU index that is text": (
        "UPDATE raw SET gpu = 'first'",
        lambda h: h.window(WindowKey("utilization", "min", 600), T0 + 60),
        "a GPU sample of utilization holds a value that is not a number",
    ),
    "a sample that is text, rolled up": (
        "UPDATE raw SET utilization = 'busy'",
        lambda h: h.record_sample(T0 + 120, [GpuNow(index=0, utilization=5.0)]),
        "a GPU sample of utilization holds a value that is not a number",
    ),
    "the rollup mark not a time": (
        "UPDATE meta SET value = 'later' WHERE key = 'rolled_until'",
        lambda h: h.window(WindowKey("utilization", "avg", 600), T0 + 60),
        "meta rolled_until 'later' is not a time",
    ),
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_a_row_that_does_not_parse_is_damage_exit_4(tmp_path, case):
    statement, read, words = ROWS[case]
    path = tmp_path / "history.db"
    made(path)
    sql(path, statement)
    with History.open(path, now=T0 + 10) as history, pytest.raises(HistoryDamaged) as info:
        read(history)
    assert_damaged(info.value, path, words)


@pytest.mark.parametrize("agg", ["avg", "min", "max", "p95"])
@pytest.mark.parametrize("column", ["total", "low", "high", "p95", "n"])
def test_a_rollup_that_is_text_is_damage_exit_4(tmp_path, agg, column):
    path = tmp_path / "history.db"
    made(path)
    with History.open(path, now=T0) as history:  # the minute of T0 is rolled up
        history.record_sample(T0 + 120, [GpuNow(index=0, utilization=20.0)])
        key = WindowKey("utilization", agg, 7200)  # p95 over more than an hour: rollups
        assert history.window(key, T0 + 180) != {}
    sql(path, f"UPDATE rollup_utilization SET {column} = 'lots'")
    with History.open(path, now=T0 + 180) as history:
        if column not in ({"n", "p95"} if agg == "p95" else {"n", "total", "low", "high"}):
            history.window(key, T0 + 180)  # a column this aggregate does not read
            return
        with pytest.raises(HistoryDamaged) as info:
            history.window(key, T0 + 180)
    assert_damaged(info.value, path, "a per-minute rollup of utilization holds a value")


def test_a_schema_version_that_is_not_a_number_is_damage(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    sql(path, "UPDATE meta SET value = 'one' WHERE key = 'schema'")
    with pytest.raises(HistoryDamaged) as info:
        History.open(path)
    assert_damaged(info.value, path, "schema version 'one' is not a number")


def test_a_change_from_before_status_times_counts_from_its_record(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    sql(path, "UPDATE change SET status_ts = NULL")
    with History.open(path) as history:
        [change] = history.changes()
        assert change.status_ts == T0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("[1]", "state fx_accepted: not an object"),
        ('{"bitcoin": {"rate": 95000}}', "state fx_accepted: 'bitcoin' has no time"),
        ('{"bitcoin": {"rate": "x", "at": 1}}', "state fx_accepted: 'bitcoin' has no rate"),
        ('{"bitcoin": {"rate": -1, "at": 1}}', "state fx_accepted: 'bitcoin' has no rate"),
    ],
)
def test_accepted_exchange_rates_of_another_shape_are_damage(tmp_path, value, words):
    path = tmp_path / "history.db"
    made(path)
    sql(path, f"INSERT INTO state VALUES ('fx_accepted', '{value}')")
    with History.open(path) as history, pytest.raises(HistoryDamaged) as info:
        history.get_state("fx_accepted")
    assert_damaged(info.value, path, words)


def test_the_previous_versions_rental_status_still_reads(tmp_path):
    path = tmp_path / "history.db"
    made(path)
    sql(path, "UPDATE state SET value = '\"spot\"' WHERE key = 'rental_status'")
    with History.open(path) as history:
        assert history.get_state("rental_status") == "spot"


def test_an_error_without_a_path_still_says_what_it_is():
    assert HistoryDamaged().line() == "history damaged: move it aside"


# -- end to end: a one-shot run -----------------------------------------------------------------


def _reprice(rig: Any) -> Any:
    result = rig.cli("reprice")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


def test_a_reprice_after_the_database_was_emptied_keeps_the_minimum_interval(tmp_path):
    from clore_host.testing.rig import Rig, policy_text

    def raise_to(price: float) -> str:
        return policy_text(f'[[rule]]\nname = "raise"\nthen.on_demand = {{ set = {price} }}')

    with Rig(tmp_path, policy=raise_to(0.00011)) as rig:
        first, _ = _reprice(rig)
        assert first.returncode == 0, first.stderr
        assert len(rig.writes()) == 1
        (rig.root / "state" / "history.db").write_bytes(b"")  # truncated
        (rig.root / "policy.toml").write_text(raise_to(0.00012))
        second, _ = _reprice(rig)
        assert second.returncode == 0, second.stderr
        assert len(rig.writes()) == 1  # held: the minimum interval counts from the truncation
        assert "held by min interval" in second.stdout


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("DROP TABLE change", "missing table change"),
        ("UPDATE state SET value = 'rented' WHERE key = 'rental_status'", "is not JSON"),
    ],
)
def test_a_reprice_on_a_damaged_history_exits_4_with_one_line(tmp_path, damage, words):
    from clore_host.testing.rig import Rig, policy_text

    with Rig(tmp_path, policy=policy_text()) as rig:
        first, _ = _reprice(rig)
        assert first.returncode == 0, first.stderr
        path = rig.root / "state" / "history.db"
        sql(path, damage)
        for _ in range(2):  # every run alike, until a person moves it aside
            result, lines = _reprice(rig)
            assert result.returncode == 4, result.stderr
            assert len(lines) == 1 and lines[0].startswith(f"clore-host: {DAMAGED}{path}")
            assert words in lines[0]
        assert rig.writes() == []
