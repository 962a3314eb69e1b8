"""The fact catalogue: every name a rule may read, its kind, and how it is read from Facts.

A reader returns None when the fact is unknown (no data); conditions on unknown facts are
false and the explanation says "no data". Nothing outside Facts reaches a policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..facts import (
    GPU_METRICS,
    POWER_THROTTLE_REASONS,
    THERMAL_THROTTLE_REASONS,
    Facts,
    WindowKey,
)
from ._units import fmt_number, fmt_price, format_duration

Kind = Literal["bool", "choice", "number", "count", "duration", "price", "hour", "weekday"]
Value = bool | str | int | float

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
GPU_SELECTORS: tuple[str, ...] = ("any", "all", "sum", "mean")

_RENTAL_WORDS = {
    "not_rented": "not rented",
    "spot": "rented on spot",
    "on_demand": "rented on demand",
}


@dataclass(frozen=True)
class FactSpec:
    """One entry of the catalogue."""

    name: str
    kind: Kind
    doc: str
    read: Callable[[Facts, float], Value | None]  # (facts, overheat_c) -> value or None
    label: str = ""  # explanation text before the value, e.g. "idle for"
    words: tuple[str, str] = ("", "")  # bool facts: text when true, when false
    detail: Callable[[Facts, float], str] | None = None  # which GPU, when a flag is raised

    def describe(self, value: Value | None, facts: Facts, overheat_c: float) -> str:
        if value is None:
            return f"{self.name} no data"
        if self.kind == "bool":
            if value and self.detail is not None:
                return f"{self.words[0]}: {self.detail(facts, overheat_c)}"
            return self.words[0] if value else self.words[1]
        if self.kind == "choice":
            return format_value(self.kind, value)
        return f"{self.label} {format_value(self.kind, value)}"


def format_value(kind: Kind, value: Value) -> str:
    if kind == "duration":
        return format_duration(float(value))
    if kind == "price":
        return fmt_price(float(value))
    if kind == "choice":
        return _RENTAL_WORDS.get(str(value), str(value))
    if kind == "weekday" and isinstance(value, int):
        return WEEKDAYS[value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    return str(value)


def _overheating(facts: Facts, overheat_c: float) -> bool | None:
    unknown = False
    live = False
    for gpu in facts.gpus:
        if gpu.lost:
            continue
        live = True
        if gpu.throttle & THERMAL_THROTTLE_REASONS:
            return True
        if gpu.temperature is None:
            unknown = True
        elif gpu.temperature >= overheat_c:
            return True
    # No reading from a live GPU means we cannot say it is cool.
    return None if unknown or not live else False


def _hot_gpus(facts: Facts, overheat_c: float) -> str:
    hot = []
    for gpu in facts.gpus:
        if gpu.lost:
            continue
        if gpu.temperature is not None and gpu.temperature >= overheat_c:
            hot.append(f"GPU {gpu.index} at {fmt_number(gpu.temperature)} C")
        elif gpu.throttle & THERMAL_THROTTLE_REASONS:
            hot.append(f"GPU {gpu.index} thermal throttling")
    return ", ".join(hot)


def _lost_gpus(facts: Facts, _: float) -> str:
    return ", ".join(f"GPU {g.index}" for g in facts.gpus if g.lost)


def _missing_gpus(facts: Facts, _: float) -> str:
    return f"{len(facts.gpus)} of {facts.expected_gpus} seen"


def _ecc(facts: Facts, _: float) -> bool:
    # Cards without ECC report None: they cannot raise the flag (documented).
    return any(
        (g.ecc_uncorrected or 0) > 0 or bool(g.pages_pending) for g in facts.gpus if not g.lost
    )


def _throttle(reasons: frozenset[str]) -> Callable[[Facts, float], bool]:
    def read(facts: Facts, _: float) -> bool:
        return any(g.throttle & reasons for g in facts.gpus if not g.lost)

    return read


def _spec(
    name: str,
    kind: Kind,
    doc: str,
    read: Callable[[Facts, float], Value | None],
    label: str = "",
    words: tuple[str, str] = ("", ""),
    detail: Callable[[Facts, float], str] | None = None,
) -> FactSpec:
    return FactSpec(name, kind, doc, read, label or name.replace("_", " "), words, detail)


FACTS: dict[str, FactSpec] = {
    s.name: s
    for s in (
        _spec(
            "rental_status",
            "choice",
            'who rents the server: "not_rented", "spot" or "on_demand"',
            lambda f, _: f.rental_status,
        ),
        _spec(
            "rented",
            "bool",
            "true while rented (spot or on demand)",
            lambda f, _: f.rental_status != "not_rented",
            words=("rented", "not rented"),
        ),
        _spec(
            "rental_status_for",
            "duration",
            "how long the server has been in its rental status",
            lambda f, _: f.rental_status_for,
            label="in this rental status for",
        ),
        _spec(
            "on_demand",
            "price",
            "the current on-demand price (per day, whole server)",
            lambda f, _: f.current.on_demand,
            label="on-demand price",
        ),
        _spec(
            "spot",
            "price",
            "the current spot minimum price (per day, whole server)",
            lambda f, _: f.current.spot,
            label="spot price",
        ),
        _spec(
            "availability",
            "bool",
            "true while the server is listed on the market",
            lambda f, _: f.current.availability,
            words=("listed", "not listed"),
        ),
        _spec(
            "mrl",
            "count",
            "the current maximum rental length, in hours",
            lambda f, _: f.current.mrl,
            label="mrl",
        ),
        _spec(
            "idle_for",
            "duration",
            "time since any GPU last exceeded idle_threshold utilisation",
            lambda f, _: f.idle_for,
            label="idle for",
        ),
        _spec("gpu_count", "count", "GPUs seen (lost ones included)", lambda f, _: len(f.gpus)),
        _spec(
            "expected_gpus",
            "count",
            "GPUs the config says the server has",
            lambda f, _: f.expected_gpus,
        ),
        _spec(
            "gpus_missing",
            "bool",
            "true when fewer GPUs are seen than expected",
            lambda f, _: len(f.gpus) < f.expected_gpus,
            words=("GPUs missing", "all expected GPUs seen"),
            detail=_missing_gpus,
        ),
        _spec(
            "gpu_lost",
            "bool",
            "true when a GPU has fallen off the bus or stopped answering",
            lambda f, _: any(g.lost for g in f.gpus),
            words=("a GPU lost", "no GPU lost"),
            detail=_lost_gpus,
        ),
        _spec(
            "overheating",
            "bool",
            "true when a GPU is at or above overheat_c or thermally throttled",
            _overheating,
            words=("overheating", "not overheating"),
            detail=_hot_gpus,
        ),
        _spec(
            "thermal_throttle",
            "bool",
            "true when a GPU slows its clocks for heat",
            _throttle(THERMAL_THROTTLE_REASONS),
            words=("thermal throttling", "no thermal throttling"),
        ),
        _spec(
            "power_throttle",
            "bool",
            "true when a GPU slows its clocks at its power cap",
            _throttle(POWER_THROTTLE_REASONS),
            words=("power throttling", "no power throttling"),
        ),
        _spec(
            "ecc_errors",
            "bool",
            "true when a GPU reports uncorrected ECC errors or retired pages pending",
            _ecc,
            words=("uncorrected ECC errors", "no ECC errors"),
        ),
        _spec(
            "host.cpu_percent",
            "number",
            "host CPU use, %",
            lambda f, _: f.host.cpu_percent,
            label="host CPU %",
        ),
        _spec(
            "host.load1",
            "number",
            "host load average over 1 minute",
            lambda f, _: f.host.load1,
            label="host load",
        ),
        _spec(
            "host.mem_percent",
            "number",
            "host memory in use, %",
            lambda f, _: f.host.mem_percent,
            label="host memory %",
        ),
        _spec(
            "host.disk_free_mib",
            "number",
            "free disk space, MiB",
            lambda f, _: f.host.disk_free_mib,
            label="host free disk MiB",
        ),
        _spec(
            "host.uptime",
            "duration",
            "time since the host booted",
            lambda f, _: f.host.uptime_s,
            label="host up for",
        ),
        _spec("hour", "hour", "local hour, 0-23", lambda f, _: f.local.hour),
        _spec(
            "weekday",
            "weekday",
            'local weekday, "mon".."sun" (or 0 = Monday .. 6 = Sunday)',
            lambda f, _: f.local.weekday,
        ),
    )
}


def gpu_values(facts: Facts, metric: str, key: WindowKey | None) -> Sequence[float | None]:
    """Per-GPU values of a metric: the window aggregate, or the current reading."""
    if key is not None:
        return facts.windows.get(key, ())
    return [None if g.lost else getattr(g, metric) for g in facts.gpus]


__all__ = [
    "FACTS",
    "GPU_METRICS",
    "GPU_SELECTORS",
    "WEEKDAYS",
    "FactSpec",
    "Kind",
    "Value",
    "format_value",
    "gpu_values",
]
