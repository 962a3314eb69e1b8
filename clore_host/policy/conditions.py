"""Conditions: the `when` tree of a rule, validated against the fact catalogue and compiled.

A condition is `{fact = ..., op = ..., value = ...}`, a GPU metric comparison
`{metric = ..., window = ..., agg = ..., gpus = ..., op = ..., value = ...}`, or
`{all = [...]}`, `{any = [...]}`, `{not = {...}}`. Evaluation is three-valued: a fact with no
data makes its comparison unknown, and an unknown `when` never matches (fail safe).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..facts import AGGREGATES, RENTAL_STATUSES, Facts, WindowKey
from ._errors import Loc, located
from ._units import fmt_number, format_duration, parse_duration
from .catalogue import (
    FACTS,
    GPU_METRICS,
    GPU_SELECTORS,
    WEEKDAY_NAMES,
    WEEKDAYS,
    Kind,
    Value,
    gpu_values,
)

ORDERED = ("<", "<=", ">", ">=", "between")
EQUALITY = ("==", "!=")
MEMBERSHIP = ("in", "not in")
OPS_BY_KIND: dict[Kind, tuple[str, ...]] = {
    "bool": EQUALITY,
    "choice": EQUALITY + MEMBERSHIP,
    "number": ORDERED,
    "price": ORDERED,
    "duration": ORDERED,
    "count": EQUALITY + ORDERED + MEMBERSHIP,
    "hour": EQUALITY + ORDERED + MEMBERSHIP,
    "weekday": (*EQUALITY, *MEMBERSHIP, "between"),
}
_KIND_WORDS: dict[Kind, str] = {
    "bool": "true or false",
    "choice": "one of " + ", ".join(f'"{s}"' for s in RENTAL_STATUSES),
    "number": "a number",
    "price": "a price above 0",
    "duration": 'a duration such as "30m", "6h" or seconds',
    "count": "a whole number, 0 or more",
    "hour": "an hour, 0 to 23",
    "weekday": 'a weekday, "mon".."sun" or 0 (Monday) to 6 (Sunday)',
}
_WRAPS: frozenset[Kind] = frozenset({"hour", "weekday"})
_COMPARISON_KEYS = frozenset({"fact", "metric", "window", "agg", "gpus", "op", "value"})
_FORMS = ("fact", "metric", "all", "any", "not")


class Condition(BaseModel):
    """One node of a `when` tree, stored normalised (durations in seconds, weekdays as 0-6)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    fact: str | None = None
    metric: str | None = None
    window: float | None = None
    agg: str | None = None
    gpus: str | None = None
    op: str | None = None
    value: Any = None
    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, Condition):
            return data
        return normalise(data)

    def window_keys(self) -> set[WindowKey]:
        keys: set[WindowKey] = set()
        if self.metric is not None and self.window is not None and self.agg is not None:
            keys.add(WindowKey(self.metric, self.agg, self.window))
        for child in (*(self.all_ or ()), *(self.any_ or ()), *((self.not_,) if self.not_ else ())):
            keys |= child.window_keys()
        return keys


# --- validation -------------------------------------------------------------------------


def normalise(data: Any) -> dict[str, Any]:
    """The condition with values in canonical form, or a ValidationError naming every problem."""
    if not isinstance(data, dict):
        raise located(
            "Condition",
            [
                (
                    (),
                    "expected a table: {fact = ...}, {metric = ...}, {all = [...]}, "
                    "{any = [...]} or {not = {...}}",
                )
            ],
            data,
        )
    forms = [k for k in _FORMS if k in data]
    if len(forms) != 1:
        what = "none" if not forms else " and ".join(forms)
        raise located(
            "Condition",
            [((), f"a condition has exactly one of fact, metric, all, any, not (found {what})")],
            data,
        )
    form = forms[0]
    if form in ("all", "any", "not"):
        extra = [k for k in data if k != form]
        if extra:
            raise located(
                "Condition",
                [((k,), f"not allowed beside {form!r}") for k in extra],
                data,
            )
        children = data[form]
        if form != "not" and isinstance(children, list) and not children:
            raise located("Condition", [((form,), f"{form} needs at least one condition")], data)
        return data
    problems: list[tuple[Loc, str]] = []
    for key in data:
        if key not in _COMPARISON_KEYS:
            problems.append(((key,), "unknown key (not allowed here)"))
    out = _normalise_comparison(data, form, problems)
    if problems:
        raise located("Condition", problems, data)
    return out


def _normalise_comparison(
    data: dict[str, Any], form: str, problems: list[tuple[Loc, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind: Kind | None
    subject: str
    if form == "fact":
        name = data["fact"]
        spec = FACTS.get(name) if isinstance(name, str) else None
        kind = spec.kind if spec else None
        subject = str(name)
        if spec is None:
            problems.append(
                (
                    ("fact",),
                    f"unknown fact {name!r}: one of {', '.join(FACTS)}"
                    f" (GPU metrics use metric = ...)",
                )
            )
        for key in ("window", "agg", "gpus"):
            if key in data:
                problems.append(((key,), f"{key} applies only to metric = ... comparisons"))
        out["fact"] = name
    else:
        kind = "number"
        metric = data["metric"]
        subject = str(metric)
        if metric not in GPU_METRICS:
            problems.append(
                ((("metric",)), f"unknown GPU metric {metric!r}: one of " + ", ".join(GPU_METRICS))
            )
        out["metric"] = metric
        out.update(_normalise_window(data, problems))
    op = data.get("op", "==")
    if kind is not None:
        allowed = OPS_BY_KIND[kind]
        if op not in allowed:
            problems.append(
                (
                    ("op",),
                    f"{op!r} is not allowed for {subject} ({_KIND_WORDS[kind]}): "
                    f"use one of {', '.join(allowed)}",
                )
            )
        else:
            try:
                out["value"] = _normalise_value(kind, op, data.get("value"))
            except ValueError as exc:
                problems.append((("value",), f"{exc} for {subject}"))
    out["op"] = op
    return out


def _normalise_window(data: dict[str, Any], problems: list[tuple[Loc, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gpus = data.get("gpus", "any")
    if gpus not in GPU_SELECTORS:
        problems.append((("gpus",), f"expected one of {', '.join(GPU_SELECTORS)}"))
    out["gpus"] = gpus
    if "window" in data:
        try:
            window = parse_duration(data["window"])
        except ValueError as exc:
            problems.append((("window",), str(exc)))
        else:
            if window <= 0:
                problems.append((("window",), "a window must be longer than 0"))
            out["window"] = window
        agg = data.get("agg", "avg")
        if agg not in AGGREGATES:
            problems.append((("agg",), f"expected one of {', '.join(AGGREGATES)}"))
        out["agg"] = agg
    elif "agg" in data:
        problems.append(
            (("agg",), "agg needs a window (without one the current reading is compared)")
        )
    return out


def _normalise_value(kind: Kind, op: str, raw: Any) -> Any:
    if raw is None:
        if kind == "bool":
            return True
        raise ValueError(f"required: {_KIND_WORDS[kind]} to compare with")
    if op in MEMBERSHIP:
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"expected a non-empty list of {_KIND_WORDS[kind]}")
        return tuple(dict.fromkeys(_scalar(kind, v) for v in raw))
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise ValueError("between takes [low, high] (low included, high excluded)")
        low, high = (_scalar(kind, v) for v in raw)
        if kind in _WRAPS:
            if low == high:
                raise ValueError("between needs two different ends")
        elif not float(low) < float(high):
            raise ValueError("between needs low < high")
        return (low, high)
    return _scalar(kind, raw)


def _scalar(kind: Kind, raw: Any) -> Value:
    bad = ValueError(f"expected {_KIND_WORDS[kind]}, got {raw!r}")
    if kind == "bool":
        if not isinstance(raw, bool):
            raise bad
        return raw
    if kind == "choice":
        if raw not in RENTAL_STATUSES:
            raise bad
        return str(raw)
    if kind == "duration":
        try:
            return parse_duration(raw)
        except ValueError:
            raise bad from None
    if kind == "weekday":
        name = raw.strip().lower() if isinstance(raw, str) else None
        if name is not None and name in WEEKDAYS:
            return WEEKDAYS.index(name)
        if name is not None and name in WEEKDAY_NAMES:
            return WEEKDAY_NAMES.index(name)
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 6:
            return raw
        raise bad
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise bad
    if kind == "hour":
        if not isinstance(raw, int) or not 0 <= raw <= 23:
            raise bad
        return raw
    if kind == "count":
        if not float(raw).is_integer() or raw < 0:
            raise bad
        return int(raw)
    if kind == "price" and raw <= 0:
        raise bad
    return float(raw)


# --- evaluation ---------------------------------------------------------------------------

Predicate = Callable[[Any], bool]
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _predicate(op: str, value: Any) -> Predicate:
    if op == "in":
        members = frozenset(value)
        return members.__contains__
    if op == "not in":
        members = frozenset(value)
        return lambda x: x not in members
    if op == "between":
        low, high = value
        if low < high:
            return lambda x: low <= x < high
        return lambda x: x >= low or x < high  # wraps: hour in [22, 6)
    compare = _CMP[op]
    return lambda x: bool(compare(x, value))


def three_valued(results: Iterable[bool | None], *, decided_by: bool) -> bool | None:
    """`all` (decided_by=False) or `any` (True) in three-valued logic: one result equal to
    `decided_by` decides; otherwise any unknown makes the whole unknown; otherwise the
    opposite of `decided_by`. Stops at the deciding result."""
    unknown = False
    for result in results:
        if result is decided_by:
            return decided_by
        if result is None:
            unknown = True
    return None if unknown else not decided_by


class Node:
    """A compiled condition. eval is True, False or None (unknown: a fact had no data)."""

    __slots__ = ()

    def eval(self, facts: Facts, overheat_c: float) -> bool | None:
        raise NotImplementedError

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        """Append the fact values that made this condition true."""
        raise NotImplementedError

    def unknown(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        """Append the names of facts with no data."""
        raise NotImplementedError


class _FactNode(Node):
    __slots__ = ("pred", "spec")

    def __init__(self, name: str, op: str, value: Any) -> None:
        self.spec = FACTS[name]
        self.pred = _predicate(op, value)

    def eval(self, facts: Facts, overheat_c: float) -> bool | None:
        value = self.spec.read(facts, overheat_c)
        return None if value is None else self.pred(value)

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        out.append(self.spec.describe(self.spec.read(facts, overheat_c), facts, overheat_c))

    def unknown(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        if self.spec.read(facts, overheat_c) is None:
            out.append(self.spec.name)


class _MetricNode(Node):
    __slots__ = ("gpus", "key", "label", "metric", "pred")

    def __init__(self, cond: Condition) -> None:
        assert cond.metric is not None and cond.op is not None
        self.metric = cond.metric
        self.gpus = cond.gpus or "any"
        self.pred = _predicate(cond.op, cond.value)
        self.key: WindowKey | None = None
        self.label = self.metric
        if cond.window is not None and cond.agg is not None:
            self.key = WindowKey(self.metric, cond.agg, cond.window)
            self.label = f"{self.metric} {cond.agg} over {format_duration(cond.window)}"
        if self.gpus in ("sum", "mean"):
            self.label += f", {self.gpus} of GPUs"

    def _combined(self, values: Sequence[float | None]) -> float | None:
        if not values or any(v is None for v in values):
            return None
        total = math.fsum(v for v in values if v is not None)
        return total if self.gpus == "sum" else total / len(values)

    def eval(self, facts: Facts, overheat_c: float) -> bool | None:
        values = gpu_values(facts, self.metric, self.key)
        if not values:
            return None
        if self.gpus in ("any", "all"):
            results = (None if v is None else self.pred(v) for v in values)
            return three_valued(results, decided_by=self.gpus == "any")
        combined = self._combined(values)
        return None if combined is None else self.pred(combined)

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        values = gpu_values(facts, self.metric, self.key)
        if self.gpus in ("sum", "mean"):
            combined = self._combined(values)
            shown = "no data" if combined is None else fmt_number(combined)
        else:
            shown = ", ".join("no data" if v is None else fmt_number(v) for v in values)
        out.append(f"{self.label}: {shown or 'no data'}")

    def unknown(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        values = gpu_values(facts, self.metric, self.key)
        if not values or any(v is None for v in values):
            out.append(self.label)


class _AllNode(Node):
    __slots__ = ("children",)
    DECIDED_BY = False  # `all` is decided by a false child, `any` by a true one

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def eval(self, facts: Facts, overheat_c: float) -> bool | None:
        results = (child.eval(facts, overheat_c) for child in self.children)
        return three_valued(results, decided_by=self.DECIDED_BY)

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        for child in self.children:
            child.describe(facts, overheat_c, out)

    def unknown(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        for child in self.children:
            child.unknown(facts, overheat_c, out)


class _AnyNode(_AllNode):
    __slots__ = ()
    DECIDED_BY = True

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        for child in self.children:
            if child.eval(facts, overheat_c) is True:
                child.describe(facts, overheat_c, out)


class _NotNode(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def eval(self, facts: Facts, overheat_c: float) -> bool | None:
        value = self.child.eval(facts, overheat_c)
        return None if value is None else not value

    def describe(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        self.child.describe(facts, overheat_c, out)  # the values speak for themselves

    def unknown(self, facts: Facts, overheat_c: float, out: list[str]) -> None:
        self.child.unknown(facts, overheat_c, out)


def compile_condition(cond: Condition) -> Node:
    if cond.all_ is not None:
        return _AllNode(tuple(compile_condition(c) for c in cond.all_))
    if cond.any_ is not None:
        return _AnyNode(tuple(compile_condition(c) for c in cond.any_))
    if cond.not_ is not None:
        return _NotNode(compile_condition(cond.not_))
    if cond.metric is not None:
        return _MetricNode(cond)
    assert cond.fact is not None and cond.op is not None
    return _FactNode(cond.fact, cond.op, cond.value)


__all__ = ["OPS_BY_KIND", "Condition", "Node", "compile_condition"]
