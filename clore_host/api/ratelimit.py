"""Request spacing shared by every process on the host that uses the same state directory.

CLORE.AI allows 1 request per second per token, and `create_order` once per 5 s. A daemon and a
one-shot command may run at once, so the spacing lives in a file: an exclusive `flock` on it is
held while waiting for the slot *and* while the request is in flight, and the time is stamped
when the answer is back. The next request is thus sent at least MIN_INTERVAL after the
previous one was answered, so arrivals at the server are spaced at least that much, whatever the
network jitter.

Before sending, the file is marked "in flight". A process killed mid-request leaves the mark
(and releases the lock by dying): its request reached the server no later than the moment the
next process got the lock, so that process counts the interval from then.

The stamp is one fixed-size record written in place, ending in a newline: over an earlier
record it needs no new block, so it works on a full disk; a write cut short leaves a record
without its newline, read as damaged (a request just went out), never as "long ago". Whatever
fails (a full disk, a read-only remount, an I/O error), the file and its lock are released
before the error leaves.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from ..clock import Clock
from .errors import LocalStateError

LOCK_NAME = "api-ratelimit"
MIN_INTERVAL = 1.0  # the API's 1 request per second
ORDER_INTERVAL = 5.0
IDLE, IN_FLIGHT, IN_FLIGHT_ORDER = "idle", "request", "order"
RECORD_SIZE = 80  # bytes: two stamps and a state, padded, then a newline

log = logging.getLogger(__name__)


class RateLimiter:
    """Spaces requests MIN_INTERVAL apart (create_order ORDER_INTERVAL apart).

    With `state_dir` None the spacing is kept in this process only.
    """

    def __init__(self, state_dir: Path | None, clock: Clock) -> None:
        self._path = state_dir / LOCK_NAME if state_dir is not None else None
        self._clock = clock
        self._thread_lock = threading.Lock()
        # In-process stamps, used when there is no state directory.
        self._last = float("-inf")
        self._last_order = float("-inf")

    @contextlib.contextmanager
    def slot(self, *, order: bool = False) -> Iterator[None]:
        """Wait for the next slot and hold it until the block (one request) ends."""
        with self._thread_lock, self._file_lock() as fd:
            last, last_order = self._read(fd)
            self._wait(last, MIN_INTERVAL)
            if order:
                self._wait(last_order, ORDER_INTERVAL)
            self._write(fd, last, last_order, IN_FLIGHT_ORDER if order else IN_FLIGHT)
            try:
                yield
            finally:
                now = self._clock.now()
                try:
                    self._write(fd, now, now if order else last_order, IDLE)
                except LocalStateError as exc:
                    # The request is done and its answer (or error) is what the caller needs.
                    # The file still says "in flight", which the next request reads as
                    # "answered just now": the spacing holds.
                    log.warning("%s", exc)

    def _wait(self, last: float, interval: float) -> None:
        while True:
            remaining = last + interval - self._clock.now()
            if remaining <= 0:
                return
            # A stamp further ahead than one interval means the clock went back: wait one
            # interval from now rather than for the size of the jump.
            if remaining > interval:
                last = self._clock.now()
                remaining = interval
            self._clock.sleep(remaining)

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[int | None]:
        if self._path is None:
            yield None
            return
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._unusable(exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise self._unusable(exc) from None
            yield fd
        finally:
            with contextlib.suppress(OSError):  # the descriptor (and the flock) go regardless
                os.close(fd)

    def _unusable(self, exc: OSError) -> LocalStateError:
        return LocalStateError(f"rate limiter file {self._path}: {exc.strerror or exc}")

    def _read(self, fd: int | None) -> tuple[float, float]:
        if fd is None:
            return self._last, self._last_order
        try:
            raw = os.pread(fd, 256, 0)
        except OSError as exc:
            raise self._unusable(exc) from None
        if not raw:
            return float("-inf"), float("-inf")
        now = self._clock.now()
        try:
            record, newline, _ = raw.decode("ascii").partition("\n")
            if not newline:  # a write cut short
                raise ValueError("no end of record")
            stamp, stamp_order, state = record.split()
            last, last_order = float(stamp), float(stamp_order)
            if not (last < math.inf and last_order < math.inf):  # nan or +inf: never waits out
                raise ValueError("not a time")
        except (UnicodeDecodeError, ValueError):
            # A damaged stamp: assume a request (and an order) just went out.
            return now, now
        # Left in flight by a process that died: its request landed before now.
        if state in (IN_FLIGHT, IN_FLIGHT_ORDER):
            last = now
        if state == IN_FLIGHT_ORDER:
            last_order = now
        return last, last_order

    def _write(self, fd: int | None, last: float, last_order: float, state: str) -> None:
        self._last, self._last_order = last, last_order
        if fd is None:
            return
        record = f"{last!r} {last_order!r} {state}".ljust(RECORD_SIZE - 1) + "\n"
        data = record.encode("ascii")
        try:
            # In place, then cut to length (a longer earlier record): no new block is needed.
            if os.pwrite(fd, data, 0) != len(data):
                raise OSError(errno.EIO, "short write")
            if os.fstat(fd).st_size > len(data):
                os.ftruncate(fd, len(data))
        except OSError as exc:  # a full disk, say: say where, as the other state errors do
            raise self._unusable(exc) from None
