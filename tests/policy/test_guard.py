"""guard(): each rail on its own, with the (rail, why) it adds to the plan and their words."""

from __future__ import annotations

import json
import math

import pytest

from clore_host.facts import GpuNow, HostNow, PriorState, Settings, WindowKey
from clore_host.policy import RailReason, make_plan

from .factories import BASE, T0, make_facts, make_policy

NO_PRIOR = PriorState()


def _scale(field: str, factor: float, name: str = "r") -> dict[str, object]:
    return {"name": name, "then": {field: {"scale": factor}}}


def test_explain_line_in_the_documented_form() -> None:
    policy = make_policy(
        [
            {
                "name": "idle discount",
                "when": {"fact": "idle_for", "op": ">=", "value": "6h"},
                "then": {"spot": {"scale": 0.8}},
            }
        ]
    )
    facts = make_facts(idle_for=7 * 3600 + 720, current=Settings(0.0001, 0.00004, True, 72))
    plan = make_plan(policy, facts, NO_PRIOR)
    assert plan.target.spot == pytest.approx(0.000036)
    assert plan.explain() == [
        "on_demand 0.00010000 unchanged",
        'spot 0.00004000 -> 0.00003600: rule "idle discount" (idle for 7h12m); '
        "clamped by max step 10%",
        "availability true unchanged",
        "mrl 72 unchanged",
    ]
    assert plan.changed and plan.changed_fields() == ("spot",)
    assert plan.reasons() == [plan.explain()[1]]


@pytest.mark.parametrize(
    ("action", "expected", "words"),
    [
        ({"set": 0.00006}, 0.00006, None),
        ({"scale": 0.1}, 0.00006, "clamped to floor 0.00006000"),
        ({"scale": 10.0}, 0.0003, "clamped to ceiling 0.00030000"),
    ],
)
def test_floor_and_ceiling(action: dict[str, float], expected: float, words: str | None) -> None:
    policy = make_policy([{"name": "r", "then": {"on_demand": action}}], max_step="100%")
    current = (
        Settings(0.00007, 0.00005, True, 72)
        if expected < 0.0001
        else BASE._replace(on_demand=0.00028)
    )
    plan = make_plan(policy, make_facts(current=current), NO_PRIOR)
    assert plan.target.on_demand == pytest.approx(expected)
    if words:
        assert words in plan.fields["on_demand"].clamps


def test_relative_to_results_are_clamped_too() -> None:
    policy = make_policy(
        [{"name": "r", "then": {"spot": {"relative_to": "on_demand", "factor": 0.01}}}],
        max_step="100%",
    )
    plan = make_plan(policy, make_facts(), NO_PRIOR)
    assert plan.target.spot == 0.00003
    assert plan.fields["spot"].clamps == ("clamped to floor 0.00003000",)
    assert plan.fields["spot"].rail_reasons == (RailReason("floor", (0.00003,)),)


def test_max_step_limits_each_write_from_current() -> None:
    policy = make_policy([_scale("on_demand", 2.0)], max_step="10%")
    plan = make_plan(policy, make_facts(), NO_PRIOR)
    assert plan.target.on_demand == pytest.approx(0.00011)
    assert plan.fields["on_demand"].clamps == ("clamped by max step 10%",)
    assert plan.fields["on_demand"].rail_reasons == (RailReason("max_step", (10.0,)),)


@pytest.mark.parametrize(
    ("current", "factor", "expected", "why"),
    [
        (0.00001, 0.5, 0.00006, "below the floor: the floor wins, whatever the rule wants"),
        (0.00001, 10.0, 0.000066, "into range, then at most one step above the floor"),
        (0.001, 1.5, 0.0003, "above the ceiling: the ceiling wins"),
    ],
)
def test_current_outside_range_is_brought_in_at_once(
    current: float, factor: float, expected: float, why: str
) -> None:
    policy = make_policy([_scale("on_demand", factor)])
    prior = PriorState(last_price_change=T0 - 60)  # inside min interval: still corrected
    plan = make_plan(policy, make_facts(current=BASE._replace(on_demand=current)), prior)
    assert plan.target.on_demand == pytest.approx(expected), why
    assert any("outside" in c for c in plan.fields["on_demand"].clamps)
    assert RailReason("range", (0.00006, 0.0003)) in plan.fields["on_demand"].rail_reasons


def test_min_interval_holds_prices() -> None:
    policy = make_policy([_scale("on_demand", 0.9)], min_interval="30m")
    held = make_plan(policy, make_facts(), PriorState(last_price_change=T0 - 600))
    assert held.target == BASE and not held.changed
    assert held.fields["on_demand"].clamps == ("held by min interval 30m (last change 10m ago)",)
    assert held.fields["on_demand"].rail_reasons == (RailReason("min_interval", (1800.0, 600.0)),)
    free = make_plan(policy, make_facts(), PriorState(last_price_change=T0 - 1800))
    assert free.target.on_demand == pytest.approx(0.00009)


def test_deadband_drops_small_changes() -> None:
    policy = make_policy([_scale("on_demand", 0.995)], deadband="1%")
    plan = make_plan(policy, make_facts(), NO_PRIOR)
    assert plan.target.on_demand == 0.0001
    assert plan.fields["on_demand"].clamps == ("held by deadband 1% (change 0.5%)",)
    [deadband] = plan.fields["on_demand"].rail_reasons
    assert deadband.rail == "deadband" and deadband.why == pytest.approx((1.0, 0.5))
    bigger = make_plan(make_policy([_scale("on_demand", 0.98)]), make_facts(), NO_PRIOR)
    assert bigger.target.on_demand == pytest.approx(0.000098)


OFF = {"name": "off", "then": {"availability": False}}


@pytest.mark.parametrize("status", ["spot", "on_demand"])
def test_availability_never_off_while_rented(status: str) -> None:
    plan = make_plan(make_policy([OFF]), make_facts(status=status), NO_PRIOR)  # type: ignore[arg-type]
    assert plan.target.availability is True
    assert "server is rented" in plan.fields["availability"].clamps[0]
    assert plan.fields["availability"].rail_reasons == (RailReason("rented"),)


def test_even_if_rented_switches_off_at_once() -> None:
    policy = make_policy([{**OFF, "even_if_rented": True}])
    prior = PriorState(availability_since=T0 - 60)  # the hold does not delay a fault
    plan = make_plan(policy, make_facts(status="on_demand"), prior)
    assert plan.target.availability is False


def test_availability_hold_then_flip() -> None:
    on = {"name": "on", "then": {"availability": True}}
    off_now = BASE._replace(availability=False)
    policy = make_policy([on], availability_hold="30m")
    held = make_plan(policy, make_facts(current=off_now), PriorState(availability_since=T0 - 600))
    assert held.target.availability is False
    assert held.fields["availability"].clamps == (
        "held by availability hold 30m (changed 10m ago)",
    )
    assert held.fields["availability"].rail_reasons == (
        RailReason("availability_hold", (1800.0, 600.0)),
    )
    later = make_plan(policy, make_facts(current=off_now), PriorState(availability_since=T0 - 1800))
    assert later.target.availability is True
    off_policy = make_policy([OFF], availability_hold="30m")
    assert (
        make_plan(off_policy, make_facts(), PriorState(availability_since=T0 - 600)).target == BASE
    )


@pytest.mark.parametrize(
    ("mrl", "expected", "rail", "words"),
    [
        (6, 24, RailReason("mrl.min", (24,)), "clamped to mrl min 24"),
        (3000, 720, RailReason("mrl.max", (720,)), "clamped to mrl max 720"),
        (100, 100, None, None),
    ],
)
def test_mrl_bounds(mrl: int, expected: int, rail: RailReason | None, words: str | None) -> None:
    policy = make_policy([{"name": "m", "then": {"mrl": mrl}}], mrl={"min": 6, "max": 3000})
    # The file may not name an mrl outside its rails; a tighter copy of the rails clamps.
    bounds = type(policy.rails.mrl)(min=24, max=720)
    tight = policy.model_copy(update={"rails": policy.rails.model_copy(update={"mrl": bounds})})
    field = make_plan(tight, make_facts(), NO_PRIOR).fields["mrl"]
    assert field.target == expected
    assert field.clamps == ((words,) if words else ())
    assert field.rail_reasons == ((rail,) if rail else ())


def test_untouched_fields_stay_even_when_outside_the_rails() -> None:
    current = Settings(0.00001, 0.001, True, 5000)
    plan = make_plan(
        make_policy([{"name": "m", "then": {"availability": True}}]),
        make_facts(current=current),
        NO_PRIOR,
    )
    assert plan.target == current and not plan.changed  # no write: nothing is touched


def test_a_write_carries_untouched_fields_only_within_the_rails() -> None:
    current = Settings(0.00001, 0.001, True, 5000)
    policy = make_policy([{"name": "off", "then": {"availability": False}}])
    plan = make_plan(policy, make_facts(current=current), NO_PRIOR)
    rails = policy.rails
    assert plan.target == Settings(rails.on_demand.floor, rails.spot.ceiling, False, rails.mrl.max)
    assert "brought to" in plan.fields["on_demand"].explain()
    assert "this write carries it" in plan.fields["mrl"].explain()
    assert plan.fields["on_demand"].rail_reasons == (
        RailReason("carried", (rails.on_demand.floor,)),
    )
    assert plan.fields["mrl"].rail_reasons == (RailReason("carried", (rails.mrl.max,)),)
    assert plan.fields["mrl"].clamps == (
        "outside the rails, brought to 720: this write carries it",
    )


@pytest.mark.parametrize(
    ("facts_kwargs", "words"),
    [
        ({"current": Settings(math.nan, 0.00005, True, 72)}, "current on_demand price nan"),
        ({"current": Settings(0.0001, 0.0, True, 72)}, "current spot price 0.00000000"),
        ({"current": Settings(0.0001, -1.0, True, 72)}, "current spot price -1.00000000"),
        ({"gpus": [GpuNow(0, utilization=-3.0)]}, "GPU 0 utilization -3 is"),
        ({"gpus": [GpuNow(0, utilization=130.0)]}, "above 100%"),
        ({"gpus": [GpuNow(0, power=math.inf)]}, "GPU 0 power inf"),
        ({"idle_for": -5.0}, "idle time -5 is"),
        ({"host": HostNow(load1=-1.0)}, "host load -1 is"),
        ({"windows": {WindowKey("temperature", "max", 1800.0): (-4.0,)}}, "temperature -4 is"),
    ],
)
def test_implausible_facts_block_the_plan(facts_kwargs: dict[str, object], words: str) -> None:
    policy = make_policy([_scale("on_demand", 0.9), OFF])
    facts = make_facts(**facts_kwargs)  # type: ignore[arg-type]
    plan = make_plan(policy, facts, NO_PRIOR)
    assert plan.blocked is not None and words in plan.blocked
    assert plan.target == plan.current and not plan.changed
    assert plan.explain()[0] == f"blocked: {plan.blocked}"
    assert plan.reasons() == []
    data = plan.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data


FAULT_OFF = {
    "name": "GPU fault",
    "when": {"fact": "gpu_lost"},
    "then": {"availability": False},
    "even_if_rented": True,
}


@pytest.mark.parametrize("field", ["last_price_change", "availability_since"])
def test_a_record_in_the_future_blocks_and_gives_the_way_out(field: str) -> None:
    policy = make_policy([_scale("on_demand", 0.9), OFF])
    prior = PriorState(**{field: T0 + 3600})
    plan = make_plan(policy, make_facts(), prior)
    assert plan.blocked == (
        "history records a change at 2026-01-01 01:00:00 UTC, in the future (did the clock "
        "go back?): writes wait until then, or run `clore-host history --forget-future` if "
        "the clock was wrong"
    )
    assert plan.target == plan.current and not plan.changed
    # Once that time has passed, the rails judge as usual.
    later = make_plan(policy, make_facts(now=T0 + 3600), prior)
    assert later.blocked is None


def test_the_latest_record_in_the_future_says_until_when() -> None:
    policy = make_policy([_scale("on_demand", 0.9)])
    prior = PriorState(last_price_change=T0 + 60, availability_since=T0 + 7200)
    plan = make_plan(policy, make_facts(), prior)
    assert plan.blocked is not None and "2026-01-01 02:00:00 UTC" in plan.blocked


@pytest.mark.parametrize("status", ["not_rented", "on_demand"])
def test_a_fault_takes_the_server_off_even_while_records_lie_in_the_future(status: str) -> None:
    # A clock that came back must not keep a broken rig listed: only availability = false
    # from an even_if_rented rule goes through; the price rules are held.
    policy = make_policy([_scale("on_demand", 0.9), _scale("spot", 1.1, "s"), FAULT_OFF])
    facts = make_facts(status=status, gpus=[GpuNow(0, lost=True)])  # type: ignore[arg-type]
    plan = make_plan(policy, facts, PriorState(last_price_change=T0 + 3600))
    assert plan.blocked is None
    assert plan.target == BASE._replace(availability=False)
    assert plan.changed_fields() == ("availability",)
    assert plan.fields["on_demand"].clamps == (
        "held: history records a change at 2026-01-01 01:00:00 UTC, in the future "
        "(did the clock go back?)",
    )
    assert plan.fields["availability"].rules == ('rule "GPU fault" (a GPU lost: GPU 0)',)


def test_while_records_lie_in_the_future_a_plain_off_rule_is_blocked() -> None:
    policy = make_policy([OFF])  # not even_if_rented
    plan = make_plan(policy, make_facts(), PriorState(availability_since=T0 + 60))
    assert plan.blocked is not None and not plan.changed


def test_a_fault_off_in_the_future_carries_prices_within_the_rails_and_in_whole_units() -> None:
    policy = make_policy([FAULT_OFF])
    current = Settings(0.000123456789, 0.5, True, 72)  # 9 decimals; spot above its ceiling
    facts = make_facts(current=current, gpus=[GpuNow(0, lost=True)])
    plan = make_plan(policy, facts, PriorState(last_price_change=T0 + 3600))
    assert plan.target == Settings(0.00012346, 0.0002, False, 72)


def test_a_non_finite_record_is_blocked_without_a_way_out() -> None:
    policy = make_policy([_scale("on_demand", 0.9)])
    plan = make_plan(policy, make_facts(), PriorState(last_price_change=math.nan))
    assert plan.blocked == "last price change is not a finite time"


# -- whole units of the currency ----------------------------------------------------------


def _units(price: float) -> bool:
    return float(f"{price:.8f}") == price


def test_a_rule_target_is_rounded_to_a_whole_unit_in_the_plan() -> None:
    policy = make_policy([_scale("on_demand", 0.9 * 1.0000001)])  # 0.0000900000009
    plan = make_plan(policy, make_facts(), NO_PRIOR)
    assert plan.target.on_demand == 0.00009
    assert plan.fields["on_demand"].explain().startswith("on_demand 0.00010000 -> 0.00009000")


def test_a_step_clamped_by_the_max_step_rounds_toward_the_current_price() -> None:
    # 0.00007217 x 1.1 = 0.000079387: the nearest unit, 0.00007939, would step 10.0014%.
    policy = make_policy([_scale("on_demand", 2.0)])
    current = BASE._replace(on_demand=0.00007217)
    plan = make_plan(policy, make_facts(current=current), NO_PRIOR)
    assert plan.target.on_demand == 0.00007938
    current = BASE._replace(on_demand=0.00008123)  # x 0.9 = 0.000073107: up to 0.00007311
    plan = make_plan(make_policy([_scale("on_demand", 0.5)]), make_facts(current=current), NO_PRIOR)
    assert plan.target.on_demand == 0.00007311


def test_the_deadband_judges_the_rounded_price() -> None:
    # A rule asking for a change below half a unit leaves the price where it is.
    policy = make_policy([_scale("on_demand", 1.00000004)], deadband=0)
    plan = make_plan(policy, make_facts(), NO_PRIOR)
    assert not plan.changed


def test_a_price_with_more_decimals_is_rounded_when_a_write_carries_it() -> None:
    current = Settings(0.000123456789, 0.000055555555, True, 72)
    plan = make_plan(make_policy([OFF]), make_facts(current=current), NO_PRIOR)
    assert plan.target == Settings(0.00012346, 0.00005556, False, 72)
    assert plan.fields["on_demand"].clamps == (
        "rounded to 0.00012346, a whole unit of the currency (0.00000001): this write carries it",
    )
    # Nothing to write: the price is left exactly as the service reports it.
    plan = make_plan(make_policy([]), make_facts(current=current), NO_PRIOR)
    assert plan.target is plan.current or plan.target == current
    assert not plan.changed


def test_every_price_a_write_carries_is_a_whole_unit() -> None:
    policy = make_policy(
        [_scale("on_demand", 0.93), {"name": "s", "then": {"spot": {"scale": 1.07}}}]
    )
    plan = make_plan(policy, make_facts(current=Settings(0.000123, 0.0000777, True, 72)), NO_PRIOR)
    assert plan.changed
    assert _units(plan.target.on_demand) and _units(plan.target.spot)


def test_to_dict_is_json_ready() -> None:
    policy = make_policy([_scale("on_demand", 0.9)])
    data = make_plan(policy, make_facts(), NO_PRIOR).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["target"]["on_demand"] == pytest.approx(0.00009)
    assert data["fields"]["on_demand"]["rules"] == ['rule "r" (always)']
    assert data["changed"] is True and data["blocked"] is None
