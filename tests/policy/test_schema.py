"""Policy files: validation names every problem, its place and what is allowed there."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from clore_host.config import load_policy
from clore_host.config.paths import shipped_dir
from clore_host.facts import WindowKey
from clore_host.issues import InputFileError
from clore_host.policy import parse_policy

from .factories import rails

GOOD: dict[str, Any] = {
    "version": 1,
    "rails": rails(),
    "rule": [
        {
            "name": "idle",
            "when": {
                "all": [
                    {"fact": "rental_status", "op": "==", "value": "not_rented"},
                    {"metric": "utilization", "window": "1h", "op": "<", "value": 10},
                ]
            },
            "then": {"on_demand": {"scale": 0.9}},
        }
    ],
}


def _errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InputFileError) as info:
        parse_policy(data, "p.toml")
    assert info.value.kind == "policy" and info.value.file == "p.toml"
    return {i.location: i.message for i in info.value.issues}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one key replaced; path like "rule.0.when.all.1.metric"."""
    data = copy.deepcopy(GOOD)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


def test_good_policy_parses_with_defaults() -> None:
    policy = parse_policy(GOOD)
    assert policy.version == 1 and policy.idle_threshold == 10 and policy.overheat_c == 88
    assert policy.rails.max_step == 10 and policy.rails.min_interval == 1800
    assert policy.rails.mrl.min == 6 and policy.rails.mrl.max == 720
    assert policy.window_keys() == frozenset({WindowKey("utilization", "avg", 3600.0)})


@pytest.mark.parametrize(
    ("path", "value", "location", "fragment"),
    [
        ("version", 2, "version", "use version = 1"),
        ("version", _DELETE, "version", "required: version = 1"),
        ("colour", "red", "colour", "unknown key"),
        ("rails", _DELETE, "rails", "floor and a ceiling"),
        ("rails.spot", {"ceiling": 0.001}, "rails.spot.floor", "without price floors is refused"),
        (
            "rails.spot",
            {"floor": 0.001, "ceiling": 0.0001},
            "rails.spot.ceiling",
            "below the floor",
        ),
        ("rails.on_demand", {"floor": 0, "ceiling": 1}, "rails.on_demand.floor", "greater than 0"),
        # Absurd bounds: a floor of 1e308, below one unit of the currency; a ceiling not finite.
        (
            "rails.on_demand",
            {"floor": 1e308, "ceiling": 1e308},
            "rails.on_demand.floor",
            "floor 1e+308 is absurd: no price per day is plausible above 1000",
        ),
        (
            "rails.on_demand",
            {"floor": 0.00005, "ceiling": 1e308},
            "rails.on_demand.ceiling",
            "ceiling 1e+308 is absurd",
        ),
        (
            "rails.spot",
            {"floor": 1e-9, "ceiling": 0.0002},
            "rails.spot.floor",
            "floor 1e-09 is below one unit of the currency (0.00000001)",
        ),
        (
            "rails.spot",
            {"floor": 1e-300, "ceiling": 0.0002},
            "rails.spot.floor",
            "below one unit of the currency",
        ),
        (
            "rails.spot",
            {"floor": 0.00002, "ceiling": float("inf")},
            "rails.spot.ceiling",
            "expected a finite number",
        ),
        (
            "rails.spot",
            {"floor": float("nan"), "ceiling": 0.0002},
            "rails.spot.floor",
            "expected a finite number",
        ),
        # No whole unit between them: the floor rounds up, the ceiling down.
        (
            "rails.spot",
            {"floor": 0.000020001, "ceiling": 0.000020009},
            "rails.spot.ceiling",
            "ceiling 0.00002000 is below the floor 0.00002001 (in whole units",
        ),
        ("rails.max_step", "ten", "rails.max_step", "not a percentage"),
        ("rails.max_step", "0%", "rails.max_step", "greater than 0"),
        ("rails.min_interval", "soon", "rails.min_interval", "duration"),
        ("rails.mrl", {"min": 100, "max": 50}, "rails.mrl.max", "below min"),
        ("rule.0.name", "", "rule[0].name", "at least 1 character"),
        ("rule.0.when.all.0.fact", "rental", "rule[0].when.all[0].fact", "unknown fact 'rental'"),
        ("rule.0.when.all.0.value", "idle", "rule[0].when.all[0].value", '"not_rented"'),
        ("rule.0.when.all.0.op", ">", "rule[0].when.all[0].op", "use one of ==, !=, in, not in"),
        ("rule.0.when.all.1.metric", "gpu_util", "rule[0].when.all[1].metric", "utilization"),
        ("rule.0.when.all.1.agg", "median", "rule[0].when.all[1].agg", "avg, min, max, p95"),
        ("rule.0.when.all.1.gpus", "most", "rule[0].when.all[1].gpus", "any, all, sum, mean"),
        ("rule.0.when.all.1.window", "-1h", "rule[0].when.all[1].window", "duration"),
        ("rule.0.when.all.1.value", "high", "rule[0].when.all[1].value", "expected a number"),
        ("rule.0.when.all.1.colour", 1, "rule[0].when.all[1].colour", "unknown key"),
        ("rule.0.when.all", [], "rule[0].when.all", "at least one condition"),
        ("rule.0.when", {"fact": "rented", "all": []}, "rule[0].when", "exactly one of"),
        (
            "rule.0.when",
            {"fact": "hour", "window": "1h", "value": 3},
            "rule[0].when.window",
            "only to metric",
        ),
        (
            "rule.0.when",
            {"metric": "power", "agg": "max", "op": ">", "value": 3},
            "rule[0].when.agg",
            "needs a window",
        ),
        (
            "rule.0.when",
            {"fact": "idle_for", "op": "==", "value": "1h"},
            "rule[0].when.op",
            "use one of <, <=, >, >=, between",
        ),
        (
            "rule.0.when",
            {"fact": "idle_for", "op": ">", "value": "soon"},
            "rule[0].when.value",
            "duration",
        ),
        ("rule.0.when", {"fact": "hour", "op": "==", "value": 24}, "rule[0].when.value", "0 to 23"),
        (
            "rule.0.when",
            {"fact": "weekday", "op": "in", "value": ["funday"]},
            "rule[0].when.value",
            '"mon".."sun"',
        ),
        (
            "rule.0.when",
            {"fact": "host.load1", "op": "between", "value": [5, 2]},
            "rule[0].when.value",
            "low < high",
        ),
        (
            "rule.0.when",
            {"fact": "gpu_lost", "value": "yes"},
            "rule[0].when.value",
            "true or false",
        ),
        ("rule.0.when", {"fact": "gpu_count", "op": ">"}, "rule[0].when.value", "required"),
        ("rule.0.then", {}, "rule[0].then", "changes nothing"),
        (
            "rule.0.then",
            {"on_demand": {"scale": 0.9, "set": 0.0001}},
            "rule[0].then.on_demand",
            "exactly one of",
        ),
        (
            "rule.0.then",
            {"on_demand": {"scale": -1}},
            "rule[0].then.on_demand.scale",
            "greater than 0",
        ),
        (
            "rule.0.then",
            {"on_demand": {"step": "-100%"}},
            "rule[0].then.on_demand.step",
            "greater than -100",
        ),
        (
            "rule.0.then",
            {"spot": {"relative_to": "on_demand"}},
            "rule[0].then.spot.factor",
            "needs a factor",
        ),
        (
            "rule.0.then",
            {"spot": {"relative_to": "spot", "factor": 1}},
            "rule[0].then.spot.relative_to",
            'only be relative to "on_demand"',
        ),
        (
            "rule.0.then",
            {
                "spot": {"relative_to": "on_demand", "factor": 1},
                "on_demand": {"relative_to": "spot", "factor": 1},
            },
            "rule[0].then.spot.relative_to",
            "each other",
        ),
        (
            "rule.0.then",
            {"on_demand": {"set": 0.01}},
            "rule[0].then.on_demand.set",
            "outside rails.on_demand",
        ),
        ("rule.0.then", {"mrl": 2000}, "rule[0].then.mrl", "outside rails.mrl"),
        ("rule.0.then", {"availability": "off"}, "rule[0].then.availability", "true or false"),
        ("rule.0.even_if_rented", True, "rule[0].even_if_rented", "availability = false"),
        ("rule.0.stop", "yes", "rule[0].stop", "true or false"),
    ],
)
def test_each_mistake_is_located(path: str, value: Any, location: str, fragment: str) -> None:
    errors = _errors(_with(path, value))
    assert location in errors, errors
    assert fragment in errors[location]


def test_rails_are_whole_units_of_the_currency() -> None:
    data = _with("rails.spot", {"floor": 0.000020001, "ceiling": 0.000199999})
    bounds = parse_policy(data).rails.spot
    assert (bounds.floor, bounds.ceiling) == (0.00002001, 0.00019999)
    # Float noise is not a decimal: 3 x 0.00000001 is 3.0000000000000004e-08.
    data = _with("rails.spot", {"floor": 3 * 1e-8, "ceiling": 0.0002 * 1.1})
    bounds = parse_policy(data).rails.spot
    assert (bounds.floor, bounds.ceiling) == (0.00000003, 0.00022)


def test_a_set_price_is_checked_against_the_rails_at_whole_units() -> None:
    # 5.6130000000000006e-05 is the ceiling 0.00005613 as it goes out; one unit more is not.
    data = _with("rails.spot", {"floor": 0.00002, "ceiling": 0.00005613})
    data["rule"][0]["then"] = {"spot": {"set": 5.6130000000000006e-05}}
    parse_policy(data)
    data["rule"][0]["then"] = {"spot": {"set": 0.00005614}}
    assert "outside rails.spot" in _errors(data)["rule[0].then.spot.set"]


def test_every_mistake_is_reported_at_once() -> None:
    data = _with("rails.spot", {"ceiling": 0.001})
    data["rule"][0]["when"]["all"][1]["metric"] = "gpu_util"
    data["rule"][0]["then"] = {"mrl": "long"}
    assert set(_errors(data)) == {
        "rails.spot.floor",
        "rule[0].when.all[1].metric",
        "rule[0].then.mrl",
    }


def test_rule_names_are_unique() -> None:
    data = copy.deepcopy(GOOD)
    data["rule"].append(copy.deepcopy(data["rule"][0]))
    assert "already the name of rule[0]" in _errors(data)["rule[1].name"]


def test_digest_is_of_the_normalised_policy() -> None:
    same = _with("rails.min_interval", 1800)
    same["rails"]["max_step"] = 10
    assert parse_policy(same).digest() == parse_policy(GOOD).digest()
    assert parse_policy(GOOD) == parse_policy(copy.deepcopy(GOOD))
    other = _with("rails.spot", {"floor": 0.00004, "ceiling": 0.0002})
    assert parse_policy(other).digest() != parse_policy(GOOD).digest()


def test_load_policy_reports_file_problems(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        load_policy(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n")
    with pytest.raises(InputFileError, match="TOML syntax error"):
        load_policy(broken)


@pytest.mark.parametrize("path", sorted(shipped_dir("policies").glob("*.toml")), ids=str)
def test_shipped_policies_load(path: Path) -> None:
    policy = load_policy(path)
    assert policy.rules


def policy_reference() -> str:
    """The README's "Policy reference" section."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("\n## Policy reference\n", 1)[1]
    return section.split("\n## ", 1)[0]


def test_reference_documents_every_fact_and_metric() -> None:
    from clore_host.facts import GPU_METRICS
    from clore_host.policy import FACTS

    doc = policy_reference()
    for name in (*FACTS, *GPU_METRICS):
        assert f"`{name}`" in doc, name


def test_reference_examples_are_valid(tmp_path: Path) -> None:
    import re

    doc = policy_reference()
    head = "[rails]\non_demand = { floor = 0.00006, ceiling = 0.0003 }\n"
    head += "spot = { floor = 0.00003, ceiling = 0.0002 }\n"
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        text = block if "[rails]" in block else head + block
        path = tmp_path / "example.toml"
        path.write_text(text if "version" in text else "version = 1\n" + text)
        assert load_policy(path).version == 1


def _weekday_rule(value: list[str]) -> dict[str, Any]:
    return {
        "version": 1,
        "rails": rails(),
        "rule": [
            {
                "name": "r",
                "when": {"fact": "weekday", "op": "in", "value": value},
                "then": {"availability": True},
            },
        ],
    }


@pytest.mark.parametrize("typo", ["mon-fri", "monkey", "weds", "thurs"])
def test_a_weekday_that_is_not_a_day_name_is_refused(typo: str) -> None:
    # Found in review: only the first three letters were read, so "mon-fri" meant Monday.
    with pytest.raises(InputFileError, match=r"rule\[0\]\.when"):
        parse_policy(_weekday_rule([typo]), "p.toml")


def test_full_weekday_names_are_accepted() -> None:
    policy = parse_policy(_weekday_rule(["Saturday", "sun"]), "p.toml")
    when = policy.rules[0].when
    assert when is not None and when.value == (5, 6)  # any case, full or short: 0 = Monday
    assert policy == parse_policy(_weekday_rule(["sat", "Sunday"]), "p.toml")


# -- mrl: the API's rental limits (6 h to 3000 h), as the agent reads them back ----------------


@pytest.mark.parametrize(
    ("path", "value", "location"),
    [
        ("rails.mrl", {"min": 2, "max": 720}, "rails.mrl.min"),
        ("rails.mrl", {"min": 5, "max": 720}, "rails.mrl.min"),
        ("rails.mrl", {"min": 0, "max": 720}, "rails.mrl.min"),
        ("rails.mrl", {"min": 6, "max": 3001}, "rails.mrl.max"),
        ("rails.mrl", {"min": 6, "max": 10**400}, "rails.mrl.max"),
        ("rule.0.then", {"mrl": 3}, "rule[0].then.mrl"),
        ("rule.0.then", {"mrl": 3001}, "rule[0].then.mrl"),
    ],
)
def test_an_mrl_outside_the_apis_rental_limits_is_refused(
    path: str, value: Any, location: str
) -> None:
    errors = _errors(_with(path, value))
    assert location in errors, errors
    assert "must be 6 to 3000 hours (the API's rental limits" in errors[location]


def test_the_policy_that_wrote_an_mrl_the_agent_refuses_to_read_is_refused() -> None:
    # Written once, then every run exits 4 on the server's own mrl: refused before it can.
    data = _with("rails.mrl", {"min": 2, "max": 720})
    data["rule"][0]["then"] = {"mrl": 3}
    assert set(_errors(data)) == {"rails.mrl.min", "rule[0].then.mrl"}


def test_the_limits_are_the_ones_the_agent_reads_the_server_with() -> None:
    from clore_host.observe import server
    from clore_host.policy import schema

    assert (schema.MRL_MIN, schema.MRL_MAX) == (server.MRL_MIN, server.MRL_MAX)
    data = _with("rails.mrl", {"min": server.MRL_MIN, "max": server.MRL_MAX})
    data["rule"][0]["then"] = {"mrl": server.MRL_MAX}
    mrl = parse_policy(data).rails.mrl
    assert (mrl.min, mrl.max) == (6, 3000)


# -- integers too large for a float: located, never an OverflowError -------------------------

HUGE = 10**400


@pytest.mark.parametrize(
    ("path", "value", "location", "fragment"),
    [
        ("rails.max_step", HUGE, "rails.max_step", "a percentage must be a finite number"),
        ("rails.deadband", HUGE, "rails.deadband", "a percentage must be a finite number"),
        ("rails.min_interval", f"{HUGE}s", "rails.min_interval", "finite number of seconds"),
        ("rails.spot", {"floor": 0.00002, "ceiling": HUGE}, "rails.spot.ceiling", "too large"),
        ("rule.0.when.all.1.value", HUGE, "rule[0].when.all[1].value", "too large for a number"),
        ("rule.0.when.all.1.window", HUGE, "rule[0].when.all[1].window", "finite number"),
        ("rule.0.then", {"spot": {"step": HUGE}}, "rule[0].then.spot.step", "finite number"),
        ("rule.0.then", {"spot": {"scale": HUGE}}, "rule[0].then.spot.scale", "too large"),
        ("rule.0.then", {"mrl": HUGE}, "rule[0].then.mrl", "6 to 3000 hours"),
    ],
)
def test_an_integer_too_large_for_a_float_is_located(
    path: str, value: Any, location: str, fragment: str
) -> None:
    errors = _errors(_with(path, value))
    assert location in errors, errors
    assert fragment in errors[location]
    assert len(errors[location]) < 200  # said, not repeated digit by digit


@pytest.mark.parametrize(
    ("fact", "op", "value"),
    [
        ("gpu_count", ">", HUGE),
        ("gpu_count", "between", [1, HUGE]),
        ("hour", "in", [1, HUGE]),
        ("idle_for", ">", HUGE),
    ],
)
def test_a_fact_compared_with_a_huge_integer_is_located(fact: str, op: str, value: Any) -> None:
    data = _with("rule.0.when", {"fact": fact, "op": op, "value": value})
    errors = _errors(data)
    assert "rule[0].when.value" in errors, errors
    assert "too large for a number" in errors["rule[0].when.value"]
