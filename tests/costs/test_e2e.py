"""Exchange-rate faults end to end: the emulator's spot_marketplace sends a bad
`currency_rates_in_usd` (absent, 0, negative, not a number, a 100x jump) or the config's fixed
rate is stale, and a one-shot `clore-host reprice` runs as a timer would. The rate is
unknown, the plan says why, nothing goes below the static floor, no price moves down (a rise
still goes through), and nothing crashes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from clore_host.facts import Unknown
from clore_host.testing import FakeClock
from clore_host.testing.emulator import ABSENT

from ..rig import Rig

# One RTX 4090 at its 450 W limit: 10.8 kWh a day at 0.14 USD = 1.512 USD, far below the
# static floors at any sane rate, so only the cost floor's being unknown can hold a price.
SCENARIO = """
driver_version = "550.54.15"
seed = 1
[defaults]
name = "NVIDIA GeForce RTX 4090"
utilization = 1
temperature = 35
power = 20
power_limit = 450
[[gpu]]
"""

# The cost floor rail, a rule that lowers on demand and one that raises spot: while the cost
# floor is unknown the first is held, the second goes through.
POLICY = """
version = 1
[rails]
on_demand = { floor = 0.00005, ceiling = 0.0003 }
spot = { floor = 0.00002, ceiling = 0.0002 }
cost_floor = { margin = "10%" }
max_step = "20%"
min_interval = "30m"
deadband = "1%"

[[rule]]
name = "lower on demand"
then.on_demand = { scale = 0.9 }

[[rule]]
name = "raise spot"
then.spot = { scale = 1.1 }
"""

# The sample server's prices in the emulator.
ON_DEMAND, SPOT = 0.0001, 0.00005
HELD = "held: no price moves down while the cost floor is unknown: "


COSTS: dict[str, Any] = {"costs": {"electricity": {"price": 0.14, "currency": "USD"}}}


def today(days: int = 0) -> str:
    return (datetime.now(timezone.utc).date() + timedelta(days=days)).isoformat()


def set_up(rig: Rig, fx: dict[str, Any] | None = None) -> Rig:
    (rig.root / "scenario.toml").write_text(SCENARIO)
    (rig.root / "policy.toml").write_text(POLICY)
    rig.write_config(
        costs={"electricity": {"price": 0.14, "currency": "USD"}},
        fx=fx or {},
    )
    return rig


def reprice(rig: Rig) -> str:
    done = rig.cli("reprice")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr
    return done.stdout


def assert_nothing_fell(rig: Rig) -> None:
    """No write lowered a price or went below a static floor; spot was raised."""
    for body in rig.writes():
        assert body["on_demand"] >= ON_DEMAND and body["spot"] >= SPOT, body
        assert body["on_demand"] >= 0.00005 and body["spot"] >= 0.00002, body
    on_demand, spot, availability, _ = rig.settings()
    assert on_demand == ON_DEMAND  # held
    assert spot == pytest.approx(0.000055)  # a rise goes through
    assert availability is True


def test_a_sane_rate_lets_the_price_fall_to_the_rules_target(rig: Rig) -> None:
    # The check that the fault cases mean something: with the market's 97000, the cost floor
    # (about 0.00002 with its margin) lies below the static floor, and on demand falls 10 %.
    set_up(rig)
    out = reprice(rig)
    assert rig.settings()[:2] == (pytest.approx(0.00009), pytest.approx(0.000055))
    assert "cost floor is unknown" not in out


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ({"bitcoin": 0}, "bitcoin rate 0 rejected: not a positive number"),
        ({"bitcoin": -97000}, "bitcoin rate -97000 rejected: not a positive number"),
        ({"bitcoin": "abc"}, "bitcoin rate 'abc' rejected: not a number"),
        ({"bitcoin": None}, "bitcoin rate null rejected: not a number"),
        ({"bitcoin": 1e308 * 10}, "bitcoin rate inf rejected: not a finite number"),
        (
            {"bitcoin": 97},
            "bitcoin rate 97 rejected: outside the plausible range 100 to 10000000 USD "
            "(fx.plausible)",
        ),
    ],
)
def test_a_bad_rate_from_the_market_holds_every_price(
    rig: Rig,
    sent: Any,
    reason: str,
) -> None:
    set_up(rig, fx={"bitcoin_usd": 95000, "as_of": today()})  # no fallback for nonsense
    rig.emulator.currency_rates_in_usd = sent
    out = reprice(rig)
    assert f'on_demand 0.00010000 unchanged: rule "lower on demand" (always); {HELD}{reason}' in out
    assert_nothing_fell(rig)


def test_absent_rates_without_a_fixed_rate_hold_every_price(rig: Rig) -> None:
    set_up(rig)
    rig.emulator.currency_rates_in_usd = ABSENT
    out = reprice(rig)
    reason = "bitcoin rate unknown: the market sent none and the config has no fx.bitcoin_usd"
    assert HELD + reason in out
    assert_nothing_fell(rig)


def test_absent_rates_use_a_fresh_fixed_rate(rig: Rig) -> None:
    set_up(rig, fx={"bitcoin_usd": 95000, "as_of": today()})
    rig.emulator.currency_rates_in_usd = ABSENT
    reprice(rig)
    assert rig.settings()[0] == pytest.approx(0.00009)


def test_a_stale_fixed_rate_holds_every_price(rig: Rig) -> None:
    as_of = today(-8)  # fx.max_age is 7 d
    set_up(rig, fx={"bitcoin_usd": 95000, "as_of": as_of})
    rig.emulator.currency_rates_in_usd = ABSENT
    out = reprice(rig)
    reason = f"bitcoin rate unknown: the fixed rate of {as_of} is older than fx.max_age (7d)"
    assert HELD + reason in out
    assert_nothing_fell(rig)


def test_a_100x_jump_after_a_sane_rate_holds_every_price(tmp_path: Path) -> None:
    # Two runs on a simulated clock, each its own agent (only the state directory is
    # shared): the first, a look at the plan that writes nothing, accepts 97000; the second,
    # once the market summary is due again, gets a 100x jump.
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=POLICY, scenario=SCENARIO, config=COSTS) as rig:
        agent = rig.agent()
        try:
            assert agent.reconcile(dry_run=True).facts.observed["fx.bitcoin_usd"] == 97000.0
        finally:
            agent.close()
        clock.advance(20 * 60)  # market.interval is 15 m
        rig.emulator.currency_rates_in_usd = {"bitcoin": 9_700_000}
        agent = rig.agent()
        try:
            result = agent.reconcile()
        finally:
            agent.close()
        why = result.facts.observed["fx.bitcoin_usd"]
        assert why == Unknown(
            "rate_rejected",
            (
                "bitcoin",
                "9700000",
                "9900% from 97000 accepted 20m before (fx.max_move 20%)",
            ),
        )
        assert result.facts.why_unknown("cost.floor.on_demand") == why
        assert HELD + "bitcoin rate 9700000 rejected: 9900% from 97000" in result.plan.explain()[0]
        assert_nothing_fell(rig)
