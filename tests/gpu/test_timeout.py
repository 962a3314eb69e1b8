"""The call guard: every backend call bounded in real time, hung calls not piling up."""

from __future__ import annotations

import threading
import time

import pytest

from clore_host.gpu.base import GpuBackendError, GpuBackendTimeout
from clore_host.gpu.timeout import CallGuard

TINY = 0.2


@pytest.fixture
def guard():
    g = CallGuard(TINY)
    yield g
    g.close(wait=1.0)


def test_returns_the_value_and_raises_the_error(guard):
    assert guard.call(lambda: 41 + 1) == 42

    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        guard.call(boom)
    assert guard.call(lambda: "still works") == "still works"


def test_a_hung_call_times_out_and_later_calls_fail_fast(guard):
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(GpuBackendTimeout, match=r"GPU backend timed out after 0\.2s"):
        guard.call(release.wait)
    assert time.monotonic() - started < TINY + 1.0
    threads_before = threading.active_count()
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(GpuBackendTimeout, match="still hung"):
            guard.call(lambda: 1)
    assert time.monotonic() - started < TINY  # no waiting behind the hung call
    assert threading.active_count() == threads_before  # and no new threads
    release.set()
    deadline = time.monotonic() + 2.0
    while True:  # the worker comes back once the hung call returns
        try:
            assert guard.call(lambda: "recovered") == "recovered"
            break
        except GpuBackendTimeout:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_close_stops_the_worker_and_refuses_calls():
    guard = CallGuard(TINY)
    guard.call(lambda: None)
    assert guard.alive
    guard.close(wait=1.0)
    assert not guard.alive
    with pytest.raises(GpuBackendError, match="closed"):
        guard.call(lambda: None)


def test_timeout_must_be_positive():
    with pytest.raises(ValueError):
        CallGuard(0)
