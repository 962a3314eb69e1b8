from __future__ import annotations

import itertools
import re
import threading
from pathlib import Path

import pytest

from clore_host.api import CloreError, RateLimiter
from clore_host.api.ratelimit import LOCK_NAME
from clore_host.testing import FakeClock


def _entry_times(
    limiter: RateLimiter, clock: FakeClock, n: int, order: bool = False
) -> list[float]:
    times = []
    for _ in range(n):
        with limiter.slot(order=order):
            times.append(clock.now())
    return times


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("shared", [True, False])
def test_requests_spaced_one_second(tmp_path: Path, clock: FakeClock, shared: bool) -> None:
    limiter = RateLimiter(tmp_path if shared else None, clock)
    start = clock.now()
    times = _entry_times(limiter, clock, 4)
    assert times[0] == start  # the first one does not wait
    assert _gaps(times) == [1.0, 1.0, 1.0]


def test_two_limiters_on_one_directory_share_the_slot(tmp_path: Path, clock: FakeClock) -> None:
    a, b = RateLimiter(tmp_path, clock), RateLimiter(tmp_path, clock)
    with a.slot():
        first = clock.now()
    with b.slot():
        second = clock.now()
    assert second - first == 1.0
    assert (tmp_path / LOCK_NAME).stat().st_mode & 0o777 == 0o600


def test_separate_directories_do_not_share(tmp_path: Path, clock: FakeClock) -> None:
    a, b = RateLimiter(tmp_path / "a", clock), RateLimiter(tmp_path / "b", clock)
    with a.slot():
        pass
    start = clock.now()
    with b.slot():
        assert clock.now() == start


def test_interval_counts_from_the_answer(tmp_path: Path, clock: FakeClock) -> None:
    limiter = RateLimiter(tmp_path, clock)
    with limiter.slot():
        clock.advance(0.7)  # the request took 0.7 s
        answered = clock.now()
    with limiter.slot():
        assert clock.now() == answered + 1.0


def test_create_order_slot_is_five_seconds(tmp_path: Path, clock: FakeClock) -> None:
    limiter = RateLimiter(tmp_path, clock)
    orders = _entry_times(limiter, clock, 2, order=True)
    assert _gaps(orders) == [5.0]
    with limiter.slot():  # other requests wait only the 1 s
        assert clock.now() == orders[-1] + 1.0
    with limiter.slot(order=True):
        assert clock.now() == orders[-1] + 5.0


def test_clock_going_back_waits_one_interval(tmp_path: Path, clock: FakeClock) -> None:
    limiter = RateLimiter(tmp_path, clock)
    with limiter.slot():
        pass
    clock.set(clock.now() - 3600)
    before = clock.now()
    with limiter.slot():
        assert clock.now() == before + 1.0


def test_damaged_stamp_waits_full_intervals(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / LOCK_NAME).write_text("garbage")
    limiter = RateLimiter(tmp_path, clock)
    before = clock.now()
    with limiter.slot(order=True):
        assert clock.now() == before + 5.0


def test_unusable_state_dir_is_a_clear_error(tmp_path: Path, clock: FakeClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    limiter = RateLimiter(blocker / "sub", clock)
    where = re.escape(str(blocker / "sub" / LOCK_NAME))
    with pytest.raises(CloreError, match=f"rate limiter file {where}"), limiter.slot():
        pass


def test_threads_are_serialised(tmp_path: Path, clock: FakeClock) -> None:
    limiter = RateLimiter(tmp_path, clock)
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            with limiter.slot(), lock:
                times.append(clock.now())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(times) == 9
    assert all(gap >= 1.0 for gap in _gaps(sorted(times)))


@pytest.mark.parametrize(("order", "wait"), [(False, 1.0), (True, 5.0)])
def test_process_killed_mid_request_counts_from_its_death(
    tmp_path: Path, clock: FakeClock, order: bool, wait: float
) -> None:
    dead = RateLimiter(tmp_path, clock)
    with dead.slot(order=order):
        stamp = (tmp_path / LOCK_NAME).read_text().split()
        clock.advance(30)  # it hangs in flight, then is killed before stamping the answer
    (tmp_path / LOCK_NAME).write_text(" ".join(stamp))  # what the dead process left
    assert stamp[2] == ("order" if order else "request")
    found_lock = clock.now()
    with RateLimiter(tmp_path, clock).slot(order=order):
        assert clock.now() == found_lock + wait


def test_a_full_disk_under_the_stamp_file_is_a_clear_error(tmp_path, monkeypatch):
    import errno
    import os as os_module

    from clore_host.api import ratelimit

    limiter = ratelimit.RateLimiter(tmp_path, FakeClock())

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os_module.strerror(errno.ENOSPC))

    monkeypatch.setattr(os_module, "write", full)
    with (
        pytest.raises(CloreError, match=r"rate limiter file .*: No space left on device"),
        limiter.slot(),
    ):
        pass


@pytest.mark.parametrize("stamp", ["nan nan idle", "inf inf idle", "nan -inf in-flight"])
def test_a_stamp_that_is_no_time_counts_as_damaged_not_as_forever(tmp_path, stamp):
    # Found in review: "nan" parsed as a time made every process spin on the lock forever.
    (tmp_path / LOCK_NAME).write_text(stamp + "\n")
    clock = FakeClock()
    began = clock.now()
    with RateLimiter(tmp_path, clock).slot():
        pass
    assert clock.now() - began == pytest.approx(1.0)  # one interval, as for a damaged stamp
