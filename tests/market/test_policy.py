"""The shipped `market-follow` policy over market facts: climbing toward p75 on demand,
decaying toward p25 without it, a step at a time, within the rails; skipped while the market
is unknown."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped
from clore_host.facts import Facts, Observed, PriorState, RentalStatus, Settings, Unknown
from clore_host.policy import Plan, make_plan
from tests.policy.factories import make_facts

SAT = 1e-8
POLICY = load_policy(resolve_shipped("market-follow", "policies"))


def market(
    *, share: Observed = 0.3, rank: Observed = 60.0, p25: float = 8e-5, p75: float = 12e-5
) -> dict[str, Observed]:
    return {
        "market.peers": 40.0,
        "market.on_demand.p25": p25,
        "market.on_demand.p50": (p25 + p75) / 2,
        "market.on_demand.p75": p75,
        "market.rented_share": share,
        "market.rank": rank,
    }


def plan(
    observed: dict[str, Observed],
    *,
    status: RentalStatus = "not_rented",
    on_demand: float = 0.0001,
) -> Plan:
    facts: Facts = replace(
        make_facts(status=status, current=Settings(on_demand, on_demand / 2, True, 72)),
        observed=observed,
    )
    return make_plan(POLICY, facts, PriorState())


@pytest.mark.parametrize(
    ("status", "share"), [("on_demand", 0.1), ("spot", 0.1), ("not_rented", 0.5)]
)
def test_demand_climbs_toward_p75_a_step_at_a_time(status: RentalStatus, share: float) -> None:
    got = plan(market(share=share), status=status)
    assert got.target.on_demand == pytest.approx(0.000105, abs=SAT)  # +5%, the max step
    assert got.target.spot == pytest.approx(0.0000525, abs=SAT)
    assert 'rule "demand: toward the upper quarter"' in got.fields["on_demand"].rules[0]


def test_demand_reaches_p75_and_stays() -> None:
    got = plan(market(share=0.6, p75=10.3e-5), on_demand=0.0001)
    assert got.target.on_demand == pytest.approx(10.3e-5, abs=SAT)


def test_no_demand_decays_toward_p25() -> None:
    got = plan(market(share=0.2, rank=70.0))
    assert got.target.on_demand == pytest.approx(0.000095, abs=SAT)  # -5%
    assert 'rule "no demand: toward the lower quarter"' in got.fields["on_demand"].rules[0]


def test_never_below_the_floor() -> None:
    got = plan(market(share=0.1, rank=90.0, p25=4e-5), on_demand=0.000062)
    assert got.target.on_demand == 0.00006  # the floor, not p25
    assert "clamped to floor 0.00006000" in got.fields["on_demand"].clamps


@pytest.mark.parametrize(
    ("status", "share", "rank"),
    [
        ("not_rented", 0.45, 60.0),  # between low and most: hold
        ("on_demand", 0.1, 80.0),  # rented but already above p75: not pulled down
        ("not_rented", 0.1, 20.0),  # idle but already below p25: not raised
    ],
)
def test_holds_between(status: RentalStatus, share: float, rank: float) -> None:
    got = plan(market(share=share, rank=rank), status=status)
    assert got.target.on_demand == 0.0001 and not got.fields["on_demand"].rules


def test_an_unknown_market_moves_nothing() -> None:
    few = Unknown("too_few_peers", (3, 5))
    unknown: dict[str, Observed] = {name: few for name in market()}
    got = plan(unknown, status="on_demand")
    assert got.target.on_demand == 0.0001 and not got.changed
    said = got.explain()[0]
    assert 'rule "demand: toward the upper quarter" skipped (no data: market.' in said
    assert "(3 peers, need 5)" in said
