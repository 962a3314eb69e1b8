"""The shipped cost-floor policy: it parses, and with the costs of a cycle its idle discount
stops at the cost floor plus the margin; with the cost floor unknown, no price moves down."""

from __future__ import annotations

from pathlib import Path

from clore_host.config import load_policy, shipped_dir
from clore_host.costs import observe_costs
from clore_host.facts import Facts, GpuNow, LocalTime, PriorState, Settings
from clore_host.history import History
from clore_host.policy import Policy, make_plan

from .conftest import NOW, gpus, rig_config

POLICY = shipped_dir("policies") / "cost-floor.toml"


def policy() -> Policy:
    return load_policy(POLICY)


def test_the_shipped_policy_parses_with_a_10_percent_cost_floor() -> None:
    rails = policy().rails
    assert rails.cost_floor is not None and rails.cost_floor.margin == 10.0
    assert Path(POLICY).read_text().count("cost_floor") >= 1


def idle_facts(now: float, current: Settings, observed: dict[str, object]) -> Facts:
    return Facts(
        now=now,
        local=LocalTime.at(now, "UTC"),
        rental_status="not_rented",
        rental_status_for=86400.0,
        current=current,
        expected_gpus=4,
        gpus=tuple(GpuNow(index=i, utilization=0.0, temperature=35.0) for i in range(4)),
        idle_for=86400.0,
        observed=observed,  # type: ignore[arg-type]
    )


def walk_down(
    history: History, rates: object, start: float = 0.0001
) -> tuple[list[Settings], list[str]]:
    """A day of idle cycles, every 30 minutes, on the worked example's costs: the settings
    after each, and the last plan in words."""
    current = Settings(on_demand=start, spot=start / 2, availability=True, mrl=72)
    seen = [current]
    plan = None
    last_change: float | None = None
    for step in range(48):
        now = NOW + step * 1800
        costs = observe_costs(rig_config(), history, gpus(), rates, now, now)  # type: ignore[arg-type]
        plan = make_plan(
            policy(), idle_facts(now, current, dict(costs.facts)), PriorState(last_change)
        )
        if plan.changed:
            current, last_change = plan.target, now
        seen.append(current)
    assert plan is not None
    return seen, plan.explain()


def test_the_idle_discount_stops_at_the_cost_floor_plus_the_margin(history: History) -> None:
    # Costs: floors 0.00009937 on demand and 0.00009492 spot (the worked example); plus 10 %:
    # 0.00010931 and 0.00010442. From 0.0002 the discount walks down, 10 % a step, to there.
    prices, _ = walk_down(history, None, start=0.0002)
    for settings in prices[1:]:
        assert settings.on_demand >= 0.00010931 and settings.spot >= 0.00010442
    assert prices[-1].on_demand == 0.00010931 and prices[-1].spot == 0.00010442
    # A list price already below the cost floor goes up to it at once: never rent at a loss.
    assert walk_down(history, None)[0][1].on_demand == 0.00010931


def test_an_unknown_rate_lets_no_price_fall(history: History) -> None:
    # The market sends 0 for bitcoin every cycle: the rate, and so the cost floor, is unknown.
    prices, said = walk_down(history, {"bitcoin": 0}, start=0.0002)
    assert all(p == prices[0] for p in prices)
    assert said[0] == (
        'on_demand 0.00020000 unchanged: rule "idle discount" (not rented, idle for 1d); held: '
        "no price moves down while the cost floor is unknown: bitcoin rate 0 rejected: not a "
        "positive number"
    )
