"""The rails' properties hold for every shipped policy (issue 19, Must show 4).

test_properties checks the rails over random policies; here the policies are the shipped
ones, as shipped and with their params overridden as a config would, over random facts that
include what the market and the costs rooms observe (known, unknown, or absent), the local
hour and weekday, how long the server has been in its rental status, and the GPU windows the
health rules read. The same checks (test_properties' check functions) apply: floor and
ceiling, whole units, the max step, the min interval and deadband, never off while rented
unless a rule says even_if_rented. A price under the cost floor (cost-floor.toml) is raised
at once, past the step and the interval, as the rail documents: there it is checked to reach
the cost floor instead. And every shipped policy leaves a running on-demand rental's price to
its renter: no rule moves it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clore_host.config import load_toml, shipped_dir
from clore_host.facts import SETTING_FIELDS, LocalTime, Observed, Unknown, WindowKey
from clore_host.policy import Plan, Policy, make_plan, parse_policy
from clore_host.policy._units import unit_price
from clore_host.policy.catalogue import OBSERVED_FACTS

from . import test_properties
from .factories import T0
from .test_properties import (
    Case,
    check_no_change_inside_min_interval_or_deadband,
    check_no_step_beyond_the_maximum,
    check_whole_units,
    check_within_floor_and_ceiling,
    facts_at,
    priors,
)

PROPERTY = settings(max_examples=800, deadline=None)
PRICES = ("on_demand", "spot")
TEMP_MAX_30M = WindowKey("temperature", "max", 1800.0)
SHIPPED: dict[str, dict[str, Any]] = {
    path.stem: load_toml(path, "policy") for path in sorted(shipped_dir("policies").glob("*.toml"))
}
KIND = {spec.name: spec.kind for spec in OBSERVED_FACTS}
check_never_off_while_rented = test_properties.check_never_off_while_rented


def _scaled(data: dict[str, Any], factor: float, prices: float) -> dict[str, Any]:
    """`data` with its params overridden as a config would: every price param times
    `prices` (floors, ceilings and list prices together, a rig of another class), every
    factor or share times `factor`."""
    params = {
        name: value * (prices if value < 0.01 else factor)
        for name, value in data.get("params", {}).items()
    }
    return {**data, "params": params}


@st.composite
def observed(draw: st.DrawFn, policy: Policy) -> dict[str, Observed]:
    """A value, an Unknown or nothing for each observed fact the policy reads."""
    out: dict[str, Observed] = {}
    top = max(policy.rails.bounds(f).ceiling for f in PRICES)
    for name in sorted(policy.fact_names()):
        kind = KIND.get(name)
        if kind is None:
            continue
        how = draw(st.integers(0, 9))
        if how == 0:
            continue  # not observed this cycle
        if how == 1:
            out[name] = Unknown("too_few_peers", (3, 5))
        elif kind == "price":
            # From far under the floor to above the ceiling: a cost floor may block the plan.
            out[name] = unit_price(draw(st.integers(1, round(top * 1.3e8))))
        elif name == "market.rented_share":
            out[name] = draw(st.integers(0, 100)) / 100
        elif name == "market.rank":
            out[name] = float(draw(st.integers(0, 100)))
        else:
            out[name] = float(draw(st.integers(0, 10_000)))
    return out


@st.composite
def shipped_cases(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    scale = draw(st.sampled_from([(1.0, 1.0), (1.0, 3.0), (0.8, 0.5), (1.1, 10.0)]))
    data = _scaled(SHIPPED[name], *scale)
    policy = parse_policy(data)
    rails = {
        f: {"floor": policy.rails.bounds(f).floor, "ceiling": policy.rails.bounds(f).ceiling}
        for f in PRICES
    }
    now = T0 + draw(st.integers(0, 86400 * 7))
    facts = draw(facts_at(now, rails))
    temps = {g.index: g.temperature for g in facts.gpus if g.temperature is not None}
    facts = replace(
        facts,
        local=LocalTime(draw(st.integers(0, 23)), 0, draw(st.integers(0, 6))),
        rental_status_for=draw(st.none() | st.integers(0, 3 * 86400).map(float)),
        windows={**facts.windows, TEMP_MAX_30M: temps},
        observed=draw(observed(policy)),
    )
    touchable = frozenset(
        f for rule in data["rule"] for f in SETTING_FIELDS if f in rule.get("then", {})
    )
    forcing = frozenset(r["name"] for r in data["rule"] if r.get("even_if_rented"))
    return Case(f"shipped {name} {scale}", data, touchable, forcing, facts, draw(priors(now)))


def _cost_floor(case: Case, field: str) -> float | None:
    """The cost floor of `field` with its margin, when the policy has one and it is known."""
    rail = case.policy.rails.cost_floor
    value = case.facts.observed.get(f"cost.floor.{field}")
    if rail is None or not isinstance(value, float) or not math.isfinite(value):
        return None
    return value * (1 + rail.margin / 100)


def _plan(case: Case) -> Plan:
    return make_plan(case.policy, case.facts, case.prior)


@PROPERTY
@given(shipped_cases())
def test_the_rails_hold_for_every_shipped_policy(case: Case) -> None:
    plan = _plan(case)
    check_within_floor_and_ceiling(case, plan)
    check_whole_units(case, plan)
    raised = []
    for field in PRICES:
        floor = _cost_floor(case, field)
        if floor is not None and not plan.blocked and getattr(plan.current, field) < floor:
            # Under cost: raised at once, whatever the step, the interval and the deadband.
            assert getattr(plan.target, field) >= floor * (1 - 1e-12), plan.explain()
            raised.append(field)
    if not raised:
        check_no_step_beyond_the_maximum(case, plan)
        check_no_change_inside_min_interval_or_deadband(case, plan)
    check_never_off_while_rented(case, plan)


@PROPERTY
@given(shipped_cases())
def test_no_shipped_policy_moves_a_running_rentals_price(case: Case) -> None:
    facts = replace(case.facts, rental_status="on_demand")
    plan = make_plan(case.policy, facts, case.prior)
    assert plan.fields["on_demand"].rules == (), plan.explain()
