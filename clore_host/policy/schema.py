"""The policy file: pydantic models, validation with located messages, and loading.

Everything a file may say is checked here, so the later phases (compile, decide, guard) can
trust the Policy. A condition (`when`) is `{fact = ..., op = ..., value = ...}`, a GPU metric
comparison `{metric = ..., window = ..., agg = ..., gpus = ..., op = ..., value = ...}`, or
`{all = [...]}`, `{any = [...]}`, `{not = {...}}`, checked against the fact catalogue and
stored normalised (durations in seconds, weekdays as 0-6).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ..facts import AGGREGATES, RENTAL_STATUSES, SETTING_FIELDS, WindowKey
from ..issues import InputFileError, Issue, format_location, issues_from_validation
from ._errors import Loc, located
from ._units import (
    MAX_PRICE,
    ROUND_CEILING,
    ROUND_FLOOR,
    UNIT,
    format_price,
    parse_duration,
    parse_percent,
    price_units,
    unit_price,
)
from .catalogue import (
    FACTS,
    GPU_METRICS,
    GPU_SELECTORS,
    WEEKDAY_NAMES,
    WEEKDAYS,
    Kind,
    Thresholds,
    Value,
)
from .params import resolve_params

PRICE_FIELDS: tuple[str, ...] = ("on_demand", "spot")
# The price facts an action may be relative to, besides the other price.
RELATIVE_FACTS: tuple[str, ...] = tuple(
    name for name, spec in FACTS.items() if spec.kind == "price" and name not in PRICE_FIELDS
)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- conditions --------------------------------------------------------------------------

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

    def nodes(self) -> Iterator[Condition]:
        """This condition and every condition under it."""
        yield self
        for child in (*(self.all_ or ()), *(self.any_ or ()), *((self.not_,) if self.not_ else ())):
            yield from child.nodes()

    def window_keys(self) -> set[WindowKey]:
        return {
            WindowKey(c.metric, c.agg, c.window)
            for c in self.nodes()
            if c.metric is not None and c.window is not None and c.agg is not None
        }

    def fact_names(self) -> set[str]:
        return {c.fact for c in self.nodes() if c.fact is not None}


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


def _got(raw: Any) -> str:
    """What a file holds, short enough for one line."""
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) >= 10**40:
        return "an integer too large for a number"
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_number(raw: Any) -> bool:
    """A number a float holds: not a bool, not infinite, not an integer of hundreds of
    digits (math.isfinite raises OverflowError on those)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return False
    try:
        return math.isfinite(float(raw))
    except OverflowError:
        return False


def _scalar(kind: Kind, raw: Any) -> Value:
    bad = ValueError(f"expected {_KIND_WORDS[kind]}, got {_got(raw)}")
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
    if not _finite_number(raw):
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


# --- rails -------------------------------------------------------------------------------


def _plausible_bound(value: float, name: str) -> None:
    """A floor or ceiling no price could sensibly have is a typo: refused with its place."""
    if value > MAX_PRICE:
        raise ValueError(
            f"{name} {value:g} is absurd: no price per day is plausible above {MAX_PRICE:g}"
        )
    if price_units(value, ROUND_FLOOR) < 1:
        raise ValueError(
            f"{name} {value:g} is below one unit of the currency ({format_price(UNIT)})"
        )


class PriceBounds(_Model):
    """Floor and ceiling of one price, per day for the whole server.

    Both are whole units of the currency (0.00000001 bitcoin), as every price that goes out
    is: a floor with more decimals is rounded up, a ceiling rounded down, so a price between
    them stays between them when it is rounded. A floor below one unit, or above MAX_PRICE,
    and a ceiling above MAX_PRICE are refused.
    """

    floor: Number = Field(gt=0)
    ceiling: Number = Field(gt=0)

    @field_validator("floor")
    @classmethod
    def _whole_floor(cls, value: float) -> float:
        _plausible_bound(value, "floor")
        return unit_price(price_units(value, ROUND_CEILING))

    @field_validator("ceiling")
    @classmethod
    def _whole_ceiling(cls, value: float) -> float:
        _plausible_bound(value, "ceiling")
        return unit_price(price_units(value, ROUND_FLOOR))

    @model_validator(mode="after")
    def _ordered(self) -> PriceBounds:
        if self.ceiling < self.floor:
            raise located(
                "PriceBounds",
                [
                    (
                        ("ceiling",),
                        f"ceiling {format_price(self.ceiling)} is below the floor "
                        f"{format_price(self.floor)} (in whole units of the currency, "
                        f"{format_price(UNIT)})",
                    )
                ],
                self.ceiling,
            )
        return self


# The API's documented rental limits, hours: the agent refuses a server_config whose mrl is
# outside them (observe.server.MRL_MIN/MRL_MAX, the same figures), so a policy may not write one.
MRL_MIN, MRL_MAX = 6, 3000


def _rental_hours(value: int) -> int:
    if not MRL_MIN <= value <= MRL_MAX:
        raise ValueError(
            f"must be {MRL_MIN} to {MRL_MAX} hours (the API's rental limits; the agent "
            "refuses to read an mrl outside them)"
        )
    return value


MrlHours = Annotated[StrictInt, AfterValidator(_rental_hours)]


class MrlBounds(_Model):
    """Allowed maximum rental length, hours (renters rent for 6 h to 3000 h)."""

    min: MrlHours = MRL_MIN
    max: MrlHours = 720

    @model_validator(mode="after")
    def _ordered(self) -> MrlBounds:
        if self.max < self.min:
            raise located("MrlBounds", [(("max",), f"max is below min {self.min}")], self.max)
        return self


class CostFloor(_Model):
    """The cost floor rail: no price below what nets the rig's cost (the `cost.floor.*`
    facts, after each rental kind's host fee) plus `margin`. While the cost floor is
    unknown (no exchange rate, no power figure), no price moves down."""

    margin: Percent = Field(default=0.0, ge=0, le=1000)


class Rails(_Model):
    """Limits no rule can break. Floors and ceilings have no default: they depend on the rig."""

    on_demand: PriceBounds
    spot: PriceBounds
    max_step: Percent = Field(default=10.0, gt=0, le=100)
    min_interval: Duration = 1800.0
    deadband: Percent = Field(default=1.0, ge=0, lt=50)
    availability_hold: Duration = 1800.0
    mrl: MrlBounds = MrlBounds()
    cost_floor: CostFloor | None = None  # off unless given

    def bounds(self, field: str) -> PriceBounds:
        return self.on_demand if field == "on_demand" else self.spot


# --- actions and rules -------------------------------------------------------------------


class PriceAction(_Model):
    """Exactly one of: set, scale, step, relative_to (+ factor)."""

    set_: Number | None = Field(default=None, alias="set", gt=0)
    scale: Number | None = Field(default=None, gt=0)
    step: Percent | None = Field(default=None, gt=-100)
    # The other price, or a price fact ("market.on_demand.p50", "cost.floor.spot", ...).
    relative_to: str | None = None
    factor: Number | None = Field(default=None, gt=0)

    @field_validator("relative_to")
    @classmethod
    def _price_to_follow(cls, value: str | None) -> str | None:
        if value is None or value in PRICE_FIELDS:
            return value
        spec = FACTS.get(value)
        if spec is None or spec.kind != "price":
            prices = ", ".join(f'"{n}"' for n in RELATIVE_FACTS)
            raise ValueError(
                f'{value!r} is not a price to follow: use "on_demand", "spot" or one of {prices}'
            )
        return value

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
    mrl: MrlHours | None = None

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
            and self.on_demand.relative_to == "spot"
            and self.spot.relative_to == "on_demand"
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


# --- the policy --------------------------------------------------------------------------


class _Derived:
    """A policy's compiled form, kept with it: derived from its fields, so never part of
    equality; replaced, never changed in place, since a model_copy shares the original's."""

    __slots__ = ("value",)

    def __init__(self, value: object = None) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Derived)

    __hash__ = None  # type: ignore[assignment]


class Policy(_Model):
    """A validated policy: thresholds, rails and ordered rules."""

    version: StrictInt
    idle_threshold: Number = Field(default=10.0, ge=0, le=100)  # % utilisation
    overheat_c: Number = Field(default=88.0, gt=0, le=150)
    rails: Rails
    rules: tuple[Rule, ...] = Field(default=(), alias="rule")
    # The params as resolved (the config's overrides applied); rules and rails hold their
    # values already (see params.py).
    params: dict[str, Number] = Field(default_factory=dict)
    _compiled: _Derived = PrivateAttr(default_factory=_Derived)

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
            # At whole units, as the price goes out (5.6130000000000006e-05 is 0.00005613).
            if value is not None and not (
                price_units(bounds.floor) <= price_units(value) <= price_units(bounds.ceiling)
            ):
                problems.append(
                    (
                        ("rule", i, "then", field, "set"),
                        f"{format_price(value)} is outside rails.{field} "
                        f"[{format_price(bounds.floor)}, {format_price(bounds.ceiling)}]",
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

    @property
    def thresholds(self) -> Thresholds:
        """idle_threshold and overheat_c, as the phases that apply them take them."""
        return Thresholds(self.idle_threshold, self.overheat_c)

    @property
    def compiled_form(self) -> object:
        """What compile.compiled() last kept here (None at first); opaque to this module."""
        # Read from pydantic's private store: `self._compiled` goes through the slow
        # BaseModel.__getattr__, and decide() asks for this once per plan.
        private = self.__pydantic_private__
        return None if private is None else private["_compiled"].value

    def keep_compiled_form(self, value: object) -> None:
        self._compiled = _Derived(value)

    def window_keys(self) -> frozenset[WindowKey]:
        """Every windowed aggregate the rules read, for the agent to query from history."""
        keys: set[WindowKey] = set()
        for rule in self.rules:
            if rule.when is not None:
                keys |= rule.when.window_keys()
        return frozenset(keys)

    def fact_names(self) -> frozenset[str]:
        """Every catalogue fact the policy reads: in conditions, in relative_to, and the
        cost floors when the cost floor rail is on (the agent observes only what is read)."""
        names: set[str] = set()
        for rule in self.rules:
            if rule.when is not None:
                names |= rule.when.fact_names()
            for field in PRICE_FIELDS:
                action: PriceAction | None = getattr(rule.then, field)
                if action is not None and action.relative_to is not None:
                    names.add(action.relative_to)
        if self.rails.cost_floor is not None:
            names |= {f"cost.floor.{field}" for field in PRICE_FIELDS}
        return frozenset(names - set(PRICE_FIELDS))

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


def parse_policy(
    data: dict[str, Any],
    source: str = "<policy>",
    params: Mapping[str, float] | None = None,
) -> Policy:
    """Validate an in-memory policy, its params resolved (`params`: the config's overrides);
    raises InputFileError listing every problem."""
    resolved, problems = resolve_params(data, params)
    issues = [Issue(format_location(loc), message) for loc, message in problems]
    try:
        policy = Policy.model_validate(resolved)
    except ValidationError as exc:
        # A place with a param problem already says what is wrong there.
        placed = {i.location for i in issues}
        issues.extend(i for i in _issues(exc) if i.location not in placed)
    if issues:
        raise InputFileError("policy", source, issues) from None
    return policy


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
    "OPS_BY_KIND",
    "PRICE_FIELDS",
    "RELATIVE_FACTS",
    "Condition",
    "CostFloor",
    "Policy",
    "PriceAction",
    "PriceBounds",
    "Rails",
    "Rule",
    "parse_policy",
]
