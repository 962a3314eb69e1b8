"""Recording samples: per-minute rollups, retention, idle time, coverage, several processes."""

from __future__ import annotations

import math
import sqlite3

import pytest

from clore_host.facts import GpuNow, WindowKey
from clore_host.history import History

from .factories import T0, fill, util


def test_rollups_summarise_each_minute(tmp_path):
    path = tmp_path / "history.db"
    samples = [util(T0 + i * 5, float(i % 17), None if i % 4 == 0 else 50.0 + i) for i in range(60)]
    with History.open(path) as history:
        for ts, gpus in samples:
            history.record_sample(ts, gpus)
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT minute, gpu, n, total, low, high, p95 FROM rollup_utilization "
            "ORDER BY minute, gpu"
        ).fetchall()
        assert db.execute("SELECT COUNT(*) FROM rollup_temperature").fetchone()[0] == 0
    minutes = sorted({int(ts // 60 * 60) for ts, _ in samples})[:-1]  # the last is still open
    assert [(r[0], r[1]) for r in rows] == [(m, g) for m in minutes for g in (0, 1)]
    for minute, gpu, n, total, low, high, p95 in rows:
        values = [
            gpus[gpu].utilization
            for ts, gpus in samples
            if minute <= ts < minute + 60 and gpus[gpu].utilization is not None
        ]
        assert n == len(values) and total == pytest.approx(sum(values))
        assert (low, high) == (min(values), max(values))
        assert p95 == sorted(values)[math.ceil(len(values) * 0.95) - 1]


def test_a_late_sample_updates_its_minute(history):
    for i in range(30):
        history.record_sample(*util(T0 + i * 10, 10.0))
    key = WindowKey("utilization", "max", 3 * 3600)
    assert history.window(key, T0 + 300) == {0: 10.0}
    history.record_sample(*util(T0 + 65, 99.0))  # into a minute already rolled up
    assert history.window(key, T0 + 300) == {0: 99.0}
    assert history.window(WindowKey("utilization", "p95", 3 * 3600), T0 + 300) == {0: 99.0}


def test_retention_prunes_raw_then_rollups(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path, raw_retention=600, rollup_retention=3600) as history:
        for i in range(2 * 360):  # two hours, every 10 s, utilization = the minute number
            ts = T0 + i * 10
            history.record_sample(*util(ts, float(i // 6)))
        now = T0 + 2 * 3600 - 10
        with sqlite3.connect(path) as db:
            raw_floor, raw_rows = db.execute("SELECT MIN(ts), COUNT(*) FROM raw").fetchone()
            rollup_floor = db.execute("SELECT MIN(minute) FROM rollup_utilization").fetchone()[0]
        assert now - 600 - 120 <= raw_floor <= now - 600
        assert raw_rows <= 600 / 10 + 18
        assert now - 3600 - 120 <= rollup_floor <= now - 3600
        assert history.coverage(now) == pytest.approx(now - rollup_floor)
        # Beyond raw retention the rollups still answer, to the minute.
        old = T0 + 90 * 60  # the ten minutes before: minutes 80 ... 89
        assert history.window(WindowKey("utilization", "avg", 600), old) == {0: 84.5}
        assert history.window(WindowKey("utilization", "min", 600), old) == {0: 80}
        assert history.window(WindowKey("utilization", "max", 600), old) == {0: 89}
        # Beyond rollup retention: nothing, not zeros.
        assert history.window(WindowKey("utilization", "avg", 60), T0 + 600) == {}


def test_pruning_goes_on_once_the_future_is_forgotten_by_another_process(tmp_path):
    # The daemon pruned while its clock ran ahead; a person forgets the future from the CLI;
    # the daemon's own note of when it last pruned must not hold pruning off until then.
    path = tmp_path / "history.db"
    with (
        History.open(path, raw_retention=600, rollup_retention=3600) as daemon,
        History.open(path, raw_retention=600, rollup_retention=3600) as person,
    ):
        for i in range(60):
            daemon.record_sample(*util(T0 + i * 10, 1.0))
        daemon.record_sample(*util(T0 + 20_000, 1.0))  # the clock ahead a while
        assert person.forget_future(T0 + 600) > 0
        for i in range(60, 240):  # back, for half an hour more
            daemon.record_sample(*util(T0 + i * 10, 1.0))
        with sqlite3.connect(path) as db:
            raw_floor = db.execute("SELECT MIN(ts) FROM raw").fetchone()[0]
        assert raw_floor >= T0 + 2390 - 600 - 120


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


def test_idle_for(history):
    assert history.idle_for(5, T0) is None
    history.record_sample(*util(T0, 1.0, 2.0))
    history.record_sample(*util(T0 + 60, 1.0, 2.0))
    assert history.idle_for(5, T0 + 100) == 100  # never busy: since the first sample
    history.record_sample(*util(T0 + 120, 1.0, 5.0))  # not above the threshold
    assert history.idle_for(5, T0 + 130) == 130
    history.record_sample(*util(T0 + 180, 80.0, 2.0))
    history.record_sample(*util(T0 + 240, 1.0, 2.0))
    assert history.idle_for(5, T0 + 250) == 70
    assert history.idle_for(5, T0 + 150) == 150  # asked about the past
    assert history.idle_for(90, T0 + 250) == 250
    assert history.coverage(T0 + 250) == 250


def test_idle_for_beyond_raw_retention_uses_rollups(tmp_path):
    with History.open(tmp_path / "h.db", raw_retention=600) as history:
        history.record_sample(*util(T0 + 5, 90.0))
        for i in range(1, 200):
            history.record_sample(*util(T0 + i * 10, 0.0))
        now = T0 + 2000
        # The busy sample's raw row is gone; its minute's rollup says "busy until T0 + 60".
        assert history.idle_for(50, now) == pytest.approx(now - (T0 + 60))


def test_idle_for_sees_samples_recorded_at_or_before_an_earlier_question(history):
    history.record_sample(*util(T0, 1.0))
    assert history.idle_for(5, T0 + 100) == 100
    history.record_sample(*util(T0 + 100, 90.0))  # recorded at the moment already asked about
    assert history.idle_for(5, T0 + 100) == 0
    history.record_sample(*util(T0 + 50, 95.0))  # and a late one from before it
    assert history.idle_for(5, T0 + 60) == 10


def test_samples_without_utilization_do_not_make_a_rig_idle(tmp_path):
    # Found in review: hours of samples from a card that reports no utilization read as idle.
    with History.open(tmp_path / "history.db") as history:
        for i in range(7 * 60):
            history.record_sample(T0 + i * 60, [GpuNow(index=0, temperature=40.0)])
        assert history.idle_for(10.0, T0 + 7 * 3600) is None
        history.record_sample(T0 + 7 * 3600, [GpuNow(index=0, utilization=1.0)])
        assert history.idle_for(10.0, T0 + 7 * 3600 + 60) == 60.0
