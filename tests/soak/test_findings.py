"""Bugs the soak found, each shown on its own, small and deterministic, so they stay fixed.
Like the soak's checks, these read the emulator's request log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.facts import Facts, GpuNow, HostNow, LocalTime, PriorState, Settings
from clore_host.policy import make_plan, parse_policy
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

MIN_INTERVAL = 1800.0  # the rig's rails

# Wants +5% every cycle: every reconcile past the minimum interval is a price change.
CLIMB = policy_text('[[rule]]\nname = "climb"\nthen.on_demand = { step = "5%" }')


@pytest.fixture
def mini(tmp_path: Path, clock: FakeClock) -> Iterator[Rig]:
    """A rig on the test's FakeClock; agents open on it with two retries and long timeouts."""
    config = {"api": {"timeout": 2.0, "retries": 2}, "gpu": {"call_timeout": 2.0}}
    with Rig(tmp_path, clock=clock, policy=CLIMB, config=config) as rig:
        yield rig


def price_writes(rig: Rig) -> list[float]:
    """Arrival times of applied writes that changed the on-demand price."""
    times, price = [], 0.0001
    for record in rig.emulator.requests.for_endpoint("set_server_settings"):
        if record.code == 0 and record.body["on_demand"] != price:
            times.append(record.time)
            price = record.body["on_demand"]
    return times


def test_a_write_never_carries_a_price_below_the_floor_of_the_running_policy() -> None:
    # Found by the soak (seeds 2, 3, 22): the provider switched to a health-only policy whose floor
    # is above where the idle discount had left the price; the next availability write
    # carried the old price, below the new floor.
    policy = parse_policy(
        {
            "version": 1,
            "rails": {
                "on_demand": {"floor": 0.00009, "ceiling": 0.0003},
                "spot": {"floor": 0.00005, "ceiling": 0.0002},
            },
            "rule": [
                {
                    "name": "unhealthy",
                    "when": {"fact": "overheating"},
                    "then": {"availability": False},
                }
            ],
        }
    )
    facts = Facts(
        now=1_767_225_600.0,
        local=LocalTime(hour=12, minute=0, weekday=2),
        rental_status="not_rented",
        rental_status_for=3600.0,
        current=Settings(on_demand=0.00006, spot=0.00003, availability=True, mrl=72),
        expected_gpus=1,
        gpus=(GpuNow(0, utilization=1.0, temperature=95.0),),
        windows={},
        idle_for=None,
        host=HostNow(),
    )
    plan = make_plan(policy, facts, PriorState(None, None))
    assert plan.changed and plan.target.availability is False  # a write will be sent
    assert 0.00009 <= plan.target.on_demand <= 0.0003
    assert 0.00005 <= plan.target.spot <= 0.0002


def test_price_changes_land_at_least_the_minimum_interval_apart(
    mini: Rig, clock: FakeClock
) -> None:
    # Found by the soak (seed 21): 3597 s between changes under a 3600 s minimum interval.
    first = mini.agent()
    try:
        # The first write fails twice with HTTP 500 and lands on the third try, ~4 s late.
        mini.emulator.faults.http_status(500, endpoint="set_server_settings", times=2)
        assert first.reconcile().outcome == "changed"
        decided = first.history.changes()[-1].ts
        # Reconcile every second from the moment the interval since the decision is over,
        # until the rule's next step is let through.
        clock.set(decided + MIN_INTERVAL + 0.001)
        while first.reconcile().outcome != "changed":
            assert clock.now() < decided + MIN_INTERVAL + 60
            clock.advance(1)
    finally:
        first.close()
    landed = price_writes(mini)
    assert len(landed) == 2
    assert landed[1] - landed[0] >= MIN_INTERVAL


def test_a_deleted_history_does_not_reset_the_minimum_interval(mini: Rig, clock: FakeClock) -> None:
    # Found by reading the soak's deletion fault: the audit trail was the interval's memory.
    first = mini.agent()
    try:
        assert first.reconcile().outcome == "changed"
        db = first.history.path
    finally:
        first.close()
    for suffix in ("", "-wal", "-shm"):  # the operator removes the state and restarts
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    clock.advance(300)
    second = mini.agent()
    try:
        second.reconcile()
    finally:
        second.close()
    landed = price_writes(mini)
    assert len(landed) == 1 or landed[1] - landed[0] >= MIN_INTERVAL
