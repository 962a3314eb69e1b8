"""Backtest fidelity (issue 17, Must show 1): the agent on the emulator for days on a
simulated clock makes a history; replaying the policy that ran reproduces every decision it
recorded, and another policy decides differently, each difference explained.

The agent runs the default policy as it was before issue 19 (old_policies/default.toml): its
idle discount acts without a market, so the history holds many changes to reproduce. The
shipped idle-discount is the other policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.cli import main
from clore_host.config import load_policy
from clore_host.config.paths import shipped_dir
from clore_host.history import History
from clore_host.policy.step import Memory, Observation, memory_from_record, observation_from_record
from clore_host.simulate.backtest import NothingToReplay, backtest
from clore_host.testing.clock import FakeClock
from clore_host.testing.rig import Rig

START = 1_780_272_000.0  # 2026-06-01T00:00:00Z, a Monday
DAYS = 3
# (hour, rental_status): 2 on demand, 1 spot, 0 not rented.
RAN = Path(__file__).parent / "old_policies" / "default.toml"
DEFAULT = load_policy(RAN)
RENTALS = ((9.0, 2), (20.0, 0), (33.5, 1), (40.0, 0), (52.0, 2), (55.0, 0), (55.5, 2), (61.0, 0))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The state directory of an agent that ran the default policy for DAYS days: a
    reconcile every 5 minutes, a GPU sample every minute, renters coming and going."""
    root = tmp_path_factory.mktemp("rig")
    clock = FakeClock(START)
    config = {
        "timezone": "Europe/Berlin",
        "policy": {"path": str(RAN)},
        "api": {"retries": 0, "timeout": 1},
    }
    with Rig(root, clock=clock, config=config) as rig:
        agent = rig.agent()
        rentals = list(RENTALS)
        try:
            for minute in range(DAYS * 24 * 60):
                clock.set(START + minute * 60)
                while rentals and rentals[0][0] * 60 <= minute:
                    rig.emulator.set_rental_status(rig.server, rentals.pop(0)[1])
                if minute % 5 == 0:
                    agent.reconcile()
                else:
                    agent.sample()
        finally:
            agent.close()
    yield root / "state"


def _seen(memory: Memory, obs: Observation) -> tuple[object, ...]:
    return (memory.prior, memory.rental_status_for(obs.rental_status, obs.now))


def _history(state: Path) -> History:
    return History.open(state / "history.db")


def test_replaying_the_policy_that_ran_reproduces_every_decision(made: Path) -> None:
    with _history(made) as history:
        applied = history.changes(since=START)
        rows = history.observations("reconcile", START)
        result = backtest(history, load_policy(RAN), "demo-rig", since=START)
    assert len(result.decisions) == DAYS * 24 * 12
    assert result.differing == ()
    # The memory the replay carried into each decision is the one the agent decided with, as
    # a decision reads it: the rails' prior state and the time in the rental status. (At the
    # first sight of a status the agent's record forgets the old one; the replay still holds
    # it: both read "unknown".)
    observations = [observation_from_record(r) for _, r in rows]
    recorded = [memory_from_record(r) or Memory() for _, r in rows]
    assert [_seen(d.memory, o) for d, o in zip(result.decisions, observations, strict=True)] == [
        _seen(m, o) for m, o in zip(recorded, observations, strict=True)
    ]
    assert sum(m.last_price_change is not None for m in recorded) > 500
    # Every change the agent wrote, the replay wrote at the same decision, to the same settings.
    replayed = [(d.ts, d.plan.target) for d in result.decisions if d.plan.changed and d.landed]
    assert replayed == [(c.ts, c.after) for c in applied]
    assert len(applied) >= 20  # idle discounts, returns to the list price, spot moves
    assert result.ran.changes == result.replay.changes == len(applied)
    assert result.ran.prices == result.replay.prices
    assert result.ran.revenue == result.replay.revenue > 0
    assert [r.kind for r in result.rentals] == ["on_demand", "spot", "on_demand", "on_demand"]


def test_another_policy_decides_differently_and_says_why(made: Path) -> None:
    other = load_policy(shipped_dir("policies") / "idle-discount.toml")
    with _history(made) as history:
        result = backtest(history, other, "demo-rig", since=START)
    assert len(result.differing) >= 10
    for decision in result.differing:
        plan = decision.plan
        if plan.changed:
            # P's change, with the rules that made it.
            assert plan.reasons() and all("rule " in line for line in plan.reasons())
        else:
            # P held where the agent wrote: its plan says why (rules, rails, or nothing fired).
            assert decision.ran is not None and decision.ran.reasons
    assert result.replay.prices != result.ran.prices
    # The same rentals, at the prices each side had when each began.
    assert [r.ran_price for r in result.rentals] != [r.replay_price for r in result.rentals]


def test_a_period_without_records_is_nothing_to_replay(made: Path) -> None:
    with _history(made) as history, pytest.raises(NothingToReplay):
        backtest(history, DEFAULT, "demo-rig", since=START + 30 * 86400)


def test_the_command_shows_both_sides_and_the_listing(
    made: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(made.parent / "config.toml")
    args = ["backtest", "--policy", "idle-discount", "--since", "2026-06-01", "--config", config]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("backtest of idle-discount against default (as recorded): ")
    assert out[0].endswith(f"{DAYS:.1f} days, {DAYS * 288} decisions")
    assert any(line.strip().startswith("changes/day") for line in out)
    assert "on-demand price by day (time-weighted mean; ran / idle-discount):" in out
    assert sum(line.endswith("(differs)") for line in out) >= 10
    assert any(
        line.startswith("    idle-discount: on_demand") and "no renter for 6h" in line
        for line in out
    )
    assert any(line.startswith("    ran: on_demand") for line in out)


def test_the_command_as_json(made: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(made.parent / "config.toml")
    args = ["backtest", "--policy", str(RAN), "--since", "2026-06-01", "--config", config]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decisions"] == doc["same_decisions"] == DAYS * 288
    assert doc["ran"]["changes"] == doc["replay"]["changes"] > 0
    assert doc["ran"]["revenue"] == doc["replay"]["revenue"]
    assert all(item["same"] for item in doc["listing"])
