"""Run a policy over a timeline the way the agent does: each plan's target becomes the next
cycle's current settings, and the prior state records when prices and availability changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from clore_host.facts import (
    Facts,
    GpuNow,
    LocalTime,
    PriorState,
    RentalStatus,
    Settings,
    WindowKey,
)
from clore_host.policy import Plan, Policy, make_plan

HOUR = 3600.0
TEMP_MAX_30M = WindowKey("temperature", "max", 1800.0)


@dataclass(frozen=True)
class Moment:
    """What the world looks like at `hours` after the start of the timeline."""

    hours: float
    status: RentalStatus = "not_rented"
    idle_for_h: float | None = None
    temperature: float = 60.0
    temp_max_30m: float | None = None  # None: same as the temperature now
    lost: bool = False
    ecc: int = 0
    expected: int = 1
    extra: dict[str, float] = field(default_factory=dict)


def facts_at(start: float, moment: Moment, current: Settings, timezone: str = "UTC") -> Facts:
    now = start + moment.hours * HOUR
    gpu = GpuNow(
        0,
        lost=moment.lost,
        utilization=0.0 if moment.status == "not_rented" else 95.0,
        temperature=None if moment.lost else moment.temperature,
        ecc_uncorrected=moment.ecc,
    )
    window = moment.temperature if moment.temp_max_30m is None else moment.temp_max_30m
    return Facts(
        now=now,
        local=LocalTime.at(now, timezone),
        rental_status=moment.status,
        rental_status_for=None,
        current=current,
        expected_gpus=moment.expected,
        gpus=(gpu,),
        windows={TEMP_MAX_30M: {0: None if moment.lost else window}},
        idle_for=None if moment.idle_for_h is None else moment.idle_for_h * HOUR,
    )


def run(policy: Policy, start: float, current: Settings, moments: Sequence[Moment]) -> list[Plan]:
    prior = PriorState()
    plans: list[Plan] = []
    for moment in moments:
        facts = facts_at(start, moment, current)
        plan = make_plan(policy, facts, prior)
        if plan.target.on_demand != current.on_demand or plan.target.spot != current.spot:
            prior = replace(prior, last_price_change=facts.now)
        if plan.target.availability != current.availability:
            prior = replace(prior, availability_since=facts.now)
        current = plan.target
        plans.append(plan)
    return plans
