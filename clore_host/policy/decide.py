"""decide(): run the compiled rules over the facts and propose target settings, with reasons.

Composition: rules apply in file order; each action works on the target built so far (two
`scale` rules multiply; a later `set` replaces an earlier one). Within one rule, direct
actions run before `relative_to`, so `relative_to` sees this rule's other price. A rule may
also follow a price fact (`relative_to = "market.on_demand.p50"`): while that fact is unknown,
the rule is skipped, as for an unknown fact in its `when`. A matching rule with `stop = true`
ends evaluation. The proposal is raw: the rails come in guard().
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..facts import SETTING_FIELDS, Facts, Settings
from .catalogue import unknown_detail
from .compile import CompiledRule, compiled
from .plan import FactSeen, RuleReason, RuleSkipped, Seen
from .schema import Policy


@dataclass(frozen=True)
class Proposal:
    """Target settings as the rules want them, before rails."""

    target: Settings
    rule_reasons: Mapping[str, tuple[RuleReason, ...]]  # field -> the rules that acted on it
    skipped_rules: Mapping[str, tuple[RuleSkipped, ...]]  # field -> rules lacking data
    off_even_if_rented: bool = False  # availability=false came from an even_if_rented rule


def _reason(rule: CompiledRule, facts: Facts) -> RuleReason:
    if rule.node is None:
        return RuleReason(rule.name)
    seen: list[Seen] = []
    rule.node.describe(facts, seen)
    return RuleReason(rule.name, tuple(seen))


def _price(value: object) -> float | None:
    """A price fact's value (None: unknown)."""
    return float(value) if isinstance(value, (int, float)) else None


def decide(policy: Policy, facts: Facts) -> Proposal:
    """Pure: the same policy and facts always give the same proposal."""
    prices = {"on_demand": facts.current.on_demand, "spot": facts.current.spot}
    availability = facts.current.availability
    mrl = facts.current.mrl
    forced = False
    reasons: dict[str, list[RuleReason]] = {f: [] for f in SETTING_FIELDS}
    skipped: dict[str, list[RuleSkipped]] = {f: [] for f in SETTING_FIELDS}
    for rule in compiled(policy).rules:
        matched = True if rule.node is None else rule.node.eval(facts)
        if matched is None:
            assert rule.node is not None
            missing: list[Seen] = []
            rule.node.unknown(facts, missing)
            note = RuleSkipped(rule.name, tuple(missing))
            for field in rule.fields:
                skipped[field].append(note)
            continue
        if not matched:
            continue
        # A price to follow that is unknown (the market not read, too few peers) skips the
        # whole rule, as an unknown fact in its `when` would.
        followed = {s.other: _price(s.read(facts)) for s in rule.prices if s.read is not None}
        if any(value is None for value in followed.values()):
            note = RuleSkipped(
                rule.name,
                tuple(
                    FactSeen(name, None, unknown_detail(facts, name))
                    for name, value in followed.items()
                    if value is None
                ),
            )
            for field in rule.fields:
                skipped[field].append(note)
            continue
        reason = _reason(rule, facts)
        if followed:
            seen = tuple(FactSeen(name, value) for name, value in followed.items())
            reason = RuleReason(reason.rule, (*reason.why, *seen))
        for step in rule.prices:
            if step.kind == "set":
                prices[step.field] = step.number
            elif step.kind == "relative":
                base = followed[step.other] if step.read is not None else prices[step.other]
                assert base is not None  # unknown ones skipped the rule above
                prices[step.field] = base * step.number
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
        rule_reasons={f: tuple(r) for f, r in reasons.items()},
        skipped_rules={f: tuple(s) for f, s in skipped.items()},
        off_even_if_rented=forced and not availability,
    )
