"""A blocked plan is said in the log (issue 14, item 10): once, at warning level with why, when
the block starts, once when its reason changes, and once at info when it ends; not on every
cycle, and not only in metrics.

Two blocks: the clock's (the history holds a change stamped an hour ahead: a clock that jumped
ahead, wrote, and came back, so every write waits until that time passes, and the message
gives the way out), and implausible inputs (a GPU reading no card gives).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent.daemon import Daemon
from clore_host.facts import Settings
from clore_host.gpu import GpuSnapshot
from clore_host.history import History
from clore_host.testing import FakeBackend, FakeClock, load_scenario
from clore_host.testing.rig import Rig, policy_text

RAISE = policy_text(
    """
[[rule]]
name = "test raise"
then.on_demand = { set = 0.00011 }
"""
)
AHEAD = 3600.0
SERVER_NOW = Settings(on_demand=0.0001, spot=0.00005, availability=True, mrl=72)
EARLIER = SERVER_NOW._replace(on_demand=0.00009)


def blocked_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    daemon_log = [r for r in caplog.records if r.name == "clore_host.agent.daemon"]
    started = [r.getMessage() for r in daemon_log if "plan blocked" in r.getMessage()]
    ended = [r.getMessage() for r in daemon_log if "no longer blocked" in r.getMessage()]
    assert all(r.levelno == logging.WARNING for r in daemon_log if "plan blocked" in r.getMessage())
    assert all(
        r.levelno == logging.INFO for r in daemon_log if "no longer blocked" in r.getMessage()
    )
    return started, ended


def run_for(daemon: Daemon, clock: FakeClock, seconds: float) -> None:
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(daemon.step() + 1)


def test_the_block_is_logged_once_when_it_starts_and_once_when_it_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=RAISE) as rig:
        (rig.root / "state").mkdir()
        with History.open(rig.root / "state" / "history.db") as history:
            history.record_change(
                clock.now() + AHEAD, rig.server, EARLIER, SERVER_NOW, ["ahead"], "applied"
            )
        daemon = rig.daemon()
        try:
            with caplog.at_level(logging.INFO, logger="clore_host"):
                run_for(daemon, clock, AHEAD - 600)  # about ten reconciles, all blocked
                started, ended = blocked_lines(caplog)
                assert len(started) == 1 and ended == []
                assert "in the future (did the clock go back?)" in started[0]
                assert "clore-host history --forget-future" in started[0]  # the way out
                assert daemon.health.problems["reconcile"].startswith("inputs implausible: ")
                assert rig.writes() == []

                run_for(daemon, clock, 1200)  # the recorded time has passed
                started, ended = blocked_lines(caplog)
                assert len(started) == 1 and len(ended) == 1
                assert "in the future" in ended[0]  # says what the block was
                assert "reconcile" not in daemon.health.problems

                run_for(daemon, clock, 3600)  # no more block lines while it stays clear
                assert blocked_lines(caplog) == (started, ended)
        finally:
            daemon.close()
        assert len(rig.writes()) >= 1  # writes resumed (after the minimum interval)


def test_a_new_block_after_a_clear_one_is_logged_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=RAISE) as rig:
        daemon = rig.daemon()
        try:
            with caplog.at_level(logging.INFO, logger="clore_host"):
                run_for(daemon, clock, 900)
                assert blocked_lines(caplog) == ([], [])
                assert daemon.agent is not None
                daemon.agent.history.record_change(
                    clock.now() + AHEAD, rig.server, EARLIER, SERVER_NOW, ["ahead"], "applied"
                )
                run_for(daemon, clock, 1800)
                started, ended = blocked_lines(caplog)
                assert len(started) == 1 and ended == []
        finally:
            daemon.close()


# -- an implausible input, and a block whose reason changes ---------------------------------


class Implausible:
    """The rig's fake GPUs, with any metric overridden by `over` (e.g. utilization 150)."""

    name = "implausible"

    def __init__(self, inner: FakeBackend) -> None:
        self.inner = inner
        self.over: dict[str, Any] = {}  # GpuReading's fields

    def read(self) -> GpuSnapshot:
        snapshot = self.inner.read()
        gpus = tuple(replace(gpu, **self.over) for gpu in snapshot.gpus)
        return replace(snapshot, gpus=gpus)

    def close(self) -> None:
        self.inner.close()


def changed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    daemon_log = [r for r in caplog.records if r.name == "clore_host.agent.daemon"]
    changed = [r for r in daemon_log if "still blocked" in r.getMessage()]
    assert all(r.levelno == logging.WARNING for r in changed)
    return [r.getMessage() for r in changed]


def test_an_implausible_input_and_a_change_of_reason_are_logged_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=RAISE) as rig:
        backend = Implausible(FakeBackend(load_scenario(rig.root / "scenario.toml"), clock))
        backend.over = {"utilization": 150.0}
        daemon = rig.daemon(open_agent=lambda config: rig.agent(gpus=backend))
        try:
            with caplog.at_level(logging.INFO, logger="clore_host"):
                run_for(daemon, clock, 1800)  # several reconciles, all blocked by A
                started, ended = blocked_lines(caplog)
                assert len(started) == 1 and ended == []
                assert started[0].endswith("GPU 0 utilization 150 is above 100%")
                assert changed_lines(caplog) == []
                assert daemon.health.problems["reconcile"].startswith("inputs implausible: ")

                backend.over = {"temperature": -5.0}  # blocked still, now by B
                run_for(daemon, clock, 1800)
                assert blocked_lines(caplog) == (started, [])
                [changed] = changed_lines(caplog)  # once, not on every cycle
                assert changed == (
                    "plan still blocked, now because: GPU 0 temperature -5 is negative or not "
                    "finite (it was: GPU 0 utilization 150 is above 100%)"
                )
                assert rig.writes() == []

                backend.over = {}  # the inputs are plausible again
                run_for(daemon, clock, 1800)
                started, ended = blocked_lines(caplog)
                assert len(started) == 1
                assert ended == [
                    "plan no longer blocked (it was: GPU 0 temperature -5 is "
                    "negative or not finite)"
                ]
                assert len(changed_lines(caplog)) == 1
        finally:
            daemon.close()
        assert len(rig.writes()) == 1  # writes resumed once the block cleared
