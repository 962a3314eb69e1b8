"""Clocks: the only way the agent learns the time or waits.

Everything that needs "now" or needs to wait takes a Clock, so tests and the demo can run
on a simulated clock without sleeping (clore_host.testing.FakeClock).
"""

from __future__ import annotations

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
