"""Scenario files for the fake GPU backend: GPUs, metric traces over time, and faults.

A scenario is plain data plus pure functions of time: the same scenario, seed and time give
the same readings, whatever was read before (noise is a hash of seed, GPU, metric and time,
not a random generator's state). Times are durations from the scenario's start ("90m", "6h",
or seconds). See scenarios/*.toml for commented examples.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ..config import load_toml
from ..config.paths import resolve_shipped
from ..duration import parse_duration
from ..facts import GPU_METRICS
from ..gpu.base import THROTTLE_REASONS, GpuReading
from ..issues import InputFileError, issues_from_validation

# Metrics with a numeric trace. "fan" applies to each of the card's fans.
TRACED: tuple[str, ...] = GPU_METRICS
DISCRETE: tuple[str, ...] = ("pstate", "throttle", "ecc_uncorrected", "pages_pending")
METRICS: tuple[str, ...] = (*TRACED, "memory_total", *DISCRETE)
_PERCENT = frozenset({"utilization", "memory_utilization", "fan"})
# NVML reports these as whole numbers; the fake does the same.
WHOLE = frozenset(
    {"utilization", "memory_utilization", "temperature", "fan", "sm_clock", "mem_clock"}
)

FaultKind = Literal[
    "gpu_lost", "library_not_found", "driver_not_loaded", "metric_not_supported", "hang"
]


Time = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Ramp(_Model):
    start_value: float = Field(alias="from")
    end_value: float = Field(alias="to")
    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> Ramp:
        if self.end <= self.start:
            raise ValueError("ramp end must be after its start")
        return self


class Noise(_Model):
    base: float
    amplitude: float = Field(ge=0)


class Trace(_Model):
    """A metric over time: exactly one of constant, steps, ramp, noise; plus optional jitter."""

    constant: float | None = None
    steps: list[tuple[Time, float]] | None = Field(default=None, min_length=1)
    ramp: Ramp | None = None
    noise: Noise | None = None
    jitter: float = Field(default=0.0, ge=0)  # deterministic noise of this amplitude on top

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"constant": value}
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> Trace:
        shapes = [self.constant, self.steps, self.ramp, self.noise]
        if sum(s is not None for s in shapes) != 1:
            raise ValueError(
                "give a number or exactly one of constant, steps, ramp, noise "
                '(e.g. { steps = [[0, 5], ["10h", 95]] })'
            )
        if self.steps is not None:
            _check_step_times([t for t, _ in self.steps])
        return self

    def value_at(self, t: float) -> tuple[float, float]:
        """(base value, noise amplitude) at time t."""
        if self.constant is not None:
            return self.constant, self.jitter
        if self.noise is not None:
            return self.noise.base, self.noise.amplitude + self.jitter
        if self.ramp is not None:
            r = self.ramp
            frac = min(1.0, max(0.0, (t - r.start) / (r.end - r.start)))
            return r.start_value + (r.end_value - r.start_value) * frac, self.jitter
        assert self.steps is not None
        return step_value(self.steps, t), self.jitter


def _check_step_times(times: list[float]) -> None:
    if any(b < a for a, b in itertools.pairwise(times)):
        raise ValueError("step times must be in increasing order")


def step_value(steps: Sequence[tuple[float, Any]], t: float) -> Any:
    """The value of the last step at or before t (the first step's value before it)."""
    i = bisect.bisect_right(steps, t, key=lambda step: step[0]) - 1
    return steps[max(i, 0)][1]


def _throttle_name(value: str) -> str:
    if value not in THROTTLE_REASONS:
        known = ", ".join(sorted(THROTTLE_REASONS))
        raise ValueError(f"unknown throttle reason {value!r}; known: {known}")
    return value


def _as_steps(value: Any) -> Any:
    """A constant becomes one step at time 0; steps [[time, value], ...] pass through."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [[0, value]]  # a constant set of throttle reasons
    if isinstance(value, list):
        raise ValueError("expected a value or steps [[time, value], ...]")
    return [[0, value]]


ThrottleName = Annotated[str, AfterValidator(_throttle_name)]
Pstate = Annotated[int, Field(ge=0, le=15)]
Count = Annotated[int, Field(ge=0)]
PstateSteps = Annotated[list[tuple[Time, Pstate]], BeforeValidator(_as_steps), Field(min_length=1)]
ThrottleSteps = Annotated[
    list[tuple[Time, list[ThrottleName]]], BeforeValidator(_as_steps), Field(min_length=1)
]
CountSteps = Annotated[list[tuple[Time, Count]], BeforeValidator(_as_steps), Field(min_length=1)]
FlagSteps = Annotated[list[tuple[Time, bool]], BeforeValidator(_as_steps), Field(min_length=1)]


class GpuSpec(_Model):
    """One GPU (or, under [defaults], what every GPU has unless it says otherwise)."""

    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total: float | None = Field(default=None, gt=0)  # MiB
    fans: int | None = Field(default=None, ge=0, le=8)  # how many fans the card reports
    utilization: Trace | None = None
    memory_utilization: Trace | None = None
    temperature: Trace | None = None
    power: Trace | None = None
    power_limit: Trace | None = None
    memory_used: Trace | None = None
    fan: Trace | None = None
    sm_clock: Trace | None = None
    mem_clock: Trace | None = None
    pstate: PstateSteps | None = None
    throttle: ThrottleSteps | None = None
    ecc_uncorrected: CountSteps | None = None
    pages_pending: FlagSteps | None = None

    @model_validator(mode="after")
    def _ordered(self) -> GpuSpec:
        for name in DISCRETE:
            steps = getattr(self, name)
            if steps is not None:
                _check_step_times([t for t, _ in steps])
        return self


class Fault(_Model):
    kind: FaultKind
    at: Time = 0.0
    until: Time | None = None
    gpu: int | None = Field(default=None, ge=0)
    metric: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if self.until is not None and self.until <= self.at:
            raise ValueError("until must be after at")
        needs_gpu = self.kind in ("gpu_lost", "metric_not_supported")
        if needs_gpu and self.gpu is None:
            raise ValueError(f"a {self.kind} fault needs `gpu` (the GPU's index)")
        if not needs_gpu and self.gpu is not None:
            raise ValueError(f"a {self.kind} fault affects the whole backend: remove `gpu`")
        if self.kind == "metric_not_supported":
            if self.metric not in METRICS:
                raise ValueError(f"`metric` must be one of: {', '.join(METRICS)}")
        elif self.metric is not None:
            raise ValueError("`metric` is only for metric_not_supported faults")
        return self

    def active(self, t: float) -> bool:
        return self.at <= t and (self.until is None or t < self.until)


class Scenario(_Model):
    driver_version: str | None = None
    seed: int = 0
    defaults: GpuSpec = GpuSpec()
    gpu: list[GpuSpec] = Field(min_length=1, max_length=64)
    fault: list[Fault] = []

    @model_validator(mode="after")
    def _gpus_exist(self) -> Scenario:
        for fault in self.fault:
            if fault.gpu is not None and fault.gpu >= len(self.gpu):
                raise ValueError(
                    f"a {fault.kind} fault names gpu {fault.gpu}, "
                    f"but the scenario has {len(self.gpu)} GPU(s) (indexes from 0)"
                )
        return self

    def faults_at(self, t: float, kind: FaultKind) -> list[Fault]:
        return [f for f in self.fault if f.kind == kind and f.active(t)]

    def readings_at(self, t: float) -> tuple[GpuReading, ...]:
        """Every GPU at scenario time t (faults of kind gpu_lost/metric_not_supported applied)."""
        lost = {f.gpu for f in self.faults_at(t, "gpu_lost")}
        missing: dict[int, set[str]] = {}
        for f in self.faults_at(t, "metric_not_supported"):
            assert f.gpu is not None and f.metric is not None  # checked on load
            missing.setdefault(f.gpu, set()).add(f.metric)
        return tuple(
            GpuReading(index=i, lost=True, error="GPU is lost")
            if i in lost
            else self._reading(i, t, missing.get(i, set()))
            for i in range(len(self.gpu))
        )

    def _reading(self, index: int, t: float, missing: set[str]) -> GpuReading:
        spec = self.gpu[index]

        def pick(name: str) -> Any:
            if name in missing:
                return None
            own = getattr(spec, name)
            return own if own is not None else getattr(self.defaults, name)

        memory_total = pick("memory_total")
        values: dict[str, float | None] = {}
        for name in TRACED:
            trace: Trace | None = pick(name)
            if trace is None:
                values[name] = None
                continue
            base, amplitude = trace.value_at(t)
            value = base + amplitude * _unit_noise(self.seed, index, name, t)
            values[name] = _tidy(name, value, memory_total)
        fan_count = 1 if pick("fans") is None else pick("fans")
        fan = values.pop("fan")
        steps = {name: pick(name) for name in DISCRETE}
        at = {name: None if s is None else step_value(s, t) for name, s in steps.items()}
        return GpuReading(
            index=index,
            uuid=pick("uuid") or _fake_uuid(self.seed, index),
            name=pick("name") or "Fake GPU",
            pci_bus_id=pick("pci_bus_id") or f"00000000:{index + 1:02X}:00.0",
            memory_total=memory_total,
            fans=() if fan is None else (fan,) * fan_count,
            pstate=at["pstate"],
            throttle=frozenset(at["throttle"] or ()),
            ecc_uncorrected=at["ecc_uncorrected"],
            pages_pending=at["pages_pending"],
            utilization=values["utilization"],
            memory_utilization=values["memory_utilization"],
            temperature=values["temperature"],
            power=values["power"],
            power_limit=values["power_limit"],
            memory_used=values["memory_used"],
            sm_clock=values["sm_clock"],
            mem_clock=values["mem_clock"],
        )


def _unit_noise(seed: int, index: int, metric: str, t: float) -> float:
    """A deterministic value in [-1, 1] for (seed, GPU, metric, time to the millisecond)."""
    key = f"{seed}:{index}:{metric}:{round(t * 1000)}".encode()
    n = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return n / 2**63 - 1.0


def _tidy(name: str, value: float, memory_total: float | None) -> float:
    value = max(0.0, value)
    if name in _PERCENT:
        value = min(100.0, value)
    if name == "memory_used" and memory_total is not None:
        value = min(memory_total, value)
    if name in WHOLE:
        return float(round(value))
    return round(value, 3)


def _fake_uuid(seed: int, index: int) -> str:
    digest = hashlib.blake2b(f"clore-host-fake:{seed}:{index}".encode(), digest_size=16).digest()
    return f"GPU-{uuid.UUID(bytes=digest)}"


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file, or a shipped one by name ("idle-rig"); raises
    InputFileError naming every problem."""
    path = resolve_shipped(path, "scenarios")
    data = load_toml(path, "scenario")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputFileError("scenario", path, issues_from_validation(exc)) from None
