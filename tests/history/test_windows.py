"""Window queries and "idle for" against a brute-force computation over the same samples."""

from __future__ import annotations

import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_host.facts import GpuNow, WindowKey
from clore_host.history import History

T0 = 1_767_225_600.0
Sample = tuple[float, list[GpuNow]]


def brute(samples: list[Sample], metric: str, agg: str, start: float, end: float, gpu=None):
    values = [
        getattr(g, metric)
        for ts, gpus in samples
        if start <= ts <= end
        for g in gpus
        if not g.lost and (gpu is None or g.index == gpu) and getattr(g, metric) is not None
    ]
    if not values:
        return None
    if agg == "avg":
        return math.fsum(values) / len(values)
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    ordered = sorted(values)
    return ordered[math.ceil(len(values) * 95 / 100) - 1]  # nearest rank


def brute_idle(samples: list[Sample], threshold: float, now: float) -> float | None:
    # Lost GPUs store nothing, and a sample without utilization says nothing about idleness.
    stored = [
        (ts, [g for g in gpus if not g.lost and g.utilization is not None]) for ts, gpus in samples
    ]
    stored = [(ts, gpus) for ts, gpus in stored if gpus]
    if not stored:
        return None
    busy = [
        ts
        for ts, gpus in stored
        if ts <= now and any(g.utilization is not None and g.utilization > threshold for g in gpus)
    ]
    since = max(busy) if busy else min(ts for ts, _ in stored)
    return max(0.0, now - since)


def same(got: float | None, expected: float | None) -> bool:
    if got is None or expected is None:
        return got is expected
    return got == pytest.approx(expected, rel=1e-9, abs=1e-9)


gpu_value = st.one_of(st.none(), st.integers(0, 100).map(float), st.floats(0, 100, width=32))


@st.composite
def histories(draw) -> list[Sample]:
    n_gpus = draw(st.integers(1, 3))
    gaps = draw(st.lists(st.floats(0.5, 40.0), min_size=1, max_size=250))
    samples: list[Sample] = []
    ts = T0 + draw(st.floats(0, 59))
    for gap in gaps:
        ts += gap
        gpus = [
            GpuNow(index=i, lost=True)
            if draw(st.integers(0, 30)) == 0
            else GpuNow(index=i, utilization=draw(gpu_value), temperature=draw(gpu_value))
            for i in range(n_gpus)
        ]
        samples.append((ts, gpus))
    return samples


queries = st.lists(
    st.tuples(
        st.sampled_from(["utilization", "temperature"]),
        st.sampled_from(["avg", "min", "max", "p95"]),
        st.floats(1, 3 * 3600),  # window length
        st.floats(-0.1, 1.1),  # where "now" falls in the history
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples=histories(), asks=queries, thresholds=st.lists(st.floats(0, 100), max_size=4))
def test_windows_match_brute_force(samples, asks, thresholds):
    first, last = samples[0][0], samples[-1][0]
    with tempfile.TemporaryDirectory() as tmp, History.open(Path(tmp) / "history.db") as history:
        for ts, gpus in samples:
            history.record_sample(ts, gpus)
        for metric, agg, seconds, where in asks:
            now = first + (last - first) * where
            start = now - seconds
            got = history.window(WindowKey(metric, agg, seconds), now)
            indexes = {  # GPUs with a value for the metric in the window
                g.index
                for ts, gpus in samples
                if start <= ts <= now
                for g in gpus
                if getattr(g, metric) is not None
            }
            assert set(got) == indexes
            for index in indexes:
                expected = brute(samples, metric, agg, start, now, index)
                if agg != "p95" or seconds <= 3600:
                    assert same(got[index], expected)
                else:  # p95 from per-minute p95s: within the window's range
                    low = brute(samples, metric, "min", start, now, index)
                    high = brute(samples, metric, "max", start, now, index)
                    assert got[index] is not None and low <= got[index] <= high
            across = history.window_all(WindowKey(metric, agg, seconds), now)
            if agg != "p95" or seconds <= 3600:
                assert same(across, brute(samples, metric, agg, start, now))
        for i, threshold in enumerate(thresholds):
            now = first + (last - first) * (0.3 * i if i % 2 else 1 - 0.2 * i)  # back and forth
            assert same(history.idle_for(threshold, now), brute_idle(samples, threshold, now))


@pytest.fixture
def history(tmp_path):
    with History.open(tmp_path / "history.db") as h:
        yield h


def util(ts: float, *values: float | None) -> Sample:
    return ts, [GpuNow(index=i, utilization=v) for i, v in enumerate(values)]


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


def test_windows_reject_unknown_keys(history):
    with pytest.raises(ValueError, match="unknown metric"):
        history.window(WindowKey("watts", "avg", 60), T0)
    with pytest.raises(ValueError, match="unknown aggregate"):
        history.window(WindowKey("power", "median", 60), T0)
    with pytest.raises(ValueError, match="positive"):
        history.window_all(WindowKey("power", "avg", 0), T0)


def test_lost_gpus_and_missing_metrics_are_left_out(history):
    history.record_sample(
        T0, [GpuNow(index=0, utilization=50), GpuNow(index=1, lost=True), GpuNow(index=2)]
    )
    assert history.window(WindowKey("utilization", "avg", 60), T0) == {0: 50}
    assert history.window(WindowKey("power", "max", 60), T0) == {}
    assert history.window_all(WindowKey("power", "max", 60), T0) is None


def test_idle_for_sees_samples_recorded_at_or_before_an_earlier_question(history):
    history.record_sample(*util(T0, 1.0))
    assert history.idle_for(5, T0 + 100) == 100
    history.record_sample(*util(T0 + 100, 90.0))  # recorded at the moment already asked about
    assert history.idle_for(5, T0 + 100) == 0
    history.record_sample(*util(T0 + 50, 95.0))  # and a late one from before it
    assert history.idle_for(5, T0 + 60) == 10
