"""Window queries against a brute-force computation over the same samples, and idle time."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_host.facts import GpuNow, WindowKey
from clore_host.history import History

from .factories import T0, Sample


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
            if agg in ("min", "max"):  # across every GPU, from the per-GPU answers
                values = [v for v in got.values() if v is not None]
                across = (min if agg == "min" else max)(values, default=None)
                assert same(across, brute(samples, metric, agg, start, now))
        for i, threshold in enumerate(thresholds):
            now = first + (last - first) * (0.3 * i if i % 2 else 1 - 0.2 * i)  # back and forth
            assert same(history.idle_for(threshold, now), brute_idle(samples, threshold, now))


def test_windows_reject_unknown_keys(history):
    with pytest.raises(ValueError, match="unknown metric"):
        history.window(WindowKey("watts", "avg", 60), T0)
    with pytest.raises(ValueError, match="unknown aggregate"):
        history.window(WindowKey("power", "median", 60), T0)
    with pytest.raises(ValueError, match="positive"):
        history.window(WindowKey("power", "avg", 0), T0)


def test_lost_gpus_and_missing_metrics_are_left_out(history):
    history.record_sample(
        T0, [GpuNow(index=0, utilization=50), GpuNow(index=1, lost=True), GpuNow(index=2)]
    )
    assert history.window(WindowKey("utilization", "avg", 60), T0) == {0: 50}
    assert history.window(WindowKey("power", "max", 60), T0) == {}
    assert history.window(WindowKey("power", "avg", 60), T0) == {}  # no value: none, not zero


def test_p95_on_a_database_younger_than_the_window_is_exact(history):
    # Found in review: a young database used the per-minute approximation, not raw samples.
    for i in range(180):  # 30 minutes every 10 s, one spike every 10 minutes
        util = 100.0 if i % 60 == 0 else 0.0
        history.record_sample(T0 + i * 10, [GpuNow(index=0, utilization=util)])
    now = T0 + 179 * 10
    assert history.window(WindowKey("utilization", "p95", 3600.0), now) == {0: 0.0}
    assert history.window(WindowKey("utilization", "max", 3600.0), now) == {0: 100.0}
