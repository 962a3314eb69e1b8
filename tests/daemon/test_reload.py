"""A reload (SIGHUP) never ends the daemon: whatever reading the new config or policy raises,
the daemon says "reload refused, keeping the running config and policy: <line>" and goes on
with what it runs. An expected failure is that one line at error level; anything else (a bug)
is the same line with its traceback.

The loop runs in this process on a fake clock; a notifier stand-in sends the daemon SIGHUP once
it is ready and stops it once the reload has answered, so nothing waits for real time.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent import daemon as daemon_module
from clore_host.agent.daemon import Daemon
from clore_host.errors import Failure
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

REFUSED = "reload refused, keeping the running config and policy: "
# A rule that moves nothing the test looks at, so the two policies differ in their digest.
OLD = policy_text('[[rule]]\nname = "old"\nthen.mrl = 96')
HUGE = "9" * 400


class Reloader:
    """A notifier that sends SIGHUP once the daemon is ready, and stops it once the reload
    has answered (its READY=1)."""

    def __init__(self) -> None:
        self.daemon: Daemon | None = None
        self.messages: list[str] = []
        self._readies = 0

    def send(self, *lines: str) -> None:
        message = "\n".join(lines)
        self.messages.append(message)
        if "READY=1" not in message:
            return
        self._readies += 1
        assert self.daemon is not None
        if self._readies == 1:
            os.kill(os.getpid(), signal.SIGHUP)  # as systemctl reload does
        else:
            self.daemon.request_stop("test")


@pytest.fixture
def signals() -> Iterator[None]:
    """The daemon installs its own handlers: put the test process's back afterwards."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for number, handler in kept.items():
        signal.signal(number, handler)


def run_with_a_reload(rig: Rig, change: Any) -> tuple[Daemon, Reloader, int, str]:
    """Start the daemon on the rig, run `change()` (breaking the files), SIGHUP it, and run
    until the reload has answered; the daemon's exit code, and its policy digest before."""
    reloader = Reloader()
    daemon = rig.daemon(notifier=reloader)  # type: ignore[arg-type]
    reloader.daemon = daemon
    before = daemon.policy_digest
    change()
    code = daemon.run()
    return daemon, reloader, code, before


def reload_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("reload refused")]


def test_a_policy_percentage_of_hundreds_of_digits_keeps_the_old_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, signals: None
) -> None:
    with Rig(tmp_path, clock=FakeClock(), policy=OLD) as rig:
        policy = rig.root / "policy.toml"

        def huge_step() -> None:
            policy.write_text(policy_text('[[rule]]\nname = "new"\nthen.mrl = 48', max_step=0))
            text = policy.read_text().replace("max_step = 0", f"max_step = {HUGE}")
            policy.write_text(text)

        with caplog.at_level(logging.INFO, logger="clore_host"):
            daemon, reloader, code, before = run_with_a_reload(rig, huge_step)
    assert code == 0  # it ran on until stopped, not killed by the reload
    assert daemon.policy_digest == before
    assert [rule.name for rule in daemon.policy.rules] == ["old"]
    [line] = reload_lines(caplog)
    assert line.levelno == logging.ERROR and line.exc_info is None  # expected: no traceback
    said = line.getMessage()
    assert said.startswith(REFUSED + "invalid policy: ")
    assert "rails.max_step: a percentage must be a finite number" in said
    assert len(said) < 300 and "\n" not in said
    assert any(m.startswith("READY=1\nSTATUS=" + REFUSED) for m in reloader.messages)


class Unreadable(Failure):
    """An expected failure that is not a problem in a file's content."""

    headline = "policy unreadable"


def test_an_expected_failure_of_any_kind_keeps_the_old_policy(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    signals: None,
) -> None:
    def failing(path: object, params: object = None) -> Any:
        raise Unreadable("the disk went away")

    with Rig(tmp_path, clock=FakeClock(), policy=OLD) as rig, caplog.at_level(logging.INFO):
        daemon, _, code, before = run_with_a_reload(
            rig, lambda: monkeypatch.setattr(daemon_module, "load_policy", failing)
        )
    assert code == 0
    assert daemon.policy_digest == before
    [line] = reload_lines(caplog)
    assert line.levelno == logging.ERROR and line.exc_info is None  # expected: no traceback
    assert line.getMessage() == REFUSED + "policy unreadable: the disk went away"


def test_an_unexpected_error_keeps_the_old_policy_and_logs_its_traceback(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    signals: None,
) -> None:
    def broken(path: object, params: object = None) -> Any:
        raise RuntimeError("a bug in reading the policy")

    with Rig(tmp_path, clock=FakeClock(), policy=OLD) as rig, caplog.at_level(logging.INFO):
        daemon, _, code, before = run_with_a_reload(
            rig, lambda: monkeypatch.setattr(daemon_module, "load_policy", broken)
        )
    assert code == 0
    assert daemon.policy_digest == before
    [line] = reload_lines(caplog)
    assert line.levelno == logging.ERROR
    assert line.getMessage() == (
        REFUSED + "unexpected error, nothing changed: RuntimeError: a bug in reading the policy"
    )
    # The traceback: a log handler's secret filter may have rendered it to text already.
    if line.exc_info is not None:
        assert line.exc_info[0] is RuntimeError
    else:
        assert "RuntimeError: a bug in reading the policy" in (line.exc_text or "")


def test_a_good_reload_still_takes_the_new_policy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, signals: None
) -> None:
    # The catch-all refuses only what fails: a valid new policy is taken.
    with Rig(tmp_path, clock=FakeClock(), policy=OLD) as rig:
        policy = rig.root / "policy.toml"
        new = policy_text('[[rule]]\nname = "new"\nthen.mrl = 48')
        with caplog.at_level(logging.INFO, logger="clore_host"):
            daemon, _, code, before = run_with_a_reload(rig, lambda: policy.write_text(new))
    assert code == 0
    assert daemon.policy_digest != before
    assert [rule.name for rule in daemon.policy.rules] == ["new"]
    assert reload_lines(caplog) == []
