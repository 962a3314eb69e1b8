"""The Plan: reasons as data, their words where shown, the JSON form, and price formats."""

from __future__ import annotations

import json
import math
import re

import pytest

from clore_host.facts import SETTING_FIELDS, GpuNow, PriorState, Settings, WindowKey
from clore_host.policy import (
    FactSeen,
    FieldPlan,
    MetricSeen,
    Plan,
    RailReason,
    RuleReason,
    RuleSkipped,
    format_price,
    make_plan,
)
from clore_host.policy._units import fmt_number

from .factories import BASE, make_facts, make_policy

UTIL_1H = WindowKey("utilization", "avg", 3600.0)
EXPONENT = re.compile(r"\d[eE][+-]?\d")


def _unchanged() -> dict[str, FieldPlan]:
    return {f: FieldPlan(f, getattr(BASE, f), getattr(BASE, f)) for f in SETTING_FIELDS}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5e-05, "0.00005000"),
        (0.00005, "0.00005000"),
        (0.000081, "0.00008100"),
        (1e-08, "0.00000001"),
        (1e-10, "0.00000000"),
        (0.0, "0.00000000"),
        (12.5, "12.50000000"),
        (1e21, "1000000000000000000000.00000000"),
        (-0.0001, "-0.00010000"),
    ],
)
def test_format_price_is_fixed_decimals_never_exponent(value: float, text: str) -> None:
    assert format_price(value) == text
    assert "e" not in format_price(value).lower()


def test_plan_lines_print_prices_through_format_price() -> None:
    # One price form in every human output: 8 fixed decimals of the currency.
    policy = make_policy([{"name": "r", "then": {"on_demand": {"scale": 0.9}}}])
    plan = make_plan(policy, make_facts(current=Settings(0.00009, 0.00005, True, 72)), PriorState())
    assert plan.explain()[0] == 'on_demand 0.00009000 -> 0.00008100: rule "r" (always)'


def test_each_field_carries_its_reasons_as_data() -> None:
    policy = make_policy(
        [
            {
                "name": "hot",
                "when": {"fact": "overheating"},
                "then": {"on_demand": {"scale": 2.0}},
            },
            {
                "name": "busy",
                "when": {
                    "metric": "utilization",
                    "window": "1h",
                    "gpus": "sum",
                    "op": ">",
                    "value": 1,
                },
                "then": {"mrl": 24},
            },
            {
                "name": "later",
                "when": {"fact": "idle_for", "op": ">", "value": 1},
                "then": {"mrl": 48},
            },
        ]
    )
    facts = make_facts(gpus=[GpuNow(0, temperature=95.0)], windows={UTIL_1H: (40.0,)})
    plan = make_plan(policy, facts, PriorState())
    on_demand = plan.fields["on_demand"]
    assert on_demand.rule_reasons == (
        RuleReason("hot", (FactSeen("overheating", True, ((0, 95.0),)),)),
    )
    assert on_demand.rail_reasons == (RailReason("max_step", (10.0,)),)
    mrl = plan.fields["mrl"]
    assert mrl.rule_reasons == (
        RuleReason("busy", (MetricSeen("utilization", 3600.0, "avg", "sum", (40.0,)),)),
    )
    assert mrl.skipped_rules == (RuleSkipped("later", (FactSeen("idle_for", None),)),)
    # ... put into words only where shown, as before.
    assert plan.explain() == [
        "on_demand 0.00010000 -> 0.00011000: "
        'rule "hot" (overheating: GPU 0 at 95 C); clamped by max step 10%',
        "spot 0.00005000 unchanged",
        "availability true unchanged",
        'mrl 72 -> 24: rule "busy" (utilization avg over 1h, sum of GPUs: 40); '
        'rule "later" skipped (no data: idle_for)',
    ]
    assert plan.rule_names() == ("hot", "busy")


def test_rule_names_are_distinct_in_field_order_and_can_be_limited_to_changes() -> None:
    policy = make_policy(
        [
            {"name": 'say "hi" (now)', "then": {"mrl": 24, "spot": {"scale": 0.95}}},
            {"name": "Ölpreis hoch", "then": {"availability": True}},  # acts, changes nothing
        ]
    )
    plan = make_plan(policy, make_facts(), PriorState())
    assert plan.rule_names() == ('say "hi" (now)', "Ölpreis hoch")
    assert plan.rule_names(changed_only=True) == ('say "hi" (now)',)


def test_to_dict_keeps_its_keys_and_adds_the_structured_reasons() -> None:
    policy = make_policy(
        [
            {
                "name": "idle",
                "when": {"all": [{"fact": "rented", "value": False}, {"fact": "gpu_lost"}]},
                "then": {"spot": {"scale": 0.8}},
            }
        ]
    )
    facts = make_facts(gpus=[GpuNow(0, utilization=1.0), GpuNow(1, lost=True)])
    data = make_plan(policy, facts, PriorState()).to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data) == {
        "changed",
        "blocked",
        "current",
        "target",
        "fields",
        "next_rental_only",
        "explain",
    }
    assert data["next_rental_only"] is False
    spot = data["fields"]["spot"]
    assert spot["rules"] == ['rule "idle" (not rented, a GPU lost: GPU 1)']
    assert spot["clamps"] == ["clamped by max step 10%"]
    assert spot["skipped"] == []
    assert spot["rule_reasons"] == [
        {
            "rule": "idle",
            "why": [
                {"fact": "rented", "value": False, "detail": []},
                {"fact": "gpu_lost", "value": True, "detail": [1]},
            ],
        }
    ]
    assert spot["rail_reasons"] == [{"rail": "max_step", "why": [10.0]}]
    assert spot["skipped_rules"] == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (87.5, "87.5"),
        (0.25, "0.25"),
        (3.14159, "3.142"),
        (1234.5, "1234"),
        (20480.5, "20480"),
        (1e21, "1000000000000000000000"),
        (1.5e21, "1500000000000000000000"),
        (1e-05, "0.00001"),
        (1.23456e-07, "0.0000001235"),
        (-1e-05, "-0.00001"),
        (-3.0, "-3"),
    ],
)
def test_fmt_number_is_short_fixed_point_never_exponent(value: float, text: str) -> None:
    assert fmt_number(value) == text
    assert "e" not in fmt_number(value).lower()


@pytest.mark.parametrize(
    ("value", "shown"),
    [(20480.5, "20480"), (1e-05, "0.00001"), (2.5e21, "2500000000000000000000")],
)
def test_reason_lines_show_large_and_tiny_metric_values_without_exponent(
    value: float, shown: str
) -> None:
    policy = make_policy(
        [
            {
                "name": "full",
                "when": {
                    "metric": "memory_used",
                    "window": "1h",
                    "gpus": "mean",
                    "op": ">=",
                    "value": 0,
                },
                "then": {"mrl": 24},
            }
        ]
    )
    memory_1h = WindowKey("memory_used", "avg", 3600.0)
    plan = make_plan(policy, make_facts(windows={memory_1h: (value,)}), PriorState())
    assert plan.reasons() == [
        f'mrl 72 -> 24: rule "full" (memory_used avg over 1h, mean of GPUs: {shown})'
    ]
    assert not EXPONENT.search(" ".join(plan.explain()))


def test_to_dict_is_valid_json_whatever_the_raw_why_holds() -> None:
    # `why` holds the raw values the decision saw: a non-finite one becomes null, like the
    # current and target prices, so `plan --json` and stored decision rows stay valid JSON.
    nan, inf = math.nan, math.inf
    field = FieldPlan(
        "on_demand",
        0.0001,
        0.0002,
        rule_reasons=(
            RuleReason(
                "odd",
                (
                    FactSeen("on_demand", inf),
                    FactSeen("overheating", True, ((0, nan), (1, 95.0))),
                    MetricSeen("power", 3600.0, "avg", "any", (nan, -inf, 40.0, None)),
                ),
            ),
        ),
        rail_reasons=(RailReason("range", (nan, inf)),),
        skipped_rules=(RuleSkipped("later", (MetricSeen("power", None, None, "all", (nan,)),)),),
    )
    data = field.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["rule_reasons"] == [
        {
            "rule": "odd",
            "why": [
                {"fact": "on_demand", "value": None, "detail": []},
                {"fact": "overheating", "value": True, "detail": [[0, None], [1, 95.0]]},
                {
                    "metric": "power",
                    "window": 3600.0,
                    "agg": "avg",
                    "gpus": "any",
                    "values": [None, None, 40.0, None],
                },
            ],
        }
    ]
    assert data["rail_reasons"] == [{"rail": "range", "why": [None, None]}]
    assert data["skipped_rules"] == [
        {
            "rule": "later",
            "missing": [
                {"metric": "power", "window": None, "agg": None, "gpus": "all", "values": [None]}
            ],
        }
    ]
    plan = Plan(BASE, BASE._replace(on_demand=0.0002), {**_unchanged(), "on_demand": field})
    whole = plan.to_dict()
    assert json.loads(json.dumps(whole, allow_nan=False)) == whole
    assert whole["fields"]["on_demand"] == data


def test_a_price_changed_while_rented_is_said_to_reach_the_next_renter_only() -> None:
    policy = make_policy([{"name": "up", "then": {"on_demand": {"scale": 1.05}, "mrl": 96}}])
    rented = make_plan(policy, make_facts(status="on_demand"), PriorState())
    assert rented.next_rental_only() and rented.to_dict()["next_rental_only"] is True
    assert rented.reasons()[0] == (
        'on_demand 0.00010000 -> 0.00010500: rule "up" (always); '
        "applies to the next rental (the running one keeps its price)"
    )
    assert rented.reasons()[1] == 'mrl 72 -> 96: rule "up" (always)'  # not a price
    idle = make_plan(policy, make_facts(status="not_rented"), PriorState())
    assert not idle.next_rental_only()
    assert "next rental" not in " ".join(idle.explain())
