"""A bug (an exception nothing expects) in a reconcile: logged with its traceback, nothing written.

The daemon stays up and degraded and logs the traceback at error level every time; a one-shot
`reprice` exits 1 with one line, and shows the traceback with `--log-level debug`.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

RAISE = """
[[rule]]
name = "raise"
then.on_demand = { set = 0.00011 }
"""


def _boom(*args: object, **kwargs: object) -> object:
    raise ZeroDivisionError("a bug in decide")


def test_the_daemon_logs_the_traceback_stays_up_degraded_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock, policy=policy_text(RAISE)) as rig:
        daemon = rig.daemon()
        try:
            monkeypatch.setattr("clore_host.agent.cycle.take_step", _boom)
            with caplog.at_level(logging.WARNING, logger="clore_host"):
                for _ in range(12):  # every time, not only the first
                    clock.advance(daemon.step() + 1)
            # (a log handler's secret filter may have turned exc_info into exc_text already)
            bugs = [
                r
                for r in caplog.records
                if r.levelno == logging.ERROR and (r.exc_info or r.exc_text)
            ]
            assert len(bugs) >= 3
            assert all("ZeroDivisionError: a bug in decide" in r.getMessage() for r in bugs)
            assert "in _boom" in caplog.text  # the traceback, down to where it was raised
            assert not daemon.health.ok
            assert daemon.status_line().startswith("degraded: unexpected error, nothing changed")
            assert rig.writes() == []

            monkeypatch.undo()  # the bug fixed: the same daemon recovers by itself
            for _ in range(12):
                clock.advance(daemon.step() + 1)
            assert daemon.health.ok
            assert len(rig.writes()) == 1
        finally:
            daemon.close()


def _reprice_with_a_bug(rig: Rig, *log_args: str) -> subprocess.CompletedProcess[str]:
    """`clore-host reprice` in a fresh process whose decide raises."""
    script = textwrap.dedent(
        f"""
        import sys
        import clore_host.agent
        from clore_host.cli import main

        def boom(*args, **kwargs):
            raise ZeroDivisionError("a bug in decide")

        clore_host.agent.cycle.take_step = boom
        sys.exit(main([*{list(log_args)!r}, "reprice", "--config", {str(rig.config)!r}]))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=rig.env(),
    )


def test_reprice_exits_1_with_one_line_and_the_traceback_at_debug(tmp_path: Path) -> None:
    with Rig(tmp_path, policy=policy_text(RAISE)) as rig:
        quiet = _reprice_with_a_bug(rig)
        assert quiet.returncode == 1
        assert quiet.stderr.splitlines() == [
            "clore-host: unexpected error, nothing changed: ZeroDivisionError: a bug in decide"
        ]
        debug = _reprice_with_a_bug(rig, "--log-level", "debug")
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr
        assert "in boom" in debug.stderr
        assert debug.stderr.rstrip().endswith(
            "clore-host: unexpected error, nothing changed: ZeroDivisionError: a bug in decide"
        )
        assert rig.writes() == []
