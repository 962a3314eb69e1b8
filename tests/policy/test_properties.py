"""Properties of the rails over random policies, facts and prior state (hypothesis)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clore_host.facts import SETTING_FIELDS, Facts, GpuNow, PriorState, Settings, WindowKey
from clore_host.policy import Plan, Policy, decide, make_plan, parse_policy
from clore_host.policy._units import unit_price

from .factories import T0, make_facts

PROPERTY = settings(max_examples=1000, deadline=None)
PRICES = ("on_demand", "spot")
UTIL_1H = WindowKey("utilization", "avg", 3600.0)

CONDITIONS: list[dict[str, Any]] = [
    {"fact": "rented"},
    {"fact": "rented", "value": False},
    {"fact": "rental_status", "op": "in", "value": ["spot", "on_demand"]},
    {"fact": "idle_for", "op": ">=", "value": "6h"},
    {"fact": "overheating"},
    {"fact": "gpu_lost"},
    {"fact": "gpus_missing"},
    {"fact": "hour", "op": "between", "value": [22, 6]},
    {"fact": "spot", "op": "<", "value": 0.0001},
    {"metric": "utilization", "window": "1h", "gpus": "all", "op": "<", "value": 10},
    {"metric": "temperature", "gpus": "any", "op": ">=", "value": 85},
    {"not": {"fact": "overheating"}},
    {"any": [{"fact": "gpu_lost"}, {"fact": "idle_for", "op": ">", "value": "1h"}]},
]


@dataclass(frozen=True)
class Case:
    policy_key: str  # repr of the policy data, for caching the parse
    data: dict[str, Any]
    touchable: frozenset[str]  # settings some rule may act on
    forcing: frozenset[str]  # names of even_if_rented rules
    facts: Facts
    prior: PriorState

    @property
    def policy(self) -> Policy:
        return _parse(self.policy_key, self.data)


_CACHE: dict[str, Policy] = {}


def _parse(key: str, data: dict[str, Any]) -> Policy:
    if key not in _CACHE:
        _CACHE[key] = parse_policy(data)
    return _CACHE[key]


@st.composite
def price_bounds(draw: st.DrawFn) -> dict[str, float]:
    # Rails are whole units of the currency (the policy rounds a floor up, a ceiling down).
    floor = draw(st.integers(1_000, 100_000))  # 1,000 to 100,000 sat per day
    factor = draw(st.sampled_from([1.0, 1.5, 3.0, 20.0]))
    return {"floor": unit_price(floor), "ceiling": unit_price(int(floor * factor))}


def price_action(field: str, bounds: dict[str, float], kind: str, u: float) -> dict[str, Any]:
    """One price action; `u` in [0, 1] picks its number."""
    if kind == "set":
        return {"set": bounds["floor"] + u * (bounds["ceiling"] - bounds["floor"])}
    if kind == "scale":
        return {"scale": 0.05 + u * 5}
    if kind == "step":
        return {"step": f"{-95 + u * 300:+.3f}%"}
    other = "spot" if field == "on_demand" else "on_demand"
    return {"relative_to": other, "factor": 0.05 + u * 3}


UNIT = st.integers(0, 1000).map(lambda n: n / 1000)
KINDS = ("set", "scale", "step", "relative_to")
# Plain integers are the cheapest draws and shrink well: a rule is five of them.
RULE_PARTS = st.tuples(
    st.integers(1, 15),  # bit mask of the settings the rule acts on
    st.integers(0, 3),  # price action kind
    st.integers(0, 1000),  # picks the action's number
    st.integers(-1, len(CONDITIONS) - 1),  # -1: no `when`
    st.integers(0, 3),  # bit 0: stop / even_if_rented, bit 1: availability value
)


def _fields(mask: int) -> set[str]:
    return {f for i, f in enumerate(SETTING_FIELDS) if mask >> i & 1}


@st.composite
def cases(draw: st.DrawFn) -> Case:
    mrl_min, mrl_max = draw(st.sampled_from([(6, 3000), (6, 720), (24, 168), (72, 72)]))
    rails: dict[str, Any] = {
        "on_demand": draw(price_bounds()),
        "spot": draw(price_bounds()),
        "max_step": draw(st.integers(1, 100)),
        "min_interval": draw(st.sampled_from([0, 300, 1800, 7200])),
        "deadband": draw(st.sampled_from([0, 0.5, 1, 5, 20])),
        "availability_hold": draw(st.sampled_from([0, 1800, 7200])),
        "mrl": {"min": mrl_min, "max": mrl_max},
    }
    touchable = frozenset(_fields(draw(st.integers(1, 15))))
    rules: list[dict[str, Any]] = []
    forcing: set[str] = set()
    for i, (mask, kind_index, n, when_index, flags) in enumerate(
        draw(st.lists(RULE_PARTS, max_size=4))
    ):
        kind, u, flag, flag2 = KINDS[kind_index], n / 1000, bool(flags & 1), bool(flags & 2)
        then: dict[str, Any] = {}
        for field in sorted(_fields(mask) & touchable):
            if field in PRICES:
                relative = any("relative_to" in a for a in then.values() if isinstance(a, dict))
                action_kind = "scale" if kind == "relative_to" and relative else kind
                then[field] = price_action(field, rails[field], action_kind, u)
            elif field == "availability":
                then[field] = flag2
            else:
                then[field] = mrl_min + round(u * (mrl_max - mrl_min))
        if not then:
            continue
        rule: dict[str, Any] = {"name": f"r{i}", "then": then, "stop": flag and u < 0.2}
        if when_index >= 0:
            rule["when"] = CONDITIONS[when_index]
        if then.get("availability") is False and flag:
            rule["even_if_rented"] = True
            forcing.add(rule["name"])
        rules.append(rule)
    data = {"version": 1, "rails": rails, "rule": rules}
    now = T0 + draw(st.integers(0, 86400 * 7))
    return Case(
        repr(data),
        data,
        touchable,
        frozenset(forcing),
        draw(facts_at(now, rails)),
        draw(priors(now)),
    )


def _price(draw: st.DrawFn, bounds: dict[str, float]) -> float:
    u = draw(st.integers(-200, 1200)) / 1000  # outside [0, 1]: a price set by hand
    if u < -0.1:  # rarely, an implausible reading
        return [0.0, -1e-4, math.nan, math.inf][draw(st.integers(0, 3))]
    # As the service reports a price: in whole units of the currency.
    price = bounds["floor"] + u * (bounds["ceiling"] - bounds["floor"])
    return unit_price(max(1, round(price * 1e8)))


# (lost/throttle selector, utilization or -1 for none, temperature or 0 for none)
GPU = st.tuples(st.integers(0, 9), st.integers(-1, 100), st.integers(0, 100))


@st.composite
def facts_at(draw: st.DrawFn, now: float, rails: dict[str, Any]) -> Facts:
    parts = draw(st.lists(GPU, max_size=3))
    gpus = [
        GpuNow(
            i,
            lost=lost == 0,
            utilization=None if util < 0 else float(util),
            temperature=float(temp) if temp else None,
            throttle=frozenset({"hw_thermal"}) if lost == 1 else frozenset(),
        )
        for i, (lost, util, temp) in enumerate(parts)
    ]
    current = Settings(
        _price(draw, rails["on_demand"]),
        _price(draw, rails["spot"]),
        draw(st.booleans()),
        draw(st.integers(0, 4000)),
    )
    idle = draw(st.none() | st.integers(0, 200_000))
    return make_facts(
        now=now,
        hour=draw(st.integers(0, 23)),
        status=draw(st.sampled_from(["not_rented", "spot", "on_demand"])),
        current=current,
        expected=draw(st.integers(0, 4)),
        gpus=gpus,
        windows={
            UTIL_1H: tuple(None if g.utilization is None else g.utilization / 2 for g in gpus)
        },
        idle_for=None if idle is None else float(idle),
    )


@st.composite
def priors(draw: st.DrawFn, now: float) -> PriorState:
    # Now and then a record in the future (the clock went back): blocked, but for a fault.
    ago = st.none() | st.integers(-600, 10_000).map(lambda s: now - s)
    return PriorState(last_price_change=draw(ago), availability_since=draw(ago))


def _in_range(case: Case, field: str, price: float) -> bool:
    bounds = case.policy.rails.bounds(field)
    return bounds.floor <= price <= bounds.ceiling


def _plan(case: Case) -> Plan:
    return make_plan(case.policy, case.facts, case.prior)


def check_within_floor_and_ceiling(case: Case, plan: Plan) -> None:
    if plan.blocked:
        assert plan.target == plan.current and not plan.changed
        return
    # A field a rule moved, and every field of a write that goes out, is within the rails.
    for field in PRICES:
        target = getattr(plan.target, field)
        if plan.fields[field].rules or plan.changed:
            bounds = case.policy.rails.bounds(field)
            assert math.isfinite(target) and target > 0
            assert bounds.floor <= target <= bounds.ceiling
    mrl = case.policy.rails.mrl
    if plan.fields["mrl"].rules or plan.changed:
        assert mrl.min <= plan.target.mrl <= mrl.max


def check_whole_units(case: Case, plan: Plan) -> None:
    """Every price a write carries, and every price a rule moved, is a whole unit."""
    for field in PRICES:
        target = getattr(plan.target, field)
        if plan.changed or plan.fields[field].changed:
            assert unit_price(round(target * 1e8)) == target, (field, target)


def check_no_step_beyond_the_maximum(case: Case, plan: Plan) -> None:
    step = case.policy.rails.max_step / 100
    for field in PRICES:
        current, target = getattr(plan.current, field), getattr(plan.target, field)
        if plan.blocked or not plan.fields[field].changed:
            continue
        bounds = case.policy.rails.bounds(field)
        if _in_range(case, field, current):
            reference = current
        else:  # set by hand outside the rails: the nearest edge stands in for it
            reference = bounds.floor if current < bounds.floor else bounds.ceiling
        assert abs(target - reference) <= step * reference * (1 + 1e-9)


def check_no_change_inside_min_interval_or_deadband(case: Case, plan: Plan) -> None:
    rails = case.policy.rails
    last = case.prior.last_price_change
    inside = last is not None and case.facts.now - last < rails.min_interval
    for field in PRICES:
        current, target = getattr(plan.current, field), getattr(plan.target, field)
        if plan.blocked or not _in_range(case, field, current):
            continue  # out-of-range prices are corrected at once (documented)
        if inside:
            assert target == current
        if target != current:
            assert abs(target - current) >= rails.deadband / 100 * current * (1 - 1e-9)


# The three price rails are checked on the same 1,000 examples to keep the suite fast.
@PROPERTY
@given(cases())
def test_price_rails_hold(case: Case) -> None:
    plan = _plan(case)
    check_within_floor_and_ceiling(case, plan)
    check_whole_units(case, plan)
    check_no_step_beyond_the_maximum(case, plan)
    check_no_change_inside_min_interval_or_deadband(case, plan)


@PROPERTY
@given(cases())
def test_fields_no_rule_touches_stay_unchanged(case: Case) -> None:
    plan = _plan(case)
    rails = case.policy.rails
    edges = {f: (rails.bounds(f).floor, rails.bounds(f).ceiling) for f in PRICES}
    edges["mrl"] = (rails.mrl.min, rails.mrl.max)
    for field in SETTING_FIELDS:
        if field in case.touchable:
            continue
        current, target = getattr(plan.current, field), getattr(plan.target, field)
        assert plan.fields[field].rules == ()
        low, high = edges.get(field, (current, current))
        if plan.changed and not low <= current <= high:
            # A write carries every field; one outside the rails goes to the nearest edge.
            assert target == (low if current < low else high)
        else:
            assert target is current and not plan.fields[field].changed


@PROPERTY
@given(cases())
def test_same_inputs_same_plan(case: Case) -> None:
    first = _plan(case)
    again = make_plan(parse_policy(case.data), case.facts, case.prior)
    assert again == first
    assert again.to_dict() == first.to_dict()
    assert again.explain() == first.explain()
    if not first.blocked:  # a NaN price makes a NaN proposal, never equal to itself
        assert decide(case.policy, case.facts) == decide(case.policy, case.facts)


@PROPERTY
@given(cases())
def test_never_off_while_rented_unless_even_if_rented(case: Case) -> None:
    check_never_off_while_rented(case, _plan(case))


def check_never_off_while_rented(case: Case, plan: Plan) -> None:
    rented = case.facts.rental_status != "not_rented"
    if rented and plan.current.availability and not plan.target.availability:
        # The rules that said "off" since the last one that said "on": one must be forcing.
        says = {r["name"]: r["then"].get("availability") for r in case.data["rule"]}
        off_run = []
        for reason in reversed(plan.fields["availability"].rule_reasons):
            name = reason.rule
            if says[name] is not False:
                break
            off_run.append(name)
        assert any(name in case.forcing for name in off_run)
