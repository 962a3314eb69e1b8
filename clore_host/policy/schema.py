"""The policy file: pydantic models, validation with located messages, and loading.

Everything a file may say is checked here, so `decide` and `guard` can trust the Policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from ..facts import SETTING_FIELDS, WindowKey
from ..validation import InputFileError, Issue, issues_from_validation, load_toml
from ._errors import Loc, located
from ._units import fmt_price, parse_duration, parse_percent
from .conditions import Condition, Node, compile_condition

PRICE_FIELDS: tuple[str, ...] = ("on_demand", "spot")
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- rails -------------------------------------------------------------------------------


class PriceBounds(_Model):
    """Floor and ceiling of one price, per day for the whole server."""

    floor: Number = Field(gt=0)
    ceiling: Number = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PriceBounds:
        if self.ceiling < self.floor:
            raise located(
                "PriceBounds",
                [(("ceiling",), f"ceiling {self.ceiling:g} is below the floor {self.floor:g}")],
                self.ceiling,
            )
        return self


class MrlBounds(_Model):
    """Allowed maximum rental length, hours (renters rent for 6 h to 3000 h)."""

    min: StrictInt = Field(default=6, ge=1)
    max: StrictInt = Field(default=720, ge=1, le=3000)

    @model_validator(mode="after")
    def _ordered(self) -> MrlBounds:
        if self.max < self.min:
            raise located("MrlBounds", [(("max",), f"max is below min {self.min}")], self.max)
        return self


class Rails(_Model):
    """Limits no rule can break. Floors and ceilings have no default: they depend on the rig."""

    on_demand: PriceBounds
    spot: PriceBounds
    max_step: Percent = Field(default=10.0, gt=0, le=100)
    min_interval: Duration = 1800.0
    deadband: Percent = Field(default=1.0, ge=0, lt=50)
    availability_hold: Duration = 1800.0
    mrl: MrlBounds = MrlBounds()

    def bounds(self, field: str) -> PriceBounds:
        return self.on_demand if field == "on_demand" else self.spot


# --- actions and rules -------------------------------------------------------------------


class PriceAction(_Model):
    """Exactly one of: set, scale, step, relative_to (+ factor)."""

    set_: Number | None = Field(default=None, alias="set", gt=0)
    scale: Number | None = Field(default=None, gt=0)
    step: Percent | None = Field(default=None, gt=-100)
    relative_to: Literal["on_demand", "spot"] | None = None
    factor: Number | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_action(self) -> PriceAction:
        given = [k for k in ("set", "scale", "step", "relative_to") if k in self._given_aliases()]
        problems: list[tuple[Loc, str]] = []
        if len(given) != 1:
            problems.append(
                ((), "give exactly one of set, scale, step or relative_to (with factor)")
            )
        if self.relative_to is not None and self.factor is None:
            problems.append((("factor",), "relative_to needs a factor, e.g. factor = 0.5"))
        if self.factor is not None and self.relative_to is None:
            problems.append((("factor",), "factor goes with relative_to"))
        if problems:
            raise located("PriceAction", problems, None)
        return self

    def _given_aliases(self) -> set[str]:
        return {"set" if k == "set_" else k for k in self.model_fields_set}


class Then(_Model):
    """What a matching rule does to each setting."""

    on_demand: PriceAction | None = None
    spot: PriceAction | None = None
    availability: StrictBool | None = None
    mrl: StrictInt | None = Field(default=None, ge=1, le=3000)

    @model_validator(mode="after")
    def _check(self) -> Then:
        problems: list[tuple[Loc, str]] = []
        if all(getattr(self, f) is None for f in SETTING_FIELDS):
            problems.append(((), "then changes nothing: set on_demand, spot, availability or mrl"))
        for field, other in (("on_demand", "spot"), ("spot", "on_demand")):
            action = getattr(self, field)
            if action is not None and action.relative_to == field:
                problems.append(
                    ((field, "relative_to"), f'{field} can only be relative to "{other}"')
                )
        if (
            self.on_demand is not None
            and self.spot is not None
            and self.on_demand.relative_to
            and self.spot.relative_to
        ):
            problems.append((("spot", "relative_to"), "both prices relative to each other"))
        if problems:
            raise located("Then", problems, None)
        return self


class Rule(_Model):
    name: str = Field(min_length=1)
    when: Condition | None = None  # no `when`: the rule always matches
    then: Then
    stop: StrictBool = False  # if this rule matched, evaluate no further rules
    even_if_rented: StrictBool = False  # may switch availability off during a rental

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.even_if_rented and self.then.availability is not False:
            raise located(
                "Rule",
                [(("even_if_rented",), "only for a rule with then.availability = false")],
                True,
            )
        return self


# --- the compiled form that decide() runs ------------------------------------------------


@dataclass(frozen=True)
class PriceStep:
    field: str
    kind: Literal["set", "scale", "step", "relative"]
    number: float
    other: str = ""


@dataclass(frozen=True)
class CompiledRule:
    name: str
    node: Node | None
    prices: tuple[PriceStep, ...]  # direct actions first, then relative_to ones
    availability: bool | None
    mrl: int | None
    fields: tuple[str, ...]  # the settings this rule acts on
    stop: bool
    even_if_rented: bool


class _Compiled:
    """Holder for compiled rules; derived from the fields, so it never affects equality."""

    __slots__ = ("rules", "source")

    def __init__(self, source: tuple[Rule, ...]) -> None:
        self.source = source
        self.rules = tuple(_compile_rule(r) for r in source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Compiled)

    __hash__ = None  # type: ignore[assignment]


def _compile_rule(rule: Rule) -> CompiledRule:
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
            relative.append(PriceStep(field, "relative", action.factor, action.relative_to))
    fields = tuple(f for f in SETTING_FIELDS if getattr(rule.then, f) is not None)
    return CompiledRule(
        name=rule.name,
        node=compile_condition(rule.when) if rule.when is not None else None,
        prices=(*direct, *relative),
        availability=rule.then.availability,
        mrl=rule.then.mrl,
        fields=fields,
        stop=rule.stop,
        even_if_rented=rule.even_if_rented,
    )


# --- the policy --------------------------------------------------------------------------


class Policy(_Model):
    """A validated policy: thresholds, rails and ordered rules."""

    version: StrictInt
    idle_threshold: Number = Field(default=10.0, ge=0, le=100)  # % utilisation
    overheat_c: Number = Field(default=88.0, gt=0, le=150)
    rails: Rails
    rules: tuple[Rule, ...] = Field(default=(), alias="rule")
    _compiled: _Compiled = PrivateAttr(default_factory=lambda: _Compiled(()))

    @model_validator(mode="after")
    def _check(self) -> Policy:
        problems: list[tuple[Loc, str]] = []
        if self.version != 1:
            problems.append((("version",), f"unsupported version {self.version}: use version = 1"))
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                problems.append(
                    (
                        ("rule", i, "name"),
                        f"{rule.name!r} is already the name of rule[{seen[rule.name]}]",
                    )
                )
            seen.setdefault(rule.name, i)
            problems.extend(self._check_bounds(i, rule))
        if problems:
            raise located("Policy", problems, None)
        return self

    def _check_bounds(self, i: int, rule: Rule) -> list[tuple[Loc, str]]:
        """A `set` outside the rails would be clamped forever: almost surely a typo."""
        problems: list[tuple[Loc, str]] = []
        for field in PRICE_FIELDS:
            action: PriceAction | None = getattr(rule.then, field)
            bounds = self.rails.bounds(field)
            value = action.set_ if action is not None else None
            if value is not None and not bounds.floor <= value <= bounds.ceiling:
                problems.append(
                    (
                        ("rule", i, "then", field, "set"),
                        f"{fmt_price(value)} is outside rails.{field} "
                        f"[{fmt_price(bounds.floor)}, {fmt_price(bounds.ceiling)}]",
                    )
                )
        mrl = rule.then.mrl
        if mrl is not None and not self.rails.mrl.min <= mrl <= self.rails.mrl.max:
            problems.append(
                (
                    ("rule", i, "then", "mrl"),
                    f"{mrl} is outside rails.mrl [{self.rails.mrl.min}, {self.rails.mrl.max}]",
                )
            )
        return problems

    def model_post_init(self, context: Any) -> None:
        self._compiled = _Compiled(self.rules)

    @property
    def compiled_rules(self) -> tuple[CompiledRule, ...]:
        # One read of the private attribute: each costs a pydantic __getattr__ on this hot path.
        compiled = self._compiled
        if compiled.source is not self.rules:  # a model_copy with new rules
            compiled = self._compiled = _Compiled(self.rules)
        return compiled.rules

    def window_keys(self) -> frozenset[WindowKey]:
        """Every windowed aggregate the rules read, for the agent to query from history."""
        keys: set[WindowKey] = set()
        for rule in self.rules:
            if rule.when is not None:
                keys |= rule.when.window_keys()
        return frozenset(keys)

    def digest(self) -> str:
        """A short hash of the normalised policy (durations in seconds, percents as numbers)."""
        data = self.model_dump(mode="json", by_alias=True)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- loading -----------------------------------------------------------------------------

_REQUIRED_MESSAGES = {
    "version": "required: version = 1",
    "rails": "required: [rails] with a floor and a ceiling for on_demand and spot",
    "rails.on_demand": "required: on_demand = { floor = ..., ceiling = ... }",
    "rails.spot": "required: spot = { floor = ..., ceiling = ... }",
    "rails.on_demand.floor": "required: a policy without price floors is refused",
    "rails.spot.floor": "required: a policy without price floors is refused",
    "rails.on_demand.ceiling": "required: a ceiling for this price",
    "rails.spot.ceiling": "required: a ceiling for this price",
}


def parse_policy(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Validate an in-memory policy; raises InputFileError listing every problem."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise InputFileError("policy", source, _issues(exc)) from None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises InputFileError listing every problem."""
    return parse_policy(load_toml(path, "policy"), str(path))


# Pydantic's wording, in the words of a TOML file.
_PLAIN_WORDS = (
    ("Input should be a valid boolean", "expected true or false"),
    ("Input should be a valid integer", "expected a whole number"),
    ("Input should be a valid number", "expected a number"),
    ("Input should be a finite number", "expected a finite number"),
    ("Input should be a valid string", "expected text in quotes"),
    ("Input should be a valid dictionary", "expected a table"),
    ("Input should be a valid tuple", "expected a list [...]"),
    ("Input should be a valid list", "expected a list [...]"),
)


def _issues(exc: ValidationError) -> Sequence[Issue]:
    out: list[Issue] = []
    for issue in issues_from_validation(exc):
        message = issue.message
        if message == "required key is missing":
            message = _REQUIRED_MESSAGES.get(issue.location, message)
        for prefix, plain in _PLAIN_WORDS:
            if message.startswith(prefix):
                message = plain
        out.append(Issue(issue.location, message))
    return out


__all__ = [
    "PRICE_FIELDS",
    "CompiledRule",
    "Policy",
    "PriceStep",
    "Rails",
    "Rule",
    "load_policy",
    "parse_policy",
]
