"""Each shipped policy over a timeline of facts: the sequence of settings it produces.

The pricing policies run through policy.step, the decision the agent, the backtest and the
simulator share, so the memory between cycles (the last price change, how long the server
has been in its rental status) is the one the agent keeps. The expected prices are worked out
by hand from the policy text and the rails (10 % max step, 1 h min interval, the deadband,
floors, spot at half of on-demand), not taken from the code's output. Every price a plan sets
is a whole unit of the currency (one satoshi, 0.00000001): each is checked to be one, and to
lie within one unit of the hand-worked value. A step the max step clamps is rounded toward the
current price, never past the step, as the `up`/`down` helpers below work it out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped, shipped_dir
from clore_host.facts import GpuNow, HostNow, Observed, RentalStatus, Settings, Unknown, WindowKey
from clore_host.policy import Plan, Policy
from clore_host.policy.step import Memory, Observation, step

from .timeline import Moment, run

SAT = 1e-8
HOUR = 3600.0
SHIPPED = ("default", "idle-discount", "time-of-use", "health-guard", "cost-floor", "market-follow")


def up(sat: int, steps: int, step: float = 0.1) -> list[int]:
    """Prices in satoshi after `steps` increases clamped by the max step: each rounded down."""
    out = []
    for _ in range(steps):
        sat = math.floor(sat * (1 + step))
        out.append(sat)
    return out


def down(sat: int, steps: int, step: float = 0.1) -> list[int]:
    """Prices in satoshi after `steps` decreases clamped by the max step: each rounded up."""
    out = []
    for _ in range(steps):
        sat = math.ceil(sat * (1 - step))
        out.append(sat)
    return out


T0 = 1_767_225_600.0  # Thursday 2026-01-01 00:00 UTC
WEDNESDAY = T0 + 6 * 86400  # 2026-01-07 00:00 UTC


def _policy(name: str) -> Policy:
    return load_policy(resolve_shipped(name, "policies"))


def market(p50: float, share: float) -> dict[str, Observed]:
    """What the market room says: the peers' median on-demand price and their rented share."""
    return {"market.peers": 24.0, "market.on_demand.p50": p50, "market.rented_share": share}


FEW = Unknown("too_few_peers", (3, 5))
UNKNOWN_MARKET: dict[str, Observed] = {"market.on_demand.p50": FEW, "market.rented_share": FEW}


@dataclass(frozen=True)
class At:
    """The world `hours` after the start of a timeline, as one cycle observes it."""

    hours: float
    status: RentalStatus = "not_rented"
    observed: Mapping[str, Observed] = field(default_factory=dict)


class _History:
    """History long enough for any window, no GPU ever busy (policy.step.Samples)."""

    def window(self, key: WindowKey, now: float) -> Mapping[int, float | None]:
        return {0: 60.0}

    def idle_for(self, threshold: float, now: float) -> float | None:
        return None

    def coverage(self, now: float) -> float:
        return 7 * 86400.0


def steps(policy: Policy, start: float, current: Settings, moments: Sequence[At]) -> list[Plan]:
    """The plans of `moments` in turn, through policy.step; each write lands at once."""
    memory = Memory()
    plans = []
    for moment in moments:
        busy = moment.status != "not_rented"
        gpu = GpuNow(0, utilization=95.0 if busy else 0.0, temperature=60.0)
        observation = Observation(
            start + moment.hours * HOUR,
            "UTC",
            moment.status,
            current,
            1,
            (gpu,),
            HostNow(),
            moment.observed,
        )
        plan, memory = step(policy, observation, memory, _History())
        current = plan.target
        plans.append(plan)
    return plans


def assert_prices(plans: Sequence[Plan], expected: Sequence[tuple[int, int]]) -> None:
    """On-demand and spot of each plan's target, in satoshi; availability stays on."""
    assert len(plans) == len(expected)
    for i, (plan, want) in enumerate(zip(plans, expected, strict=True)):
        got = plan.target
        for price, sat in zip((got.on_demand, got.spot), want, strict=True):
            assert float(f"{price:.8f}") == price, f"step {i}: {price!r} is not a whole unit"
            assert price == pytest.approx(sat * SAT, abs=SAT * 1.000001), (
                f"step {i}: {plan.explain()}"
            )
        assert got.availability, f"step {i}: {plan.explain()}"


def test_shipped_policies_present_and_say_what_they_are_for() -> None:
    for name in SHIPPED:
        path = resolve_shipped(name, "policies")
        assert path.is_file(), name
        head = path.read_text().split("\nversion = 1")[0]
        assert "# What it is for: " in head, name
    assert {p.stem for p in shipped_dir("policies").glob("*.toml")} == set(SHIPPED)


def test_default_prices_at_the_market_and_leaves_a_rental_alone() -> None:
    usual, quiet = market(8e-5, 0.6), market(8e-5, 0.3)
    moments = [
        At(0, observed=usual),  # 0.9 x 0.00008 = 0.000072, 10 % a write
        At(1, observed=usual),
        At(2, observed=usual),
        At(3, observed=usual),  # 0.000072 is within the 3 % deadband of 0.0000729: no write
        At(4, observed=quiet),  # under half the peers rented: 0.8 x the median
        At(4.5, observed=market(6e-5, 0.3)),  # the market falls, within the min interval
        At(5, "on_demand", market(12e-5, 0.9)),  # rented: the price stays what the renter pays
        At(7, "on_demand", market(12e-5, 0.9)),
        At(8, observed=market(12e-5, 0.6)),  # free again: toward 0.9 x 0.00012
        At(9, "spot", market(12e-5, 0.6)),  # a spot rental may be taken over: priced as free
        At(10, "spot", market(12e-5, 0.6)),
        At(11, observed=market(12e-5, 0.6)),
        At(12, observed=market(12e-5, 0.6)),
        At(13, observed=market(12e-5, 0.6)),  # 0.000108 within 3 % of 0.00010564: no write
        At(14, observed=UNKNOWN_MARKET),  # the market unknown: nothing moves
    ]
    plans = steps(_policy("default"), T0, Settings(0.0001, 0.00005, True, 72), moments)
    od = [*down(10000, 3), 7290, *down(7290, 1), 6561, 6561, 6561]
    spot = [*down(5000, 3), 3645, *down(3645, 1), 3281, 3281, 3281]
    od += [*up(6561, 5), 10564, 10564]
    spot += [*up(3281, 4), 5281, 5281, 5281]
    assert_prices(plans, list(zip(od, spot, strict=True)))
    assert plans[0].fields["on_demand"].rules[0].startswith('rule "market price"')
    assert plans[4].fields["on_demand"].rules[-1].startswith('rule "quiet market"')
    assert "held by min interval 1h" in plans[5].explain()[0]
    for rented in plans[6:8]:
        assert rented.fields["on_demand"].rules == () and not rented.changed
    assert plans[9].fields["on_demand"].rules[0].startswith('rule "market price"')
    assert not plans[13].changed and not plans[14].changed
    said = plans[14].fields["on_demand"].skipped
    assert (
        said[0] == 'rule "market price" skipped (no data: market.on_demand.p50 (3 peers, need 5))'
    )


def test_default_stops_at_the_floor() -> None:
    # The peers at 0.00004: 0.9 x that is under the floor 0.00006; spot at half of that
    # proposal, under its floor 0.00003. Each price goes to its floor, and stays.
    moments = [At(0, observed=market(4e-5, 0.6)), At(1, observed=market(4e-5, 0.6))]
    plans = steps(_policy("default"), T0, Settings(0.000062, 0.000031, True, 72), moments)
    assert_prices(plans, [(6000, 3000), (6000, 3000)])
    assert plans[0].fields["on_demand"].clamps == ("clamped to floor 0.00006000",)
    assert not plans[1].changed


def test_default_guards_the_hardware() -> None:
    # No market facts here: the price rules are skipped and the prices stay. Idle at 0h;
    # rented and overheating at 1h; the rental ends at 2h still hot; cool again but within
    # the availability hold at 2h15; cool for 30 minutes at 3h; rented on spot with a GPU
    # lost at 4h.
    moments = [
        Moment(0),
        Moment(1, status="on_demand", temperature=92.0),
        Moment(2, temperature=91.0),
        Moment(2.25, temperature=70.0, temp_max_30m=78.0),
        Moment(3, temperature=70.0),
        Moment(4, status="spot", lost=True),
    ]
    plans = run(_policy("default"), T0, Settings(0.0001, 0.00005, True, 72), moments)
    avail = [True, True, False, False, True, False]
    for plan, on in zip(plans, avail, strict=True):
        assert plan.target.availability is on, plan.explain()
        assert (plan.target.on_demand, plan.target.spot) == (0.0001, 0.00005)
    assert "held: server is rented" in plans[1].fields["availability"].explain()
    assert plans[2].fields["availability"].rules == (
        'rule "overheating" (overheating: GPU 0 at 91 C)',
    )
    assert "held by availability hold 30m (changed 15m ago)" in plans[3].explain()[2]
    assert plans[4].fields["availability"].rules[0].startswith('rule "back on the market"')
    assert plans[5].fields["availability"].rules == ('rule "GPU fault" (a GPU lost: GPU 0)',)


def test_time_of_use_prices_the_hours_against_the_market() -> None:
    usual = market(1e-4, 0.6)
    moments = [
        At(10, observed=usual),  # Wednesday 10h: 0.9 x the median, as it is
        At(12, observed=usual),  # afternoon peak: 0.95 x
        At(16, observed=usual),  # peak over
        At(20, observed=usual),  # night: 0.72 x, 10 % a write
        At(21, observed=usual),
        At(22, observed=usual),  # 0.000072 within 3 % of 0.0000729: no write
        At(28, observed=usual),  # Thursday 4h: night over, 10 % a write back up
        At(29, observed=market(1e-4, 0.3)),  # under half the peers rented: 0.85 x
        At(85, observed=usual),  # Saturday 13h: no peak at weekends
        At(86, "on_demand", market(2e-4, 0.9)),  # rented: left alone
    ]
    plans = steps(_policy("time-of-use"), WEDNESDAY, Settings(0.00009, 0.000045, True, 72), moments)
    od = [9000, 9500, 9000, *down(9000, 2), 7290, 8019, 8500, 9000, 9000]
    spot = [4500, 4750, 4500, *down(4500, 2), 3645, *up(3645, 1), 4250, 4500, 4500]
    assert_prices(plans, list(zip(od, spot, strict=True)))
    rules = [p.fields["on_demand"].rules for p in plans]
    assert not plans[0].changed and rules[0][0].startswith('rule "market price"')
    assert rules[1][-1] == (
        'rule "afternoon peak" (not rented, hour 12, weekday wed, market on-demand p50 0.00010000)'
    )
    assert rules[3][-1].startswith('rule "night" (')
    assert rules[7][-1].startswith('rule "quiet market"')
    assert rules[8][-1].startswith('rule "market price"')  # Saturday: the peak rule did not match
    assert rules[9] == () and not plans[9].changed


def test_idle_discount_waits_for_a_renter_then_resets() -> None:
    moments = [
        At(0),  # first sight: how long without a renter is not known yet
        At(1),
        At(6),  # 6 h without a renter: idle_price 0.00009
        At(12),
        At(24),  # a day: long_idle_price 0.00008, 10 % a write
        At(25),
        At(26, "on_demand"),  # rented: left alone
        At(30),  # free again: the list price, 10 % a write
        At(31),
        At(32),
        At(33, "spot"),  # rented on spot
        At(40),  # free again at 40h: the clock starts again
        At(45),
        At(46),  # 6 h: idle_price
    ]
    plans = steps(_policy("idle-discount"), T0, Settings(0.0001, 0.00005, True, 72), moments)
    od = [10000, 10000, 9000, 9000, 8100, 8000, 8000, 8800, 9680, 10000]
    od += [10000, 10000, 10000, 9000]
    assert_prices(plans, [(sat, sat // 2) for sat in od])
    assert (
        plans[0]
        .fields["on_demand"]
        .skipped[0]
        .startswith('rule "no renter for 6h" skipped (no data: rental_status_for')
    )
    assert plans[2].fields["on_demand"].rules[-1] == (
        'rule "no renter for 6h" (not rented, in this rental status for 6h)'
    )
    assert plans[4].fields["on_demand"].clamps == ("clamped by max step 10%",)
    assert plans[6].fields["on_demand"].rules == ()
    assert plans[7].fields["on_demand"].rules == ('rule "list price" (not rented)',)
    assert plans[10].fields["on_demand"].rules == ('rule "list price" (rented on spot)',)


def test_market_follow_tiers_by_the_peers_rented() -> None:
    moments = [
        At(0, observed=market(1e-4, 0.8)),  # busy: at the median
        At(1, observed=market(1e-4, 0.6)),  # normal: 0.9 x
        At(2, observed=market(1e-4, 0.3)),  # quiet: 0.8 x, 10 % a write
        At(3, "on_demand", market(2e-4, 0.9)),  # rented: left alone
        At(4, observed=UNKNOWN_MARKET),  # unknown: skipped, nothing moves
        At(5, observed=market(4e-5, 0.3)),  # 0.8 x 0.00004 is under the floor 0.00006
        At(6, observed=market(4e-5, 0.3)),
        At(7, observed=market(4e-5, 0.3)),
    ]
    plans = steps(_policy("market-follow"), T0, Settings(0.0001, 0.00005, True, 72), moments)
    od = [10000, 9000, 8100, 8100, 8100, *down(8100, 2), 6000]
    assert_prices(plans, [(sat, math.ceil(sat / 2)) for sat in od])
    rules = [p.fields["on_demand"].rules for p in plans]
    assert rules[0][-1].startswith('rule "busy market: at the median"')
    assert rules[1][-1].startswith('rule "normal: a little under the median"')
    assert rules[2][-1].startswith('rule "quiet market: further under the median"')
    assert rules[3] == () and not plans[3].changed
    assert plans[4].fields["on_demand"].skipped[0].endswith("(3 peers, need 5))")
    assert plans[7].fields["on_demand"].clamps == ("clamped to floor 0.00006000",)


def test_cost_floor_follows_the_market_but_never_below_cost() -> None:
    costs = {"cost.floor.on_demand": 8e-5, "cost.floor.spot": 4e-5}  # + 10 %: 8800, 4400 sat
    rate = Unknown("rate_unknown", ("bitcoin", "no rate from the market"))
    unknown_costs: dict[str, Observed] = {"cost.floor.on_demand": rate, "cost.floor.spot": rate}
    moments = [
        # The market says 0.8 x 0.00008 = 0.000064; the cost floor holds it at 0.000088.
        At(0, observed={**market(8e-5, 0.3), **costs}),
        At(1, observed={**market(8e-5, 0.3), **costs}),
        # The cost floor unknown: no price moves down; a rise still goes.
        At(2, observed={**market(6e-5, 0.3), **unknown_costs}),
        At(3, observed={**market(2e-4, 0.6), **unknown_costs}),
    ]
    plans = steps(_policy("cost-floor"), T0, Settings(0.000095, 0.0000475, True, 72), moments)
    assert_prices(plans, [(8800, 4400), (8800, 4400), (8800, 4400), (9680, 4840)])
    assert not plans[1].changed
    assert "held: no price moves down while the cost floor is unknown" in plans[2].explain()[0]
    # Rented on demand below the cost floor: raised at once, though no rule touches a rental.
    rented = [At(0, "on_demand", {**market(8e-5, 0.3), **costs})]
    plan = steps(_policy("cost-floor"), T0, Settings(0.00005, 0.000025, True, 72), rented)[0]
    assert_prices([plan], [(8800, 4400)])
    assert plan.fields["on_demand"].rules == ()


def test_health_guard_off_and_back_with_hysteresis() -> None:
    moments = [
        Moment(0),
        Moment(1, temperature=90.0),  # overheating, not rented: off
        Moment(1.5, temperature=70.0, temp_max_30m=72.0),  # cool, but held for 1h
        Moment(2, temperature=70.0),  # back on
        Moment(3, status="spot", ecc=4),  # ECC errors while rented: held on
        Moment(4, status="spot", lost=True),  # a GPU lost: off even while rented
        Moment(4.5, temperature=60.0),  # rental over, GPU back: held for 1h
        Moment(5, temperature=60.0, temp_max_30m=80.0),  # not cool for 30 min yet
        Moment(5.5, temperature=60.0),  # recovered
    ]
    start = Settings(0.0001, 0.00005, True, 72)
    plans = run(_policy("health-guard"), T0, start, moments)
    avail = [True, False, False, True, True, False, False, False, True]
    for plan, on in zip(plans, avail, strict=True):
        assert plan.target == Settings(0.0001, 0.00005, on, 72), plan.explain()
    assert plans[1].fields["availability"].rules == (
        'rule "unhealthy" (overheating: GPU 0 at 90 C)',
    )
    assert "held: server is rented" in plans[4].explain()[2]
    assert plans[5].fields["availability"].rules == ('rule "GPU fault" (a GPU lost: GPU 0)',)
    assert plans[6].fields["availability"].clamps == (
        "held by availability hold 1h (changed 30m ago)",
    )


@pytest.mark.parametrize("name", ["default", "health-guard"])
def test_a_lost_gpu_delists_a_rented_server_even_when_another_gpu_overheats(name: str) -> None:
    # Found in review: a later, unforced "off" rule (overheating) used to cancel the force of
    # the hardware-fault rule that matched before it, so the rented-server rail held it on.
    from clore_host.facts import PriorState
    from clore_host.policy import make_plan

    from .factories import make_facts

    facts = make_facts(
        status="on_demand",
        expected=2,
        gpus=[GpuNow(0, utilization=95.0, temperature=95.0), GpuNow(1, lost=True)],
    )
    plan = make_plan(_policy(name), facts, PriorState())
    assert plan.target.availability is False, plan.explain()
