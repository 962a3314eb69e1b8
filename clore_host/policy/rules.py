"""decide(): run the ordered rules over the facts and propose target settings, with reasons.

Composition: rules apply in file order; each action works on the target built so far (two
`scale` rules multiply; a later `set` replaces an earlier one). Within one rule, direct
actions run before `relative_to`, so `relative_to` sees this rule's other price. A matching
rule with `stop = true` ends evaluation. The proposal is raw: the rails come in guard().
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..facts import SETTING_FIELDS, Facts, Settings
from .schema import CompiledRule, Policy


@dataclass(frozen=True)
class Proposal:
    """Target settings as the rules want them, before rails."""

    target: Settings
    rules: Mapping[str, tuple[str, ...]]  # field -> reasons of the rules that acted on it
    skipped: Mapping[str, tuple[str, ...]]  # field -> rules not evaluated for lack of data
    off_even_if_rented: bool = False  # availability=false came from an even_if_rented rule


def _reason(rule: CompiledRule, facts: Facts, overheat_c: float) -> str:
    if rule.node is None:
        return f'rule "{rule.name}" (always)'
    seen: list[str] = []
    rule.node.describe(facts, overheat_c, seen)
    return f'rule "{rule.name}" ({", ".join(dict.fromkeys(seen))})'


def decide(policy: Policy, facts: Facts) -> Proposal:
    """Pure: the same policy and facts always give the same proposal."""
    overheat_c = policy.overheat_c
    prices = {"on_demand": facts.current.on_demand, "spot": facts.current.spot}
    availability = facts.current.availability
    mrl = facts.current.mrl
    forced = False
    reasons: dict[str, list[str]] = {f: [] for f in SETTING_FIELDS}
    skipped: dict[str, list[str]] = {f: [] for f in SETTING_FIELDS}
    for rule in policy.compiled_rules:
        matched = True if rule.node is None else rule.node.eval(facts, overheat_c)
        if matched is None:
            assert rule.node is not None
            missing: list[str] = []
            rule.node.unknown(facts, overheat_c, missing)
            note = f'rule "{rule.name}" skipped (no data: {", ".join(dict.fromkeys(missing))})'
            for field in rule.fields:
                skipped[field].append(note)
            continue
        if not matched:
            continue
        reason = _reason(rule, facts, overheat_c)
        for step in rule.prices:
            if step.kind == "set":
                prices[step.field] = step.number
            elif step.kind == "relative":
                prices[step.field] = prices[step.other] * step.number
            else:  # scale, and step (stored as a factor)
                prices[step.field] *= step.number
        if rule.availability is not None:
            availability = rule.availability
            # A hardware fault that matched keeps its force when a later rule also says off;
            # a later rule that says on ends it.
            forced = (forced or rule.even_if_rented) if availability is False else False
        if rule.mrl is not None:
            mrl = rule.mrl
        for field in rule.fields:
            reasons[field].append(reason)
        if rule.stop:
            break
    return Proposal(
        target=Settings(prices["on_demand"], prices["spot"], availability, mrl),
        rules={f: tuple(r) for f, r in reasons.items()},
        skipped={f: tuple(s) for f, s in skipped.items()},
        off_even_if_rented=forced and not availability,
    )
