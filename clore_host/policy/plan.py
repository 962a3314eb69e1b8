"""The Plan: current and target settings, and for each field why it is what it is.

Reasons are data: the rules that moved a field as (rule, why) pairs, the rails that clamped or
held it as (rail, why) pairs, and the rules that could not be evaluated. `why` holds the values
the decision saw, never words; the words are made here, only where a plan is shown (`explain`,
`reasons`, and each reason's `words`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..facts import SETTING_FIELDS, Settings, Unknown
from ._units import UNIT, fmt_number, format_duration, format_price, format_time
from .catalogue import FACTS, Detail, Value, unknown_words

FieldValue = float | bool | int
PRICES = ("on_demand", "spot")
NEXT_RENTAL = "applies to the next rental (the running one keeps its price)"


def format_setting(name: str, value: FieldValue) -> str:
    if name in ("on_demand", "spot"):
        return format_price(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- what a rule saw -----------------------------------------------------------------------


@dataclass(frozen=True)
class FactSeen:
    """A catalogue fact as a rule's condition read it (value None: no data)."""

    fact: str
    value: Value | None
    detail: Detail = ()  # a raised flag: which GPUs (see the catalogue)

    @property
    def name(self) -> str:
        return self.fact

    def words(self) -> str:
        return FACTS[self.fact].describe(self.value, self.detail)

    def missing_words(self) -> str:
        """The fact as a skipped rule names it: with why it has no data, when known."""
        if len(self.detail) == 1 and isinstance(self.detail[0], Unknown):
            return f"{self.fact} ({unknown_words(self.detail[0])})"
        return self.fact

    def to_dict(self) -> dict[str, Any]:
        detail: Any = self.detail
        if len(detail) == 1 and isinstance(detail[0], Unknown):
            detail = {"unknown": {"reason": detail[0].reason, "values": list(detail[0].values)}}
        return {
            "fact": self.fact,
            "value": _json_value(self.value),
            "detail": _json_value(detail),
        }


@dataclass(frozen=True)
class MetricSeen:
    """A GPU metric as a rule's condition read it: one value per GPU, or for `gpus = "sum"`
    or `"mean"` the one combined value (None: no data)."""

    metric: str
    window: float | None  # seconds; None: the current reading
    agg: str | None
    gpus: str  # "any", "all", "sum" or "mean"
    values: tuple[float | None, ...]

    @property
    def name(self) -> str:
        label = self.metric
        if self.window is not None and self.agg is not None:
            label = f"{self.metric} {self.agg} over {format_duration(self.window)}"
        if self.gpus in ("sum", "mean"):
            label += f", {self.gpus} of GPUs"
        return label

    def words(self) -> str:
        shown = ", ".join("no data" if v is None else fmt_number(v) for v in self.values)
        return f"{self.name}: {shown or 'no data'}"

    def missing_words(self) -> str:
        return self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "window": _json_value(self.window),
            "agg": self.agg,
            "gpus": self.gpus,
            "values": _json_value(self.values),
        }


Seen = FactSeen | MetricSeen


# --- (rule, why) and (rail, why) -----------------------------------------------------------


@dataclass(frozen=True)
class RuleReason:
    """(rule, why): a rule that acted on a field, and the values that made its `when` true."""

    rule: str
    why: tuple[Seen, ...] = ()  # empty: the rule has no `when`, it always matches

    def words(self) -> str:
        if not self.why:
            return f'rule "{self.rule}" (always)'
        return f'rule "{self.rule}" ({", ".join(dict.fromkeys(s.words() for s in self.why))})'

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "why": [s.to_dict() for s in self.why]}


@dataclass(frozen=True)
class RuleSkipped:
    """A rule not evaluated for lack of data, and the facts that had none."""

    rule: str
    missing: tuple[Seen, ...]

    def words(self) -> str:
        names = ", ".join(dict.fromkeys(s.missing_words() for s in self.missing))
        return f'rule "{self.rule}" skipped (no data: {names})'

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "missing": [s.to_dict() for s in self.missing]}


# Each rail and what its `why` holds:
#   floor (floor), ceiling (ceiling): the proposal was clamped to it
#   range (floor, ceiling): the current price lies outside it and is brought in
#   max_step (percent): clamped to one step from the current price
#   min_interval (interval, seconds since the last price change): held
#   deadband (percent, the change in percent): held
#   rented (): availability held on while rented
#   availability_hold (hold, seconds since the last change): held
#   mrl.min (min), mrl.max (max): clamped to it
#   carried (edge): a field no rule moved, outside the rails, brought to the edge by a write
#   rounded (price): a price with more decimals than the currency, rounded for a write
#   future (time): held while history records a change after now (the clock went back)
#   cost_floor (floor, cost floor fact, margin %): raised to the cost floor plus its margin
#   cost_floor_unknown () + unknown: a move down held while the cost floor is unknown
RailName = Literal[
    "cost_floor",
    "cost_floor_unknown",
    "floor",
    "ceiling",
    "range",
    "max_step",
    "min_interval",
    "deadband",
    "rented",
    "availability_hold",
    "mrl.min",
    "mrl.max",
    "carried",
    "rounded",
    "future",
]


@dataclass(frozen=True)
class RailReason:
    """(rail, why): a rail that clamped or held a field, and the numbers it went by."""

    rail: RailName
    why: tuple[float, ...] = ()
    unknown: Unknown | None = None  # cost_floor_unknown: why the cost floor is unknown

    def words(self, field: str) -> str:
        """The reason as the plan line for `field` shows it."""
        why = self.why
        rail = self.rail
        if rail == "cost_floor":
            return (
                f"raised to the cost floor {format_price(why[0])} (cost "
                f"{format_price(why[1])} + margin {fmt_number(why[2])}%)"
            )
        if rail == "cost_floor_unknown":
            because = f": {unknown_words(self.unknown)}" if self.unknown is not None else ""
            return f"held: no price moves down while the cost floor is unknown{because}"
        if rail in ("floor", "ceiling"):
            return f"clamped to {rail} {format_price(why[0])}"
        if rail == "range":
            return f"current price outside [{format_price(why[0])}, {format_price(why[1])}]"
        if rail == "max_step":
            return f"clamped by max step {fmt_number(why[0])}%"
        if rail == "min_interval":
            return (
                f"held by min interval {format_duration(why[0])} "
                f"(last change {format_duration(why[1])} ago)"
            )
        if rail == "deadband":
            return f"held by deadband {fmt_number(why[0])}% (change {fmt_number(why[1])}%)"
        if rail == "rented":
            return (
                "held: server is rented (only an even_if_rented rule takes it off during a rental)"
            )
        if rail == "availability_hold":
            return (
                f"held by availability hold {format_duration(why[0])} "
                f"(changed {format_duration(why[1])} ago)"
            )
        if rail in ("mrl.min", "mrl.max"):
            return f"clamped to {rail.replace('.', ' ')} {int(why[0])}"
        if rail == "rounded":
            return (
                f"rounded to {format_price(why[0])}, a whole unit of the currency "
                f"({format_price(UNIT)}): this write carries it"
            )
        if rail == "future":
            return (
                f"held: history records a change at {format_time(why[0])}, in the future "
                "(did the clock go back?)"
            )
        edge = format_setting(field, why[0])
        return f"outside the rails, brought to {edge}: this write carries it"

    def to_dict(self) -> dict[str, Any]:
        out = {"rail": self.rail, "why": _json_value(self.why)}
        if self.unknown is not None:
            out["unknown"] = {"reason": self.unknown.reason, "values": list(self.unknown.values)}
        return out


# --- the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPlan:
    """One setting: where it is, where it goes, the rules that moved it, the rails that held it."""

    name: str
    current: FieldValue
    target: FieldValue
    rule_reasons: tuple[RuleReason, ...] = ()
    rail_reasons: tuple[RailReason, ...] = ()
    skipped_rules: tuple[RuleSkipped, ...] = ()  # rules that could not be evaluated

    @property
    def changed(self) -> bool:
        # `is` first: a blocked plan keeps a NaN current price as its target, unchanged.
        return not (self.target is self.current or self.target == self.current)

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules that moved this field, in words."""
        return tuple(r.words() for r in self.rule_reasons)

    @property
    def clamps(self) -> tuple[str, ...]:
        """The rails that clamped or held this field, in words."""
        return tuple(r.words(self.name) for r in self.rail_reasons)

    @property
    def skipped(self) -> tuple[str, ...]:
        """The rules not evaluated for lack of data, in words."""
        return tuple(r.words() for r in self.skipped_rules)

    def explain(self, *, rented: bool = False) -> str:
        """The field's plan line; `rented`: the server is rented now, so a new price reaches
        only the next renter (a running rental keeps the price it began at)."""
        now = format_setting(self.name, self.current)
        if self.changed:
            head = f"{self.name} {now} -> {format_setting(self.name, self.target)}"
        else:
            head = f"{self.name} {now} unchanged"
        why = (*self.rules, *self.clamps, *self.skipped)
        if rented and self.changed and self.name in PRICES:
            why = (*why, NEXT_RENTAL)
        return f"{head}: {'; '.join(why)}" if why else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": _json_value(self.current),
            "target": _json_value(self.target),
            "changed": self.changed,
            "rules": list(self.rules),
            "clamps": list(self.clamps),
            "skipped": list(self.skipped),
            "rule_reasons": [r.to_dict() for r in self.rule_reasons],
            "rail_reasons": [r.to_dict() for r in self.rail_reasons],
            "skipped_rules": [r.to_dict() for r in self.skipped_rules],
        }


@dataclass(frozen=True)
class Plan:
    """The decision of one cycle. When `blocked` is set, target == current."""

    current: Settings
    target: Settings
    fields: Mapping[str, FieldPlan]
    blocked: str | None = None
    # Rented now: a price change reaches only the next renter (the plan lines say so).
    rented: bool = False

    @property
    def changed(self) -> bool:
        return self.target != self.current

    def changed_fields(self) -> tuple[str, ...]:
        return tuple(f for f in SETTING_FIELDS if self.fields[f].changed)

    def rule_names(self, *, changed_only: bool = False) -> tuple[str, ...]:
        """The distinct rules that moved a field (only the changed fields if asked), in order."""
        names: dict[str, None] = {}
        for name in SETTING_FIELDS:
            field = self.fields[name]
            if not changed_only or field.changed:
                names.update(dict.fromkeys(r.rule for r in field.rule_reasons))
        return tuple(names)

    def explain(self) -> list[str]:
        """One line per field, preceded by the reason when the decision was blocked."""
        lines = [f"blocked: {self.blocked}"] if self.blocked else []
        return lines + [self.fields[f].explain(rented=self.rented) for f in SETTING_FIELDS]

    def reasons(self) -> list[str]:
        """The lines of the changed fields, for the audit trail."""
        return [self.fields[f].explain(rented=self.rented) for f in self.changed_fields()]

    def next_rental_only(self) -> bool:
        """A price changes while the server is rented: it reaches the next renter only."""
        return self.rented and any(self.fields[f].changed for f in PRICES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "blocked": self.blocked,
            "current": {k: _json_value(v) for k, v in self.current._asdict().items()},
            "target": {k: _json_value(v) for k, v in self.target._asdict().items()},
            "fields": {f: self.fields[f].to_dict() for f in SETTING_FIELDS},
            "next_rental_only": self.next_rental_only(),
            "explain": self.explain(),
        }


def _json_value(value: Any) -> Any:
    """A value as valid JSON: JSON has no NaN or infinity, so a non-finite number (an
    implausible price in a blocked plan, a raw `why`) becomes null; tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


def unchanged_plan(current: Settings, blocked: str | None = None) -> Plan:
    fields = {f: FieldPlan(f, getattr(current, f), getattr(current, f)) for f in SETTING_FIELDS}
    return Plan(current, current, fields, blocked)


__all__ = [
    "FactSeen",
    "FieldPlan",
    "MetricSeen",
    "Plan",
    "RailName",
    "RailReason",
    "RuleReason",
    "RuleSkipped",
    "Seen",
    "format_setting",
    "unchanged_plan",
]
