"""One reconcile cycle: observe, decide, guard, apply, record.

The agent owns the long-lived parts (API client, GPU backend, history store, policy) and runs
the cycle that the daemon, `reprice`, `plan` and the demo all share. Deciding is delegated to
the pure policy package; everything here is the I/O around it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .api import CloreClient, ServerConfig, SetServerSettings, load_token
from .api.errors import AuthError, CloreError, InvalidInput, LocalStateError, TokenError
from .clock import Clock, SystemClock
from .config import Config
from .early_read import EarlyRead, Target
from .exitcodes import EXIT_AUTH, EXIT_FAILURE, EXIT_INVALID, EXIT_LOCKED, EXIT_UNAVAILABLE
from .facts import (
    RENTAL_STATUS_BY_CODE,
    Facts,
    GpuNow,
    HostNow,
    LocalTime,
    RentalStatus,
    Settings,
    WindowKey,
)
from .gpu import GpuBackend, GpuBackendError, GpuSnapshot, open_backend
from .history import History, HistoryError
from .host import read_host
from .lock import LockHeld, WriterLock
from .policy import Plan, Policy, load_policy, make_plan
from .validation import InputFileError

log = logging.getLogger(__name__)

# A window counts as known once history covers this share of it (one missed sample at its
# start must not make it unknown).
WINDOW_COVERAGE = 0.9


class ServerDataError(CloreError):
    """server_config answered, but without a value the agent needs (or with a nonsense one)."""


class UnrecordedChange(Exception):
    """The write was applied, but the history store failed to record it as applied."""


def classify_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line to show for a failure of a cycle."""
    if isinstance(exc, UnrecordedChange):
        return EXIT_UNAVAILABLE, str(exc)
    if isinstance(exc, InputFileError):
        return EXIT_INVALID, exc.render()
    if isinstance(exc, TokenError):
        return EXIT_INVALID, str(exc)
    if isinstance(exc, AuthError):
        return EXIT_AUTH, f"authentication failed: {exc}"
    if isinstance(exc, LockHeld):
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, GpuBackendError):
        return EXIT_UNAVAILABLE, f"GPUs unavailable, nothing changed: {exc}"
    if isinstance(exc, HistoryError):
        return EXIT_UNAVAILABLE, f"history unavailable, nothing changed: {exc}"
    if isinstance(exc, InvalidInput):  # e.g. a server name the account does not have
        return EXIT_INVALID, f"the API refused the request as invalid, nothing changed: {exc}"
    if isinstance(exc, LocalStateError):
        return EXIT_UNAVAILABLE, f"state directory unavailable, nothing changed: {exc}"
    if isinstance(exc, CloreError):
        return EXIT_UNAVAILABLE, f"API unavailable, nothing changed: {exc}"
    if isinstance(exc, OSError):  # the state directory: a full disk, lost permissions
        where = f" ({exc.filename})" if exc.filename else ""
        return (
            EXIT_UNAVAILABLE,
            f"state directory unavailable{where}, nothing changed: {exc.strerror}",
        )
    return EXIT_FAILURE, f"unexpected error, nothing changed: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class CycleResult:
    """What one reconcile did."""

    outcome: Literal["changed", "unchanged", "dry_run"]
    plan: Plan
    facts: Facts
    recovered: tuple[str, ...] = ()  # notes about earlier interrupted writes

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "plan": self.plan.to_dict(),
            "rental_status": self.facts.rental_status,
            "recovered": list(self.recovered),
        }


def current_settings(config: ServerConfig, currency: str) -> Settings:
    """The four managed settings as server_config reports them; refuses to guess any."""
    missing: list[str] = []
    on_demand = (config.pricing or {}).get(currency)
    spot = (config.spot_pricing or {}).get(currency)
    availability = config.is_available()
    if on_demand is None:
        missing.append(f"pricing.{currency}")
    if spot is None:
        missing.append(f"spot_pricing.{currency}")
    if availability is None:
        missing.append("availability/visibility")
    if config.mrl is None:
        missing.append("mrl")
    if missing:
        raise ServerDataError(f"server_config lacks {', '.join(missing)}; refusing to guess")
    assert on_demand is not None and spot is not None and availability is not None
    assert config.mrl is not None
    for label, price in (("pricing", on_demand), ("spot_pricing", spot)):
        if not math.isfinite(price) or price < 0:
            raise ServerDataError(f"server_config {label}.{currency} is implausible: {price}")
    return Settings(on_demand=on_demand, spot=spot, availability=availability, mrl=config.mrl)


def same_settings(a: Settings, b: Settings) -> bool:
    """Equal, allowing prices the service may store rounded (to a millionth of the price)."""
    return (
        a.availability == b.availability
        and a.mrl == b.mrl
        and math.isclose(a.on_demand, b.on_demand, rel_tol=1e-6)
        and math.isclose(a.spot, b.spot, rel_tol=1e-6)
    )


def rental_status_of(config: ServerConfig) -> RentalStatus:
    status = RENTAL_STATUS_BY_CODE.get(config.rental_status)  # type: ignore[arg-type]
    if status is None:
        raise ServerDataError(
            f"server_config rental_status is {config.rental_status!r}, expected 0, 1 or 2"
        )
    return status


class Agent:
    """The parts one server's cycles need, opened once and reused.

    The config, policy and API client are opened up front, so a bad config or policy fails
    before the cycle reads anything (a one-shot `reprice` may have sent its read earlier
    still, see early_read.py; it never writes on a config that did not validate). The history
    store and the GPU backend open on first use: the cycle reads the server first and opens
    them while the rate limiter holds its write back, and a run that cannot reach the API
    never touches them.
    """

    def __init__(
        self,
        config: Config,
        policy: Policy,
        client: CloreClient,
        clock: Clock,
        gpus: GpuBackend | None = None,
        lock: WriterLock | None = None,
    ) -> None:
        self.config = config
        self.policy = policy
        self.client = client
        self.clock = clock
        self.lock = lock or WriterLock(config.state.dir, config.server.name)
        self._gpus = gpus
        self._history: History | None = None

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        policy: Policy | None = None,
        client: CloreClient | None = None,
        gpus: GpuBackend | None = None,
        on_response: Callable[[str, str], None] | None = None,
        early: EarlyRead | None = None,
    ) -> Agent:
        """Open the agent from the config; anything passed in is used as is (tests, demo).

        An `early` read (a one-shot run's, see early_read.py) is taken over when it was sent
        where this config says; its connection keeps the system clock it was made with.
        Otherwise it is abandoned. The caller closes it if this raises.
        """
        clock = clock or SystemClock()
        config.state.dir.mkdir(parents=True, exist_ok=True)
        policy = policy or load_policy(config.policy.path)
        lock = None
        if early is not None and client is None and early.target == Target.of(config):
            client = CloreClient(
                early.connection,
                retries=config.api.retries,
                on_response=on_response,
                first=(early.request, early.answer),
            )
            lock = early.lock
        elif early is not None:
            early.abandon()
        if client is None:
            client = CloreClient.connect(
                config.api.base_url,
                load_token(config.api.token_file),
                state_dir=config.state.dir,
                clock=clock,
                timeout=config.api.timeout,
                retries=config.api.retries,
                on_response=on_response,
            )
        return cls(config, policy, client, clock, gpus, lock)

    @property
    def history(self) -> History:
        if self._history is None:
            self._history = History.open(
                self.config.state.dir / "history.db",
                raw_retention=self.config.history.raw_retention,
                rollup_retention=self.config.history.rollup_retention,
                now=self.clock.now(),
            )
        return self._history

    @property
    def gpus(self) -> GpuBackend:
        if self._gpus is None:
            self._gpus = open_backend(
                self.config.gpu.backend,
                scenario=self.config.gpu.scenario,
                clock=self.clock,
                call_timeout=self.config.gpu.call_timeout,
            )
        return self._gpus

    def close(self) -> None:
        self.lock.release()
        for part in (self._gpus, self._history, self.client):
            if part is None:
                continue
            try:
                part.close()
            except Exception:  # closing must not mask what happened before
                log.debug("error while closing %s", type(part).__name__, exc_info=True)

    # -- observe -----------------------------------------------------------------------

    def sample(self) -> GpuSnapshot:
        """Read the GPUs and the host and store them in history."""
        return self._sample()[0]

    def _sample(self) -> tuple[GpuSnapshot, tuple[GpuNow, ...], HostNow]:
        snapshot = self.gpus.read()
        gpus = tuple(gpu.to_now() for gpu in snapshot.gpus)
        host = read_host(self.config.state.dir)
        self.history.record_sample(self.clock.now(), gpus, host)
        return snapshot, gpus, host

    def observe(
        self, server: ServerConfig, current: Settings, gpus: tuple[GpuNow, ...], host: HostNow
    ) -> Facts:
        """Build the frozen Facts for a decision from what was just read."""
        now = self.clock.now()
        status = rental_status_of(server)
        windows: dict[WindowKey, tuple[float | None, ...]] = {}
        span = self.history.coverage(now)
        for key in self.policy.window_keys():
            if span < key.seconds * WINDOW_COVERAGE:
                # A window reaching back past the first sample would judge "for 30 minutes"
                # on minutes of data: unknown, so no rule acts on it (a young database).
                windows[key] = tuple(None for _ in gpus)
                continue
            per_gpu = self.history.window(key, now)
            windows[key] = tuple(per_gpu.get(gpu.index) for gpu in gpus)
        return Facts(
            now=now,
            local=LocalTime.at(now, self.config.timezone),
            rental_status=status,
            rental_status_for=self._rental_status_for(status, now),
            current=current,
            expected_gpus=self.config.server.expected_gpus,
            gpus=gpus,
            windows=windows,
            idle_for=self.history.idle_for(self.policy.idle_threshold, now),
            host=host,
        )

    def _rental_status_for(self, status: RentalStatus, now: float) -> float | None:
        """Seconds in this rental status, as far as this host has seen; None on first sight."""
        seen = self.history.get_state("rental_status")
        if isinstance(seen, dict) and seen.get("status") == status:
            since = float(seen["since"])
            return max(0.0, now - since)
        self.history.set_state("rental_status", {"status": status, "since": now})
        return None

    # -- the cycle ---------------------------------------------------------------------

    def reconcile(self, *, dry_run: bool = False) -> CycleResult:
        """One full cycle. Raises on any failure, having changed nothing it cannot account for."""
        self.lock.acquire()
        try:
            return self._reconcile(dry_run)
        finally:
            self.lock.release()

    def _reconcile(self, dry_run: bool) -> CycleResult:
        name = self.config.server.name
        server = self.client.server_config(name).config
        current = current_settings(server, self.config.server.currency)
        recovered = () if dry_run else self._settle_pending(current)
        _, gpus, host = self._sample()
        facts = self.observe(server, current, gpus, host)
        plan = make_plan(self.policy, facts, self.history.prior_state(self.config.server.name))
        self.history.record_decision(facts.now, plan.to_dict())
        if dry_run:
            return CycleResult("dry_run", plan, facts, recovered)
        if not plan.changed:
            return CycleResult("unchanged", plan, facts, recovered)
        target = plan.target
        request = SetServerSettings(
            name=name,
            availability=target.availability,
            mrl=target.mrl,
            on_demand=target.on_demand,
            spot=target.spot,
        )
        # Write-ahead: the intent is on disk before the request leaves, so a run killed
        # mid-write is settled by the next one (see _settle_pending).
        change_id = self.history.record_change(
            facts.now, name, facts.current, target, plan.reasons(), status="pending"
        )
        # If this raises, the write may or may not have landed (a timeout, say): the intent
        # stays pending and the next cycle compares it with what the server reports.
        self.client.set_server_settings(request)
        try:
            self.history.mark_change(change_id, "applied", self.clock.now())
        except HistoryError as exc:
            raise UnrecordedChange(
                f"settings written, but not yet recorded as applied ({exc}); "
                "the next run records them"
            ) from exc
        log.info("applied change #%d to %s: %s", change_id, name, "; ".join(plan.reasons()))
        return CycleResult("changed", plan, facts, recovered)

    def _settle_pending(self, current: Settings) -> tuple[str, ...]:
        """Resolve writes an earlier run began but did not record as done."""
        notes: list[str] = []
        now = self.clock.now()
        for change in self.history.pending_changes():
            if change.server != self.config.server.name:
                continue  # another server's, sharing this state directory
            if same_settings(change.after, current):
                self.history.mark_change(change.id, "applied", now)
                notes.append(f"change #{change.id} from an interrupted run had been applied")
            else:
                self.history.mark_change(change.id, "abandoned", now)
                notes.append(
                    f"change #{change.id} from an interrupted run never reached the server"
                )
        for note in notes:
            log.warning("%s", note)
        return tuple(notes)
