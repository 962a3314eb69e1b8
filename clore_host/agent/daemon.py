"""`clore-host run`: the long-running agent under systemd.

The loop samples the GPUs every `agent.sample_interval` and reconciles every
`agent.reconcile_interval` (with jitter). Failures never end the loop: the daemon reports
itself degraded, backs off, and resumes by itself. It tells systemd the truth: READY once the
first contact is made (or the degraded state is known), WATCHDOG only while no call is hung,
STATUS every cycle, RELOADING/READY around SIGHUP, STOPPING on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import sdnotify

from .. import __version__
from ..clock import Clock, SystemClock
from ..config import Config, load_config, load_policy
from ..duration import format_duration
from ..errors import EXIT_INVALID, EXIT_OK, Failure, describe, is_bug
from ..gpu import GpuBackendTimeout
from ..outputs.logs import event
from ..outputs.metrics import AgentMetrics, MetricsServer
from ..outputs.webhook import Webhook, change_payload, health_payload
from .cycle import Agent, CycleResult

log = logging.getLogger(__name__)


class Stopping(BaseException):
    """Raised in the main thread when SIGTERM/SIGINT arrive during a cycle."""


class OutputsUnusable(Failure):
    """The metrics address or the webhook URL in the config cannot be used."""

    exit_code = EXIT_INVALID


class Notifier:
    """sd_notify messages; silent when not run by systemd (no NOTIFY_SOCKET)."""

    def __init__(self) -> None:
        self._systemd = sdnotify.SystemdNotifier() if os.environ.get("NOTIFY_SOCKET") else None

    def send(self, *lines: str) -> None:
        if self._systemd is not None:
            self._systemd.notify("\n".join(lines))


def watchdog_period() -> float | None:
    """Half the watchdog timeout systemd asked for, or None when there is no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


@dataclass
class Health:
    """What is wrong right now, by part; empty means healthy."""

    problems: dict[str, str]
    hung: bool = False
    on_change: Callable[[str, str | None], None] | None = None

    def set(self, part: str, problem: str | None) -> None:
        before = self.problems.get(part)
        if problem is None:
            self.problems.pop(part, None)
        else:
            self.problems[part] = problem
        if (before is None) != (problem is None) and self.on_change is not None:
            self.on_change(part, problem)

    @property
    def ok(self) -> bool:
        return not self.problems


class Daemon:
    """The loop. `step()` does what is due and says how long to wait; `run()` drives it."""

    def __init__(
        self,
        config_path: str | Path | None,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        open_agent: Callable[[Config], Agent] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self._rng = rng or random.Random()
        self.config: Config = load_config(config_path)
        self.policy = load_policy(self.config.policy.path, self.config.policy.params)
        self.policy_digest = self.policy.digest()  # shown on every status line: hashed once
        self.metrics = AgentMetrics(currency=self.config.server.currency)
        self.metrics.set_info(__version__, self.policy_digest)
        self._open_agent = open_agent or (
            lambda config: Agent.open(
                config,
                clock=self.clock,
                policy=self.policy,
                on_response=self.metrics.on_api_response,
            )
        )
        self.metrics_server: MetricsServer | None = None
        self._listen: str | None = None
        self.webhook: Webhook | None = None
        try:
            self._open_outputs()
        except (OSError, ValueError) as exc:  # metrics address taken, bad webhook URL
            raise OutputsUnusable(str(exc)) from None
        self.agent: Agent | None = None
        self.health = Health({}, on_change=self._health_changed)
        self.last_outcome = "starting"
        self._blocked: str | None = None  # why the plan is blocked, while it is
        self._next_sample = 0.0
        self._next_reconcile = 0.0
        self._failures = 0
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._wake = threading.Event()  # a signal cuts the wait short
        self._in_cycle = False

    def _open_outputs(self) -> None:
        """The metrics endpoint and the webhook, as the config asks."""
        listen = self.config.metrics.listen
        if listen and (self.metrics_server is None or listen != self._listen):
            if self.metrics_server is not None:
                self.metrics_server.close()
            self.metrics_server = self.metrics.serve(listen)
            self._listen = listen
            log.info("serving metrics on %s", self.metrics_server.url)
        elif not listen and self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        url = self.config.webhook.url
        if self.webhook is not None:
            self.webhook.close()
        self.webhook = (
            Webhook(url, self.config.webhook.timeout, server=self.config.server.name)
            if url
            else None
        )

    # -- signals -----------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop(signal.Signals(signum).name)

    def request_stop(self, why: str = "request") -> None:
        """Stop as SIGTERM does: the loop ends, and a cycle in progress is abandoned.

        Called from a signal handler (or, in a harness, from inside a cycle), it raises
        Stopping in the middle of the cycle: a write cut off there is settled by the next run,
        because its intent is recorded before the request is sent.
        """
        if not self._stop.is_set():
            self._stop.set()
            self._wake.set()
            self.notifier.send("STOPPING=1", f"STATUS=stopping on {why}")
        if self._in_cycle:
            raise Stopping()

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        self.install_signal_handlers()
        period = watchdog_period()
        self.step()  # opens the agent and makes the first API contact
        self.notifier.send("READY=1", f"STATUS={self.status_line()}")
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            delay = self.step()
            if period is not None:
                delay = min(delay, period)
            self._wake.wait(max(0.0, delay))
            self._wake.clear()
        self.close()
        return EXIT_OK

    def step(self) -> float:
        """Do whatever is due now; return seconds until something is due again."""
        now = self.clock.monotonic()
        try:
            self._in_cycle = True
            if self.agent is None:
                if now >= self._next_reconcile:
                    self._try_open(now)
            else:
                if now >= self._next_sample:
                    self._sample()
                    self._next_sample = now + self.config.agent.sample_interval
                if now >= self._next_reconcile:
                    self._reconcile(now)
        except Stopping:
            return 0.0
        finally:
            self._in_cycle = False
        if not self.health.hung:
            self.notifier.send("WATCHDOG=1", f"STATUS={self.status_line()}")
        else:
            self.notifier.send(f"STATUS={self.status_line()}")
        return max(0.0, min(self._next_sample, self._next_reconcile) - self.clock.monotonic())

    def _try_open(self, now: float) -> None:
        try:
            self.agent = self._open_agent(self.config)
        except Exception as exc:
            self._fail("agent", exc)
            self._next_sample = self._next_reconcile = now + self._backoff()
            return
        self.agent.policy = self.policy
        self.health.set("agent", None)
        self._next_sample = self._next_reconcile = now

    def _sample(self) -> None:
        assert self.agent is not None
        try:
            snapshot = self.agent.sample()
        except Exception as exc:
            self._fail("gpus", exc)
        else:
            self.metrics.observe_snapshot(snapshot)
            self.health.hung = False
            self.health.set("gpus", None)

    def _reconcile(self, now: float) -> None:
        assert self.agent is not None
        try:
            result = self.agent.reconcile()
        except Exception as exc:
            self._fail("reconcile", exc)
            self._next_reconcile = now + self._backoff()
            return
        self._failures = 0
        blocked = result.plan.blocked
        self._note_block(blocked)
        self.health.set("reconcile", None if blocked is None else f"inputs implausible: {blocked}")
        self.health.set("gpus", None)
        self.health.hung = False
        when = time.strftime("%H:%M:%S", time.localtime(self.clock.now()))
        self.last_outcome = f"{result.outcome} at {when}"
        # A change an earlier cycle wrote without an answer, found applied: reported now, as
        # that cycle would have reported it (the reasons are the audit trail's).
        for settled in result.settled:
            self.metrics.observe_cycle(settled.result)
            self._report_change(settled.result, settled.change.reasons, change=settled.change.id)
        self.metrics.observe_cycle(result)
        if result.outcome == "changed":
            self._report_change(result, tuple(result.plan.reasons()))
        interval = self.config.agent.reconcile_interval
        jitter = self.config.agent.jitter * interval
        self._next_reconcile = now + interval + self._rng.uniform(-jitter, jitter)

    def _report_change(
        self, result: CycleResult, reasons: tuple[str, ...], change: int | None = None
    ) -> None:
        """The log event and the webhook of an applied change (`change`: an earlier run's)."""
        server, why = self.config.server.name, "; ".join(reasons)
        if change is None:
            event(log, "change_applied", server=server, reasons=why)
        else:
            settled = f"change #{change}, written earlier without an answer"
            event(log, "change_applied", server=server, reasons=why, settled=settled)
        if self.webhook is not None:
            payload = {**change_payload(result), "reasons": list(reasons)}
            self.webhook.send("change_applied", payload)

    def _note_block(self, blocked: str | None) -> None:
        """Log once when the plan becomes blocked (and why), once when the reason changes
        (blocked by A, then by B), and once when it clears."""
        if blocked is not None and self._blocked is None:
            log.warning("plan blocked, nothing will be written until it clears: %s", blocked)
        elif blocked is not None and blocked != self._blocked:
            log.warning("plan still blocked, now because: %s (it was: %s)", blocked, self._blocked)
        elif blocked is None and self._blocked is not None:
            log.info("plan no longer blocked (it was: %s)", self._blocked)
        self._blocked = blocked

    def _fail(self, part: str, exc: Exception) -> None:
        _, message = describe(exc)
        if isinstance(exc, GpuBackendTimeout):
            self.health.hung = True  # a hung driver call: stop the watchdog pings
        self.health.set(part, message)
        if is_bug(exc):  # every time: a bug must never hide behind "degraded"
            log.error("%s", message, exc_info=exc)
        else:
            log.warning("%s", message)

    def _health_changed(self, part: str, problem: str | None) -> None:
        self.metrics.set_degraded(not self.health.ok)
        if self.webhook is not None:
            self.webhook.send("health", health_payload(part, problem))

    def _backoff(self) -> float:
        """Wait longer after each consecutive failure, up to the reconcile interval."""
        self._failures += 1
        first = self.config.agent.backoff
        ceiling = max(first, self.config.agent.reconcile_interval)
        return float(min(ceiling, first * 2 ** (self._failures - 1)))

    def status_line(self) -> str:
        if self.health.ok:
            return f"healthy; last reconcile: {self.last_outcome}; policy {self.policy_digest}"
        wrong = "; ".join(self.health.problems.values())
        retry = max(0.0, self._next_reconcile - self.clock.monotonic())
        return f"degraded: {wrong}; retrying in {format_duration(retry)}"

    def reload(self) -> None:
        """Re-read config and policy; an invalid new one keeps the old, and says so."""
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            config = load_config(self.config_path)
            policy = load_policy(config.policy.path, config.policy.params)
        except Exception as exc:  # whatever it is, a reload never ends the daemon
            _, line = describe(exc)
            message = f"reload refused, keeping the running config and policy: {line}"
            # A bug's traceback, every time: it must not hide behind a refused reload.
            log.error("%s", message, exc_info=exc if is_bug(exc) else None)
            self.notifier.send("READY=1", f"STATUS={message}")
            return
        reopen = config.model_dump() != self.config.model_dump()
        self.config, self.policy = config, policy
        self.policy_digest = policy.digest()
        self.metrics.set_info(__version__, self.policy_digest)
        try:
            self._open_outputs()
        except (OSError, ValueError) as exc:
            log.error("metrics or webhook not reopened: %s", exc)
        if reopen and self.agent is not None:
            self.agent.close()
            self.agent = None
        elif self.agent is not None:
            self.agent.policy = policy
        self._next_reconcile = self.clock.monotonic()
        log.info("reloaded; policy %s", self.policy_digest)
        self.notifier.send("READY=1", f"STATUS=reloaded; policy {self.policy_digest}")

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        if self.webhook is not None:
            self.webhook.close()
            self.webhook = None


def run_daemon(config_path: str | Path | None, **kwargs: Any) -> int:
    """Entry point for `clore-host run`; an invalid config or policy at start raises (exit 2)."""
    return Daemon(config_path, **kwargs).run()
