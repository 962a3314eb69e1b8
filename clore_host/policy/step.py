"""One decision step, the same for the agent, the backtest and the simulator.

    plan, memory = step(policy, observation, memory, samples)

An `Observation` is what one cycle reads (the server, the GPUs, the host, the facts observed
in their own rooms); `Samples` answers the history questions a policy asks (windows, idle
time, how much history there is): the agent's SQLite History, or the simulator's in-memory
samples. `Memory` is all the agent carries from one cycle to the next (when prices and
availability last changed, the rental status and since when). `facts_for` builds the Facts
from the three; `step` decides (make_plan) and returns the memory after the plan is applied.

Nothing here reads a clock or a file: the local time is derived from `now` and the time zone,
so the two cannot disagree. Observations serialise to JSON-able records and back exactly
(`observation_to_record`, `observation_from_record`), so a backtest replays what the agent
read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from ..facts import (
    GPU_METRICS,
    RENTAL_STATUSES,
    Facts,
    GpuNow,
    HostNow,
    LocalTime,
    Observed,
    PriorState,
    RentalStatus,
    Settings,
    Unknown,
    WindowKey,
)
from .compile import compiled
from .guard import make_plan
from .plan import Plan
from .schema import Policy

# A window counts as known once history covers this share of it: one missed sample at its
# start must not make it unknown, but "for 30 minutes" is not judged on 5 minutes of data.
WINDOW_COVERAGE = 0.9

RECORD_VERSION = 1


class Samples(Protocol):
    """The history questions a policy asks. clore_host.history.History answers them from
    SQLite; clore_host.simulate.samples.MemorySamples from memory, with the same meaning."""

    def window(self, key: WindowKey, now: float) -> Mapping[int, float | None]:
        """The aggregate over [now - key.seconds, now], by GPU index; a GPU without data in
        the window is absent."""
        ...

    def idle_for(self, threshold: float, now: float) -> float | None:
        """Seconds since any GPU's utilization last exceeded `threshold` (since the oldest
        utilization sample if it never did); None without any."""
        ...

    def coverage(self, now: float) -> float:
        """Seconds of history: now minus the oldest sample; 0 without any."""
        ...


@dataclass(frozen=True)
class Memory:
    """What the agent carries between cycles. Times are seconds since the epoch.

    last_price_change and availability_since are when a write that changed them landed;
    rental_status and rental_status_since are the status last seen and since when it has been
    seen (None: never seen, so how long is unknown).
    """

    last_price_change: float | None = None
    availability_since: float | None = None
    rental_status: RentalStatus | None = None
    rental_status_since: float | None = None

    @property
    def prior(self) -> PriorState:
        """The rails' view of the memory."""
        return PriorState(
            last_price_change=self.last_price_change, availability_since=self.availability_since
        )

    def rental_status_for(self, status: RentalStatus, now: float) -> float | None:
        """Seconds in `status` as far as this memory has seen it; None on first sight."""
        if status != self.rental_status or self.rental_status_since is None:
            return None
        return max(0.0, now - self.rental_status_since)

    def seeing(self, status: RentalStatus, now: float) -> Memory:
        """The memory once `status` is seen at `now` (a new status starts its clock). This part
        is an observation: it holds whether or not a write follows."""
        if status == self.rental_status and self.rental_status_since is not None:
            return self
        return Memory(self.last_price_change, self.availability_since, status, now)

    def after(self, plan: Plan, applied_at: float) -> Memory:
        """The memory once `plan`'s write has landed at `applied_at` (unchanged if the plan
        changes nothing). A price change is either price moving, as history.prior_state
        reads the audit trail."""
        current, target = plan.current, plan.target
        price = self.last_price_change
        if target.on_demand != current.on_demand or target.spot != current.spot:
            price = applied_at
        since = self.availability_since
        if target.availability != current.availability:
            since = applied_at
        if price == self.last_price_change and since == self.availability_since:
            return self
        return Memory(price, since, self.rental_status, self.rental_status_since)


@dataclass(frozen=True)
class Observation:
    """What one cycle reads: the time, the configured time zone (IANA name), the server's
    rental status and settings, the GPUs and the host, and the facts observed in their own
    rooms (market.*, spot.*, cost.*, ... by catalogue name)."""

    now: float
    timezone: str
    rental_status: RentalStatus
    current: Settings
    expected_gpus: int
    gpus: tuple[GpuNow, ...]
    host: HostNow = field(default_factory=HostNow)
    observed: Mapping[str, Observed] = field(default_factory=dict)


def facts_for(policy: Policy, observation: Observation, memory: Memory, samples: Samples) -> Facts:
    """The Facts of one decision: the observation, the windows the policy's rules name (each
    unknown until history covers WINDOW_COVERAGE of it), idle time at the policy's
    idle_threshold, and how long the server has been in its rental status (from `memory`)."""
    now = observation.now
    gpus = observation.gpus
    windows: dict[WindowKey, Mapping[int, float | None]] = {}
    keys = compiled(policy).window_keys  # kept with the policy: walked once
    if keys:
        span = samples.coverage(now)
        for key in keys:
            if span < key.seconds * WINDOW_COVERAGE:
                # A window reaching back past the first sample would judge "for 30 minutes"
                # on minutes of data: unknown, so no rule acts on it (a young history).
                windows[key] = {}
                continue
            windows[key] = samples.window(key, now)
    return Facts(
        now=now,
        local=LocalTime.at(now, observation.timezone),
        rental_status=observation.rental_status,
        rental_status_for=memory.rental_status_for(observation.rental_status, now),
        current=observation.current,
        expected_gpus=observation.expected_gpus,
        gpus=gpus,
        windows=windows,
        idle_for=samples.idle_for(policy.idle_threshold, now),
        host=observation.host,
        observed=observation.observed,
    )


@dataclass(frozen=True)
class Decision:
    """One step: the facts decided from, the plan, and the memory once the plan is applied."""

    facts: Facts
    plan: Plan
    memory: Memory


def take_step(
    policy: Policy,
    observation: Observation,
    memory: Memory,
    samples: Samples,
    *,
    applied_at: float | None = None,
) -> Decision:
    """One decision: the facts, the plan (decide + guard) and the memory after it is applied.

    The returned memory has seen this observation's rental status and assumes the plan's
    write landed at `applied_at` (default: the observation's time). The agent adopts it only
    once its write has landed (history's audit trail is its memory; when a write fails, only
    the rental status part holds: `memory.seeing(...)`); the simulator and the backtest
    adopt it at once.
    """
    facts = facts_for(policy, observation, memory, samples)
    plan = make_plan(policy, facts, memory.prior)
    seen = memory.seeing(observation.rental_status, observation.now)
    landed = observation.now if applied_at is None else applied_at
    return Decision(facts, plan, seen.after(plan, landed))


def step(
    policy: Policy,
    observation: Observation,
    memory: Memory,
    samples: Samples,
    *,
    applied_at: float | None = None,
) -> tuple[Plan, Memory]:
    """take_step's plan and memory (the simulator's and the backtest's form)."""
    decision = take_step(policy, observation, memory, samples, applied_at=applied_at)
    return decision.plan, decision.memory


# --- records: an observation as JSON-able data, and back ---------------------------------


class RecordError(ValueError):
    """A record that is not an observation (or memory) this module wrote; the message names
    the place in the record, e.g. `gpus[1].temperature: not a number`."""


_GPU_FIELDS = tuple(f.name for f in fields(GpuNow))
_HOST_FIELDS = tuple(f.name for f in fields(HostNow))
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _num(value: float) -> float | str:
    """A number as JSON holds it; a non-finite one (an implausible reading the plan blocks
    on) as a string, since JSON has no NaN or infinity."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def observation_to_record(obs: Observation, memory: Memory | None = None) -> dict[str, Any]:
    """`obs` as a JSON-able dict (floats exact through json.dumps/loads); with `memory`, the
    memory the cycle decided with as well (a backtest starts from it). Fields at their
    defaults (None readings, no throttle) are left out, so records stay compact."""
    gpus = []
    for gpu in obs.gpus:
        item: dict[str, Any] = {"index": gpu.index}
        if gpu.lost:
            item["lost"] = True
        for name in GPU_METRICS:
            value = getattr(gpu, name)
            if value is not None:
                item[name] = _num(value)
        if gpu.throttle:
            item["throttle"] = sorted(gpu.throttle)
        if gpu.ecc_uncorrected is not None:
            item["ecc_uncorrected"] = gpu.ecc_uncorrected
        if gpu.pages_pending is not None:
            item["pages_pending"] = gpu.pages_pending
        gpus.append(item)
    host = {
        name: _num(value) for name in _HOST_FIELDS if (value := getattr(obs.host, name)) is not None
    }
    observed: dict[str, Any] = {}
    for name, value in obs.observed.items():
        if isinstance(value, Unknown):
            observed[name] = {
                "unknown": value.reason,
                "values": [v if isinstance(v, str) else _num(v) for v in value.values],
            }
        else:
            observed[name] = _num(value)
    current = obs.current
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "now": _num(obs.now),
        "timezone": obs.timezone,
        "rental_status": obs.rental_status,
        "current": {
            "on_demand": _num(current.on_demand),
            "spot": _num(current.spot),
            "availability": current.availability,
            "mrl": current.mrl,
        },
        "expected_gpus": obs.expected_gpus,
        "gpus": gpus,
        "host": host,
        "observed": observed,
    }
    if memory is not None:
        record["memory"] = memory_to_record(memory)
    return record


def memory_to_record(memory: Memory) -> dict[str, Any]:
    return {
        "last_price_change": _opt_num(memory.last_price_change),
        "availability_since": _opt_num(memory.availability_since),
        "rental_status": memory.rental_status,
        "rental_status_since": _opt_num(memory.rental_status_since),
    }


def _opt_num(value: float | None) -> float | str | None:
    return None if value is None else _num(value)


def observation_from_record(record: Any) -> Observation:
    """The Observation `observation_to_record` made; RecordError naming the place otherwise."""
    r = _Reader(record, "")
    version = r.item("v").integer()
    if version != RECORD_VERSION:
        raise RecordError(f"v: unsupported record version {version}")
    current = r.item("current")
    gpus = []
    for g in r.item("gpus").items():
        gpus.append(
            GpuNow(
                index=g.item("index").integer(),
                lost=g.get("lost").boolean() if g.has("lost") else False,
                **{m: g.get(m).number_or_none() for m in GPU_METRICS},
                throttle=frozenset(t.text() for t in g.item("throttle").items())
                if g.has("throttle")
                else frozenset(),
                ecc_uncorrected=g.get("ecc_uncorrected").integer_or_none(),
                pages_pending=g.get("pages_pending").boolean_or_none(),
            )
        )
        g.only(_GPU_FIELDS)
    host = r.item("host")
    host.only(_HOST_FIELDS)
    observed: dict[str, Observed] = {}
    for name, value in r.item("observed").entries():
        if isinstance(value.value, dict):
            value.only(("unknown", "values"))
            values = tuple(
                v.value if isinstance(v.value, str) else v.number()
                for v in value.item("values").items()
            )
            observed[name] = Unknown(value.item("unknown").text(), values)
        else:
            observed[name] = value.number()
    status = r.item("rental_status").text()
    if status not in RENTAL_STATUSES:
        raise RecordError(f"rental_status: unknown status {status!r}")
    r.only(
        (
            "v",
            "now",
            "timezone",
            "rental_status",
            "current",
            "expected_gpus",
            "gpus",
            "host",
            "observed",
            "memory",
        )
    )
    current.only(Settings._fields)
    return Observation(
        now=r.item("now").number(),
        timezone=r.item("timezone").text(),
        rental_status=_status(status),
        current=Settings(
            current.item("on_demand").number(),
            current.item("spot").number(),
            current.item("availability").boolean(),
            current.item("mrl").integer(),
        ),
        expected_gpus=r.item("expected_gpus").integer(),
        gpus=tuple(gpus),
        host=HostNow(**{name: host.get(name).number_or_none() for name in _HOST_FIELDS}),
        observed=observed,
    )


def memory_from_record(record: Any) -> Memory | None:
    """The memory an observation record carries (see observation_to_record), or None."""
    r = _Reader(record, "")
    if not r.has("memory"):
        return None
    m = r.item("memory")
    m.only(("last_price_change", "availability_since", "rental_status", "rental_status_since"))
    status = m.get("rental_status")
    seen = None if status.value is None else status.text()
    if seen is not None and seen not in RENTAL_STATUSES:
        raise RecordError(f"memory.rental_status: unknown status {seen!r}")
    return Memory(
        last_price_change=m.get("last_price_change").number_or_none(),
        availability_since=m.get("availability_since").number_or_none(),
        rental_status=None if seen is None else _status(seen),
        rental_status_since=m.get("rental_status_since").number_or_none(),
    )


def _status(text: str) -> RentalStatus:
    for status in RENTAL_STATUSES:
        if status == text:
            return status
    raise RecordError(f"unknown rental status {text!r}")


class _Reader:
    """A value of a record and its place in it, read strictly (no conversions)."""

    def __init__(self, value: Any, where: str) -> None:
        self.value = value
        self.where = where

    def _fail(self, what: str) -> RecordError:
        return RecordError(f"{self.where or 'record'}: {what}")

    def _mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self._fail("not an object")
        return self.value

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self._mapping()

    def item(self, key: str) -> _Reader:
        mapping = self._mapping()
        if key not in mapping:
            raise RecordError(f"{self._at(key)}: missing")
        return _Reader(mapping[key], self._at(key))

    def get(self, key: str) -> _Reader:
        return _Reader(self._mapping().get(key), self._at(key))

    def only(self, keys: tuple[str, ...]) -> None:
        extra = sorted(set(self._mapping()) - set(keys))
        if extra:
            raise self._fail(f"unknown key {extra[0]!r}")

    def entries(self) -> list[tuple[str, _Reader]]:
        return [(k, _Reader(v, self._at(k))) for k, v in self._mapping().items()]

    def items(self) -> list[_Reader]:
        if not isinstance(self.value, list):
            raise self._fail("not a list")
        return [_Reader(v, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def number(self) -> float:
        value = self.value
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail("not a number")
        return value

    def number_or_none(self) -> float | None:
        return None if self.value is None else self.number()

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._fail("not an integer")
        return self.value

    def integer_or_none(self) -> int | None:
        return None if self.value is None else self.integer()

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._fail("not true or false")
        return self.value

    def boolean_or_none(self) -> bool | None:
        return None if self.value is None else self.boolean()

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("not a string")
        return self.value


__all__ = [
    "RECORD_VERSION",
    "WINDOW_COVERAGE",
    "Memory",
    "Observation",
    "RecordError",
    "Samples",
    "facts_for",
    "memory_from_record",
    "memory_to_record",
    "observation_from_record",
    "observation_to_record",
    "step",
]
