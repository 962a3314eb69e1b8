"""One reconcile cycle: observe, decide, guard, apply, record.

The agent owns the long-lived parts (API client, GPU backend, history store, policy) and runs
the cycle that the daemon, `reprice`, `plan` and the demo all share. Deciding is delegated to
the pure policy package; everything here is the I/O around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..api import CloreClient, ServerConfig, SetServerSettings, load_token
from ..clock import Clock, SystemClock
from ..config import Config, load_policy
from ..errors import Failure
from ..facts import (
    Facts,
    GpuNow,
    HostNow,
    LocalTime,
    RentalStatus,
    Settings,
    WindowKey,
)
from ..observe.server import current_settings, rental_status_of, same_settings
from ..policy import Plan, Policy, make_plan
from .lock import WriterLock

if TYPE_CHECKING:
    from ..gpu import GpuBackend, GpuSnapshot
    from ..history import History

log = logging.getLogger(__name__)

# A window counts as known once history covers this share of it (one missed sample at its
# start must not make it unknown).
WINDOW_COVERAGE = 0.9


class UnrecordedChange(Failure):
    """The write was applied, but the history store failed to record it as applied."""


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


class Agent:
    """The parts one server's cycles need, opened once and reused.

    The config, policy and API client are opened up front, so a bad config or policy fails
    before the cycle reads anything. The history store and the GPU backend open on first use
    (unless passed in): the cycle reads the server first, and a run that cannot reach the API
    never touches them.
    """

    def __init__(
        self,
        config: Config,
        policy: Policy,
        client: CloreClient,
        clock: Clock,
        gpus: GpuBackend | None = None,
        history: History | None = None,
    ) -> None:
        self.config = config
        self.policy = policy
        self.client = client
        self.clock = clock
        self.lock = WriterLock(config.state.dir, config.server.name)
        self._gpus = gpus
        self._history = history

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        policy: Policy | None = None,
        client: CloreClient | None = None,
        gpus: GpuBackend | None = None,
        history: History | None = None,
        on_response: Callable[[str, str], None] | None = None,
    ) -> Agent:
        """Open the agent from the config; any part passed in is used as is (tests, demo)."""
        clock = clock or SystemClock()
        config.state.dir.mkdir(parents=True, exist_ok=True)
        policy = policy or load_policy(config.policy.path)
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
        return cls(config, policy, client, clock, gpus=gpus, history=history)

    @property
    def history(self) -> History:
        if self._history is None:
            # Imported here, as the GPU backend and psutil are below: a one-shot run reads the
            # server before it needs them, and loads them while the rate limit holds the write.
            from ..history import History

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
            from ..gpu import open_backend

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
        """Read the GPUs (stored in history) and the host."""
        return self._sample()[0]

    def _sample(self) -> tuple[GpuSnapshot, tuple[GpuNow, ...], HostNow]:
        from ..observe.host import read_host

        snapshot = self.gpus.read()
        gpus = tuple(gpu.to_now() for gpu in snapshot.gpus)
        # Read every sample, though only a reconcile uses it: psutil's CPU % covers the time
        # since the previous read, so the fact keeps meaning "over the last sample interval".
        host = read_host(self.config.state.dir)
        self.history.record_sample(self.clock.now(), gpus)
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
        from ..history import HistoryError  # loaded already: the history is open

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
