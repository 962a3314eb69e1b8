"""The Plan: current and target settings, and for each field why it is what it is."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..facts import SETTING_FIELDS, Settings
from ._units import fmt_price

FieldValue = float | bool | int


def format_setting(name: str, value: FieldValue) -> str:
    if name in ("on_demand", "spot"):
        return fmt_price(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldPlan:
    """One setting: where it is, where it goes, the rules that moved it, the rails that held it."""

    name: str
    current: FieldValue
    target: FieldValue
    rules: tuple[str, ...] = ()
    clamps: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # rules that could not be evaluated for lack of data

    @property
    def changed(self) -> bool:
        # `is` first: a blocked plan keeps a NaN current price as its target, unchanged.
        return not (self.target is self.current or self.target == self.current)

    def explain(self) -> str:
        now = format_setting(self.name, self.current)
        if self.changed:
            head = f"{self.name} {now} -> {format_setting(self.name, self.target)}"
        else:
            head = f"{self.name} {now} unchanged"
        why = (*self.rules, *self.clamps, *self.skipped)
        return f"{head}: {'; '.join(why)}" if why else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": _json_value(self.current),
            "target": _json_value(self.target),
            "changed": self.changed,
            "rules": list(self.rules),
            "clamps": list(self.clamps),
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True)
class Plan:
    """The decision of one cycle. When `blocked` is set, target == current."""

    current: Settings
    target: Settings
    fields: Mapping[str, FieldPlan]
    blocked: str | None = None

    @property
    def changed(self) -> bool:
        return self.target != self.current

    def changed_fields(self) -> tuple[str, ...]:
        return tuple(f for f in SETTING_FIELDS if self.fields[f].changed)

    def explain(self) -> list[str]:
        """One line per field, preceded by the reason when the decision was blocked."""
        lines = [f"blocked: {self.blocked}"] if self.blocked else []
        return lines + [self.fields[f].explain() for f in SETTING_FIELDS]

    def reasons(self) -> list[str]:
        """The lines of the changed fields, for the audit trail."""
        return [self.fields[f].explain() for f in self.changed_fields()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "blocked": self.blocked,
            "current": {k: _json_value(v) for k, v in self.current._asdict().items()},
            "target": {k: _json_value(v) for k, v in self.target._asdict().items()},
            "fields": {f: self.fields[f].to_dict() for f in SETTING_FIELDS},
            "explain": self.explain(),
        }


def _json_value(value: FieldValue) -> FieldValue | None:
    """JSON has no NaN or infinity: an implausible price (in a blocked plan) becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def unchanged_plan(current: Settings, blocked: str | None = None) -> Plan:
    fields = {f: FieldPlan(f, getattr(current, f), getattr(current, f)) for f in SETTING_FIELDS}
    return Plan(current, current, fields, blocked)
