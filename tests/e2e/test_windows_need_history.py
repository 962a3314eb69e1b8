"""A window a rule reads is unknown until history covers it (a fresh or recreated database)."""

from __future__ import annotations

from pathlib import Path

from clore_host.agent import Agent
from clore_host.api import CloreClient, Token
from clore_host.config import load_config
from clore_host.testing import Emulator, FakeClock, default_state

POLICY = """
version = 1
[rails]
on_demand = { floor = 0.00005, ceiling = 0.0003 }
spot = { floor = 0.00002, ceiling = 0.0002 }
[[rule]]
name = "cool for 30 minutes"
when = { metric = "temperature", window = "30m", agg = "max", gpus = "all", op = "<", value = 80 }
then.availability = true
"""


def test_a_window_longer_than_the_history_is_no_data(tmp_path: Path) -> None:
    clock = FakeClock()
    state = default_state()
    state["servers"][0]["visibility"] = "hidden"
    state["servers"][0]["availability"] = False
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "config.toml").write_text(
        '[server]\nname = "demo-rig"\n[gpu]\nbackend = "fake"\nscenario = "idle-rig"\n'
        '[policy]\npath = "policy.toml"\n[state]\ndir = "state"\n'
    )
    with Emulator(state, clock=clock) as emulator:
        client = CloreClient.connect(emulator.url, Token("demo-token"), clock=clock)
        agent = Agent.open(load_config(tmp_path / "config.toml"), clock=clock, client=client)
        try:
            first = agent.reconcile(dry_run=True)
            assert first.plan.target.availability is False  # one sample is not 30 minutes
            assert "no data" in " ".join(first.plan.fields["availability"].skipped)
            for _ in range(30):
                clock.advance(60)
                agent.sample()
            later = agent.reconcile(dry_run=True)
            assert later.plan.target.availability is True
        finally:
            agent.close()
