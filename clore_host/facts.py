"""Facts: the frozen snapshot of the world that the policy decides from.

This module is the contract between the agent (which fills Facts from the API, the GPU
backend, the host and the history store) and the policy package (which reads nothing else).
It holds plain data only: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

RentalStatus = Literal["not_rented", "spot", "on_demand"]
RENTAL_STATUSES: tuple[RentalStatus, ...] = ("not_rented", "spot", "on_demand")

# Per-GPU metrics recorded in history and readable by window queries. Units:
# utilization and memory_utilization in %, temperature in C, power and power_limit in W,
# memory_used in MiB, fan in % (the highest of a card's fans), clocks in MHz.
GPU_METRICS: tuple[str, ...] = (
    "utilization",
    "memory_utilization",
    "temperature",
    "power",
    "power_limit",
    "memory_used",
    "fan",
    "sm_clock",
    "mem_clock",
)
AGGREGATES: tuple[str, ...] = ("avg", "min", "max", "p95")

# Throttle (clock-event) reasons, by name, as GPU backends report them.
THERMAL_THROTTLE_REASONS = frozenset({"sw_thermal", "hw_thermal", "hw_slowdown"})
POWER_THROTTLE_REASONS = frozenset({"sw_power_cap", "hw_power_brake"})


class Settings(NamedTuple):
    """The four server settings the agent manages (prices per day, whole server; mrl in hours)."""

    on_demand: float
    spot: float
    availability: bool
    mrl: int


SETTING_FIELDS: tuple[str, ...] = Settings._fields


class WindowKey(NamedTuple):
    """A windowed aggregate a policy asks for: e.g. ("utilization", "avg", 3600.0)."""

    metric: str
    agg: str
    seconds: float


@dataclass(frozen=True)
class GpuNow:
    """One GPU as read in this cycle. A metric the card does not report is None."""

    index: int
    lost: bool = False
    utilization: float | None = None
    memory_utilization: float | None = None
    temperature: float | None = None
    power: float | None = None
    power_limit: float | None = None
    memory_used: float | None = None
    fan: float | None = None
    sm_clock: float | None = None
    mem_clock: float | None = None
    throttle: frozenset[str] = frozenset()
    ecc_uncorrected: int | None = None
    pages_pending: bool | None = None


@dataclass(frozen=True)
class HostNow:
    """The host as read in this cycle (psutil)."""

    cpu_percent: float | None = None
    load1: float | None = None
    mem_percent: float | None = None
    disk_free_mib: float | None = None
    uptime_s: float | None = None


@dataclass(frozen=True)
class LocalTime:
    """Wall-clock time in the configured time zone."""

    hour: int
    minute: int
    weekday: int  # 0 = Monday ... 6 = Sunday

    @classmethod
    def at(cls, when: float, timezone: str) -> LocalTime:
        local = datetime.fromtimestamp(when, ZoneInfo(timezone))
        return cls(hour=local.hour, minute=local.minute, weekday=local.weekday())


@dataclass(frozen=True)
class Unknown:
    """Why an observed fact (market, costs) has no value this cycle, as data: a reason code
    and the values it names, e.g. Unknown("too_few_peers", (3, 5)). The policy's catalogue
    puts it into words (policy.catalogue.UNKNOWN_WORDS) where a plan is shown."""

    reason: str
    values: tuple[float | str, ...] = ()


# An observed fact: its value (a number: a price per day for the whole server in the
# server's currency, a count, a share, seconds) or why it is unknown.
Observed = float | Unknown


@dataclass(frozen=True)
class Facts:
    """Everything a policy may look at, for one decision."""

    now: float  # seconds since the epoch
    local: LocalTime
    rental_status: RentalStatus
    rental_status_for: float | None  # seconds in this rental status; None if unknown
    current: Settings
    expected_gpus: int
    gpus: tuple[GpuNow, ...]
    # Per-GPU aggregates by GPU index; a GPU absent (or None) has no data in the window. A
    # window absent altogether was not asked for.
    windows: Mapping[WindowKey, Mapping[int, float | None]] = field(default_factory=dict)
    idle_for: float | None = None  # seconds since any GPU last exceeded the idle threshold
    host: HostNow = HostNow()
    # Facts observed in their own rooms (market.*, spot.*, cost.*, fx.*, tariff.*), by their
    # catalogue name. A name absent is unknown too (its room was not read this cycle).
    observed: Mapping[str, Observed] = field(default_factory=dict)

    def number(self, name: str) -> float | None:
        """An observed fact's value, or None when it is unknown."""
        value = self.observed.get(name)
        return None if value is None or isinstance(value, Unknown) else value

    def why_unknown(self, name: str) -> Unknown | None:
        """Why an observed fact is unknown (None: it is known, or was not observed)."""
        value = self.observed.get(name)
        return value if isinstance(value, Unknown) else None


@dataclass(frozen=True)
class PriorState:
    """What the agent remembers between decisions (from the history store)."""

    last_price_change: float | None = None  # when on_demand or spot last changed
    availability_since: float | None = None  # when availability last changed
