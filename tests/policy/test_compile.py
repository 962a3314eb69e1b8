"""Compiled conditions: each catalogue fact read from Facts, three-valued logic, metric windows,
thresholds bound at compile time, and what a node saw, as data and in words."""

from __future__ import annotations

from typing import Any

import pytest

from clore_host.facts import Facts, GpuNow, HostNow, PriorState, Settings, WindowKey
from clore_host.policy import FACTS, Thresholds, compiled, decide
from clore_host.policy.catalogue import OBSERVED_FACTS

from .factories import make_facts, make_policy


def judge(cond: dict[str, Any], facts: Facts) -> bool | None:
    """True, False, or None (unknown) as the rule engine sees `cond`."""
    proposal = decide(make_policy([{"name": "t", "when": cond, "then": {"mrl": 24}}]), facts)
    if proposal.skipped_rules["mrl"]:
        return None
    return proposal.target.mrl == 24


def explain(cond: dict[str, Any], facts: Facts) -> str:
    proposal = decide(make_policy([{"name": "t", "when": cond, "then": {"mrl": 24}}]), facts)
    return (proposal.rule_reasons["mrl"] or proposal.skipped_rules["mrl"])[0].words()


HOT = GpuNow(1, temperature=91.0)
COOL = GpuNow(0, temperature=60.0)


@pytest.mark.parametrize(
    ("cond", "facts", "expected"),
    [
        ({"fact": "rental_status", "value": "spot"}, make_facts(status="spot"), True),
        (
            {"fact": "rental_status", "op": "in", "value": ["spot", "on_demand"]},
            make_facts(),
            False,
        ),
        ({"fact": "rented"}, make_facts(status="on_demand"), True),
        ({"fact": "rented", "value": False}, make_facts(status="on_demand"), False),
        (
            {"fact": "rental_status_for", "op": ">=", "value": "2h"},
            make_facts(status_for=7200),
            True,
        ),
        (
            {"fact": "rental_status_for", "op": ">=", "value": "2h"},
            make_facts(status_for=None),
            None,
        ),
        ({"fact": "on_demand", "op": "<", "value": 0.0002}, make_facts(), True),
        ({"fact": "spot", "op": ">", "value": 0.0001}, make_facts(), False),
        ({"fact": "availability", "value": False}, make_facts(), False),
        ({"fact": "mrl", "op": "==", "value": 72}, make_facts(), True),
        ({"fact": "idle_for", "op": "<", "value": 60}, make_facts(idle_for=30.0), True),
        (
            {"fact": "gpu_count", "op": "==", "value": 2},
            make_facts(gpus=[COOL, GpuNow(1, lost=True)]),
            True,
        ),
        ({"fact": "expected_gpus", "op": ">=", "value": 4}, make_facts(expected=4), True),
        ({"fact": "gpus_missing"}, make_facts(expected=2), True),
        ({"fact": "gpus_missing"}, make_facts(expected=1), False),
        ({"fact": "gpu_lost"}, make_facts(gpus=[COOL, GpuNow(1, lost=True)]), True),
        ({"fact": "gpu_lost"}, make_facts(gpus=[COOL]), False),
        ({"fact": "overheating"}, make_facts(gpus=[COOL, HOT]), True),
        ({"fact": "overheating"}, make_facts(gpus=[COOL, GpuNow(1, temperature=87.9)]), False),
        (
            {"fact": "overheating"},
            make_facts(gpus=[GpuNow(0, throttle=frozenset({"hw_thermal"}))]),
            True,
        ),
        ({"fact": "overheating"}, make_facts(gpus=[COOL, GpuNow(1)]), None),
        ({"fact": "overheating"}, make_facts(gpus=[COOL, GpuNow(1, lost=True)]), False),
        (
            {"fact": "thermal_throttle"},
            make_facts(gpus=[GpuNow(0, throttle=frozenset({"sw_thermal"}))]),
            True,
        ),
        (
            {"fact": "power_throttle"},
            make_facts(gpus=[GpuNow(0, throttle=frozenset({"sw_thermal"}))]),
            False,
        ),
        (
            {"fact": "power_throttle"},
            make_facts(gpus=[GpuNow(0, throttle=frozenset({"sw_power_cap"}))]),
            True,
        ),
        ({"fact": "ecc_errors"}, make_facts(gpus=[GpuNow(0, ecc_uncorrected=2)]), True),
        ({"fact": "ecc_errors"}, make_facts(gpus=[GpuNow(0, pages_pending=True)]), True),
        ({"fact": "ecc_errors"}, make_facts(gpus=[GpuNow(0)]), False),
        (
            {"fact": "host.cpu_percent", "op": ">", "value": 90},
            make_facts(host=HostNow(cpu_percent=95)),
            True,
        ),
        ({"fact": "host.load1", "op": ">", "value": 4}, make_facts(), None),
        (
            {"fact": "host.mem_percent", "op": "<", "value": 50},
            make_facts(host=HostNow(mem_percent=60)),
            False,
        ),
        (
            {"fact": "host.disk_free_mib", "op": "<", "value": 1024},
            make_facts(host=HostNow(disk_free_mib=512)),
            True,
        ),
        (
            {"fact": "host.uptime", "op": "<", "value": "10m"},
            make_facts(host=HostNow(uptime_s=300)),
            True,
        ),
        ({"fact": "hour", "op": "between", "value": [22, 6]}, make_facts(hour=23), True),
        ({"fact": "hour", "op": "between", "value": [22, 6]}, make_facts(hour=5), True),
        ({"fact": "hour", "op": "between", "value": [22, 6]}, make_facts(hour=6), False),
        ({"fact": "hour", "op": "between", "value": [22, 6]}, make_facts(hour=12), False),
        ({"fact": "hour", "op": "between", "value": [9, 17]}, make_facts(hour=9), True),
        ({"fact": "weekday", "op": "in", "value": ["sat", "Sunday"]}, make_facts(weekday=6), True),
        ({"fact": "weekday", "value": "mon"}, make_facts(weekday=0), True),
        (
            {"fact": "weekday", "op": "between", "value": ["fri", "mon"]},
            make_facts(weekday=0),
            False,
        ),
        (
            {"fact": "weekday", "op": "between", "value": ["fri", "mon"]},
            make_facts(weekday=5),
            True,
        ),
    ],
)
def test_facts(cond: dict[str, Any], facts: Facts, expected: bool | None) -> None:
    assert judge(cond, facts) is expected


def test_every_catalogue_fact_is_exercised() -> None:
    tested = {
        "rental_status", "rented", "rental_status_for", "on_demand", "spot", "availability",
        "mrl", "idle_for", "gpu_count", "expected_gpus", "gpus_missing", "gpu_lost",
        "overheating", "thermal_throttle", "power_throttle", "ecc_errors", "host.cpu_percent",
        "host.load1", "host.mem_percent", "host.disk_free_mib", "host.uptime", "hour", "weekday",
    }  # fmt: skip
    # The facts observed in their own rooms: each in test_observed.py.
    tested |= {spec.name for spec in OBSERVED_FACTS}
    assert set(FACTS) == tested


def test_overheat_threshold_comes_from_the_policy() -> None:
    warm = make_facts(gpus=[GpuNow(0, temperature=80.0)])
    rule = {"name": "t", "when": {"fact": "overheating"}, "then": {"mrl": 24}}
    strict = make_policy([rule]).model_copy(update={"overheat_c": 75.0})
    assert decide(make_policy([rule]), warm).target.mrl == 72
    assert decide(strict, warm).target.mrl == 24


def test_thresholds_are_bound_once_when_the_policy_is_compiled() -> None:
    warm = make_facts(gpus=[GpuNow(0, temperature=80.0)])
    rule = {"name": "t", "when": {"fact": "overheating"}, "then": {"mrl": 24}}
    policy = make_policy([rule])
    form = compiled(policy)
    assert form.thresholds == policy.thresholds == Thresholds(idle_threshold=10, overheat_c=88)
    assert compiled(policy) is form  # kept with the policy
    node = form.rules[0].node
    assert node is not None and node.eval(warm) is False  # the facts alone: 88 is bound in
    strict = policy.model_copy(update={"overheat_c": 75.0})
    strict_node = compiled(strict).rules[0].node
    assert compiled(strict).thresholds.overheat_c == 75
    assert strict_node is not None and strict_node.eval(warm) is True
    assert compiled(policy) is form  # the original keeps its own compiled form
    assert strict == policy.model_copy(update={"overheat_c": 75.0})  # derived, not compared


UTIL_1H = WindowKey("utilization", "avg", 3600.0)


def _util(gpus: str, op: str, value: float) -> dict[str, Any]:
    return {"metric": "utilization", "window": "1h", "gpus": gpus, "op": op, "value": value}


@pytest.mark.parametrize(
    ("cond", "values", "expected"),
    [
        (_util("any", ">", 50), (10.0, 60.0), True),
        (_util("any", ">", 50), (10.0, None), None),
        (_util("any", ">", 50), (60.0, None), True),
        (_util("all", "<", 20), (10.0, 15.0), True),
        (_util("all", "<", 20), (10.0, 25.0), False),
        (_util("all", "<", 20), (10.0, None), None),
        (_util("all", "<", 20), (30.0, None), False),
        (_util("sum", ">=", 100), (60.0, 40.0), True),
        (_util("sum", ">=", 100), (60.0, None), None),
        (_util("mean", "<", 50), (60.0, 30.0), True),
        (_util("any", ">", 50), (), None),
    ],
)
def test_metric_windows(
    cond: dict[str, Any], values: tuple[float | None, ...], expected: bool | None
) -> None:
    gpus = [GpuNow(i) for i in range(max(1, len(values)))]
    assert judge(cond, make_facts(gpus=gpus, windows={UTIL_1H: values})) is expected


def test_missing_window_is_no_data() -> None:
    facts = make_facts(windows={})
    assert judge(_util("any", ">", 50), facts) is None
    assert explain(_util("any", ">", 50), facts) == (
        'rule "t" skipped (no data: utilization avg over 1h)'
    )


def test_current_reading_without_window_ignores_lost_gpus() -> None:
    cond = {"metric": "temperature", "gpus": "all", "op": "<", "value": 70}
    facts = make_facts(gpus=[COOL, GpuNow(1, lost=True, temperature=20.0)])
    assert judge(cond, facts) is None  # a lost GPU's last reading is not trusted


def test_explanations_show_the_values() -> None:
    facts = make_facts(gpus=[COOL, HOT], windows={UTIL_1H: (3.0, 5.5)})
    assert explain({"fact": "overheating"}, facts) == 'rule "t" (overheating: GPU 1 at 91 C)'
    assert explain(_util("all", "<", 10), facts) == 'rule "t" (utilization avg over 1h: 3, 5.5)'
    assert explain(_util("sum", "<", 10), facts) == (
        'rule "t" (utilization avg over 1h, sum of GPUs: 8.5)'
    )
    assert explain({"not": {"fact": "gpu_lost"}}, facts) == 'rule "t" (no GPU lost)'
    assert explain({"fact": "weekday", "value": "wed"}, facts) == 'rule "t" (weekday wed)'
    assert explain({"fact": "on_demand", "op": ">", "value": 0.00001}, facts) == (
        'rule "t" (on-demand price 0.00010000)'
    )
    current = Settings(0.0001, 0.00005, True, 72)
    assert explain(
        {"fact": "rental_status_for", "op": ">", "value": 60}, make_facts(current=current)
    ) == ('rule "t" (in this rental status for 1h)')


@pytest.mark.parametrize("gpus", [[], [GpuNow(0, lost=True)]])
def test_overheating_is_unknown_without_a_live_gpu(gpus: list[GpuNow]) -> None:
    from clore_host.policy import make_plan, parse_policy

    from .factories import make_facts, rails

    policy = parse_policy(
        {
            "version": 1,
            "rails": rails(),
            "rule": [
                {
                    "name": "cool",
                    "when": {"fact": "overheating", "value": False},
                    "then": {"availability": False},
                },
            ],
        },
        "p.toml",
    )
    plan = make_plan(policy, make_facts(gpus=gpus), PriorState())
    assert plan.target.availability is True  # the rule did not fire on no data
    assert "no data" in " ".join(plan.fields["availability"].skipped)
