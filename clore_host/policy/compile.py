"""Compile: a validated Policy into the form decide() runs, with its thresholds bound in.

Each `when` becomes a tree of nodes. A fact node holds the fact's reader with the policy's
thresholds already bound (`overheat_c` in the `overheating` reader), so evaluation takes the
Facts alone. Evaluation is three-valued: a fact with no data makes its comparison unknown, and
an unknown `when` never matches (fail safe). A node also says what it saw, as data (FactSeen,
MetricSeen), for the plan's reasons.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..facts import SETTING_FIELDS, Facts, WindowKey
from .catalogue import FACTS, Reader, Thresholds, gpu_values, unknown_detail
from .plan import FactSeen, MetricSeen, Seen
from .schema import PRICE_FIELDS, Condition, Policy, PriceAction, Rule

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


# --- condition nodes ---------------------------------------------------------------------


class Node:
    """A compiled condition. eval is True, False or None (unknown: a fact had no data)."""

    __slots__ = ()

    def eval(self, facts: Facts) -> bool | None:
        raise NotImplementedError

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        """Append the values that made this condition true."""
        raise NotImplementedError

    def unknown(self, facts: Facts, out: list[Seen]) -> None:
        """Append the facts with no data."""
        raise NotImplementedError


class _FactNode(Node):
    __slots__ = ("detail", "name", "observed", "pred", "read")

    def __init__(self, name: str, op: str, value: Any, thresholds: Thresholds) -> None:
        spec = FACTS[name]
        bound = spec.bind(thresholds)
        self.name = name
        self.observed = spec.observed
        self.read = bound.read
        self.detail = bound.detail
        self.pred = _predicate(op, value)

    def eval(self, facts: Facts) -> bool | None:
        value = self.read(facts)
        return None if value is None else self.pred(value)

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        value = self.read(facts)
        detail = self.detail(facts) if value is True and self.detail is not None else ()
        out.append(FactSeen(self.name, value, detail))

    def unknown(self, facts: Facts, out: list[Seen]) -> None:
        if self.read(facts) is None:
            why = unknown_detail(facts, self.name) if self.observed else ()
            out.append(FactSeen(self.name, None, why))


class _MetricNode(Node):
    __slots__ = ("agg", "gpus", "key", "metric", "pred", "window")

    def __init__(self, cond: Condition) -> None:
        assert cond.metric is not None and cond.op is not None
        self.metric = cond.metric
        self.gpus = cond.gpus or "any"
        self.pred = _predicate(cond.op, cond.value)
        self.key: WindowKey | None = None
        self.window: float | None = None
        self.agg: str | None = None
        if cond.window is not None and cond.agg is not None:
            self.key = WindowKey(self.metric, cond.agg, cond.window)
            self.window, self.agg = cond.window, cond.agg

    def _combined(self, values: Sequence[float | None]) -> float | None:
        if not values or any(v is None for v in values):
            return None
        total = math.fsum(v for v in values if v is not None)
        return total if self.gpus == "sum" else total / len(values)

    def eval(self, facts: Facts) -> bool | None:
        values = gpu_values(facts, self.metric, self.key)
        if not values:
            return None
        if self.gpus in ("any", "all"):
            results = (None if v is None else self.pred(v) for v in values)
            return three_valued(results, decided_by=self.gpus == "any")
        combined = self._combined(values)
        return None if combined is None else self.pred(combined)

    def _seen(self, values: Sequence[float | None]) -> MetricSeen:
        shown = (self._combined(values),) if self.gpus in ("sum", "mean") else tuple(values)
        return MetricSeen(self.metric, self.window, self.agg, self.gpus, shown)

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        out.append(self._seen(gpu_values(facts, self.metric, self.key)))

    def unknown(self, facts: Facts, out: list[Seen]) -> None:
        values = gpu_values(facts, self.metric, self.key)
        if not values or any(v is None for v in values):
            out.append(self._seen(values))


class _AllNode(Node):
    __slots__ = ("children",)
    DECIDED_BY = False  # `all` is decided by a false child, `any` by a true one

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def eval(self, facts: Facts) -> bool | None:
        return three_valued((c.eval(facts) for c in self.children), decided_by=self.DECIDED_BY)

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        for child in self.children:
            child.describe(facts, out)

    def unknown(self, facts: Facts, out: list[Seen]) -> None:
        for child in self.children:
            child.unknown(facts, out)


class _AnyNode(_AllNode):
    __slots__ = ()
    DECIDED_BY = True

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        for child in self.children:
            if child.eval(facts) is True:
                child.describe(facts, out)


class _NotNode(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def eval(self, facts: Facts) -> bool | None:
        value = self.child.eval(facts)
        return None if value is None else not value

    def describe(self, facts: Facts, out: list[Seen]) -> None:
        self.child.describe(facts, out)  # the values speak for themselves

    def unknown(self, facts: Facts, out: list[Seen]) -> None:
        self.child.unknown(facts, out)


def compile_condition(cond: Condition, thresholds: Thresholds) -> Node:
    if cond.all_ is not None:
        return _AllNode(tuple(compile_condition(c, thresholds) for c in cond.all_))
    if cond.any_ is not None:
        return _AnyNode(tuple(compile_condition(c, thresholds) for c in cond.any_))
    if cond.not_ is not None:
        return _NotNode(compile_condition(cond.not_, thresholds))
    if cond.metric is not None:
        return _MetricNode(cond)
    assert cond.fact is not None and cond.op is not None
    return _FactNode(cond.fact, cond.op, cond.value, thresholds)


# --- rules and the policy ----------------------------------------------------------------


@dataclass(frozen=True)
class PriceStep:
    field: str
    kind: Literal["set", "scale", "step", "relative"]
    number: float
    other: str = ""  # relative: the other price ("on_demand", "spot") or a price fact
    read: Reader | None = None  # relative to a fact: its reader (None: the other price)


@dataclass(frozen=True)
class CompiledRule:
    name: str
    node: Node | None  # None: no `when`, the rule always matches
    prices: tuple[PriceStep, ...]  # direct actions first, then relative_to ones
    availability: bool | None
    mrl: int | None
    fields: tuple[str, ...]  # the settings this rule acts on
    stop: bool
    even_if_rented: bool


@dataclass(frozen=True)
class CompiledPolicy:
    """The rules as decide() runs them, and the thresholds they were compiled with."""

    rules: tuple[CompiledRule, ...]
    thresholds: Thresholds
    source: tuple[Rule, ...]  # the Policy's rules these were compiled from
    window_keys: tuple[WindowKey, ...]  # the windows the rules read, sorted (one order)


def _compile_rule(rule: Rule, thresholds: Thresholds) -> CompiledRule:
    direct: list[PriceStep] = []
    relative: list[PriceStep] = []
    for field in PRICE_FIELDS:
        action: PriceAction | None = getattr(rule.then, field)
        if action is None:
            continue
        if action.set_ is not None:
            direct.append(PriceStep(field, "set", action.set_))
        elif action.scale is not None:
            direct.append(PriceStep(field, "scale", action.scale))
        elif action.step is not None:
            direct.append(PriceStep(field, "step", 1 + action.step / 100))
        elif action.relative_to is not None and action.factor is not None:
            other = action.relative_to
            read = None if other in PRICE_FIELDS else FACTS[other].bind(thresholds).read
            relative.append(PriceStep(field, "relative", action.factor, other, read))
    return CompiledRule(
        name=rule.name,
        node=None if rule.when is None else compile_condition(rule.when, thresholds),
        prices=(*direct, *relative),
        availability=rule.then.availability,
        mrl=rule.then.mrl,
        fields=tuple(f for f in SETTING_FIELDS if getattr(rule.then, f) is not None),
        stop=rule.stop,
        even_if_rented=rule.even_if_rented,
    )


def compile_policy(policy: Policy) -> CompiledPolicy:
    thresholds = policy.thresholds
    rules = policy.rules
    return CompiledPolicy(
        tuple(_compile_rule(r, thresholds) for r in rules),
        thresholds,
        rules,
        tuple(sorted(policy.window_keys())),
    )


def compiled(policy: Policy) -> CompiledPolicy:
    """The policy compiled, once per policy: kept on it, and compiled again only for a
    model_copy that changed its rules or thresholds (the copy shares the original's cache)."""
    held = policy.compiled_form
    if (
        not isinstance(held, CompiledPolicy)
        or held.source is not policy.rules
        or held.thresholds != policy.thresholds
    ):
        held = compile_policy(policy)
        policy.keep_compiled_form(held)
    return held


__all__ = [
    "CompiledPolicy",
    "CompiledRule",
    "Node",
    "PriceStep",
    "compile_condition",
    "compile_policy",
    "compiled",
    "three_valued",
]
