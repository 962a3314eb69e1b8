"""guard(): the rails every policy carries, applied to a proposal. Pure; now = facts.now.

Order for a price a rule touched: floor/ceiling, then the maximum step from the current
price, then the minimum interval since the last price change, then the deadband. A current
price outside [floor, ceiling] (set by hand) is brought into range in one write: the nearest
edge stands in for the current price, and interval and deadband do not hold it out of range.
A field no rule touched is left exactly as it is, unless a write goes out anyway (another
field changes) and it lies outside the rails: a write carries every field, and no write may
carry a price or an mrl outside the rails, so it goes to the nearest edge.

Every price a write carries is a whole unit of the currency (0.00000001 bitcoin), in the plan
itself: a price a rule moved is rounded to the nearest unit within the floor, the ceiling and
one step (the rails' bounds are whole units, see schema.PriceBounds), and the deadband and
minimum interval judge the rounded price; a price a write carries unmoved is rounded too.

The cost floor (`rails.cost_floor`, off unless given): each price's floor is the higher of
its static floor and its `cost.floor.*` fact plus the margin, rounded up to a whole unit. A
price below it is raised at once, whether or not a rule touched it (never rent at a loss). A
cost floor above the ceiling blocks the plan. While the cost floor is unknown (no exchange
rate, no power figure), no price moves down (down to its ceiling excepted); increases may.

Records stamped in the future (the clock jumped ahead and came back) block the plan until
that time passes; only an `even_if_rented` fault rule's availability = false goes through
meanwhile (taking a server off is safe), and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..facts import GPU_METRICS, RENTAL_STATUSES, Facts, PriorState, Settings, Unknown
from ._units import (
    ROUND_CEILING,
    ROUND_FLOOR,
    fmt_number,
    format_duration,
    format_price,
    format_time,
    price_units,
    unit_price,
)
from .decide import Proposal, decide
from .plan import FieldPlan, Plan, RailReason, unchanged_plan
from .schema import PRICE_FIELDS, Policy, PriceBounds, Rails

# The command that forgets what a clock running ahead recorded (history.forget_future).
FORGET_FUTURE = "clore-host history --forget-future"


def make_plan(policy: Policy, facts: Facts, prior: PriorState) -> Plan:
    """decide, then guard: the whole decision of one cycle."""
    return guard(policy, facts, prior, decide(policy, facts))


def guard(policy: Policy, facts: Facts, prior: PriorState, proposal: Proposal) -> Plan:
    problem = _implausible_facts(facts, prior)
    if problem is not None:
        return unchanged_plan(facts.current, problem)
    rails = policy.rails
    floors = {name: _floor(rails, name, facts) for name in PRICE_FIELDS}
    for floor in floors.values():
        if floor.blocked is not None:
            return unchanged_plan(facts.current, floor.blocked)
    bounds = {name: floor.bounds for name, floor in floors.items()}
    future = _future(facts, prior)
    if future is not None:
        return _fault_off_only(rails, bounds, facts, proposal, future)
    current = facts.current
    fields: dict[str, FieldPlan] = {}
    prices: dict[str, float] = {}
    for name in PRICE_FIELDS:
        now_price: float = getattr(current, name)
        floor = floors[name]
        rules = proposal.rule_reasons[name]
        # A price below the cost floor is raised though no rule touched it: never rent at a loss.
        below_cost = floor.cost is not None and now_price < floor.cost
        if rules or below_cost:
            proposed = getattr(proposal.target, name) if rules else now_price
            prices[name], clamps = _price(rails, floor, now_price, proposed, facts, prior)
        else:
            prices[name], clamps = now_price, ()
        fields[name] = FieldPlan(
            name, now_price, prices[name], rules, clamps, proposal.skipped_rules[name]
        )
    availability = _availability(rails, facts, prior, proposal)
    mrl = _mrl(rails, current.mrl, proposal)
    fields["availability"], fields["mrl"] = availability, mrl
    target = Settings(
        prices["on_demand"], prices["spot"], bool(availability.target), int(mrl.target)
    )
    if target != current:
        target = _carried_within_rails(rails, bounds, target, fields)
    return Plan(current, target, fields, rented=facts.rental_status != "not_rented")


@dataclass(frozen=True)
class _Floor:
    """One price's floor this cycle: the static floor, or the cost floor when higher."""

    bounds: PriceBounds  # the effective floor and the ceiling
    cost: float | None = None  # the cost floor with its margin, when known
    raised: RailReason | None = None  # cost_floor: the cost floor is the effective floor
    unknown: RailReason | None = None  # cost_floor_unknown: no move down
    blocked: str | None = None  # the cost floor lies above the ceiling


def _floor(rails: Rails, name: str, facts: Facts) -> _Floor:
    """The effective floor of one price: the higher of the static floor and the cost floor
    (`cost.floor.<name>` plus the rail's margin, rounded up to a whole unit)."""
    bounds = rails.bounds(name)
    if rails.cost_floor is None:
        return _Floor(bounds)
    fact = f"cost.floor.{name}"
    cost = facts.number(fact)
    if cost is None or not (math.isfinite(cost) and cost >= 0):
        why = facts.why_unknown(fact) or Unknown("not_observed")
        return _Floor(bounds, unknown=RailReason("cost_floor_unknown", (), why))
    margin = rails.cost_floor.margin
    # Rounded up: a floor a unit below the cost would rent at a loss.
    gross = unit_price(price_units(cost * (1 + margin / 100), ROUND_CEILING))
    if gross > bounds.ceiling:
        return _Floor(
            bounds,
            blocked=(
                f"the cost floor for {name} {format_price(gross)} (cost {format_price(cost)} "
                f"+ margin {fmt_number(margin)}%) is above the ceiling "
                f"{format_price(bounds.ceiling)}: no price would cover the cost; raise "
                f"rails.{name}.ceiling or check [costs]"
            ),
        )
    if gross <= bounds.floor:
        return _Floor(bounds, cost=gross)
    raised = PriceBounds.model_construct(floor=gross, ceiling=bounds.ceiling)
    return _Floor(raised, cost=gross, raised=RailReason("cost_floor", (gross, cost, margin)))


def _fault_off_only(
    rails: Rails,
    bounds: dict[str, PriceBounds],
    facts: Facts,
    proposal: Proposal,
    until: float,
) -> Plan:
    """Records lie in the future, until `until`: the plan is blocked, unless an
    even_if_rented rule takes the server off, which goes through alone: every other field is
    held as it is (a write carries it, within the rails and in whole units)."""
    current = facts.current
    rules = proposal.rule_reasons["availability"]
    if not (proposal.off_even_if_rented and current.availability and rules):
        return unchanged_plan(current, future_message(until))
    held = RailReason("future", (until,))
    fields: dict[str, FieldPlan] = {}
    for name in (*PRICE_FIELDS, "mrl"):
        value = getattr(current, name)
        reasons = proposal.rule_reasons[name]
        fields[name] = FieldPlan(
            name, value, value, reasons, (held,) if reasons else (), proposal.skipped_rules[name]
        )
    fields["availability"] = FieldPlan(
        "availability", True, False, rules, (), proposal.skipped_rules["availability"]
    )
    target = _carried_within_rails(rails, bounds, current._replace(availability=False), fields)
    return Plan(current, target, fields, rented=facts.rental_status != "not_rented")


def _carried_within_rails(
    rails: Rails, bounds: dict[str, PriceBounds], target: Settings, fields: dict[str, FieldPlan]
) -> Settings:
    """Bring the fields a write will carry unmoved inside the rails (a rule's target is
    within them already), and every price it carries to a whole unit of the currency
    (updates `fields`). `bounds`: each price's effective floor (the cost floor when higher)
    and ceiling."""
    edges: dict[str, tuple[float, float]] = {
        name: (bounds[name].floor, bounds[name].ceiling) for name in PRICE_FIELDS
    }
    edges["mrl"] = (rails.mrl.min, rails.mrl.max)
    for name, (low, high) in edges.items():
        value = getattr(target, name)
        plan = fields[name]
        if not low <= value <= high:  # only a field held as it was (see _fault_off_only)
            carried: Any = type(value)(low if value < low else high)
            reason = RailReason("carried", (carried,))
        elif name in PRICE_FIELDS and value != _whole(value):
            # A price the service reports with more decimals than the currency has.
            carried = _whole(value)
            carried = min(max(carried, low), high) if low <= value <= high else carried
            reason = RailReason("rounded", (carried,))
        else:
            continue
        fields[name] = FieldPlan(
            name,
            plan.current,
            carried,
            plan.rule_reasons,
            (*plan.rail_reasons, reason),
            plan.skipped_rules,
        )
        target = target._replace(**{name: carried})
    return target


def _whole(price: float) -> float:
    """`price` at the nearest whole unit of the currency."""
    return unit_price(price_units(price))


def _price(
    rails: Rails,
    limits: _Floor,
    current: float,
    proposed: float,
    facts: Facts,
    prior: PriorState,
) -> tuple[float, tuple[RailReason, ...]]:
    price, clamps = _railed_price(rails, limits.bounds, current, proposed, facts, prior)
    if limits.raised is not None and price == limits.bounds.floor and price != proposed:
        # The cost floor, not the static floor, held the price up: say so.
        clamps = (*(c for c in clamps if c.rail != "floor"), limits.raised)
    # The cost floor is unknown: no move down (a price above its ceiling still comes down
    # to it, and no further: the ceiling is the provider's own rail).
    lowest = min(current, limits.bounds.ceiling)
    if limits.unknown is not None and price < lowest:
        return lowest, (*clamps, limits.unknown)
    return price, clamps


def _railed_price(
    rails: Rails,
    bounds: PriceBounds,
    current: float,
    proposed: float,
    facts: Facts,
    prior: PriorState,
) -> tuple[float, tuple[RailReason, ...]]:
    clamps: list[RailReason] = []
    floor, ceiling = bounds.floor, bounds.ceiling
    # The price as it would go out, a whole unit (so float noise is not a clamp).
    target = unit_price(price_units(proposed)) if math.isfinite(proposed) else proposed
    if not target >= floor:  # also catches NaN
        target = floor
        clamps.append(RailReason("floor", (floor,)))
    elif target > ceiling:
        target = ceiling
        clamps.append(RailReason("ceiling", (ceiling,)))
    step = rails.max_step / 100
    in_range = floor <= current <= ceiling
    reference = current if in_range else (floor if current < floor else ceiling)
    if not in_range:
        clamps.append(RailReason("range", (floor, ceiling)))
    low, high = reference * (1 - step), reference * (1 + step)
    if target > high or target < low:
        target = max(floor, min(ceiling, high if target > high else low))
        clamps.append(RailReason("max_step", (rails.max_step,)))
    # The nearest whole unit within the floor, the ceiling and one step (float noise of the
    # step's edges aside: 0.0001 * 0.9 is the unit 0.00009000).
    lowest = max(price_units(floor), price_units(low, ROUND_CEILING))
    highest = min(price_units(ceiling), price_units(high, ROUND_FLOOR))
    if lowest > highest:  # a price of a few units: no whole unit lies within one step
        if not any(c.rail == "max_step" for c in clamps):
            clamps.append(RailReason("max_step", (rails.max_step,)))
        return current, tuple(clamps)
    target = unit_price(min(max(price_units(target), lowest), highest))
    if not in_range or target == current:
        return target, tuple(clamps)
    last = prior.last_price_change
    if last is not None and facts.now - last < rails.min_interval:
        clamps.append(RailReason("min_interval", (rails.min_interval, facts.now - last)))
        return current, tuple(clamps)
    change = abs(target - current) / current * 100
    if change < rails.deadband:
        clamps.append(RailReason("deadband", (rails.deadband, change)))
        return current, tuple(clamps)
    return target, tuple(clamps)


def _availability(rails: Rails, facts: Facts, prior: PriorState, proposal: Proposal) -> FieldPlan:
    current = facts.current.availability
    wanted = proposal.target.availability
    rules = proposal.rule_reasons["availability"]
    skipped = proposal.skipped_rules["availability"]
    if not rules or wanted == current:
        return FieldPlan("availability", current, current, rules, (), skipped)
    fault = not wanted and proposal.off_even_if_rented
    if not wanted and facts.rental_status != "not_rented" and not fault:
        held = RailReason("rented")
        return FieldPlan("availability", current, current, rules, (held,), skipped)
    since = prior.availability_since
    # Hysteresis against flapping; a hardware-fault rule takes the server off at once.
    if since is not None and facts.now - since < rails.availability_hold and not fault:
        held = RailReason("availability_hold", (rails.availability_hold, facts.now - since))
        return FieldPlan("availability", current, current, rules, (held,), skipped)
    return FieldPlan("availability", current, wanted, rules, (), skipped)


def _mrl(rails: Rails, current: int, proposal: Proposal) -> FieldPlan:
    rules = proposal.rule_reasons["mrl"]
    target = proposal.target.mrl if rules else current
    clamps: tuple[RailReason, ...] = ()
    if rules and target < rails.mrl.min:
        target, clamps = rails.mrl.min, (RailReason("mrl.min", (rails.mrl.min,)),)
    elif rules and target > rails.mrl.max:
        target, clamps = rails.mrl.max, (RailReason("mrl.max", (rails.mrl.max,)),)
    return FieldPlan("mrl", current, target, rules, clamps, proposal.skipped_rules["mrl"])


def implausible(facts: Facts, prior: PriorState) -> str | None:
    """Why the facts cannot be trusted, or None: checked before any rail (fail closed). A
    record stamped in the future counts, with the way out in its words."""
    problem = _implausible_facts(facts, prior)
    if problem is None:
        until = _future(facts, prior)
        problem = None if until is None else future_message(until)
    return problem


def future_message(until: float) -> str:
    """Why a plan is blocked by records stamped in the future, and the way out."""
    return (
        f"history records a change at {format_time(until)}, in the future (did the clock go "
        f"back?): writes wait until then, or run `{FORGET_FUTURE}` if the clock was wrong"
    )


def _future(facts: Facts, prior: PriorState) -> float | None:
    """The latest record stamped after now (the clock went back), or None."""
    stamps = [
        when
        for when in (prior.last_price_change, prior.availability_since)
        if when is not None and when > facts.now
    ]
    return max(stamps) if stamps else None


def _implausible_facts(facts: Facts, prior: PriorState) -> str | None:
    if not math.isfinite(facts.now):
        return "the clock is not a finite time"
    current = facts.current
    for name in PRICE_FIELDS:
        value = getattr(current, name)
        if not (math.isfinite(value) and value > 0):
            return f"current {name} price {format_price(value)} is not a positive number"
    if current.mrl < 0:
        return f"current mrl {current.mrl} is negative"
    if facts.rental_status not in RENTAL_STATUSES:
        return f"unknown rental status {facts.rental_status!r}"
    if facts.expected_gpus < 0:
        return f"expected GPU count {facts.expected_gpus} is negative"
    if not (0 <= facts.local.hour <= 23 and 0 <= facts.local.weekday <= 6):
        return f"local time hour {facts.local.hour} weekday {facts.local.weekday} is impossible"
    for label, seconds in (
        ("rental status duration", facts.rental_status_for),
        ("idle time", facts.idle_for),
    ):
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            return f"{label} {fmt_number(seconds)} is negative or not finite"
    for gpu in facts.gpus:
        for metric in GPU_METRICS:
            problem = _bad_metric(metric, getattr(gpu, metric))
            if problem:
                return f"GPU {gpu.index} {problem}"
    for key, values in facts.windows.items():
        for index, value in values.items():
            problem = _bad_metric(key.metric, value)
            if problem:
                return f"GPU {index} {key.agg} over {format_duration(key.seconds)}: {problem}"
    host = facts.host
    for label, value in (
        ("host CPU %", host.cpu_percent),
        ("host load", host.load1),
        ("host memory %", host.mem_percent),
        ("host free disk", host.disk_free_mib),
        ("host uptime", host.uptime_s),
    ):
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{label} {fmt_number(value)} is negative or not finite"
    for label, when in (
        ("last price change", prior.last_price_change),
        ("last availability change", prior.availability_since),
    ):
        if when is not None and not math.isfinite(when):
            return f"{label} is not a finite time"
    return None


def _bad_metric(metric: str, value: float | None) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        return f"{metric} {fmt_number(value)} is negative or not finite"
    if metric in ("utilization", "memory_utilization") and value > 100:
        return f"{metric} {fmt_number(value)} is above 100%"
    return None


__all__ = ["FORGET_FUTURE", "future_message", "guard", "implausible", "make_plan"]
