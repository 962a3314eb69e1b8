"""The shipped `market-follow` policy over market facts: a little under the peers' median
(at it when the market is busy, further under it when quiet), a step at a time, within the
rails; a running on-demand rental's price left alone; skipped while the market is unknown."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped
from clore_host.facts import Facts, Observed, PriorState, RentalStatus, Settings, Unknown
from clore_host.policy import Plan, make_plan
from tests.policy.factories import T0, make_facts

POLICY = load_policy(resolve_shipped("market-follow", "policies"))
NORMAL = 'rule "normal: a little under the median"'
BUSY = 'rule "busy market: at the median"'
QUIET = 'rule "quiet market: further under the median"'


def market(*, share: Observed = 0.6, p50: Observed = 1e-4) -> dict[str, Observed]:
    """The peers' figures: 40 peers, `share` of them rented, median on-demand price `p50`.
    The default share (0.6) lies between quiet_share (0.5) and busy_share (0.75): normal."""
    return {
        "market.peers": 40.0,
        "market.on_demand.p25": 8e-5,
        "market.on_demand.p50": p50,
        "market.on_demand.p75": 12e-5,
        "market.rented_share": share,
    }


def plan(
    observed: dict[str, Observed],
    *,
    status: RentalStatus = "not_rented",
    current: Settings | None = None,
    now: float = T0,
    last_change: float | None = None,
) -> Plan:
    now_set = current or Settings(0.0001, 0.00005, True, 72)
    facts: Facts = replace(make_facts(now=now, status=status, current=now_set), observed=observed)
    return make_plan(POLICY, facts, PriorState(last_change))


@pytest.mark.parametrize(
    ("share", "on_demand", "spot", "rules"),
    [
        # normal: 0.9 x 0.0001 = 0.00009, exactly one max step (10%) down; spot half of it.
        (0.6, 0.00009, 0.000045, (NORMAL,)),
        # quiet (0.3 < 0.5): 0.8 x 0.0001 = 0.00008 is 20% down, so one max step: 0.00009;
        # spot wants 0.00004 and also stops at one step from 0.00005: 0.000045.
        (0.3, 0.00009, 0.000045, (NORMAL, QUIET)),
        # busy (0.8 >= 0.75): 1.0 x the median, which is the price already: no write.
        (0.8, 0.0001, 0.00005, (NORMAL, BUSY)),
    ],
)
def test_priced_by_how_busy_the_market_is(
    share: float, on_demand: float, spot: float, rules: tuple[str, ...]
) -> None:
    got = plan(market(share=share))
    assert got.target.on_demand == on_demand and got.target.spot == spot
    said = got.fields["on_demand"].rules
    assert tuple(r.split(" (")[0] for r in said) == rules


def test_a_busy_market_raises_the_price_to_the_median() -> None:
    # Busy, median 0.000105: the target is 1.0 x 0.000105, 5% up (over the 3% deadband, under
    # the 10% step), reached in one write; spot follows at half: 0.0000525.
    got = plan(market(share=0.8, p50=0.000105))
    assert got.target.on_demand == 0.000105 and got.target.spot == 0.0000525
    assert not got.fields["on_demand"].clamps


def test_follows_a_step_an_hour_then_stops_at_the_target() -> None:
    # Normal market, median 0.0001: target 0.00009 (spot 0.000045). From 0.00013, a cycle every
    # 30 minutes: 10% down per write, one write an hour (the cycles between are held):
    #   0.00013 x 0.9 = 0.000117, x 0.9 = 0.0001053, x 0.9 = 0.00009477, then 0.00009 (5.0%
    #   away, within one step). Spot from 0.000065: 0.0000585, 0.00005265, then one step down
    #   from 0.00005265 is 0.000047385, rounded up to a whole unit (never past the step):
    #   0.00004739, then 0.000045 (5.0% away).
    current, last = Settings(0.00013, 0.000065, True, 72), None
    seen = []
    for step in range(10):
        now = T0 + step * 1800
        got = plan(market(), current=current, now=now, last_change=last)
        if step in (1, 3, 5):  # half an hour after a write: the min interval holds every price
            assert not got.changed
            assert any("held by min interval 1h" in c for c in got.fields["on_demand"].clamps)
        if got.changed:
            current, last = got.target, now
        seen.append((current.on_demand, current.spot))
    assert seen == [
        (0.000117, 0.0000585),
        (0.000117, 0.0000585),
        (0.0001053, 0.00005265),
        (0.0001053, 0.00005265),
        (0.00009477, 0.00004739),
        (0.00009477, 0.00004739),
        *[(0.00009, 0.000045)] * 4,
    ]


def test_the_deadband_stops_a_walk_short_of_a_near_target() -> None:
    # Quiet market, median 0.0001: target 0.00008. From 0.0001: 0.00009, then 0.000081 (one
    # step from 0.00009, which is 11% away); then 0.00008 is 1.235% away (0.000001 /
    # 0.000081), under the 3% deadband: the price stays at 0.000081 and the plan says why.
    current = Settings(0.0001, 0.00005, True, 72)
    for hour in range(2):
        current = plan(market(share=0.3), current=current, now=T0 + hour * 3600).target
    assert current.on_demand == 0.000081
    got = plan(market(share=0.3), current=current, now=T0 + 2 * 3600, last_change=T0 + 3600)
    assert got.target.on_demand == 0.000081
    assert "held by deadband 3% (change 1.235%)" in got.fields["on_demand"].clamps


def test_never_below_the_floor() -> None:
    # Quiet market, median 0.00007: 0.8 x 0.00007 = 0.000056, under the floor 0.00006; spot
    # wants half of it, 0.000028, under its floor 0.00003. Both stop at their floors (3.2%
    # down from 0.000062 / 0.000031, over the deadband).
    got = plan(market(share=0.3, p50=0.00007), current=Settings(0.000062, 0.000031, True, 72))
    assert got.target.on_demand == 0.00006 and got.target.spot == 0.00003
    assert "clamped to floor 0.00006000" in got.fields["on_demand"].clamps
    assert "clamped to floor 0.00003000" in got.fields["spot"].clamps


def test_never_above_the_ceiling() -> None:
    # Busy market, median 0.0004: the target is above the ceiling 0.0003, so 0.0003 (3.4% up
    # from 0.00029). Spot wants 0.0002 and stops at one step from 0.000145: 0.0001595.
    got = plan(market(share=0.8, p50=0.0004), current=Settings(0.00029, 0.000145, True, 72))
    assert got.target.on_demand == 0.0003 and got.target.spot == 0.0001595
    assert "clamped to ceiling 0.00030000" in got.fields["on_demand"].clamps


@pytest.mark.parametrize("share", [0.3, 0.6, 0.8])
def test_a_running_on_demand_rental_keeps_its_price(share: float) -> None:
    # Market medians far from the price, either way: no market rule touches on_demand while
    # it is rented on demand; spot follows it at half, where it already is.
    for p50 in (0.00005, 0.0003):
        got = plan(market(share=share, p50=p50), status="on_demand")
        assert not got.changed and not got.fields["on_demand"].rules
        assert got.explain()[0] == "on_demand 0.00010000 unchanged"


def test_a_spot_rental_still_follows_the_market() -> None:
    # Rented on spot: the on-demand price is the next renter's, so the rules apply (normal:
    # 0.9 x 0.0001 = 0.00009), and the plan says the running rental keeps its price.
    got = plan(market(), status="spot")
    assert got.target.on_demand == 0.00009
    assert "applies to the next rental" in got.explain()[0]


@pytest.mark.parametrize("status", ["not_rented", "spot"])
def test_an_unknown_market_moves_nothing(status: RentalStatus) -> None:
    few = Unknown("too_few_peers", (3, 5))
    unknown: dict[str, Observed] = {name: few for name in market()}
    got = plan(unknown, status=status)
    assert not got.changed
    assert got.explain()[0] == (
        f"on_demand 0.00010000 unchanged: {NORMAL} skipped (no data: market.on_demand.p50 "
        f"(3 peers, need 5)); {BUSY} skipped (no data: market.rented_share (3 peers, need 5)); "
        f"{QUIET} skipped (no data: market.rented_share (3 peers, need 5))"
    )


def test_an_unknown_median_moves_nothing_though_the_share_is_known() -> None:
    # Every market rule follows the median: with it unknown, the rules whose `when` holds
    # (normal, and quiet: 0.3 < 0.5, which would take the price 10% down) are skipped.
    stale = Unknown("stale", (7200, 3600))
    got = plan(market(share=0.3, p50=stale))
    assert not got.changed and not got.fields["on_demand"].rules
    assert got.fields["on_demand"].skipped == tuple(
        f"{rule} skipped (no data: market.on_demand.p50 (2h old, at most 1h))"
        for rule in (NORMAL, QUIET)
    )
