"""Policy parameters: `[params]` names numbers that rules and rails then use by name.

    [params]
    list_price = 0.0002
    [rails]
    on_demand = { floor = "idle_floor", ceiling = 0.0005 }
    [[rule]]
    then.on_demand = { set = "list_price" }

A param may stand wherever the file takes a number a provider would tune per rig: a price
action's `set`, `scale`, `factor` and `step` (in percent), the rails' floors and ceilings, and
the `value` of a condition on a price, number or count fact. The config may override any
declared param (`[policy] params = { list_price = 0.0003 }`), so one policy serves rigs of
every class, and a simulator can run it at any price level. Params are resolved before the
policy is validated: the later phases see plain numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ._errors import Loc
from .catalogue import FACTS

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_ACTION_KEYS = ("set", "scale", "factor", "step")
_CONDITION_KINDS = frozenset({"price", "number", "count"})
PRICE_KEYS = ("on_demand", "spot")


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def resolve_params(
    data: Mapping[str, Any], overrides: Mapping[str, float] | None = None
) -> tuple[dict[str, Any], list[tuple[Loc, str]]]:
    """`data` with every param named in a number's place replaced by its value (the config's
    override, else the policy's), and the problems found, each with its place."""
    problems: list[tuple[Loc, str]] = []
    declared = data.get("params", {})
    if not isinstance(declared, dict):
        return dict(data), [(("params",), "expected a table of names and numbers")]
    params: dict[str, float] = {}
    for name, value in declared.items():
        if not _NAME.match(name):
            problems.append((("params", name), "a param name is lower case: letters, digits, _"))
        elif not _is_number(value):
            problems.append((("params", name), "expected a finite number"))
        else:
            params[name] = float(value)
    for name, value in (overrides or {}).items():
        if name not in declared:
            have = ", ".join(sorted(declared)) or "none"
            problems.append(
                (
                    ("params", name),
                    f"set by the config's [policy] params, but the policy declares no such "
                    f"param (it has: {have})",
                )
            )
        elif not _is_number(value):
            problems.append((("params", name), "the config's value is not a finite number"))
        else:
            params[name] = float(value)
    out = dict(data)
    out["params"] = params

    def value_of(raw: Any, loc: Loc, *, percent: bool = False) -> Any:
        """`raw` as its param's value when it names one; a name that is no param is an error."""
        if not isinstance(raw, str) or (percent and not _NAME.match(raw.strip())):
            return raw
        name = raw.strip()
        if name in params:
            return params[name]
        if _NAME.match(name) and name not in declared:
            have = ", ".join(sorted(declared)) or "none declared"
            problems.append((loc, f"unknown param {name!r} (params: {have})"))
        return raw

    if isinstance(out.get("rails"), dict):
        out["rails"] = _per_price(out["rails"], ("rails",), ("floor", "ceiling"), value_of)
    rules = out.get("rule")
    if isinstance(rules, list):
        out["rule"] = [_rule(rule, i, value_of) for i, rule in enumerate(rules)]
    return out, problems


def _rule(rule: Any, i: int, value_of: Any) -> Any:
    if not isinstance(rule, dict):
        return rule
    rule = dict(rule)
    if isinstance(rule.get("then"), dict):
        rule["then"] = _per_price(rule["then"], ("rule", i, "then"), _ACTION_KEYS, value_of)
    if "when" in rule:
        rule["when"] = _condition(rule["when"], ("rule", i, "when"), value_of)
    return rule


def _per_price(table: dict[str, Any], loc: Loc, keys: tuple[str, ...], value_of: Any) -> Any:
    """`table` (the rails, or a rule's `then`) with the params resolved in each price's
    `keys` (a `step` is a percent: "-10%" stays as written)."""
    table = dict(table)
    for price in PRICE_KEYS:
        part = table.get(price)
        if isinstance(part, dict):
            table[price] = {
                k: value_of(v, (*loc, price, k), percent=k == "step") if k in keys else v
                for k, v in part.items()
            }
    return table


def _condition(cond: Any, loc: Loc, value_of: Any) -> Any:
    if not isinstance(cond, dict):
        return cond
    cond = dict(cond)
    for key in ("all", "any"):
        if isinstance(cond.get(key), list):
            cond[key] = [_condition(c, (*loc, key, j), value_of) for j, c in enumerate(cond[key])]
    if "not" in cond:
        cond["not"] = _condition(cond["not"], (*loc, "not"), value_of)
    fact = cond.get("fact")
    spec = FACTS.get(fact) if isinstance(fact, str) else None
    if spec is not None and spec.kind in _CONDITION_KINDS and "value" in cond:
        cond["value"] = value_of(cond["value"], (*loc, "value"))
    return cond


__all__ = ["resolve_params"]
