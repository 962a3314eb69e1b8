"""The electricity tariff: the price of a kWh at a moment, and its average over a horizon.

Prices follow the local hour and weekday (the config's time zone, daylight saving included).
Every UTC offset in use and every daylight-saving shift is a whole number of quarter hours,
so the local hour cannot change inside a quarter hour of UTC: the price is constant on each,
and the average over a horizon is exact, across window boundaries and clock changes alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from ..config.costs import CostsSection

QUARTER = 900.0  # seconds


@dataclass(frozen=True)
class Window:
    """A time-of-use price: local hours [start, end) (wrapping past midnight when start >
    end; None: all day) on the given weekdays (0 = Monday; None: every day)."""

    price: float
    start: int | None = None
    end: int | None = None
    weekdays: frozenset[int] | None = None

    def covers(self, hour: int, weekday: int) -> bool:
        if self.weekdays is not None and weekday not in self.weekdays:
            return False
        if self.start is None or self.end is None:
            return True
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end


@dataclass(frozen=True)
class Segment:
    """[start, end) at one price per kWh."""

    start: float
    end: float
    price: float


@dataclass(frozen=True)
class Tariff:
    """`base` per kWh outside the windows (the first window that covers a moment wins), in
    `currency`, by local time in `timezone`."""

    base: float
    currency: str
    timezone: str = "UTC"
    windows: tuple[Window, ...] = ()

    @classmethod
    def from_config(cls, costs: CostsSection, timezone: str) -> Tariff | None:
        """The configured tariff; None without an electricity price."""
        if costs.electricity is None:
            return None
        windows = tuple(
            Window(
                price=w.price,
                start=None if w.hours is None else w.hours[0],
                end=None if w.hours is None else w.hours[1] % 24,
                weekdays=None if w.weekdays is None else frozenset(w.weekdays),
            )
            for w in costs.tariff
        )
        return cls(costs.electricity.price, costs.electricity.currency, timezone, windows)

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def price_at(self, when: float) -> float:
        """The price of a kWh at `when` (seconds since the epoch)."""
        if not self.windows:
            return self.base
        local = datetime.fromtimestamp(when, self._zone)
        for window in self.windows:
            if window.covers(local.hour, local.weekday()):
                return window.price
        return self.base

    def segments(self, start: float, seconds: float) -> tuple[Segment, ...]:
        """[start, start + seconds) cut where the price changes, in order."""
        if not (math.isfinite(start) and math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a tariff span needs a finite start and length, not {seconds!r}")
        end = start + seconds
        out: list[Segment] = []
        at = start
        while at < end:
            # The next quarter hour of UTC after `at` (an epoch second count is UTC).
            step = min(end, (math.floor(at / QUARTER) + 1) * QUARTER)
            price = self.price_at(at)
            if out and out[-1].price == price:
                out[-1] = Segment(out[-1].start, step, price)
            else:
                out.append(Segment(at, step, price))
            at = step
        return tuple(out)

    def average(self, start: float, seconds: float) -> float:
        """The time-weighted average price per kWh over [start, start + seconds)."""
        return weighted_average(self.segments(start, seconds))


def weighted_average(segments: Sequence[Segment]) -> float:
    span = math.fsum(s.end - s.start for s in segments)
    return math.fsum(s.price * (s.end - s.start) for s in segments) / span
