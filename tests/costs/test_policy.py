"""The shipped cost-floor policy: it parses, and with the costs of a cycle it follows a falling
market down, a step an hour, to the cost floor plus the margin and no further; a price under
that is raised at once; with the cost floor unknown no price moves down; a running on-demand
rental's price and an unknown market move nothing."""

from __future__ import annotations

from pathlib import Path

from clore_host.config import load_policy, shipped_dir
from clore_host.costs import observe_costs
from clore_host.facts import Facts, GpuNow, LocalTime, PriorState, Settings, Unknown
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


def market(p50: object, share: object = 0.6) -> dict[str, object]:
    """The peers' figures: the median on-demand price `p50`, `share` of them rented (0.6:
    over quiet_share 0.5, so the "market price" rule alone: 0.9 x the median)."""
    return {"market.peers": 40.0, "market.on_demand.p50": p50, "market.rented_share": share}


def idle_facts(
    now: float, current: Settings, observed: dict[str, object], status: str = "not_rented"
) -> Facts:
    return Facts(
        now=now,
        local=LocalTime.at(now, "UTC"),
        rental_status=status,  # type: ignore[arg-type]
        rental_status_for=86400.0,
        current=current,
        expected_gpus=4,
        gpus=tuple(GpuNow(index=i, utilization=0.0, temperature=35.0) for i in range(4)),
        idle_for=86400.0,
        observed=observed,  # type: ignore[arg-type]
    )


def walk(
    history: History,
    rates: object,
    peers: dict[str, object],
    start: Settings,
    status: str = "not_rented",
    cycles: int = 48,
) -> tuple[list[Settings], list[str]]:
    """A day of cycles, every 30 minutes, on the worked example's costs and the market
    `peers`: the settings after each, and the last plan in words."""
    current = start
    seen = [current]
    plan = None
    last_change: float | None = None
    for step in range(cycles):
        now = NOW + step * 1800
        costs = observe_costs(rig_config(), history, gpus(), rates, now, now)  # type: ignore[arg-type]
        observed = {**costs.facts, **peers}
        plan = make_plan(
            policy(), idle_facts(now, current, observed, status), PriorState(last_change)
        )
        if plan.changed:
            current, last_change = plan.target, now
        seen.append(current)
    assert plan is not None
    return seen, plan.explain()


# Costs: floors 0.00009937 on demand and 0.00009492 spot (the worked example); plus 10%,
# rounded up to a whole unit: 0.00010931 and 0.00010442.
ON_DEMAND_FLOOR, SPOT_FLOOR = 0.00010931, 0.00010442
HIGH = Settings(on_demand=0.0002, spot=0.00011, availability=True, mrl=72)
# Spot already at its cost floor: half of 0.0002 on demand (0.0001) is under it, so it stays.
AT_SPOT_FLOOR = HIGH._replace(spot=SPOT_FLOOR)


def test_a_falling_market_is_followed_down_to_the_cost_floor_plus_the_margin(
    history: History,
) -> None:
    # A quiet market (share 0.3 < 0.5), median 0.0001: the target is 0.8 x 0.0001 = 0.00008,
    # under the cost floor. From 0.0002 on demand, 10% a write, one write an hour (cycles
    # every 30 minutes): 0.00018, 0.000162, 0.0001458, 0.00013122 (each x 0.9), then
    # 0.000118098, rounded up to the whole unit 0.00011810 (never past one step); then
    # 0.00010629 would be under 0.00010931: the cost floor. Spot wants half of the
    # target, 0.00004, far under its cost floor: the first write takes it from 0.00011 to
    # 0.00010442 (5.1% down, one step) and it stays there.
    prices, said = walk(history, None, market(0.0001, share=0.3), HIGH)
    for settings in prices[1:]:
        assert settings.on_demand >= ON_DEMAND_FLOOR and settings.spot >= SPOT_FLOOR
    changes = [p.on_demand for p in dict.fromkeys(prices)]
    assert changes == [0.0002, 0.00018, 0.000162, 0.0001458, 0.00013122, 0.00011810, 0.00010931]
    assert prices[1:3] == [Settings(0.00018, SPOT_FLOOR, True, 72)] * 2  # one write an hour
    assert prices[-1] == Settings(ON_DEMAND_FLOOR, SPOT_FLOOR, True, 72)
    assert "raised to the cost floor 0.00010931 (cost 0.00009937 + margin 10%)" in said[0]


def test_a_price_under_the_cost_floor_is_raised_at_once(history: History) -> None:
    # From 0.00005 / 0.000025 (a list price at a loss) with the same quiet market: both go to
    # their cost floors in the first write, though that is more than one max step (10%) up.
    low = Settings(on_demand=0.00005, spot=0.000025, availability=True, mrl=72)
    prices, _ = walk(history, None, market(0.0001, share=0.3), low, cycles=1)
    assert prices[1] == Settings(ON_DEMAND_FLOOR, SPOT_FLOOR, True, 72)


def test_above_the_cost_floor_the_market_sets_the_price(history: History) -> None:
    # Median 0.00015, normal market: 0.9 x 0.00015 = 0.000135, over the cost floor. From
    # 0.00014, 3.6% down: over the 3% deadband, one write. Spot: half, 0.0000675, is under
    # its cost floor: 0.00010442.
    start = Settings(on_demand=0.00014, spot=SPOT_FLOOR, availability=True, mrl=72)
    prices, said = walk(history, None, market(0.00015), start, cycles=1)
    assert prices[1] == Settings(0.000135, SPOT_FLOOR, True, 72)
    assert said[0].startswith('on_demand 0.00014000 -> 0.00013500: rule "market price"')


def test_an_unknown_rate_lets_no_price_fall(history: History) -> None:
    # The market sends 0 for bitcoin every cycle: the rate, and so the cost floor, is unknown.
    # The quiet market wants 0.00008 on demand (and spot half of it, under 0.00011): both
    # are held where they are, all day.
    prices, said = walk(history, {"bitcoin": 0}, market(0.0001, share=0.3), HIGH)
    assert all(p == HIGH for p in prices)
    assert said[0] == (
        'on_demand 0.00020000 unchanged: rule "market price" (not rented, market on-demand '
        'p50 0.00010000); rule "quiet market" (not rented, market rented share 0.3, market '
        "on-demand p50 0.00010000); clamped by max step 10%; held: no price moves down while "
        "the cost floor is unknown: bitcoin rate 0 rejected: not a positive number"
    )


def test_an_unknown_rate_still_lets_a_price_rise(history: History) -> None:
    # A busy market, median 0.00024: 0.9 x 0.00024 = 0.000216, 8% up from 0.0002: raised.
    prices, _ = walk(history, {"bitcoin": 0}, market(0.00024, share=0.8), HIGH, cycles=1)
    assert prices[1].on_demand == 0.000216


def test_a_running_on_demand_rental_keeps_its_price(history: History) -> None:
    # Rented on demand: the market rules do not touch on_demand (a quiet market would take it
    # down, a dear one up); spot follows the unchanged 0.0002 at 0.0001, under its cost
    # floor, so spot stays at the cost floor, where it is.
    start = AT_SPOT_FLOOR
    for peers in (market(0.0001, share=0.3), market(0.00028)):
        prices, said = walk(history, None, peers, start, status="on_demand", cycles=4)
        assert all(p == start for p in prices)
        assert said[0] == "on_demand 0.00020000 unchanged"


def test_an_unknown_market_moves_nothing(history: History) -> None:
    few = Unknown("too_few_peers", (3, 5))
    peers: dict[str, object] = {name: few for name in market(0.0001)}
    # Spot still follows on-demand, which stays at 0.0002 (see AT_SPOT_FLOOR).
    prices, said = walk(history, None, peers, AT_SPOT_FLOOR, cycles=4)
    assert all(p == AT_SPOT_FLOOR for p in prices)
    assert said[0] == (
        'on_demand 0.00020000 unchanged: rule "market price" skipped (no data: '
        'market.on_demand.p50 (3 peers, need 5)); rule "quiet market" skipped (no data: '
        "market.rented_share (3 peers, need 5))"
    )
