"""A write that lands and whose answer is lost (issue 14, Must-show 3).

The daemon says the write may have been applied (not "nothing changed"); its next cycle finds
the change on the server, records it as applied, and reports it as any other applied change:
the change_applied webhook (to a receiver on loopback), the log event and the metrics. The
write is not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.agent.daemon import Daemon
from clore_host.history import History
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

from ..webhook_receiver import Receiver, serving

RAISE = policy_text(
    """
[[rule]]
name = "test raise"
when = { fact = "rental_status", op = "==", value = "not_rented" }
then.on_demand = { set = 0.00011 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""
)
BEFORE = (0.0001, 0.00005, True, 72)
AFTER = (0.00011, 0.000055, True, 72)
RETRIES = 2  # every attempt lands and loses its answer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


def steps(daemon: Daemon, clock: FakeClock, count: int) -> None:
    for _ in range(count):
        clock.advance(daemon.step() + 1)


def metric(daemon: Daemon, name: str, **labels: str) -> float:
    value = daemon.metrics.registry.get_sample_value(f"clore_host_{name}", labels)
    return 0.0 if value is None else value


def test_a_lost_answer_says_so_and_the_next_cycle_reports_the_change(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    config = {"api": {"retries": RETRIES}, "webhook": {"url": receiver.url, "timeout": 5}}
    with Rig(tmp_path, clock=clock, policy=RAISE, config=config) as rig:
        rig.emulator.faults.lose_answer(endpoint="set_server_settings", times=1 + RETRIES)
        daemon = rig.daemon()
        try:
            with caplog.at_level(logging.INFO, logger="clore_host"):
                daemon.step()  # opens the agent
                clock.advance(1)
                daemon.step()  # samples and reconciles: the write lands, its answer is lost

                # Landed, every attempt: the same full settings each time.
                assert rig.settings() == AFTER
                assert len(rig.writes()) == 1 + RETRIES
                assert not daemon.health.ok
                line = daemon.health.problems["reconcile"]
                assert line.startswith("the write may have been applied; the next run checks: ")
                assert "set_server_settings" in line and "nothing changed" not in line
                assert receiver.kinds("change_applied") == []
                with History.open(rig.root / "state" / "history.db") as history:
                    assert [c.status for c in history.changes(status=None)] == ["pending"]

                steps(daemon, clock, 8)  # the next reconciles, after the backoff
        finally:
            daemon.close()

        # Recorded as applied, never written again.
        assert daemon.health.ok
        assert len(rig.writes()) == 1 + RETRIES
        assert rig.settings() == AFTER
        with History.open(rig.root / "state" / "history.db") as history:
            (change,) = history.changes(status=None)
        assert change.status == "applied"

        # The webhook, as for any applied change.
        (doc,) = receiver.kinds("change_applied")
        assert doc["server"] == rig.server
        assert doc["rental_status"] == "not_rented"
        assert doc["before"] == {
            "on_demand": 0.0001,
            "spot": 0.00005,
            "availability": True,
            "mrl": 72,
        }
        assert doc["after"]["on_demand"] == 0.00011 and doc["after"]["spot"] == 0.000055
        assert doc["changed"] == ["on_demand", "spot"]
        assert doc["rules"] == ["test raise"]
        assert doc["reasons"] == list(change.reasons)
        assert any('rule "test raise"' in reason for reason in doc["reasons"])
        # The health events said degraded, then recovered.
        health = [(d["part"], d["status"]) for d in receiver.kinds("health")]
        assert ("reconcile", "degraded") in health and ("reconcile", "recovered") in health

        # The metrics count it with the rule behind it, and show the settings in force.
        assert metric(daemon, "rule_changes_applied_total", rule="test raise") == 1
        assert metric(daemon, "reconciles_total", outcome="changed") == 1
        assert metric(daemon, "on_demand_price", currency="bitcoin") == 0.00011

        # The log: the warning, then the change_applied event naming the settled change.
        doubt = [r for r in caplog.records if "may have been applied" in r.getMessage()]
        assert doubt and all(r.levelno == logging.WARNING for r in doubt)
        applied = [r for r in caplog.records if getattr(r, "event", None) == "change_applied"]
        assert len(applied) == 1
        assert "written earlier without an answer" in applied[0].fields["settled"]


def test_a_write_that_never_landed_is_not_reported_as_applied(
    tmp_path: Path, receiver: Receiver
) -> None:
    # The answer is lost but the request was never carried out (a drop before the work):
    # the next cycle abandons the pending change, writes again, and reports that one write.
    clock = FakeClock()
    config = {"api": {"retries": 0}, "webhook": {"url": receiver.url, "timeout": 5}}
    with Rig(tmp_path, clock=clock, policy=RAISE, config=config) as rig:
        rig.emulator.faults.drop(endpoint="set_server_settings")
        daemon = rig.daemon()
        try:
            daemon.step()
            clock.advance(1)
            daemon.step()
            assert rig.settings() == BEFORE
            assert "may have been applied" in daemon.health.problems["reconcile"]
            steps(daemon, clock, 8)
        finally:
            daemon.close()
        assert rig.settings() == AFTER
        with History.open(rig.root / "state" / "history.db") as history:
            statuses = [c.status for c in history.changes(status=None)]
        assert statuses == ["abandoned", "applied"]
        (doc,) = receiver.kinds("change_applied")
        assert doc["rules"] == ["test raise"]
        assert metric(daemon, "rule_changes_applied_total", rule="test raise") == 1
