"""decide(): rule order, composition, stop, and explanations in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from clore_host.facts import GpuNow, PriorState, Settings
from clore_host.policy import FactSeen, RuleReason, RuleSkipped, decide, make_plan

from .factories import BASE, make_facts, make_policy, words

IDLE = {
    "all": [
        {"fact": "rental_status", "op": "==", "value": "not_rented"},
        {"fact": "idle_for", "op": ">=", "value": "6h"},
    ]
}


def test_two_scales_multiply_in_file_order() -> None:
    policy = make_policy(
        [
            {"name": "a", "then": {"on_demand": {"scale": 0.9}}},
            {"name": "b", "then": {"on_demand": {"scale": 0.5}}},
        ]
    )
    proposal = decide(policy, make_facts())
    assert proposal.target.on_demand == pytest.approx(0.0001 * 0.9 * 0.5)
    assert proposal.rule_reasons["on_demand"] == (RuleReason("a"), RuleReason("b"))
    assert words(proposal.rule_reasons["on_demand"]) == ('rule "a" (always)', 'rule "b" (always)')


def test_later_set_replaces_earlier_and_step_is_percent() -> None:
    policy = make_policy(
        [
            {"name": "a", "then": {"on_demand": {"set": 0.0002}}},
            {"name": "b", "then": {"on_demand": {"step": "+5%"}}},
            {"name": "c", "then": {"spot": {"step": "-10%"}}},
        ]
    )
    target = decide(policy, make_facts()).target
    assert target.on_demand == pytest.approx(0.0002 * 1.05)
    assert target.spot == pytest.approx(0.00005 * 0.9)


def test_relative_to_reads_this_rules_other_price() -> None:
    # spot is listed first in the file, but direct actions run before relative_to.
    policy = make_policy(
        [
            {
                "name": "r",
                "then": {
                    "spot": {"relative_to": "on_demand", "factor": 0.6},
                    "on_demand": {"set": 0.0002},
                },
            }
        ]
    )
    assert decide(policy, make_facts()).target.spot == pytest.approx(0.00012)


def test_stop_ends_evaluation_only_when_the_rule_matched() -> None:
    rules: list[dict[str, Any]] = [
        {"name": "off", "when": {"fact": "rented"}, "then": {"mrl": 24}, "stop": True},
        {"name": "stopper", "then": {"mrl": 48}, "stop": True},
        {"name": "never", "then": {"mrl": 96}},
    ]
    policy = make_policy(rules)
    assert decide(policy, make_facts()).target.mrl == 48  # "off" did not match: no stop
    assert decide(policy, make_facts(status="spot")).target.mrl == 24


def test_reason_names_the_rule_and_fact_values() -> None:
    policy = make_policy(
        [{"name": "idle discount", "when": IDLE, "then": {"spot": {"scale": 0.9}}}]
    )
    proposal = decide(policy, make_facts(idle_for=7 * 3600 + 12 * 60))
    # The reason is data: the rule and the values its `when` saw; words only when shown.
    seen = (FactSeen("rental_status", "not_rented"), FactSeen("idle_for", 7 * 3600 + 12 * 60))
    assert proposal.rule_reasons["spot"] == (RuleReason("idle discount", seen),)
    assert words(proposal.rule_reasons["spot"]) == (
        'rule "idle discount" (not rented, idle for 7h12m)',
    )
    assert proposal.rule_reasons["on_demand"] == ()


def test_unknown_fact_never_matches_and_says_no_data() -> None:
    policy = make_policy(
        [{"name": "idle discount", "when": IDLE, "then": {"spot": {"scale": 0.9}}}]
    )
    proposal = decide(policy, make_facts(idle_for=None))
    assert proposal.target == BASE
    assert proposal.skipped_rules["spot"] == (
        RuleSkipped("idle discount", (FactSeen("idle_for", None),)),
    )
    assert words(proposal.skipped_rules["spot"]) == (
        'rule "idle discount" skipped (no data: idle_for)',
    )
    plan = make_plan(policy, make_facts(idle_for=None), prior=PriorState())
    assert plan.fields["spot"].explain() == (
        'spot 0.00005000 unchanged: rule "idle discount" skipped (no data: idle_for)'
    )


def test_not_of_unknown_is_unknown() -> None:
    # Fail safe: "not overheating" is not true when no GPU reports a temperature.
    policy = make_policy(
        [{"name": "cool", "when": {"not": {"fact": "overheating"}}, "then": {"mrl": 24}}]
    )
    assert decide(policy, make_facts(gpus=[GpuNow(0)])).target.mrl == 72
    assert decide(policy, make_facts()).target.mrl == 24


def test_any_explains_only_the_branches_that_matched() -> None:
    policy = make_policy(
        [
            {
                "name": "fault",
                "when": {"any": [{"fact": "gpu_lost"}, {"fact": "gpus_missing"}]},
                "then": {"availability": False},
                "even_if_rented": True,
            }
        ]
    )
    facts = make_facts(expected=2)
    reasons = decide(policy, facts).rule_reasons["availability"]
    assert reasons == (RuleReason("fault", (FactSeen("gpus_missing", True, (1, 2)),)),)
    assert words(reasons) == ('rule "fault" (GPUs missing: 1 of 2 seen)',)


def test_a_matched_fault_rule_keeps_its_force_until_a_rule_turns_availability_on() -> None:
    fault: dict[str, Any] = {
        "name": "fault",
        "then": {"availability": False},
        "even_if_rented": True,
    }
    plain_off: dict[str, Any] = {"name": "plain", "then": {"availability": False}}
    back_on: dict[str, Any] = {"name": "on", "then": {"availability": True}}

    def forced(*rules: dict[str, Any]) -> bool:
        return decide(make_policy(list(rules)), make_facts()).off_even_if_rented

    assert forced(fault) is True
    assert forced(fault, plain_off) is True  # a later plain "off" must not cancel a fault
    assert forced(plain_off, fault) is True
    assert forced(plain_off) is False
    assert forced(fault, back_on) is False  # off is no longer the target at all


def test_decide_reads_nothing_but_its_arguments() -> None:
    policy = make_policy([{"name": "a", "when": IDLE, "then": {"on_demand": {"scale": 0.9}}}])
    facts = make_facts(idle_for=8 * 3600.0, current=Settings(0.0002, 0.0001, True, 72))
    assert decide(policy, facts) == decide(policy, facts)


def test_a_copy_with_other_rules_runs_those_rules() -> None:
    policy = make_policy([{"name": "a", "then": {"mrl": 24}}])
    other = make_policy([{"name": "b", "then": {"mrl": 48}}])
    copy = policy.model_copy(update={"rules": other.rules})
    assert decide(copy, make_facts()).target.mrl == 48
    assert decide(policy, make_facts()).target.mrl == 24
