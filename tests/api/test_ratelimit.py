from __future__ import annotations

import errno
import fcntl
import itertools
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clore_host.api import CloreError, LocalStateError, RateLimiter
from clore_host.api.ratelimit import LOCK_NAME, RECORD_SIZE
from clore_host.errors import EXIT_UNAVAILABLE, describe
from clore_host.testing import FakeClock

from ..fds import fds_on
from ..tmpfs import fill_up, tmpfs


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
    (tmp_path / LOCK_NAME).write_text(" ".join(stamp) + "\n")  # what the dead process left
    assert stamp[2] == ("order" if order else "request")
    found_lock = clock.now()
    with RateLimiter(tmp_path, clock).slot(order=order):
        assert clock.now() == found_lock + wait


@pytest.mark.parametrize("stamp", ["nan nan idle", "inf inf idle", "nan -inf in-flight"])
def test_a_stamp_that_is_no_time_counts_as_damaged_not_as_forever(tmp_path, stamp):
    # Found in review: "nan" parsed as a time made every process spin on the lock forever.
    (tmp_path / LOCK_NAME).write_text(stamp + "\n")
    clock = FakeClock()
    began = clock.now()
    with RateLimiter(tmp_path, clock).slot():
        pass
    assert clock.now() - began == pytest.approx(1.0)  # one interval, as for a damaged stamp


# -- a full disk, a read-only remount, an I/O error -----------------------------------------------

FAULTS = [errno.ENOSPC, errno.EROFS, errno.EIO]


def _failing(code: int) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize("code", FAULTS)
@pytest.mark.parametrize("seam", ["open", "pread", "pwrite", "flock"])
def test_a_fault_before_the_request_is_a_clear_error_and_takes_nothing(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, code: int, seam: str
) -> None:
    limiter = RateLimiter(tmp_path, clock)
    with limiter.slot():
        first = clock.now()  # the file exists, with a stamp
    sent = []
    before = fds_on(tmp_path / LOCK_NAME)
    with monkeypatch.context() as patch:
        patch.setattr(fcntl if seam == "flock" else os, seam, _failing(code))
        with pytest.raises(LocalStateError) as info, limiter.slot():
            sent.append(clock.now())
    assert sent == []  # no request without its slot
    assert fds_on(tmp_path / LOCK_NAME) == before  # the file (and its flock) released
    where = tmp_path / LOCK_NAME
    assert describe(info.value) == (
        EXIT_UNAVAILABLE,
        f"state directory unavailable, nothing changed: rate limiter file {where}: "
        f"{os.strerror(code)}",
    )
    # The fault gone, the same limiter works again, spaced from the last request sent.
    with limiter.slot():
        assert clock.now() == first + 1.0


@pytest.mark.parametrize("code", FAULTS)
def test_a_fault_stamping_the_answer_keeps_the_answer_and_the_spacing(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # The request went out and was answered: losing its answer to a failed stamp would make a
    # landed write look failed. The file still says "in flight": the next request waits.
    limiter = RateLimiter(tmp_path, clock)
    real = os.pwrite
    with limiter.slot():
        monkeypatch.setattr(os, "pwrite", _failing(code))
        answer = "the API's answer"
    assert answer == "the API's answer"
    monkeypatch.setattr(os, "pwrite", real)
    assert (tmp_path / LOCK_NAME).read_text().split()[2] == "request"
    other = RateLimiter(tmp_path, clock)  # another process, on the same file
    got_lock = clock.now()
    with other.slot():
        assert clock.now() == got_lock + 1.0


def test_a_stamp_cut_short_reads_as_damaged_not_as_long_ago(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(tmp_path, clock)
    with limiter.slot(order=True):
        pass
    real = os.pwrite

    def half(fd: int, data: bytes, offset: int) -> int:
        return real(fd, data[: len(data) // 2], offset)

    (tmp_path / LOCK_NAME).write_text("")  # as if the disk had freed it
    monkeypatch.setattr(os, "pwrite", half)
    with pytest.raises(LocalStateError, match="short write"), limiter.slot():
        pass
    monkeypatch.setattr(os, "pwrite", real)
    assert "\n" not in (tmp_path / LOCK_NAME).read_text()
    before = clock.now()
    with RateLimiter(tmp_path, clock).slot(order=True):
        assert clock.now() == before + 5.0  # full intervals, as for any damaged stamp


def test_the_stamp_is_rewritten_in_place_at_one_size(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(f"{clock.now() - 100!r} {clock.now() - 100!r} idle\n" + "x" * 300)
    limiter = RateLimiter(tmp_path, clock)
    with limiter.slot():
        assert len(path.read_bytes()) == RECORD_SIZE
        inode = path.stat().st_ino
    assert len(path.read_bytes()) == RECORD_SIZE and path.stat().st_ino == inode
    assert path.read_text().split()[2] == "idle"


def test_on_a_full_tmpfs_the_limiter_keeps_spacing_requests(
    tmp_path: Path, clock: FakeClock
) -> None:
    # A stamp written in place needs no new block: a full disk does not stop the API client.
    with tmpfs(tmp_path / "state", "64k") as mount:
        limiter = RateLimiter(mount, clock)
        with limiter.slot():
            pass
        fill_up(mount / "filler")
        times = []
        for _ in range(3):
            with limiter.slot():
                times.append(clock.now())
        assert _gaps(times) == [1.0, 1.0]
