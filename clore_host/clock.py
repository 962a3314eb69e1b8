"""Clocks: the only way the agent learns the time or waits.

Everything that needs "now" or needs to wait takes a Clock, so tests and the demo can run
on a simulated clock without sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...

    def monotonic(self) -> float:
        """A clock that never goes backwards, for measuring intervals."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A manual clock: `sleep` advances it instantly. Thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when


class AcceleratedClock:
    """Simulated time that runs `factor` times faster than real time from `start`.

    Sleeping sleeps the real fraction, so concurrent parts (agent, emulator) stay in step.
    """

    def __init__(self, start: float, factor: float) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self._start = start
        self._factor = factor
        self._real0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._real0) * self._factor

    def monotonic(self) -> float:
        return self.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self._factor)
