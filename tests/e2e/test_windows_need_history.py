"""A window a rule reads is unknown until history covers it (a fresh or recreated database)."""

from __future__ import annotations

from pathlib import Path

from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

COOL_FOR_30_MINUTES = """
[[rule]]
name = "cool for 30 minutes"
when = { metric = "temperature", window = "30m", agg = "max", gpus = "all", op = "<", value = 80 }
then.availability = true
"""


def test_a_window_longer_than_the_history_is_no_data(tmp_path: Path) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=policy_text(COOL_FOR_30_MINUTES)) as rig:
        rig.emulator.update_server(rig.server, visibility="hidden", availability=False)
        agent = rig.agent()
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
