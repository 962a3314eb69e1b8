"""Policy params: named numbers in rules and rails, overridden from the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clore_host.config import load_config, load_policy
from clore_host.facts import PriorState
from clore_host.issues import InputFileError
from clore_host.policy import make_plan, parse_policy

from .factories import BASE, make_facts, rails


def _policy(params: dict[str, Any], rules: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"version": 1, "params": params, "rails": rails(**kw), "rule": rules}


LIST = {"name": "list", "then": {"on_demand": {"set": "list_price"}}}


def _errors(data: dict[str, Any], overrides: dict[str, float] | None = None) -> dict[str, str]:
    with pytest.raises(InputFileError) as err:
        parse_policy(data, "p.toml", overrides)
    return {i.location: i.message for i in err.value.issues}


def test_a_param_stands_for_a_number_in_actions_rails_and_conditions() -> None:
    data = _policy(
        {"list_price": 0.00012, "floor": 0.00005, "cut": 0.9, "busy": 2, "up": 5},
        [
            {
                "name": "busy",
                "when": {"fact": "gpu_count", "op": ">=", "value": "busy"},
                "then": {"spot": {"scale": "cut"}},
            },
            LIST,
            {"name": "nudge", "then": {"on_demand": {"step": "up"}}},
        ],
        on_demand={"floor": "floor", "ceiling": 0.0003},
    )
    policy = parse_policy(data)
    assert policy.params == {
        "list_price": 0.00012,
        "floor": 0.00005,
        "cut": 0.9,
        "busy": 2.0,
        "up": 5.0,
    }
    assert policy.rails.on_demand.floor == 0.00005
    assert policy.rules[0].when is not None and policy.rules[0].when.value == 2
    assert policy.rules[1].then.on_demand is not None
    assert policy.rules[1].then.on_demand.set_ == 0.00012
    assert policy.rules[2].then.on_demand is not None
    assert policy.rules[2].then.on_demand.step == 5.0
    # A percent written as text is still a percent, not a param.
    text = _policy({}, [{"name": "s", "then": {"spot": {"step": "-10%"}}}])
    assert parse_policy(text).rules[0].then.spot is not None
    plan = make_plan(parse_policy(data), make_facts(), PriorState())
    assert plan.target.on_demand == 0.00011  # toward the list price, one max step at a time


def test_the_config_overrides_a_param_and_the_rules_see_the_new_value() -> None:
    data = _policy({"list_price": 0.00012}, [LIST], max_step="50%")
    own = make_plan(parse_policy(data), make_facts(), PriorState())
    higher = make_plan(
        parse_policy(data, params={"list_price": 0.00014}), make_facts(), PriorState()
    )
    assert own.target.on_demand == 0.00012
    assert higher.target.on_demand == 0.00014
    assert parse_policy(data, params={"list_price": 0.00014}).params["list_price"] == 0.00014
    assert parse_policy(data).digest() != parse_policy(data, params={"list_price": 1e-4}).digest()
    assert BASE.on_demand == 0.0001


def test_param_problems_are_located() -> None:
    assert _errors(
        _policy(
            {"list_price": 0.0001},
            [{**LIST, "name": "x"}],
            spot={"floor": "flor", "ceiling": 0.0002},
        )
    ) == {
        "rails.spot.floor": "unknown param 'flor' (params: list_price)",
    }
    assert _errors(_policy({}, [LIST])) == {
        "rule[0].then.on_demand.set": "unknown param 'list_price' (params: none declared)",
    }
    assert _errors(_policy({"list_price": "cheap"}, [])) == {
        "params.list_price": "expected a finite number",
    }
    assert _errors(_policy({"List": 1}, [])) == {
        "params.List": "a param name is lower case: letters, digits, _",
    }
    assert _errors(_policy({"list_price": 0.0001}, [LIST]), {"lst_price": 0.0002}) == {
        "params.lst_price": "set by the config's [policy] params, but the policy declares no "
        "such param (it has: list_price)",
    }
    # A param's value still meets the rails: a set outside them is refused where it is used.
    outside = _errors(_policy({"list_price": 0.01}, [LIST]))
    assert "outside rails.on_demand" in outside["rule[0].then.on_demand.set"]


def test_params_from_the_config_file_reach_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        "version = 1\n[params]\nlist_price = 0.00012\n"
        "[rails]\non_demand = { floor = 0.00006, ceiling = 0.0003 }\n"
        "spot = { floor = 0.00003, ceiling = 0.0002 }\n"
        '[[rule]]\nname = "list"\nthen.on_demand = { set = "list_price" }\n'
    )
    config = tmp_path / "config.toml"
    config.write_text(
        '[server]\nname = "rig"\n[policy]\npath = "p.toml"\nparams = { list_price = 0.0002 }\n'
    )
    loaded = load_config(config)
    assert loaded.policy.params == {"list_price": 0.0002}
    assert load_policy(loaded.policy.path, loaded.policy.params).params == {"list_price": 0.0002}
    config.write_text(
        '[server]\nname = "rig"\n[policy]\npath = "p.toml"\nparams = { list_price = "x" }\n'
    )
    with pytest.raises(InputFileError, match=r"policy\.params\.list_price"):
        load_config(config)
