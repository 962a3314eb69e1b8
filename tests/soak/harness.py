"""The soak: the daemon on a simulated clock for days, against the emulator, under a seeded
random plan of faults; then checks of what reached the API and what history recorded.

Everything runs in this process on one FakeClock (emulator, rate limiter, fake GPUs), so a
simulated month takes minutes. Real time passes only where the code under test measures real
time: the GPU call guard (a hang costs `gpu_call_timeout`), the HTTP client's timeout (a slow
answer costs `api_timeout`), and SQLite's busy timeout. Checks use the emulator's request log
and the history files, never the agent's own account, except where noted (liveness).

How faults are made, and why that is honest:
- API: the emulator's FaultPlan (codes 1-6, 429, 5xx, slow answer past the client timeout,
  dropped connection, non-JSON body); "down" stops the emulator (connection refused) for hours
  and starts it again on the same port with the same state. "junk" makes server_config answer
  one field with a value of the wrong JSON type or range (JUNK: availability "false" or
  disagreeing with visibility, rental_status true or "2", a price "0.0001", true or 1e308, mrl
  "96" or 10**9) for a while, set in the emulator's state and put back at the end; the agent
  must write nothing meanwhile. "lost answer" lets the next settings write land and loses its
  answer (and its retries'): the next cycle must find it applied and record it so.
- GPUs: one scenario file, generated up front, whose traces follow the rentals and whose
  faults (lost, hang, library missing, driver not loaded, metric unsupported) and overheating
  fall at chosen times. Every backend the daemon opens replays it from the soak's start, so
  the GPUs' story runs on whatever the agent does.
- SIGHUP: `Daemon.reload()` after writing a valid or invalid policy (or a changed config).
- SIGTERM: `Daemon.close()` then a new Daemon on the same files; "killed mid-write" stops the
  daemon (`request_stop()`, what its SIGTERM handler does) right after a settings write was
  answered, before it is recorded.
- History: "locked" is another connection holding BEGIN EXCLUSIVE; "deleted" unlinks the
  database file and restarts the daemon, as an operator would; "truncated" waits for a cycle
  whose plan a hold keeps from a change (the minimum interval or the availability hold, as the
  agent's last decision says: the one place the soak reads the agent's account, to choose the
  worst moment; at most HOLD_WAIT), stops the daemon, cuts the database to 0 bytes and starts
  it again: the holds must count from the reopen, and the checks over the API's writes see
  whether they did. "disk full" lowers SQLite's max_page_count on the agent's connection
  (the soak opens it, through History.open's `connect`), which fails with SQLITE_FULL exactly
  as a full disk does, and fails every write to the state directory's other files (the writer
  lock, the rate limiter) with ENOSPC at the `os` seam (os.write, pwrite, ftruncate, truncate,
  patched for the soak's run, as tests/daemon/test_full_disk.py does); the daemon must recover
  by itself.
- The history is opened with a 10 ms busy timeout (BUSY_TIMEOUT) instead of 5 s, so a locked
  database costs little real time (the daemon samples every 10 s through an hour's lock); what
  the agent does on "locked" is the same. Nothing else contends for the file: the soak's own
  reads happen between the daemon's steps.
- The daemon opens its agent through the soak (Daemon's `open_agent`), which hands Agent.open
  the soak's GPUs and history: public seams only.
- Rentals start and end in the emulator (a rented or unlisted server is not rented again), and
  the GPUs are busy while one was planned.

Each event kind has a mean rate per simulated day (DEFAULT_RATES) and lasting kinds a
duration range (DURATIONS); no new event starts in the last `quiet_tail`, so interrupted
writes are settled before the checks. The RSS figures include the soak's own logs (requests,
audit copies), which grow with the run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from clore_host.agent import Agent
from clore_host.agent.daemon import Daemon, Notifier
from clore_host.config import Config, load_policy
from clore_host.config.paths import shipped_dir
from clore_host.facts import Settings
from clore_host.gpu import GpuSnapshot
from clore_host.history import ChangeRecord, History, HistoryError
from clore_host.issues import InputFileError
from clore_host.policy import Policy
from clore_host.testing import FakeBackend, FakeClock, Scenario, load_scenario, step_value
from clore_host.testing.emulator import Emulator, RequestRecord, default_state
from clore_host.testing.rig import SERVER, Rig

log = logging.getLogger(__name__)
HANG_SETTLE = 0.3  # real seconds for a hung fake GPU call to see its hang end
HOUR = 3600.0
DAY = 86400.0
BUSY_TIMEOUT = 0.01  # real seconds SQLite waits for a lock the soak holds
HOLD_WAIT = DAY  # a "truncated" history waits this long at most for a held change
HOLDS = frozenset({"min_interval", "availability_hold"})

# Mean events per simulated day, by kind.
DEFAULT_RATES: dict[str, float] = {
    "api_code": 6.0,
    "api_429": 3.0,
    "api_5xx": 4.0,
    "api_timeout": 0.5,
    "api_drop": 3.0,
    "api_malformed": 3.0,
    "api_down": 0.25,
    "gpu_lost": 0.4,
    "gpu_hang": 0.25,
    "gpu_library_missing": 0.25,
    "gpu_driver_not_loaded": 0.15,
    "gpu_metric_unsupported": 0.4,
    "overheat": 0.6,
    "reload_valid": 1.0,
    "reload_invalid": 0.5,
    "reload_config": 0.2,
    "restart": 0.5,
    "kill_mid_write": 0.3,
    "db_locked": 0.4,
    "db_deleted": 0.15,
    "disk_full": 0.3,
    "rental": 0.8,
    "api_junk": 1.0,
    "lost_answer": 0.5,
    "db_truncated": 0.15,
}
# Kinds that last a while: (shortest, longest) in seconds.
DURATIONS: dict[str, tuple[float, float]] = {
    "api_down": (1 * HOUR, 6 * HOUR),
    "gpu_lost": (20 * 60, 6 * HOUR),
    "gpu_hang": (5 * 60, 2 * HOUR),
    "gpu_library_missing": (10 * 60, 3 * HOUR),
    "gpu_driver_not_loaded": (10 * 60, 2 * HOUR),
    "gpu_metric_unsupported": (30 * 60, 8 * HOUR),
    "overheat": (20 * 60, 3 * HOUR),
    "db_locked": (5 * 60, 1 * HOUR),
    "disk_full": (20 * 60, 4 * HOUR),
    "rental": (2 * HOUR, 3 * DAY),
    "api_junk": (10 * 60, 3 * HOUR),
}
# Faults that make the daemon degraded while they last (for the liveness check).
DEGRADING = frozenset(
    {
        "api_down",
        "gpu_hang",
        "gpu_library_missing",
        "gpu_driver_not_loaded",
        "db_locked",
        "disk_full",
        "api_junk",
    }
)
# Junk server_config may answer for a field, by kind: (field, value). "flip" is availability
# saying the opposite of visibility (right type, wrong meaning); a price replaces the bitcoin
# price, keeping the others. Every value must be refused: nothing is written while it lasts.
JUNK: tuple[tuple[str, Any], ...] = (
    ("availability", "false"),
    ("availability", 0),
    ("availability", "flip"),
    ("visibility", "sometimes"),
    ("rental_status", True),
    ("rental_status", "2"),
    ("rental_status", 0.0),
    ("rental_status", 7),
    ("pricing", "0.0001"),
    ("pricing", True),
    ("pricing", 1e308),
    ("pricing", 1e-300),
    ("spot_pricing", "0.00005"),
    ("spot_pricing", 1e308),
    ("mrl", "96"),
    ("mrl", True),
    ("mrl", 0),
    ("mrl", 10**9),
)


@dataclass(frozen=True)
class SoakConfig:
    """Size and pace of a soak. Intervals are the daemon's, in simulated seconds."""

    days: float = 30.0
    seed: int = 1
    sample_interval: float = 60.0
    reconcile_interval: float = 600.0
    jitter: float = 0.1
    backoff: float = 30.0
    # Real seconds; a "slow" fault answers after twice this. Not shorter: on a loaded machine
    # (a test suite running beside it on two cores) the emulator's thread could then stamp a
    # request after the client gave up on it, late enough to look like a spacing violation;
    # seen at 0.5 s.
    api_timeout: float = 1.0
    api_retries: int = 2
    # Real seconds. A hang costs it once (later calls fail at once while the call is stuck);
    # shorter, a healthy read starved of the CPU on a loaded machine times out, and its thread
    # may stay starved while the simulated clock runs on (seen at 0.1 s).
    gpu_call_timeout: float = 0.5
    gpus: int = 2
    quiet_tail: float = 6 * HOUR  # no new faults at the end, so interrupted writes settle
    min_each: int = 0  # at least this many events of every kind (short runs see them all)
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))


@dataclass
class SoakReport:
    """What happened and what the checks found. `violations` must be empty."""

    config: SoakConfig
    simulated_s: float = 0.0
    wall_s: float = 0.0
    cycles: int = 0
    samples: int = 0
    reconciles: int = 0
    requests: int = 0
    writes: int = 0
    applied_writes: int = 0
    changes: int = 0
    history_changes: int = 0
    log_lines: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    checks: dict[str, int] = field(default_factory=dict)  # check -> items checked
    violations: dict[str, list[str]] = field(default_factory=dict)
    rss_start: int = 0  # after the first simulated day (or quarter of a shorter run)
    rss_mid: int = 0  # halfway: growth after it shows a leak rather than warming up
    rss_end: int = 0
    longest_degraded_s: float = 0.0
    problems: Counter[str] = field(default_factory=Counter)  # degraded spells, by cause
    refused_file_writes: int = 0  # writes to the lock and rate limiter files on a full disk
    lost_answers: int = 0  # settings writes that landed and whose answer was lost

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def summary(self) -> list[str]:
        mib = 1024 * 1024
        lines = [
            f"simulated {self.simulated_s / DAY:.1f} days in {self.wall_s:.1f} s wall "
            f"(seed {self.config.seed}, sample every {self.config.sample_interval:g} s, "
            f"reconcile every {self.config.reconcile_interval:g} s)",
            f"cycles {self.cycles}, samples {self.samples}, reconciles {self.reconciles}, "
            f"requests {self.requests}, writes {self.writes} "
            f"({self.applied_writes} applied, {self.changes} changes), "
            f"history changes {self.history_changes}, log lines {self.log_lines}",
            "faults injected: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
            + f" (total {sum(self.faults.values())})",
        ]
        if self.skipped:
            lines.append(
                "not injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
            )
        lines.append(
            "violations by check: "
            + ", ".join(
                f"{name} {len(self.violations.get(name, []))}/{n}"
                for name, n in sorted(self.checks.items())
            )
        )
        lines.append(
            f"RSS start {self.rss_start / mib:.1f} MiB, mid {self.rss_mid / mib:.1f} MiB, "
            f"end {self.rss_end / mib:.1f} MiB, growth {(self.rss_end - self.rss_start) / mib:+.1f}"
            f" MiB ({(self.rss_end - self.rss_mid) / mib:+.1f} MiB in the second half); "
            f"longest degraded stretch {self.longest_degraded_s / HOUR:.2f} h"
        )
        lines.append(
            "degraded spells by cause: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.problems.items()))
            + f"; file writes refused on a full disk {self.refused_file_writes}, "
            f"landed writes whose answer was lost {self.lost_answers}"
        )
        for name, found in sorted(self.violations.items()):
            for item in found[:5]:
                lines.append(f"  VIOLATION {name}: {item}")
        return lines


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: float  # seconds from the soak's start
    kind: str
    duration: float = 0.0
    detail: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.detail).get(key, default)


def plan_events(config: SoakConfig, rng: random.Random) -> list[Event]:
    """Every fault, reload, restart and rental, at seeded random times."""
    span = config.days * DAY
    start, end = min(HOUR, span / 10), max(0.0, span - config.quiet_tail)
    events: list[Event] = []
    for kind, rate in sorted(config.rates.items()):
        count = _poisson(rng, rate * config.days)
        for _ in range(max(count, config.min_each) if rate > 0 else 0):
            if end <= start:
                break
            at = rng.uniform(start, end)
            low, high = DURATIONS.get(kind, (0.0, 0.0))
            duration = math.exp(rng.uniform(math.log(low), math.log(high))) if high else 0.0
            events.append(Event(at, kind, min(duration, span - at), _detail(kind, rng, config)))
    # Half the lost GPUs fall during a planned rental: the one case a rented server may be
    # taken off the market, which the checks must see happen.
    rentals = [e for e in events if e.kind == "rental"]
    for i, e in enumerate(events):
        if e.kind == "gpu_lost" and rentals and rng.random() < 0.5:
            rental = rng.choice(rentals)
            at = rng.uniform(rental.at, rental.at + rental.duration / 2)
            events[i] = Event(at, e.kind, min(e.duration, span - at), e.detail)
    events.sort(key=lambda e: (e.at, e.kind))
    return events


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means used here.
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _detail(kind: str, rng: random.Random, config: SoakConfig) -> tuple[tuple[str, Any], ...]:
    endpoint = rng.choices([None, "server_config", "set_server_settings"], [5, 3, 2])[0]
    times = rng.randint(1, 3)
    if kind == "api_code":
        return (("code", rng.randint(1, 6)), ("endpoint", endpoint), ("times", times))
    if kind == "api_5xx":
        return (("status", rng.choice([500, 502, 503, 504])), ("endpoint", endpoint))
    if kind in ("api_429", "api_drop", "api_malformed"):
        return (("endpoint", endpoint), ("times", times))
    if kind == "api_timeout":
        return (("endpoint", endpoint),)
    if kind in ("gpu_lost", "gpu_metric_unsupported"):
        metric = rng.choice(["temperature", "utilization", "power"])
        return (("gpu", rng.randrange(config.gpus)), ("metric", metric))
    if kind == "rental":
        return (("status", rng.choice([2, 2, 2, 1])),)
    if kind == "reload_valid":
        return (("policy", rng.choice(sorted(valid_policies()))),)
    if kind == "reload_invalid":
        return (("policy", rng.randrange(len(INVALID_POLICIES))),)
    if kind == "api_junk":
        return (("junk", rng.randrange(len(JUNK))),)
    return ()


# -- policies -------------------------------------------------------------------------------


def _shipped_policy(name: str) -> str:
    return (shipped_dir("policies") / f"{name}.toml").read_text(encoding="utf-8")


def valid_policies() -> dict[str, str]:
    """The shipped policies and variants a provider might write. Price-only policies get the
    default policy's health rules, so a server taken off the market can come back."""
    default = _shipped_policy("default")
    health = _shipped_policy("health-guard")
    health_rules = default[default.index('[[rule]]\nname = "back on the market"') :]
    return {
        "default": default,
        "health-guard": health,
        "idle-discount+health": _shipped_policy("idle-discount") + "\n" + health_rules,
        "time-of-use+health": _shipped_policy("time-of-use") + "\n" + health_rules,
        # Bolder: bigger steps, a longer interval, a higher list price.
        "default-bold": default.replace('max_step = "10%"', 'max_step = "25%"')
        .replace('min_interval = "30m"', 'min_interval = "1h"')
        .replace("set = 0.0001 }", "set = 0.00012 }"),
        # Health only, with floors raised above where the discounts may have left prices.
        "health-guard-premium": health.replace(
            "on_demand = { floor = 0.00006", "on_demand = { floor = 0.00009"
        ).replace("spot = { floor = 0.00003", "spot = { floor = 0.00005"),
    }


INVALID_POLICIES: tuple[str, ...] = (
    "version = 1\nrules = 'nonsense'\n",
    "version = 1\n[rails\non_demand = 1\n",  # TOML syntax
    "version = 1\n[rails]\non_demand = { ceiling = 0.0003 }\nspot = { ceiling = 0.0002 }\n",
    "version = 1\n[rails]\non_demand = { floor = 0.0003, ceiling = 0.0001 }\n"
    "spot = { floor = 0.00003, ceiling = 0.0002 }\n",
    "version = 2\n[rails]\non_demand = { floor = 0.00006, ceiling = 0.0003 }\n"
    "spot = { floor = 0.00003, ceiling = 0.0002 }\n",
    "version = 1\n[rails]\non_demand = { floor = 0.00006, ceiling = 0.0003 }\n"
    "spot = { floor = 0.00003, ceiling = 0.0002 }\n[[rule]]\nname = 'x'\n"
    "then.on_demand = { set = 5.0 }\n",
    "\xff\xfe not text",
)


# -- the GPU scenario -----------------------------------------------------------------------


def scenario_text(config: SoakConfig, events: list[Event]) -> str:
    """The GPUs' whole story: busy while rented, idle otherwise, hot when overheating, and the
    planned GPU faults. Times are seconds from the soak's start."""
    rentals = [(e.at, e.at + e.duration) for e in events if e.kind == "rental"]
    heat = [(e.at, e.at + e.duration) for e in events if e.kind == "overheat"]
    edges = sorted({0.0, *(t for span in rentals + heat for t in span)})

    def inside(t: float, spans: list[tuple[float, float]]) -> bool:
        return any(a <= t < b for a, b in spans)

    utilization = [[t, 95 if inside(t, rentals) else 2] for t in edges]
    temperature = [[t, 93 if inside(t, heat) else 71 if inside(t, rentals) else 42] for t in edges]
    lines = [
        'driver_version = "550.54.15"',
        f"seed = {config.seed}",
        "[defaults]",
        'name = "NVIDIA GeForce RTX 4090"',
        "memory_total = 24564",
        f"utilization = {{ steps = {json.dumps(utilization)}, jitter = 1 }}",
        f"temperature = {{ steps = {json.dumps(temperature)}, jitter = 1 }}",
        "power = { noise = { base = 200, amplitude = 20 } }",
        "power_limit = 450",
        "memory_used = 1000",
        "fan = 40",
        "pstate = 2",
    ]
    lines += ["[[gpu]]"] * config.gpus
    kinds = {
        "gpu_lost": "gpu_lost",
        "gpu_hang": "hang",
        "gpu_library_missing": "library_not_found",
        "gpu_driver_not_loaded": "driver_not_loaded",
        "gpu_metric_unsupported": "metric_not_supported",
    }
    for e in events:
        kind = kinds.get(e.kind)
        if kind is None:
            continue
        lines += [
            "[[fault]]",
            f'kind = "{kind}"',
            f"at = {e.at!r}",
            f"until = {e.at + e.duration!r}",
        ]
        if kind in ("gpu_lost", "metric_not_supported"):
            lines.append(f"gpu = {e.get('gpu')}")
        if kind == "metric_not_supported":
            lines.append(f'metric = "{e.get("metric")}"')
    return "\n".join(lines) + "\n"


def config_sections(config: SoakConfig, jitter: float) -> dict[str, Any]:
    """What a soak's config sets over the rig's: timeouts, retries and the daemon's pace."""
    return {
        "api": {"timeout": config.api_timeout, "retries": config.api_retries},
        "gpu": {"call_timeout": config.gpu_call_timeout},
        "agent": {
            "sample_interval": config.sample_interval,
            "reconcile_interval": config.reconcile_interval,
            "jitter": jitter,
            "backoff": config.backoff,
        },
    }


# -- instrumented parts ---------------------------------------------------------------------


class _Audit:
    """Copies of every history database's audit trail, taken whenever one is closed (and at
    the end), keyed by (database generation, change id); a later copy updates the status."""

    def __init__(self) -> None:
        self.generation = 0
        self.changes: dict[tuple[int, int], ChangeRecord] = {}
        self.deleted: set[int] = set()

    def keep(self, generation: int, changes: list[ChangeRecord]) -> None:
        for change in changes:
            self.changes[(generation, change.id)] = change


@dataclass
class _LiveHistory:
    """A history the soak opened for an agent, with the connection it was opened on."""

    generation: int  # of the database file it opened
    history: History
    conn: sqlite3.Connection


def _limit_pages(conn: sqlite3.Connection, full: bool) -> None:
    """Make the file unable to grow (SQLITE_FULL, as on a full disk), or lift that."""
    if full:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {int(pages)}")
    else:
        conn.execute("PRAGMA max_page_count = 1073741823")


class _DiskSeam:
    """A full disk for the state directory's plain files (the writer lock, the rate limiter):
    while `full`, os.write, pwrite, ftruncate and truncate on a file under `state` raise
    ENOSPC, as tests/daemon/test_full_disk.py's `Seams` does. Installed for a soak's run only;
    SQLite writes through its own code, and meets its full disk as max_page_count."""

    NAMES = ("write", "pwrite", "ftruncate", "truncate")

    def __init__(self, state: Path, report: SoakReport) -> None:
        self.state = state.resolve()
        self.full = False
        self._report = report
        self._real: dict[str, Callable[..., Any]] = {}

    @contextmanager
    def installed(self) -> Iterator[None]:
        self._real = {name: getattr(os, name) for name in self.NAMES}
        for name, real in self._real.items():
            setattr(os, name, self._wrap(real))
        try:
            yield
        finally:
            for name, real in self._real.items():
                setattr(os, name, real)

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(target: Any, *args: Any) -> Any:
            if self.full:
                where = target if isinstance(target, (str, Path)) else f"/proc/self/fd/{target}"
                if Path(os.path.realpath(where)).is_relative_to(self.state):
                    self._report.refused_file_writes += 1
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(target, *args)

        return call


class _SoakGpus:
    """The soak's GPU story: a FakeBackend replaying it from the soak's start, opened on the
    first read as the agent opens its own backend (opening raises the library and driver
    faults, and the next read tries again), counting the reads that return."""

    name = "fake"

    def __init__(
        self, report: SoakReport, scenario: Scenario, clock: FakeClock, start: float, timeout: float
    ) -> None:
        self._report = report
        self._scenario, self._clock, self._start, self._timeout = scenario, clock, start, timeout
        self._backend: FakeBackend | None = None

    def read(self) -> GpuSnapshot:
        if self._backend is None:
            self._backend = FakeBackend(
                self._scenario, self._clock, start=self._start, call_timeout=self._timeout
            )
        snapshot = self._backend.read()
        self._report.samples += 1
        return snapshot

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


class _CountingNotifier(Notifier):
    """systemd's side: counts messages and notes any that carry the token."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.messages = 0
        self.leaks: list[str] = []

    def send(self, *lines: str) -> None:
        self.messages += 1
        text = "\n".join(lines)
        if self._token in text:
            self.leaks.append(text.replace(self._token, "<TOKEN>"))


class _LogWatch(logging.Handler):
    """Every log record of the process at DEBUG, formatted with its traceback."""

    def __init__(self, token: str) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self._token = token
        self.lines = 0
        self.leaks: list[str] = []
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is a finding too
            text = f"unformattable log record {record.msg!r}: {exc}"
        self.lines += 1
        if record.levelno >= logging.WARNING:
            self.counts[record.name] += 1
        if self._token in text:
            self.leaks.append(text.replace(self._token, "<TOKEN>")[:300])


@contextmanager
def _capture_logs(watch: _LogWatch) -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(watch)
        root.setLevel(level)


# -- the run --------------------------------------------------------------------------------


class Soak:
    """One soak in `root` (an empty directory). `run()` returns the report."""

    def __init__(self, root: Path, config: SoakConfig) -> None:
        self.root = root
        self.config = config
        self.rng = random.Random(config.seed)
        self.token = f"soak-secret-{self.rng.getrandbits(64):016x}"
        self.clock = FakeClock()
        self.t0 = self.clock.now()
        self.report = SoakReport(config)
        self.events = plan_events(config, self.rng)
        self.policies = valid_policies()
        server = default_state()["servers"][0]  # the emulator's server, before any write
        self.initial = Settings(
            server["pricing"]["bitcoin"],
            server["spot_pricing"]["bitcoin"],
            server["availability"],
            server["mrl"],
        )
        self.audit = _Audit()
        self.notifier = _CountingNotifier(self.token)
        self.policy_timeline: list[tuple[float, Policy]] = []
        self.rental_timeline: list[tuple[float, int]] = [(0.0, 0)]
        self.windows: list[tuple[float, float]] = []  # degrading faults, soak-relative
        self.reloads: list[tuple[float, str, Policy]] = []  # (time, running, expected)
        self.health_log: list[tuple[float, str | None]] = []  # changes: (time, problem)
        self.junk_windows: list[tuple[float, float]] = []  # junk served, soak-relative
        self._live: list[_LiveHistory] = []  # the histories of the agents open now
        self._valid_policy_text = self.policies["default"]
        self._policy_ok = True
        self._jitter = config.jitter
        self._locker: sqlite3.Connection | None = None
        self._disk_full = False
        self._kill_armed = False
        self._killed = False
        self._truncate_armed: float | None = None  # since when a truncation waits
        self._seen_requests = 0  # the request log's length when the last decision was read
        self._junk: tuple[str, Any, float] | None = None  # field, its real value, since
        self._disk = _DiskSeam(root / "state", self.report)
        self._daemon: Daemon | None = None
        self._emulator_up = True
        self._rented_until: float | None = None
        self.rig = Rig(
            root,
            clock=self.clock,
            token=self.token,
            gpus=config.gpus,
            policy=self._valid_policy_text,
            scenario=scenario_text(config, self.events),
            config=config_sections(config, config.jitter),
            # A market, so the shipped policies that price at the market have peers to follow.
            market=config.seed,
        )

    # -- setup ----------------------------------------------------------------------------

    def _prepare(self) -> Emulator:
        self.rig.start()
        self.policy_timeline.append((0.0, load_policy(self.root / "policy.toml")))
        return self.rig.emulator

    def _write_policy(self, text: str, *, valid: bool) -> None:
        (self.root / "policy.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
        self._policy_ok = valid
        if valid:
            self._valid_policy_text = text

    def _new_daemon(self) -> Daemon:
        try:
            return self.rig.daemon(notifier=self.notifier, open_agent=self._open)
        except InputFileError:
            if self._policy_ok:
                raise
            # As under systemd: the start is refused until the operator fixes the policy.
            self.report.faults["start_refused_invalid_policy"] += 1
            self._write_policy(self._valid_policy_text, valid=True)
            return self.rig.daemon(notifier=self.notifier, open_agent=self._open)

    def _close_daemon(self, daemon: Daemon) -> None:
        """Daemon.close(), having copied the audit trail of the histories it closes."""
        self._keep_audits()
        daemon.close()
        self._live.clear()

    def _open(self, config: Config) -> Agent:
        """Agent.open as the daemon calls it, given the soak's GPUs (its GPU story, counted)
        and history (a short busy timeout, and the connection kept for "disk full")."""
        daemon = self._daemon
        assert daemon is not None

        def on_response(endpoint: str, outcome: str) -> None:
            daemon.metrics.on_api_response(endpoint, outcome)
            self._on_response(endpoint, outcome)

        assert config.gpu.scenario is not None
        gpus = _SoakGpus(
            self.report,
            load_scenario(config.gpu.scenario),
            self.clock,
            self.t0,
            config.gpu.call_timeout,
        )
        history = self._open_history(config)
        try:
            return Agent.open(
                config,
                clock=self.clock,
                policy=daemon.policy,
                on_response=on_response,
                gpus=gpus,
                history=history,
            )
        except BaseException:
            self._keep_audits()
            history.close()
            self._live = [live for live in self._live if live.history is not history]
            raise

    def _open_history(self, config: Config) -> History:
        opened: list[sqlite3.Connection] = []

        def connect(name: str) -> sqlite3.Connection:
            opened.append(sqlite3.connect(name, check_same_thread=False))
            return opened[-1]

        history = History.open(
            config.state.dir / "history.db",
            raw_retention=config.history.raw_retention,
            rollup_retention=config.history.rollup_retention,
            busy_timeout=BUSY_TIMEOUT,
            now=self.clock.now(),
            connect=connect,
        )
        self._live.append(_LiveHistory(self.audit.generation, history, opened[0]))
        if self._disk_full:
            _limit_pages(opened[0], True)
        return history

    def _keep_audits(self) -> None:
        """Copy the audit trail of every history open now (before it closes: a deleted
        file's last changes are readable only through the connection still holding it)."""
        for live in self._live:
            try:
                self.audit.keep(live.generation, live.history.changes(status=None))
            except Exception:  # a locked file is read later; a deleted one is lost with it
                log.debug("audit copy failed", exc_info=True)

    def _on_response(self, endpoint: str, outcome: str) -> None:
        if endpoint != "set_server_settings" or outcome != "0":
            return
        if self._kill_armed:
            # SIGTERM lands between the answer and the audit record of the change.
            self._kill_armed = False
            self._killed = True
            assert self._daemon is not None
            self._daemon.request_stop("SIGTERM")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> SoakReport:
        began = time.monotonic()
        watch = _LogWatch(self.token)
        process = psutil.Process()
        with _capture_logs(watch), self._disk.installed():
            emulator = self._prepare()
            try:
                self._daemon = self._new_daemon()
                self._loop(emulator, process)
            finally:
                if self._daemon is not None:
                    self._close_daemon(self._daemon)
                self._unlock()
                self.rig.close()
        self.report.rss_end = process.memory_info().rss
        self.report.wall_s = time.monotonic() - began
        self.report.log_lines = watch.lines
        self._final_audit()
        Checks(self, emulator, watch).run()
        return self.report

    def _loop(self, emulator: Emulator, process: psutil.Process) -> None:
        span = self.config.days * DAY
        warm = min(DAY, span / 4)
        pending = list(self.events)
        ends: list[tuple[float, str]] = []
        while (t := self._now()) < span:
            if not self.report.rss_start and t >= warm:
                self.report.rss_start = process.memory_info().rss
            if not self.report.rss_mid and t >= span / 2:
                self.report.rss_mid = process.memory_info().rss
            while ends and ends[0][0] <= t:
                self._end(ends.pop(0)[1], emulator)
            while pending and pending[0].at <= t:
                event = pending.pop(0)
                if self._start(event, emulator):
                    if event.kind != "db_truncated":  # counted when it happens
                        self.report.faults[event.kind] += 1
                    if event.duration:
                        ends.append((event.at + event.duration, event.kind))
                        ends.sort()
                    if event.kind in DEGRADING:
                        self.windows.append((event.at, event.at + event.duration))
                else:
                    self.report.skipped[event.kind] += 1
            daemon = self._daemon
            assert daemon is not None
            delay = daemon.step()
            self.report.cycles += 1
            if self._killed:  # the daemon stopped as on SIGTERM: systemd restarts the unit
                self._killed = False
                self._close_daemon(daemon)
                daemon = self._daemon = self._new_daemon()
                delay = 1.0
            if self._truncate_due(daemon, emulator):  # cut to 0 bytes while it is stopped
                self._truncate_armed = None
                self._truncate(daemon)
                self.report.faults["db_truncated"] += 1
                daemon = self._daemon
                assert daemon is not None
                delay = 1.0
            self._note_health(daemon)
            horizon = min([span, *(e.at for e in pending[:1]), *(a for a, _ in ends[:1])])
            step = min(max(delay, 1.0), self.config.reconcile_interval)
            self.clock.advance(max(0.001, min(step, horizon - self._now())))
        self.report.simulated_s = self._now()
        self.health_log.append((self._now(), self.health_log[-1][1] if self.health_log else None))
        if self._junk is not None:  # still served at the end
            self.junk_windows.append((self._junk[2], self._now()))
        if self._truncate_armed is not None:
            self.report.skipped["db_truncated"] += 1

    def _note_health(self, daemon: Daemon) -> None:
        """Keep the daemon's health when it changes (every step would be a list per cycle)."""
        problem = "; ".join(daemon.health.problems.values()) or None
        if not self.health_log or self.health_log[-1][1] != problem:
            self.health_log.append((self._now(), problem))

    # -- events ---------------------------------------------------------------------------

    def _start(self, event: Event, emulator: Emulator) -> bool:
        kind, daemon = event.kind, self._daemon
        assert daemon is not None
        faults = emulator.faults
        queued = kind.startswith("api_") and kind not in ("api_down", "api_junk")
        if queued and faults.pending() > 10:
            return False  # the queue is long enough: no request is lost for a day
        if kind == "api_code":
            code = int(event.get("code"))
            error = "server_busy" if code == 6 else None
            faults.api_code(code, error, endpoint=event.get("endpoint"), times=event.get("times"))
        elif kind == "api_429":
            retry = self.rng.choice([None, 1.0, 5.0, 600.0])
            faults.too_many_requests(
                retry, endpoint=event.get("endpoint"), times=event.get("times")
            )
        elif kind == "api_5xx":
            faults.http_status(event.get("status"), endpoint=event.get("endpoint"))
        elif kind == "api_timeout":
            faults.slow(2 * self.config.api_timeout, endpoint=event.get("endpoint"))
        elif kind == "api_drop":
            faults.drop(endpoint=event.get("endpoint"), times=event.get("times"))
        elif kind == "api_malformed":
            faults.malformed(endpoint=event.get("endpoint"), times=event.get("times"))
        elif kind == "api_down":
            if not self._emulator_up:
                return False
            emulator.stop()
            self._emulator_up = False
        elif kind == "api_junk":
            return self._serve_junk(JUNK[int(event.get("junk"))], emulator)
        elif kind == "lost_answer":
            # Every attempt (the client retries the write) lands, and loses its answer.
            times = 1 + self.config.api_retries
            faults.lose_answer(endpoint="set_server_settings", times=times)
        elif kind.startswith("gpu_") or kind == "overheat":
            pass  # in the scenario file; counted here when its time comes
        elif kind == "rental":
            return self._rent(event, emulator)
        elif kind in ("reload_valid", "reload_invalid", "reload_config"):
            self._reload(event, daemon)
        elif kind == "restart":
            self._close_daemon(daemon)
            self._daemon = self._new_daemon()
        elif kind == "kill_mid_write":
            self._kill_armed = True
        elif kind == "db_locked":
            return self._lock()
        elif kind == "db_deleted":
            # As an operator would: remove the file, then restart the service.
            if not self._delete():
                return False
            self._close_daemon(daemon)
            self._daemon = self._new_daemon()
        elif kind == "db_truncated":
            if self._truncate_armed is not None:
                return False
            self._truncate_armed = self._now()  # when a hold keeps a change (_truncate_due)
        elif kind == "disk_full":
            if self._disk_full:
                return False
            self._disk_full = self._disk.full = True
            self._limit_live(True)
        else:
            raise ValueError(f"unknown soak event {kind!r}")
        return True

    def _end(self, kind: str, emulator: Emulator) -> None:
        if kind == "api_down" and not self._emulator_up:
            emulator.start()
            self._emulator_up = True
        elif kind == "api_junk" and self._junk is not None:
            name, real, since = self._junk
            emulator.update_server(SERVER, **{name: real})
            self.junk_windows.append((since, self._now()))
            self._junk = None
        elif kind == "rental":
            if self._rented_until is not None and self._rented_until <= self._now():
                if self._junk is not None and self._junk[0] == "rental_status":
                    self._junk = ("rental_status", 0, self._junk[2])  # put back at its end
                else:
                    emulator.set_rental_status(SERVER, 0)
                self.rental_timeline.append((self._now(), 0))
                self._rented_until = None
        elif kind == "db_locked":
            self._unlock()
        elif kind == "gpu_hang":
            # The hung call notices the end by polling in real time: give it that time, or the
            # simulated clock races past while it sleeps.
            time.sleep(HANG_SETTLE)
        elif kind == "disk_full" and self._disk_full:
            self._disk_full = self._disk.full = False
            self._limit_live(False)

    def _now(self) -> float:
        return self.clock.now() - self.t0

    def _serve_junk(self, junk: tuple[str, Any], emulator: Emulator) -> bool:
        """server_config answers `junk` until the event ends (then the real value again)."""
        if self._junk is not None:
            return False
        name, value = junk
        server = emulator.server(SERVER)
        real = server[name]
        if value == "flip":
            value = not real
        elif name in ("pricing", "spot_pricing"):
            value = {**real, "bitcoin": value}
        emulator.update_server(SERVER, **{name: value})
        self._junk = (name, real, self._now())
        return True

    def _rent(self, event: Event, emulator: Emulator) -> bool:
        server = emulator.server(SERVER)
        if self._junk is not None:
            return False  # the renter's view of the server would be the junk too
        if self._rented_until is not None or not server.get("availability", True):
            return False  # nobody can rent a rented or unlisted server
        emulator.set_rental_status(SERVER, int(event.get("status")))
        self.rental_timeline.append((self._now(), int(event.get("status"))))
        self._rented_until = event.at + event.duration
        return True

    def _reload(self, event: Event, daemon: Daemon) -> None:
        if event.kind == "reload_valid":
            name = str(event.get("policy"))
            self._write_policy(self.policies[name], valid=True)
        elif event.kind == "reload_invalid":
            self._write_policy(INVALID_POLICIES[int(event.get("policy"))], valid=False)
        else:
            self._jitter = 0.05 if self._jitter != 0.05 else self.config.jitter
            self.rig.write_config(agent={"jitter": self._jitter})
        self._keep_audits()  # a changed config makes the daemon reopen its agent
        daemon.reload()
        if daemon.agent is None:
            self._live.clear()
        if self._policy_ok:
            self.policy_timeline.append((self._now(), load_policy(self.root / "policy.toml")))
        self.reloads.append((self._now(), daemon.policy.digest(), self.policy_timeline[-1][1]))

    def _db(self) -> Path:
        return self.root / "state" / "history.db"

    def _lock(self) -> bool:
        if self._locker is not None or not self._db().exists():
            return False
        conn = sqlite3.connect(str(self._db()), timeout=0.05, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.Error:
            conn.close()
            return False
        self._locker = conn
        return True

    def _unlock(self) -> None:
        if self._locker is not None:
            self._locker.close()  # rolls the open transaction back
            self._locker = None

    def _delete(self) -> bool:
        if not self._db().exists():
            return False
        self._unlock()
        with contextlib.suppress(HistoryError):  # the open connection is copied before it closes
            self.audit.keep(self.audit.generation, _read_changes(self._db()))
        self.audit.deleted.add(self.audit.generation)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self._db()}{suffix}").unlink(missing_ok=True)
        # The agent still holds the old file open; what it adds there is copied at close.
        self.audit.generation += 1
        return True

    def _truncate_due(self, daemon: Daemon, emulator: Emulator) -> bool:
        """Whether an armed truncation falls now: the last decision was kept from a change by
        a hold (read after each cycle that asked the API), or it has waited HOLD_WAIT, or the
        quiet tail begins."""
        if self._truncate_armed is None:
            return False
        now, quiet = self._now(), self.config.days * DAY - self.config.quiet_tail
        if now - self._truncate_armed >= HOLD_WAIT or now >= quiet:
            return True
        if daemon.agent is None or len(emulator.requests) == self._seen_requests:
            return False
        self._seen_requests = len(emulator.requests)
        try:
            last = daemon.agent.history.last_decision()
        except HistoryError:  # locked, say: the next cycle's
            return False
        fields = last[1].get("fields", {}) if last is not None else {}
        return any(
            reason.get("rail") in HOLDS
            for plan in fields.values()
            for reason in plan.get("rail_reasons", ())
        )

    def _truncate(self, daemon: Daemon) -> None:
        """Stop the daemon, cut the database (and its journal) to 0 bytes, start it again."""
        self._close_daemon(daemon)
        self._unlock()
        with contextlib.suppress(HistoryError):
            self.audit.keep(self.audit.generation, _read_changes(self._db()))
        self.audit.deleted.add(self.audit.generation)  # its pending changes cannot settle
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self._db()}{suffix}")
            if path.exists():
                with path.open("r+b") as f:  # not os.truncate: the disk may be "full"
                    f.truncate(0)
        self.audit.generation += 1
        self._daemon = self._new_daemon()

    def _limit_live(self, full: bool) -> None:
        for live in self._live:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed: nothing to limit
                _limit_pages(live.conn, full)

    def _final_audit(self) -> None:
        # Whatever is in the last file on disk, read by a connection of our own.
        if self._db().exists():
            self.audit.keep(self.audit.generation, _read_changes(self._db()))


def _read_changes(path: Path) -> list[ChangeRecord]:
    with History.open(path, busy_timeout=BUSY_TIMEOUT) as history:
        return history.changes(status=None)


# -- the checks -----------------------------------------------------------------------------


def _settings(body: Any) -> Settings | None:
    try:
        return Settings(
            float(body["on_demand"]),
            float(body["spot"]),
            bool(body["availability"]),
            int(body["mrl"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _availability_reasons(change: ChangeRecord) -> list[str]:
    return [r for r in change.reasons if r.startswith("availability")]


def _by_fault_rule(policy: Policy, change: ChangeRecord | None) -> bool:
    """Whether the change's reasons name an `even_if_rented` rule for availability."""
    if change is None:
        return False
    names = [r.name for r in policy.rules if r.even_if_rented]
    lines = _availability_reasons(change)
    return any(f'rule "{name}"' in line for name in names for line in lines)


class Checks:
    """The end-of-run checks, against the emulator's log and the history files."""

    def __init__(self, soak: Soak, emulator: Emulator, watch: _LogWatch) -> None:
        self.soak = soak
        self.report = soak.report
        self.t0 = soak.t0
        self.records = sorted(emulator.requests.snapshot(), key=lambda r: r.time)
        self.watch = watch

    def flag(self, check: str, message: str) -> None:
        self.report.violations.setdefault(check, []).append(message)

    def count(self, check: str, n: int = 1) -> None:
        self.report.checks[check] = self.report.checks.get(check, 0) + n
        self.report.violations.setdefault(check, [])

    def run(self) -> None:
        writes = [r for r in self.records if r.endpoint == "set_server_settings"]
        self.report.requests = len(self.records)
        self.report.writes = len(writes)
        self.report.applied_writes = sum(r.code == 0 for r in writes)
        self.report.reconciles = sum(
            r.endpoint == "server_config" and r.code == 0 for r in self.records
        )
        self.report.history_changes = len(self.soak.audit.changes)
        self.report.lost_answers = sum(r.fault == "lost" and r.code == 0 for r in writes)
        self.spacing()
        self.writes(writes)
        self.junk(writes)
        self.reloads()
        self.secrets()
        self.liveness()
        self.rss()

    def spacing(self) -> None:
        self.count("request spacing >= 1 s", max(0, len(self.records) - 1))
        for a, b in zip(self.records, self.records[1:], strict=False):
            if b.time - a.time < 1.0 - 1e-6:
                self.flag(
                    "request spacing >= 1 s",
                    f"{a.endpoint} then {b.endpoint} {b.time - a.time:.3f} s apart "
                    f"at +{a.time - self.t0:.0f} s (first: fault {a.fault}, HTTP {a.status}, "
                    f"code {a.code})",
                )

    def writes(self, writes: list[RequestRecord]) -> None:
        state = self.soak.initial
        last_price_change: float | None = None
        last_switch: float | None = None  # availability
        unmatched = sorted(self.soak.audit.changes.items(), key=lambda kv: (kv[1].ts, kv[0]))
        matched: set[tuple[int, int]] = set()
        for record in writes:
            t = record.time - self.t0
            policy: Policy = step_value(self.soak.policy_timeline, t)
            body = record.body
            self.count("all five fields, right types")
            if not self._fields_ok(body):
                self.flag("all five fields, right types", f"+{t:.0f} s: {body!r}")
                continue
            new = _settings(body)
            assert new is not None
            self._rails(policy, state, new, t)
            if record.code != 0:
                continue  # refused or never processed: the server kept its settings
            changed_price = (new.on_demand, new.spot) != (state.on_demand, state.spot)
            if changed_price:
                self.count("min interval between price changes")
                rails = policy.rails
                out_of_range = not all(
                    rails.bounds(f).floor <= getattr(state, f) <= rails.bounds(f).ceiling
                    for f in ("on_demand", "spot")
                )
                if (
                    last_price_change is not None
                    and t - last_price_change < rails.min_interval - 1e-6
                    and not out_of_range
                ):
                    self.flag(
                        "min interval between price changes",
                        f"+{t:.0f} s: price changed {t - last_price_change:.0f} s after the "
                        f"previous change (min {rails.min_interval:g} s)",
                    )
                last_price_change = t
            if new != state:
                change = self._match(unmatched, matched, new, record.time, t)
                self._rental_rule(policy, state, new, change, t)
                if new.availability != state.availability:
                    self._hold(policy, new, change, t, last_switch)
                    last_switch = t
            state = new
        self.count("history change written to the API", len(unmatched))
        for key, change in unmatched:
            if key in matched or change.status != "applied":
                continue
            self.flag(
                "history change written to the API",
                f"change #{change.id} (db {key[0]}) at +{change.ts - self.t0:.0f} s is "
                f"recorded as applied, but no write of {tuple(change.after)} reached the API",
            )
        self.report.changes = len(matched)

    def _fields_ok(self, body: Any) -> bool:
        if not isinstance(body, dict) or set(body) != {
            "name",
            "availability",
            "mrl",
            "on_demand",
            "spot",
        }:
            return False

        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        return (
            body["name"] == SERVER
            and isinstance(body["availability"], bool)
            and isinstance(body["mrl"], int)
            and not isinstance(body["mrl"], bool)
            and body["mrl"] > 0
            and number(body["on_demand"])
            and number(body["spot"])
        )

    def _rails(self, policy: Policy, before: Settings, new: Settings, t: float) -> None:
        rails = policy.rails
        step = rails.max_step / 100
        for name in ("on_demand", "spot"):
            bounds = rails.bounds(name)
            price = float(getattr(new, name))
            self.count("price within rails")
            if not (price > 0 and bounds.floor <= price <= bounds.ceiling):
                self.flag(
                    "price within rails",
                    f"+{t:.0f} s: {name} {price:.8g} outside [{bounds.floor:g}, "
                    f"{bounds.ceiling:g}] (was {getattr(before, name):.8g})",
                )
            old = float(getattr(before, name))
            reference = min(bounds.ceiling, max(bounds.floor, old))
            self.count("step within max step")
            if abs(price - reference) > reference * step * (1 + 1e-9) and price != old:
                self.flag(
                    "step within max step",
                    f"+{t:.0f} s: {name} {old:.8g} -> {price:.8g} "
                    f"({(price / old - 1) * 100:+.1f}%, max {rails.max_step:g}%)",
                )
        if not (rails.mrl.min <= new.mrl <= rails.mrl.max) and new.mrl != before.mrl:
            self.flag("price within rails", f"+{t:.0f} s: mrl {new.mrl} outside the rails")

    def _match(
        self,
        changes: list[tuple[tuple[int, int], ChangeRecord]],
        matched: set[tuple[int, int]],
        new: Settings,
        when: float,
        t: float,
    ) -> ChangeRecord | None:
        """The history record of an applied change: the latest unmatched one with these
        settings, recorded before the write arrived."""
        self.count("applied change recorded with reasons")
        found: tuple[tuple[int, int], ChangeRecord] | None = None
        for key, change in changes:
            if change.ts > when:
                break
            if key not in matched and tuple(change.after) == tuple(new):
                found = (key, change)
        if found is None:
            self.flag(
                "applied change recorded with reasons",
                f"+{t:.0f} s: the write of {tuple(new)} is in no history record",
            )
            return None
        key, change = found
        matched.add(key)
        interrupted = change.status == "pending" and key[0] in self.soak.audit.deleted
        if not change.reasons or not (change.status == "applied" or interrupted):
            self.flag(
                "applied change recorded with reasons",
                f"+{t:.0f} s: change #{change.id} is {change.status!r} with reasons "
                f"{list(change.reasons)}",
            )
        return change

    def _rental_rule(
        self,
        policy: Policy,
        before: Settings,
        new: Settings,
        change: ChangeRecord | None,
        t: float,
    ) -> None:
        if not (before.availability and not new.availability):
            return
        status = step_value(self.soak.rental_timeline, t)
        if status == 0:
            return
        self.count("off during a rental only by a health rule")
        if not _by_fault_rule(policy, change):
            lines = [] if change is None else _availability_reasons(change)
            self.flag(
                "off during a rental only by a health rule",
                f"+{t:.0f} s: availability switched off while rented (status {status}); "
                f"reasons {lines}",
            )

    def _hold(
        self,
        policy: Policy,
        new: Settings,
        change: ChangeRecord | None,
        t: float,
        last_switch: float | None,
    ) -> None:
        """Availability stays at least the hold before it flips back; a fault rule's delisting
        (an `even_if_rented` rule) goes at once."""
        check = "availability hold between switches"
        self.count(check)
        hold = policy.rails.availability_hold
        if last_switch is None or t - last_switch >= hold - 1e-6:
            return
        if not new.availability and _by_fault_rule(policy, change):
            return
        self.flag(
            check,
            f"+{t:.0f} s: availability switched to {new.availability} {t - last_switch:.0f} s "
            f"after the previous switch (hold {hold:g} s)",
        )

    def junk(self, writes: list[RequestRecord]) -> None:
        """Nothing is written while server_config answers junk: the agent refuses to read it."""
        check = "no write while the API serves junk"
        self.count(check, len(self.soak.junk_windows))
        for record in writes:
            t = record.time - self.t0
            for start, end in self.soak.junk_windows:
                if start <= t < end:
                    self.flag(
                        check,
                        f"+{t:.0f} s: {record.body!r} written while junk was served "
                        f"(+{start:.0f} s to +{end:.0f} s)",
                    )

    def reloads(self) -> None:
        """After each reload the daemon runs the last valid policy written (its own word)."""
        self.count("reload runs the last valid policy", len(self.soak.reloads))
        for t, running, expected in self.soak.reloads:
            if running != expected.digest():
                self.flag(
                    "reload runs the last valid policy",
                    f"+{t:.0f} s: running {running}, expected {expected.digest()}",
                )

    def secrets(self) -> None:
        self.count("token in no log line", self.watch.lines)
        for line in self.watch.leaks:
            self.flag("token in no log line", line)
        self.count("token in no systemd message", self.soak.notifier.messages)
        for text in self.soak.notifier.leaks:
            self.flag("token in no systemd message", text[:300])

    def liveness(self) -> None:
        """Degraded no longer than the faults that explain it, plus two reconcile intervals.
        (This check reads the daemon's own health: there is no outside witness of it.)"""
        grace = 2 * self.soak.config.reconcile_interval + 2 * self.soak.config.backoff
        # Windows of lasting faults, and the moment of every request a fault answered.
        windows = self.soak.windows + [
            (r.time - self.t0, r.time - self.t0) for r in self.records if r.fault
        ]
        start: float | None = None
        longest = 0.0
        stretches: list[tuple[float, float, str]] = []
        last = ""
        for t, problem in self.soak.health_log:
            if problem is not None and problem != last:
                self.report.problems.update(c for c in CAUSES if c in problem)
            if problem is not None:
                last = problem
                if start is None:
                    start = t
            elif start is not None:
                stretches.append((start, t, last))
                start = None
        if start is not None:
            stretches.append((start, self.soak.health_log[-1][0], last))
        self.count("recovers after faults", len(stretches))
        for a, b, problem in stretches:
            longest = max(longest, b - a)
            explained = max([a, *(end for s, end in windows if s <= b and end >= a - grace)])
            if b - explained > grace:
                self.flag(
                    "recovers after faults",
                    f"degraded from +{a:.0f} s to +{b:.0f} s, {b - explained:.0f} s past the "
                    f"faults that explain it; last problem: {problem}",
                )
        self.report.longest_degraded_s = longest

    def rss(self) -> None:
        self.count("RSS flat")
        growth = self.report.rss_end - self.report.rss_start
        if self.report.rss_start and growth > RSS_GROWTH_LIMIT:
            self.flag("RSS flat", f"RSS grew {growth / 2**20:.1f} MiB")


RSS_GROWTH_LIMIT = 48 * 1024 * 1024
# What the daemon's degraded status names, as counted in the report.
CAUSES = (
    "API unavailable",
    "GPUs unavailable",
    "timed out",
    "history unavailable",
    "locked",
    "disk is full",
    "inputs implausible",
)


def run_soak(root: Path, config: SoakConfig) -> SoakReport:
    """Run one soak in `root` (an empty directory) and check it."""
    return Soak(root, config).run()
