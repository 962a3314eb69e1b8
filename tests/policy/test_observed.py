"""Facts observed in their own rooms (market, costs): read by rules, followed by prices,
skipped when unknown with the reason in the plan, and the cost floor rail."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clore_host.facts import Facts, Observed, PriorState, Unknown
from clore_host.issues import InputFileError
from clore_host.policy import FACTS, make_plan, parse_policy
from clore_host.policy.catalogue import OBSERVED_FACTS, UNKNOWN_WORDS, unknown_words
from clore_host.policy.schema import RELATIVE_FACTS

from .factories import BASE, T0, make_facts, make_policy, rails, words
from .test_properties import Case, cases

P50 = "market.on_demand.p50"
FOLLOW: dict[str, Any] = {
    "name": "follow",
    "when": {"fact": "rented", "value": False},
    "then": {"on_demand": {"relative_to": P50, "factor": 0.97}},
}


def _facts(observed: Mapping[str, Observed], **kw: Any) -> Facts:
    return replace(make_facts(**kw), observed=observed)


def test_every_observed_fact_reads_its_value_and_is_unknown_without_one() -> None:
    facts = _facts({spec.name: 0.5 + i for i, spec in enumerate(OBSERVED_FACTS)})
    bare = make_facts()
    for i, spec in enumerate(OBSERVED_FACTS):
        read = FACTS[spec.name].bind(make_policy([]).thresholds).read
        assert read(facts) == 0.5 + i
        assert read(bare) is None  # not observed: unknown, never a default
        assert spec.observed and f"`{spec.name}`" not in spec.doc


def test_a_rule_on_an_unknown_market_fact_is_skipped_with_the_reason() -> None:
    rule = {
        "name": "cheap peers",
        "when": {"fact": "market.on_demand.p25", "op": "<", "value": 0.00008},
        "then": {"on_demand": {"scale": 0.9}},
    }
    policy = make_policy([rule])
    few = _facts({"market.on_demand.p25": Unknown("too_few_peers", (3, 5))})
    plan = make_plan(policy, few, PriorState())
    assert not plan.changed
    assert words(plan.fields["on_demand"].skipped_rules) == (
        'rule "cheap peers" skipped (no data: market.on_demand.p25 (3 peers, need 5))',
    )
    known = _facts({"market.on_demand.p25": 0.00007})
    moved = make_plan(policy, known, PriorState())
    assert moved.target.on_demand == 0.00009
    assert "market on-demand p25 0.00007000" in moved.fields["on_demand"].rules[0]


def test_a_price_follows_a_market_percentile_within_the_rails() -> None:
    policy = make_policy([FOLLOW], max_step="50%")
    facts = _facts({P50: 0.00012})
    plan = make_plan(policy, facts, PriorState())
    assert plan.target.on_demand == 0.0001164  # 0.00012 * 0.97, whole satoshi
    reason = plan.fields["on_demand"].rule_reasons[0]
    assert [s.name for s in reason.why] == ["rented", P50]
    # Far above: one max step at a time, as for any rule.
    far = make_plan(make_policy([FOLLOW]), _facts({P50: 0.01}), PriorState())
    assert far.target.on_demand == 0.00011
    assert words([]) == ()


def test_an_unknown_price_to_follow_skips_the_whole_rule() -> None:
    rule: dict[str, Any] = {"name": "follow", "when": FOLLOW["when"]}
    rule["then"] = {"on_demand": {"relative_to": P50, "factor": 0.97}, "mrl": 24}
    stale = _facts({P50: Unknown("stale", (7200.0, 3600.0))})
    plan = make_plan(make_policy([rule]), stale, PriorState())
    assert plan.target == BASE  # neither the price nor the mrl moved
    for field in ("on_demand", "mrl"):
        assert plan.fields[field].skipped == (
            'rule "follow" skipped (no data: market.on_demand.p50 (2h old, at most 1h))',
        )
    # Not observed at all (the market was not read): unknown too, said so.
    bare = make_plan(make_policy([rule]), make_facts(), PriorState())
    assert bare.fields["on_demand"].skipped == (
        'rule "follow" skipped (no data: market.on_demand.p50)',
    )
    data = bare.to_dict()["fields"]["on_demand"]["skipped_rules"][0]
    assert data["missing"][0]["fact"] == P50
    stale_data = plan.to_dict()["fields"]["on_demand"]["skipped_rules"][0]["missing"][0]
    assert stale_data["detail"] == {"unknown": {"reason": "stale", "values": [7200.0, 3600.0]}}


@pytest.mark.parametrize(
    ("relative_to", "message"),
    [
        ("market.rank", "'market.rank' is not a price to follow"),
        ("market.on_demand.p55", "'market.on_demand.p55' is not a price to follow"),
        ("hour", "'hour' is not a price to follow"),
    ],
)
def test_only_a_price_can_be_followed(relative_to: str, message: str) -> None:
    rule = {"name": "r", "then": {"spot": {"relative_to": relative_to, "factor": 1}}}
    with pytest.raises(InputFileError) as err:
        make_policy([rule])
    shown = str(err.value)
    assert "rule[0].then.spot.relative_to" in shown and message in shown


def test_both_prices_may_follow_facts_but_not_each_other() -> None:
    then = {
        "on_demand": {"relative_to": "market.on_demand.p50", "factor": 1},
        "spot": {"relative_to": "market.spot.p50", "factor": 1},
    }
    make_policy([{"name": "r", "then": then}])
    crossed = {
        "on_demand": {"relative_to": "spot", "factor": 2},
        "spot": {"relative_to": "on_demand", "factor": 0.5},
    }
    with pytest.raises(InputFileError, match="both prices relative to each other"):
        make_policy([{"name": "r", "then": crossed}])


def test_relative_facts_are_the_price_facts() -> None:
    assert "market.on_demand.p50" in RELATIVE_FACTS and "cost.floor.spot" in RELATIVE_FACTS
    assert "market.rank" not in RELATIVE_FACTS and "on_demand" not in RELATIVE_FACTS


def test_every_unknown_reason_has_words_and_odd_values_still_show() -> None:
    samples: dict[str, tuple[float | str, ...]] = {
        "not_observed": (),
        "not_configured": ("costs.electricity",),
        "too_few_peers": (3, 5),
        "stale": (7200.0, 3600.0),
        "unreadable": ("marketplace answer",),
        "read_failed": ("marketplace", "timed out"),
        "no_class": ("no GPU in specs",),
        "not_listed": (),
        "no_offers": (),
        "rate_unknown": ("bitcoin", "absent"),
        "rate_rejected": ("bitcoin", "0", "outside 1000..10000000"),
        "power_unknown": ("no power limit",),
        "above_ceiling": (0.001, 0.0003),
    }
    assert set(samples) == set(UNKNOWN_WORDS)
    for reason, values in samples.items():
        text = unknown_words(Unknown(reason, values))
        assert text and text != reason and not text.startswith(f"{reason}:"), (reason, text)
    assert unknown_words(Unknown("too_few_peers", ())) == "too_few_peers"  # wrong shape
    assert unknown_words(Unknown("brand_new", (1.5, "x"))) == "brand_new: 1.5, x"


def test_policy_lists_the_facts_it_reads() -> None:
    rule = {
        "name": "r",
        "when": {"any": [{"fact": "market.rented_share", "op": ">", "value": 0.5}]},
        "then": {"spot": {"relative_to": "spot.best_bid", "factor": 1}},
    }
    assert make_policy([rule]).fact_names() == {"market.rented_share", "spot.best_bid"}
    costed = make_policy([], cost_floor={"margin": "10%"})
    assert costed.fact_names() == {"cost.floor.on_demand", "cost.floor.spot"}
    assert make_policy([]).fact_names() == frozenset()


# --- the cost floor rail ------------------------------------------------------------------

COST = {"cost.floor.on_demand": 0.0001, "cost.floor.spot": 0.00004}


def _costed(rules: list[dict[str, Any]], margin: str = "10%", **kw: Any) -> Any:
    return make_policy(rules, cost_floor={"margin": margin}, **kw)


def test_a_price_below_the_cost_floor_is_raised_though_no_rule_touches_it() -> None:
    plan = make_plan(_costed([]), _facts(COST), PriorState(last_price_change=T0 - 60))
    # on_demand 0.0001 < 0.0001 * 1.1 = 0.00011: raised at once (min interval or not).
    assert plan.target.on_demand == 0.00011
    assert plan.fields["on_demand"].clamps[-1] == (
        "raised to the cost floor 0.00011000 (cost 0.00010000 + margin 10%)"
    )
    # spot 0.00005 >= 0.000044: untouched.
    assert plan.target.spot == BASE.spot and not plan.fields["spot"].changed


def test_the_cost_floor_clamps_a_rule_that_would_go_below_it() -> None:
    cut = {"name": "cut", "then": {"spot": {"scale": 0.5}}}
    plan = make_plan(_costed([cut], max_step="60%"), _facts(COST), PriorState())
    assert plan.target.spot == 0.000044  # not 0.000025, not the static floor 0.00003
    assert "raised to the cost floor 0.00004400" in plan.fields["spot"].clamps[-1]
    assert not any("clamped to floor" in c for c in plan.fields["spot"].clamps)


def test_the_cost_floor_is_rounded_up_to_a_whole_unit() -> None:
    facts = _facts({"cost.floor.on_demand": 0.000123451, "cost.floor.spot": 0.00001})
    plan = make_plan(_costed([], margin="0%"), facts, PriorState())
    assert plan.target.on_demand == 0.00012346  # up, never down to ...45


def test_a_static_floor_above_the_cost_floor_wins() -> None:
    cut = {"name": "cut", "then": {"spot": {"scale": 0.5}}}
    low = {"cost.floor.on_demand": 0.00001, "cost.floor.spot": 0.00001}
    plan = make_plan(_costed([cut], max_step="60%"), _facts(low), PriorState())
    assert plan.target.spot == 0.00003
    assert plan.fields["spot"].clamps == ("clamped to floor 0.00003000",)


def test_a_cost_floor_above_the_ceiling_blocks_the_plan_naming_both() -> None:
    high = {**COST, "cost.floor.on_demand": 0.0005}
    plan = make_plan(_costed([]), _facts(high), PriorState())
    assert not plan.changed
    assert plan.blocked == (
        "the cost floor for on_demand 0.00055000 (cost 0.00050000 + margin 10%) is above "
        "the ceiling 0.00030000: no price would cover the cost; raise "
        "rails.on_demand.ceiling or check [costs]"
    )


def test_an_unknown_cost_floor_lets_no_price_fall_but_increases_go() -> None:
    down = {"name": "down", "then": {"on_demand": {"scale": 0.9}, "spot": {"scale": 1.1}}}
    why = Unknown("rate_unknown", ("bitcoin", "absent from spot_marketplace"))
    facts = _facts({"cost.floor.on_demand": why, "cost.floor.spot": why})
    plan = make_plan(_costed([down]), facts, PriorState())
    assert plan.target.on_demand == BASE.on_demand  # held
    assert plan.target.spot == 0.000055  # up
    assert plan.fields["on_demand"].clamps[-1] == (
        "held: no price moves down while the cost floor is unknown: "
        "bitcoin rate unknown: absent from spot_marketplace"
    )
    rail = plan.to_dict()["fields"]["on_demand"]["rail_reasons"][-1]
    assert rail["unknown"] == {"reason": "rate_unknown", "values": list(why.values)}
    # Not observed at all: the same.
    bare = make_plan(_costed([down]), make_facts(), PriorState())
    assert bare.target.on_demand == BASE.on_demand
    assert "cost floor is unknown: not observed this cycle" in bare.fields["on_demand"].clamps[-1]
    # Without the rail, the unknown cost changes nothing.
    free = make_plan(make_policy([down]), facts, PriorState())
    assert free.target.on_demand == 0.00009


def test_an_unknown_cost_floor_still_brings_a_price_down_to_its_ceiling() -> None:
    high = BASE._replace(on_demand=0.0005)
    plan = make_plan(_costed([]), make_facts(current=high), PriorState())
    assert not plan.changed  # no rule, in range elsewhere: nothing to write
    touch = {"name": "t", "then": {"on_demand": {"scale": 1.0}}}
    plan = make_plan(_costed([touch]), make_facts(current=high), PriorState())
    assert plan.target.on_demand == 0.0003


# --- properties (issue 16, Must show 2) ---------------------------------------------------

PROPERTY = settings(max_examples=600, deadline=None)
COST_FLOOR = st.sampled_from(["0%", "10%", "35%"])


def _with_cost_floor(case: Case, margin: str) -> Any:
    data = {**case.data, "rails": {**case.data["rails"], "cost_floor": {"margin": margin}}}
    return parse_policy(data)


def _cost_floor(case: Case, data: st.DataObject, field: str) -> float:
    bounds: dict[str, float] = case.data["rails"][field]
    u = data.draw(st.integers(0, 1300)) / 1000  # up to 30 % above the ceiling: sometimes blocks
    return max(1e-8, round(bounds["floor"] * 0.5 + u * (bounds["ceiling"] - bounds["floor"]), 8))


@PROPERTY
@given(cases(), COST_FLOOR, st.data())
def test_no_plan_carries_a_price_below_the_cost_floor(
    case: Case, margin: str, data: st.DataObject
) -> None:
    costs = {f"cost.floor.{f}": _cost_floor(case, data, f) for f in ("on_demand", "spot")}
    facts = replace(case.facts, observed=costs)
    policy = _with_cost_floor(case, margin)
    plan = make_plan(policy, facts, case.prior)
    if plan.blocked:
        assert plan.target == plan.current
        return
    for field in ("on_demand", "spot"):
        floor = costs[f"cost.floor.{field}"] * (1 + float(margin.rstrip("%")) / 100)
        target = getattr(plan.target, field)
        assert target >= floor * (1 - 1e-12), (field, target, floor)
        assert math.isfinite(target)


@PROPERTY
@given(cases(), COST_FLOOR, st.sampled_from(["missing", "unknown", "nan"]))
def test_with_the_cost_floor_unknown_no_price_moves_down(case: Case, margin: str, how: str) -> None:
    observed: dict[str, Observed] = {}
    if how == "unknown":
        observed = {
            f"cost.floor.{f}": Unknown("power_unknown", ("x",)) for f in ("on_demand", "spot")
        }
    elif how == "nan":
        observed = {f"cost.floor.{f}": math.nan for f in ("on_demand", "spot")}
    facts = replace(case.facts, observed=observed)
    policy = _with_cost_floor(case, margin)
    plan = make_plan(policy, facts, case.prior)
    for field in ("on_demand", "spot"):
        current, target = getattr(plan.current, field), getattr(plan.target, field)
        if target < current:
            # Only a price set above its ceiling comes down, to the ceiling.
            assert target == policy.rails.bounds(field).ceiling < current


def test_cost_floor_rail_in_the_shipped_rails_shape() -> None:
    data = rails(cost_floor={"margin": 12})
    policy = parse_policy({"version": 1, "rails": data})
    assert policy.rails.cost_floor is not None and policy.rails.cost_floor.margin == 12
    with pytest.raises(InputFileError, match=r"rails\.cost_floor\.margin"):
        parse_policy({"version": 1, "rails": rails(cost_floor={"margin": "-5%"})})
    with pytest.raises(InputFileError, match=r"rails\.cost_floor\.floor"):
        parse_policy({"version": 1, "rails": rails(cost_floor={"floor": 1})})
