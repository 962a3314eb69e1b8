"""Zero GPUs while the driver answers (issue 14, item 11): GPUs unavailable, not every GPU missing.

A driver that lists no GPU during a reset or a reload must not get a rented server delisted:
a one-shot run (which sees one reading and cannot know how long it lasts) exits 4 and writes
nothing; the daemon is degraded and writes nothing until the empty list has lasted
`gpu.zero_gpus_grace`, and only then reads it as every GPU missing.

The fake backend's scenarios always have at least one GPU (scenario.py refuses an empty
`gpu` list), so these tests wrap it in a backend whose GPU list can be emptied.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from clore_host.agent.daemon import Daemon
from clore_host.errors import describe
from clore_host.gpu import GpuSnapshot, NoGpusListed
from clore_host.testing import FakeBackend, FakeClock, load_scenario
from clore_host.testing.rig import Rig, policy_text

# Takes the server off the marketplace when GPUs are missing, even while it is rented.
DELIST = policy_text(
    """
[[rule]]
name = "gpus missing"
when = { fact = "gpus_missing" }
then.availability = false
even_if_rented = true
"""
)
ON_DEMAND = 2
GRACE = 300.0


class Emptied:
    """The rig's fake backend, whose GPU list is empty while `empty` is set."""

    name = "emptied"

    def __init__(self, inner: FakeBackend) -> None:
        self.inner = inner
        self.empty = True

    def read(self) -> GpuSnapshot:
        snapshot = self.inner.read()
        return replace(snapshot, gpus=()) if self.empty else snapshot

    def close(self) -> None:
        self.inner.close()


def emptied(rig: Rig) -> Emptied:
    return Emptied(FakeBackend(load_scenario(rig.root / "scenario.toml"), rig.clock))


def rented_rig(tmp_path: Path, clock: FakeClock, **gpu: object) -> Rig:
    config = {"gpu": gpu, "agent": {"reconcile_interval": "1m", "backoff": "15s"}}
    rig = Rig(tmp_path, clock=clock, policy=DELIST, gpus=2, config=config).start()
    rig.emulator.set_rental_status(rig.server, ON_DEMAND)
    return rig


@pytest.mark.parametrize("grace", ["5m", "0s"])
def test_a_one_shot_run_reads_zero_gpus_as_unavailable(tmp_path: Path, grace: str) -> None:
    # Whatever the grace: one reading cannot tell a hiccup from a lasting loss.
    rig = rented_rig(tmp_path, FakeClock(), zero_gpus_grace=grace)
    try:
        agent = rig.agent(gpus=emptied(rig))
        try:
            with pytest.raises(NoGpusListed) as info:
                agent.reconcile()
        finally:
            agent.close()
    finally:
        rig.close()
    code, line = describe(info.value)
    assert code == 4
    assert line.startswith("GPUs unavailable, nothing changed: the driver answers but lists no GPU")
    assert "gpu.zero_gpus_grace" in line
    assert rig.writes() == []
    assert rig.settings()[2] is True  # still listed


def step_for(daemon: Daemon, clock: FakeClock, seconds: float) -> None:
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(min(daemon.step(), end - clock.now()) + 0.5)


def test_the_daemon_is_degraded_within_the_grace_and_delists_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    rig = rented_rig(tmp_path, clock, zero_gpus_grace="5m")
    backend = emptied(rig)
    daemon = rig.daemon(open_agent=lambda config: rig.agent(gpus=backend))
    try:
        with caplog.at_level(logging.INFO, logger="clore_host"):
            step_for(daemon, clock, GRACE - 30)
            assert rig.writes() == []
            assert not daemon.health.ok
            assert daemon.health.problems["gpus"].startswith("GPUs unavailable, nothing changed")
            assert daemon.status_line().startswith("degraded: GPUs unavailable")

            step_for(daemon, clock, 120)  # the grace has passed: every GPU missing
            step_for(daemon, clock, 120)
        assert rig.writes() == [
            {
                "name": rig.server,
                "availability": False,
                "mrl": 72,
                "on_demand": 0.0001,
                "spot": 0.00005,
            }
        ]
        said = [r for r in caplog.records if "every GPU is read as missing" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == logging.WARNING  # once, not every sample
    finally:
        daemon.close()
        rig.close()


def test_gpus_coming_back_within_the_grace_start_it_again(tmp_path: Path) -> None:
    clock = FakeClock()
    rig = rented_rig(tmp_path, clock, zero_gpus_grace="5m")
    backend = emptied(rig)
    daemon = rig.daemon(open_agent=lambda config: rig.agent(gpus=backend))
    try:
        step_for(daemon, clock, GRACE - 60)
        assert not daemon.health.ok
        backend.empty = False  # the hiccup ends
        step_for(daemon, clock, 120)
        assert daemon.health.ok
        backend.empty = True  # another one: the grace counts from here
        step_for(daemon, clock, GRACE - 60)
        assert not daemon.health.ok
        assert rig.writes() == []
        assert rig.settings()[2] is True
    finally:
        daemon.close()
        rig.close()
