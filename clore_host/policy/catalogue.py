"""The fact catalogue: every name a rule may read, its kind, and how it is read and shown.

A reader returns None when the fact is unknown (no data); conditions on unknown facts are
false and the explanation says "no data". Nothing outside Facts reaches a policy. A fact that
depends on a threshold of the policy gets it once, when the policy is compiled (`FactSpec.bind`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ..facts import (
    GPU_METRICS,
    POWER_THROTTLE_REASONS,
    THERMAL_THROTTLE_REASONS,
    Facts,
    Unknown,
    WindowKey,
)
from ._units import fmt_number, format_duration, format_price

Kind = Literal["bool", "choice", "number", "count", "duration", "price", "hour", "weekday"]
Value = bool | str | int | float
# Which GPUs raised a flag, as data: see each flag's reader below and its `say_detail`.
Detail = tuple[Any, ...]
Reader = Callable[[Facts], Value | None]

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


class Thresholds(NamedTuple):
    """The policy's thresholds. `overheat_c` is bound into the `overheating` fact when the
    policy is compiled; `idle_threshold` is where the agent measures `idle_for` from history."""

    idle_threshold: float  # % utilisation
    overheat_c: float


@dataclass(frozen=True)
class BoundFact:
    """A fact's reader with the policy's thresholds bound in, and its flag detail."""

    read: Reader
    detail: Callable[[Facts], Detail] | None = None  # which GPUs, when a flag is raised


@dataclass(frozen=True)
class FactSpec:
    """One entry of the catalogue."""

    name: str
    kind: Kind
    doc: str
    bind: Callable[[Thresholds], BoundFact]  # called once per condition, at compile time
    label: str = ""  # explanation text before the value, e.g. "idle for"
    words: tuple[str, str] = ("", "")  # bool facts: text when true, when false
    say_detail: Callable[[Detail], str] | None = None  # the detail in words
    observed: bool = False  # observed in its own room (market, costs): Facts.observed

    def describe(self, value: Value | None, detail: Detail = ()) -> str:
        """The fact's value as shown in a plan line (no data: with why, when known)."""
        if value is None:
            return f"{self.name} no data{_why_suffix(detail)}"
        if self.kind == "bool":
            if value and self.say_detail is not None:
                return f"{self.words[0]}: {self.say_detail(detail)}"
            return self.words[0] if value else self.words[1]
        if self.kind == "choice":
            return format_value(self.kind, value)
        return f"{self.label} {format_value(self.kind, value)}"


def format_value(kind: Kind, value: Value) -> str:
    if kind == "duration":
        return format_duration(float(value))
    if kind == "price":
        return format_price(float(value))
    if kind == "choice":
        return _RENTAL_WORDS.get(str(value), str(value))
    if kind == "weekday" and isinstance(value, int):
        return WEEKDAYS[value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    return str(value)


def _overheating(thresholds: Thresholds) -> BoundFact:
    limit = thresholds.overheat_c

    def read(facts: Facts) -> bool | None:
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
            elif gpu.temperature >= limit:
                return True
        # No reading from a live GPU means we cannot say it is cool.
        return None if unknown or not live else False

    def hot(facts: Facts) -> Detail:
        """(index, temperature) of each hot GPU; temperature None: thermally throttling."""
        out: list[tuple[int, float | None]] = []
        for gpu in facts.gpus:
            if gpu.lost:
                continue
            if gpu.temperature is not None and gpu.temperature >= limit:
                out.append((gpu.index, gpu.temperature))
            elif gpu.throttle & THERMAL_THROTTLE_REASONS:
                out.append((gpu.index, None))
        return tuple(out)

    return BoundFact(read, hot)


def _say_hot(detail: Detail) -> str:
    return ", ".join(
        f"GPU {index} thermal throttling" if t is None else f"GPU {index} at {fmt_number(t)} C"
        for index, t in detail
    )


def _lost_gpus(facts: Facts) -> Detail:
    return tuple(g.index for g in facts.gpus if g.lost)


def _say_lost(detail: Detail) -> str:
    return ", ".join(f"GPU {index}" for index in detail)


def _missing_gpus(facts: Facts) -> Detail:
    return (len(facts.gpus), facts.expected_gpus)


def _say_missing(detail: Detail) -> str:
    seen, expected = detail
    return f"{seen} of {expected} seen"


def _ecc(facts: Facts) -> bool:
    # Cards without ECC report None: they cannot raise the flag (documented).
    return any(
        (g.ecc_uncorrected or 0) > 0 or bool(g.pages_pending) for g in facts.gpus if not g.lost
    )


def _throttle(reasons: frozenset[str]) -> Reader:
    def read(facts: Facts) -> bool:
        return any(g.throttle & reasons for g in facts.gpus if not g.lost)

    return read


def _spec(
    name: str,
    kind: Kind,
    doc: str,
    read: Reader | None = None,
    label: str = "",
    words: tuple[str, str] = ("", ""),
    detail: Callable[[Facts], Detail] | None = None,
    say_detail: Callable[[Detail], str] | None = None,
    bind: Callable[[Thresholds], BoundFact] | None = None,
) -> FactSpec:
    """A catalogue entry; a fact that reads no threshold gives `read`, one that does `bind`."""
    if bind is None:
        assert read is not None
        bind = _fixed(BoundFact(read, detail))
    return FactSpec(name, kind, doc, bind, label or name.replace("_", " "), words, say_detail)


def _fixed(bound: BoundFact) -> Callable[[Thresholds], BoundFact]:
    return lambda _: bound


# --- facts observed in their own rooms (market, costs) -----------------------------------

# Why an observed fact is unknown (facts.Unknown), in words: reason -> words of its values.
UNKNOWN_WORDS: dict[str, Callable[[tuple[float | str, ...]], str]] = {
    "not_observed": lambda v: "not observed this cycle",
    "not_configured": lambda v: f"{v[0]} not configured",
    "too_few_peers": lambda v: f"{_n(v[0])} peers, need {_n(v[1])}",
    "stale": lambda v: f"{_d(v[0])} old, at most {_d(v[1])}",
    "unreadable": lambda v: f"{v[0]} unreadable",
    "read_failed": lambda v: f"{v[0]} failed: {v[1]}",
    "no_class": lambda v: f"this server's GPU class unknown: {v[0]}",
    "not_listed": lambda v: "this server has no price to rank",
    "no_offers": lambda v: "no active spot offers",
    "rate_unknown": lambda v: f"{v[0]} rate unknown: {v[1]}",
    "rate_rejected": lambda v: f"{v[0]} rate {v[1]} rejected: {v[2]}",
    "power_unknown": lambda v: f"power unknown: {v[0]}",
    "above_ceiling": lambda v: f"{_p(v[0])} above the ceiling {_p(v[1])}",
}


def _n(value: float | str) -> str:
    return fmt_number(value) if isinstance(value, (int, float)) else str(value)


def _d(value: float | str) -> str:
    return format_duration(value) if isinstance(value, (int, float)) else str(value)


def _p(value: float | str) -> str:
    return format_price(value) if isinstance(value, (int, float)) else str(value)


def unknown_words(unknown: Unknown) -> str:
    """Why an observed fact is unknown, in words; a reason this table lacks is shown as data."""
    say = UNKNOWN_WORDS.get(unknown.reason)
    if say is not None:
        try:
            return say(unknown.values)
        except (IndexError, TypeError, ValueError):
            pass  # values not of the reason's shape: shown as they are
    shown = ", ".join(_n(v) for v in unknown.values)
    return f"{unknown.reason}: {shown}" if shown else unknown.reason


def unknown_detail(facts: Facts, name: str) -> Detail:
    """Why the observed fact `name` is unknown, as a FactSeen detail: (Unknown,) or ()."""
    why = facts.why_unknown(name)
    return (why,) if why is not None else ()


def _why_suffix(detail: Detail) -> str:
    if len(detail) == 1 and isinstance(detail[0], Unknown):
        return f" ({unknown_words(detail[0])})"
    return ""


def _observed(name: str, kind: Kind, doc: str, label: str) -> FactSpec:
    def read(facts: Facts) -> float | None:
        return facts.number(name)

    return FactSpec(name, kind, doc, _fixed(BoundFact(read)), label, observed=True)


_PERCENTILES = ("p10", "p25", "p50", "p75", "p90")
OBSERVED_FACTS: tuple[FactSpec, ...] = (
    _observed(
        "market.peers",
        "count",
        "distinct owners of servers of this class counted in the market statistics",
        "market peers",
    ),
    *(
        _observed(
            f"market.{kind}.{p}",
            "price",
            f"the peers' {words} price, {p[1:]}th percentile (per day, this server's GPU count)",
            f"market {words} {p}",
        )
        for kind, words in (("on_demand", "on-demand"), ("spot", "spot"))
        for p in _PERCENTILES
    ),
    _observed(
        "market.rented_share",
        "number",
        "the share of peers rented, 0 to 1 (each owner weighing the same)",
        "market rented share",
    ),
    _observed(
        "market.rank",
        "number",
        "this server's on-demand price as a percentile among its peers, 0 to 100",
        "market rank",
    ),
    _observed("market.age", "duration", "how old the market summary is", "market summary age"),
    _observed("spot.offers", "count", "active spot offers on this server", "spot offers"),
    _observed("spot.best_bid", "price", "the best active spot bid on this server", "best bid"),
    _observed(
        "cost.per_day",
        "price",
        "what the rig costs a day (power over the horizon, fixed costs), listing currency",
        "cost per day",
    ),
    _observed(
        "cost.floor.on_demand",
        "price",
        "the on-demand price that nets cost.per_day after the host fees",
        "on-demand cost floor",
    ),
    _observed(
        "cost.floor.spot",
        "price",
        "the spot price that nets cost.per_day after the host fees",
        "spot cost floor",
    ),
    _observed("cost.power_w", "number", "the power figure the cost is based on, W", "power W"),
    _observed("fx.bitcoin_usd", "number", "the bitcoin to USD rate in use", "BTC/USD"),
    _observed("fx.eur_usd", "number", "the EUR to USD rate in use", "EUR/USD"),
    _observed(
        "tariff.now", "number", "the electricity price per kWh now, in its currency", "tariff"
    ),
)


FACTS: dict[str, FactSpec] = {
    s.name: s
    for s in (
        _spec(
            "rental_status",
            "choice",
            'who rents the server: "not_rented", "spot" or "on_demand"',
            lambda f: f.rental_status,
        ),
        _spec(
            "rented",
            "bool",
            "true while rented (spot or on demand)",
            lambda f: f.rental_status != "not_rented",
            words=("rented", "not rented"),
        ),
        _spec(
            "rental_status_for",
            "duration",
            "how long the server has been in its rental status",
            lambda f: f.rental_status_for,
            label="in this rental status for",
        ),
        _spec(
            "on_demand",
            "price",
            "the current on-demand price (per day, whole server)",
            lambda f: f.current.on_demand,
            label="on-demand price",
        ),
        _spec(
            "spot",
            "price",
            "the current spot minimum price (per day, whole server)",
            lambda f: f.current.spot,
            label="spot price",
        ),
        _spec(
            "availability",
            "bool",
            "true while the server is listed on the market",
            lambda f: f.current.availability,
            words=("listed", "not listed"),
        ),
        _spec(
            "mrl",
            "count",
            "the current maximum rental length, in hours",
            lambda f: f.current.mrl,
            label="mrl",
        ),
        _spec(
            "idle_for",
            "duration",
            "time since any GPU last exceeded idle_threshold utilisation",
            lambda f: f.idle_for,
            label="idle for",
        ),
        _spec("gpu_count", "count", "GPUs seen (lost ones included)", lambda f: len(f.gpus)),
        _spec(
            "expected_gpus",
            "count",
            "GPUs the config says the server has",
            lambda f: f.expected_gpus,
        ),
        _spec(
            "gpus_missing",
            "bool",
            "true when fewer GPUs are seen than expected",
            lambda f: len(f.gpus) < f.expected_gpus,
            words=("GPUs missing", "all expected GPUs seen"),
            detail=_missing_gpus,
            say_detail=_say_missing,
        ),
        _spec(
            "gpu_lost",
            "bool",
            "true when a GPU has fallen off the bus or stopped answering",
            lambda f: any(g.lost for g in f.gpus),
            words=("a GPU lost", "no GPU lost"),
            detail=_lost_gpus,
            say_detail=_say_lost,
        ),
        _spec(
            "overheating",
            "bool",
            "true when a GPU is at or above overheat_c or thermally throttled",
            words=("overheating", "not overheating"),
            say_detail=_say_hot,
            bind=_overheating,
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
            lambda f: f.host.cpu_percent,
            label="host CPU %",
        ),
        _spec(
            "host.load1",
            "number",
            "host load average over 1 minute",
            lambda f: f.host.load1,
            label="host load",
        ),
        _spec(
            "host.mem_percent",
            "number",
            "host memory in use, %",
            lambda f: f.host.mem_percent,
            label="host memory %",
        ),
        _spec(
            "host.disk_free_mib",
            "number",
            "free disk space, MiB",
            lambda f: f.host.disk_free_mib,
            label="host free disk MiB",
        ),
        _spec(
            "host.uptime",
            "duration",
            "time since the host booted",
            lambda f: f.host.uptime_s,
            label="host up for",
        ),
        _spec("hour", "hour", "local hour, 0-23", lambda f: f.local.hour),
        _spec(
            "weekday",
            "weekday",
            'local weekday, "mon".."sun" (or 0 = Monday .. 6 = Sunday)',
            lambda f: f.local.weekday,
        ),
        *OBSERVED_FACTS,
    )
}


def gpu_values(facts: Facts, metric: str, key: WindowKey | None) -> Sequence[float | None]:
    """Per-GPU values of a metric: the window aggregate, or the current reading."""
    if key is not None:
        per_gpu = facts.windows.get(key)
        return () if per_gpu is None else [per_gpu.get(g.index) for g in facts.gpus]
    return [None if g.lost else getattr(g, metric) for g in facts.gpus]


__all__ = [
    "FACTS",
    "GPU_METRICS",
    "GPU_SELECTORS",
    "OBSERVED_FACTS",
    "UNKNOWN_WORDS",
    "WEEKDAYS",
    "BoundFact",
    "Detail",
    "FactSpec",
    "Kind",
    "Thresholds",
    "Value",
    "format_value",
    "gpu_values",
    "unknown_detail",
    "unknown_words",
]
