"""One reconcile cycle: observe, decide, guard, apply, record.

The agent owns the long-lived parts (API client, GPU backend, history store, policy) and runs
the cycle that the daemon, `reprice`, `plan` and the demo all share. Deciding is delegated to
the pure policy package; everything here is the I/O around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..api import (
    CloreClient,
    CloreError,
    ServerConfig,
    SetServerSettings,
    load_token,
    may_have_landed,
)
from ..api.models import CoinPrices, SetServerSettingsByCurrency
from ..clock import Clock, SystemClock
from ..config import Config, load_policy
from ..duration import format_duration
from ..errors import Failure
from ..facts import (
    RENTAL_STATUSES,
    SETTING_FIELDS,
    Facts,
    GpuNow,
    HostNow,
    Observed,
    RentalStatus,
    Settings,
    Unknown,
)
from ..gpu.base import NoGpusListed
from ..issues import InvalidSetting
from ..money import CURRENCIES, price_units, unit_of
from ..observe.server import (
    CurrentPrices,
    ServerDataError,
    converted_problem,
    current_prices,
    current_settings,
    rental_status_of,
    same_settings,
    served_problem,
    show_price,
)
from ..policy import FieldPlan, Plan, Policy, RuleReason
from ..policy.currencies import KINDS, CurrencyPlan, convert, factor, unchanged
from ..policy.step import Memory, Observation, observation_to_record, take_step
from .lock import WriterLock

if TYPE_CHECKING:
    from ..gpu import GpuBackend, GpuSnapshot
    from ..history import ChangeRecord, History

log = logging.getLogger(__name__)

# The facts the costs room observes (the market is read too, for its exchange rates).
COST_PREFIXES = ("cost.", "fx.", "tariff.")


class UnrecordedChange(Failure):
    """The write was applied, but the history store failed to record it as applied."""


class WriteInDoubt(Failure):
    """The write was sent and its answer lost (a timeout, a dropped connection, a 5xx): it may
    have landed. The change stays pending, and the next run compares it with the server."""

    headline = "the write may have been applied; the next run checks"


def outcome_unknown(exc: CloreError) -> bool:
    """Whether a write that failed with `exc` may still have been applied by the service.

    Only an answer that refuses the request says it was not: an API code (but code 1, the
    service's own database failing mid-request) or an HTTP 4xx. A timeout, a dropped or
    failed connection, a 5xx or an answer that is not the API's leave it unknown, and so does
    any error the client raises after such an attempt of the same write (a retry told 429 or
    an API code 6). See api.may_have_landed.
    """
    return may_have_landed(exc)


@dataclass(frozen=True)
class CycleResult:
    """What one reconcile did."""

    outcome: Literal["changed", "unchanged", "dry_run"]
    plan: Plan
    facts: Facts
    recovered: tuple[str, ...] = ()  # notes about earlier interrupted writes
    # Changes earlier runs wrote without an answer, found applied: each as the cycle that
    # wrote it would have reported it, for the webhook and the metrics.
    settled: tuple[SettledChange, ...] = ()
    # Each currency's prices, with the per-currency form (server.currencies beyond bitcoin).
    currencies: CurrencyPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "outcome": self.outcome,
            "plan": self.plan.to_dict(),
            "rental_status": self.facts.rental_status,
            "recovered": list(self.recovered),
        }
        if self.currencies is not None:
            out["currencies"] = self.currencies.to_dict()
        return out


@dataclass(frozen=True)
class SettledChange:
    """A change an earlier run wrote but could not confirm, since found applied."""

    change: ChangeRecord  # as the audit trail has it: before, after, the reasons in words
    result: CycleResult  # as the writing cycle's result: its plan rebuilt with its rules' names


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
        # Changes found applied, not yet in a cycle's result (the cycle failed after settling).
        self._unreported: list[ChangeRecord] = []
        # Since when (monotonic) the GPU driver has answered with no GPU; None: it lists some.
        self._zero_since: float | None = None
        self._zero_read_missing = False  # said once, when the grace ran out
        self._market_warnings: tuple[str, ...] = ()  # the market's last warnings, said once

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
        policy = policy or load_policy(config.policy.path, config.policy.params)
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

        snapshot = self._read_gpus()
        gpus = tuple(gpu.to_now() for gpu in snapshot.gpus)
        # Read every sample, though only a reconcile uses it: psutil's CPU % covers the time
        # since the previous read, so the fact keeps meaning "over the last sample interval".
        host = read_host(self.config.state.dir)
        self.history.record_sample(self.clock.now(), gpus)
        return snapshot, gpus, host

    def _read_gpus(self) -> GpuSnapshot:
        """Read the GPUs; no GPU at all is a driver hiccup until it lasts gpu.zero_gpus_grace.

        A driver that answers with an empty list (during a reset, a reload) would read as
        every GPU missing, and a policy may delist on that: so the first such answer, and all
        within the grace since it, raise NoGpusListed (GPUs unavailable, nothing written).
        One reading never suffices, so a one-shot run always stops there; a daemon reads the
        empty list as every GPU missing once it has lasted the grace.
        """
        snapshot = self.gpus.read()
        if snapshot.gpus or self.config.server.expected_gpus == 0:
            if self._zero_since is not None:
                log.info("the GPU driver lists GPUs again")
            self._zero_since, self._zero_read_missing = None, False
            return snapshot
        now = self.clock.monotonic()
        grace = self.config.gpu.zero_gpus_grace
        if self._zero_since is None:
            self._zero_since = now
            raise NoGpusListed(
                "the driver answers but lists no GPU (a driver hiccup?); read as every GPU "
                f"missing only once it lasts gpu.zero_gpus_grace ({format_duration(grace)})"
            )
        lasted = now - self._zero_since
        if lasted < grace:
            raise NoGpusListed(
                f"the driver has listed no GPU for {format_duration(lasted)}; read as every "
                f"GPU missing once it lasts gpu.zero_gpus_grace ({format_duration(grace)})"
            )
        if not self._zero_read_missing:
            self._zero_read_missing = True
            log.warning(
                "the GPU driver has listed no GPU for %s (gpu.zero_gpus_grace %s): every GPU "
                "is read as missing",
                format_duration(lasted),
                format_duration(grace),
            )
        return snapshot

    def observe(
        self,
        server: ServerConfig,
        current: Settings,
        snapshot: GpuSnapshot,
        gpus: tuple[GpuNow, ...],
        host: HostNow,
    ) -> tuple[Observation, Memory]:
        """What this cycle read, with the facts of the rooms the policy needs (the market,
        the costs), and the memory the agent carries between cycles (from history)."""
        now = self.clock.now()
        status = rental_status_of(server)
        observation = Observation(
            now=now,
            timezone=self.config.timezone,
            rental_status=status,
            current=current,
            expected_gpus=self.config.server.expected_gpus,
            gpus=gpus,
            host=host,
            observed=self._rooms(server, snapshot, gpus, now),
        )
        return observation, self._memory(status, now)

    def _rooms(
        self,
        server: ServerConfig,
        snapshot: GpuSnapshot,
        gpus: tuple[GpuNow, ...],
        now: float,
    ) -> dict[str, Observed]:
        """The facts observed in their own rooms, only those the policy reads: the market
        (marketplace, spot_marketplace) and the costs (which take the market's exchange
        rates). Each room turns its own failures into unknown facts, never an exception."""
        names = self.policy.fact_names()
        needs_costs = any(n.startswith(COST_PREFIXES) for n in names)
        peers = any(n.startswith("market.") for n in names)
        # Several currencies need their exchange rates, which spot_marketplace sends.
        several = not self.config.server.seed_form
        spot = needs_costs or several or any(n.startswith("spot.") for n in names)
        observed: dict[str, Observed] = {}
        rates: Mapping[str, object] | None = None
        rates_at: float | None = None
        if peers or spot:
            from ..market import observe_market

            gpu_names = [g.name for g in snapshot.gpus if g.name]
            market = observe_market(
                self.config, self.client, server, gpu_names, now, peers=peers, spot=spot
            )
            observed.update(market.facts)
            rates, rates_at = market.rates_in_usd, market.rates_at
            # Said when they change, not every cycle (a class mismatch lasts).
            if market.warnings != self._market_warnings:
                for warning in market.warnings:
                    log.warning("market: %s", warning)
                self._market_warnings = market.warnings
            if market.record is not None:
                self.history.record_observation(now, "market", market.record)
        if needs_costs:
            from ..costs import observe_costs

            costs = observe_costs(self.config, self.history, gpus, rates, rates_at, now)
            observed.update(costs.facts)
            for warning in costs.warnings:
                log.warning("costs: %s", warning)
            self.history.record_observation(now, "costs", costs.record)
        elif several:  # the rates each currency's price is converted at
            from ..costs import observe_rates

            fx, warnings = observe_rates(self.config, self.history, rates, rates_at, now)
            observed.update(fx)
            for warning in warnings:
                log.warning("currencies: %s", warning)
        return observed

    def _memory(self, status: RentalStatus, now: float) -> Memory:
        """The memory carried into this cycle, as history keeps it: the audit trail's last
        changes, and the rental status last seen with since when (the memory step() would
        carry). A status seen for the first time is stored with `now` as its start."""
        prior = self.history.prior_state(self.config.server.name)
        seen = self.history.get_state("rental_status")
        last: RentalStatus | None = None
        since: float | None = None
        if isinstance(seen, dict) and seen.get("status") in RENTAL_STATUSES:
            last, since = seen["status"], float(seen["since"])
        if last != status:
            self.history.set_state("rental_status", {"status": status, "since": now})
        self.history.record_rental_status(now, status)
        return Memory(
            last_price_change=prior.last_price_change,
            availability_since=prior.availability_since,
            rental_status=last,
            rental_status_since=since,
        )

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
        coins = self._read_currencies(server)
        current = current_settings(server, self.config.server.reference, rails=self.policy.rails)
        recovered = () if dry_run else self._settle_pending(current)
        snapshot, gpus, host = self._sample()
        observation, memory = self.observe(server, current, snapshot, gpus, host)
        # The one decision step the backtest and the simulator take too (history's audit
        # trail, not the step's memory, is what the next cycle reads: a write may fail).
        decision = take_step(self.policy, observation, memory, self.history)
        facts, plan = decision.facts, decision.plan
        # Read before this cycle records its decision: the writing cycle's is the last one.
        settled = () if dry_run else self._settled(facts)
        # What this cycle read, for a backtest to replay (windows come from the samples); a
        # dry run (`plan`) is no decision the agent acted on, so it is not replayed.
        if not dry_run:
            self.history.record_observation(
                facts.now, "reconcile", observation_to_record(observation, memory)
            )
        self.history.record_decision(facts.now, plan.to_dict())
        prices = None if coins is None else self._currency_plan(plan, facts, coins)
        if dry_run:
            return CycleResult("dry_run", plan, facts, recovered, currencies=prices)
        if not plan.changed:
            return self._result("unchanged", plan, facts, recovered, settled, prices)
        request, target = write_request(name, plan.target, prices, coins)
        reasons = plan.reasons() + ([] if prices is None else prices.reasons())
        # Write-ahead: the intent is on disk before the request leaves, so a run killed
        # mid-write is settled by the next one (see _settle_pending).
        change_id = self.history.record_change(
            facts.now, name, facts.current, target, reasons, status="pending"
        )
        # If this raises, the write may or may not have landed (a timeout, say): the intent
        # stays pending and the next cycle compares it with what the server reports.
        try:
            self.client.set_server_settings(request)
        except CloreError as exc:
            if outcome_unknown(exc):
                raise WriteInDoubt(str(exc)) from exc
            raise
        from ..history import HistoryError  # loaded already: the history is open

        try:
            self.history.mark_change(change_id, "applied", self.clock.now())
        except HistoryError as exc:
            raise UnrecordedChange(
                f"settings written, but not yet recorded as applied ({exc}); "
                "the next run records them"
            ) from exc
        log.info("applied change #%d to %s: %s", change_id, name, "; ".join(reasons))
        return self._result("changed", plan, facts, recovered, settled, prices)

    def _result(
        self,
        outcome: Literal["changed", "unchanged"],
        plan: Plan,
        facts: Facts,
        recovered: tuple[str, ...],
        settled: tuple[SettledChange, ...],
        prices: CurrencyPlan | None = None,
    ) -> CycleResult:
        """The cycle's result; the settled changes it carries are reported from here on."""
        self._unreported.clear()
        return CycleResult(outcome, plan, facts, recovered, settled, prices)

    # -- the payment currencies (the per-currency form, beyond the seed) ----------------

    def _read_currencies(self, server: ServerConfig) -> CurrentPrices | None:
        """Every currency's prices as server_config reports them; None with bitcoin alone
        (the seed's form, read as it always was). Which form is the config's to say, never
        the answer's. A currency the server does not take, or converts itself, is a setting
        to change (exit 2); an answer missing a price or with a nonsense one blocks (exit 4)."""
        section = self.config.server
        if section.seed_form:
            return None
        problem = served_problem(server, section.currencies)
        if problem is not None:
            raise InvalidSetting(problem)
        return current_prices(server, section.currencies, section.reference, self.policy.rails)

    def _currency_plan(self, plan: Plan, facts: Facts, coins: CurrentPrices) -> CurrencyPlan:
        """Each managed currency's prices for the plan's reference prices (policy.currencies);
        the prices as they are when the plan writes nothing. ServerDataError when a managed
        currency's current price is implausible against the rails converted into it."""
        section = self.config.server
        reference, currencies = section.reference, section.currencies
        rates = _rates(facts.observed, currencies)
        kept = {c: {k: self.config.fees.kept(k, c) for k in KINDS} for c in currencies}
        rails = {
            k: (self.policy.rails.bounds(k).floor, self.policy.rails.bounds(k).ceiling)
            for k in KINDS
        }
        for currency in currencies:
            if currency == reference:
                continue  # read against the rails themselves (current_settings)
            for kind in KINDS:
                by = factor(currency, kind, reference=reference, rates=rates, kept=kept)
                if by is None:
                    continue  # no conversion: its prices are held, never judged on a guess
                bounds = _Bounds(float(rails[kind][0] * by), float(rails[kind][1] * by))
                price = coins.managed[currency][kind]
                problem = converted_problem(price, bounds, kind, currency, reference)
                if problem is not None:
                    label = "pricing" if kind == "on_demand" else "spot_pricing"
                    shown = show_price(price, unit_of(currency))
                    raise ServerDataError(
                        f"server_config {label}.{currency} {shown} is implausible: {problem}"
                    )
        if not plan.changed:
            return unchanged(reference, coins.managed)
        target = {"on_demand": plan.target.on_demand, "spot": plan.target.spot}
        return convert(
            target,
            reference=reference,
            currencies=currencies,
            rates=rates,
            kept=kept,
            decimals={c: unit_of(c).decimals for c in currencies},
            rails=rails,
            current=coins.managed,
        )

    def _settle_pending(self, current: Settings) -> tuple[str, ...]:
        """Resolve writes an earlier run began but did not record as done."""
        notes: list[str] = []
        now = self.clock.now()
        for change in self.history.pending_changes():
            if change.server != self.config.server.name:
                continue  # another server's, sharing this state directory
            if same_settings(change.after, current):
                self.history.mark_change(change.id, "applied", now)
                self._unreported.append(change)
                notes.append(f"change #{change.id} from an interrupted run had been applied")
            else:
                self.history.mark_change(change.id, "abandoned", now)
                notes.append(
                    f"change #{change.id} from an interrupted run never reached the server"
                )
        for note in notes:
            log.warning("%s", note)
        return tuple(notes)

    def _settled(self, facts: Facts) -> tuple[SettledChange, ...]:
        """The changes found applied, each as the result of the cycle that wrote it.

        That cycle's plan is rebuilt from the audit trail (before, after) and, when it is
        still the last decision recorded, the names of the rules behind each field; the
        facts are this cycle's, as the writing cycle saw the settings before.
        """
        if not self._unreported:
            return ()
        last = self.history.last_decision()
        settled = []
        for change in self._unreported:
            rules = _rules_by_field(last[1]) if last is not None and last[0] == change.ts else {}
            fields = {
                f: FieldPlan(
                    f,
                    getattr(change.before, f),
                    getattr(change.after, f),
                    tuple(RuleReason(rule) for rule in rules.get(f, ())),
                )
                for f in SETTING_FIELDS
            }
            plan = Plan(change.before, change.after, fields)
            result = CycleResult("changed", plan, replace(facts, current=change.before))
            settled.append(SettledChange(change, result))
        return tuple(settled)


@dataclass(frozen=True)
class _Bounds:
    """A floor and a ceiling (the rails converted into a currency)."""

    floor: float
    ceiling: float


def _rates(observed: Mapping[str, Observed], currencies: Sequence[str]) -> dict[str, Observed]:
    """USD per unit of each currency, from the facts (`fx.<currency>_usd`, observed by
    costs.observe_rates: a USD coin with no rate sent or configured is 1 USD there)."""
    from ..costs import fx_fact

    return {c: observed.get(fx_fact(c), Unknown("not_observed")) for c in currencies}


def write_request(
    name: str, target: Settings, prices: CurrencyPlan | None, coins: CurrentPrices | None
) -> tuple[SetServerSettings | SetServerSettingsByCurrency, Settings]:
    """The write of `target`, in the form the config says, and the settings it carries (the
    reference's prices as written, for the audit trail and settling)."""
    if prices is None or coins is None:  # bitcoin alone: the seed's form
        request = SetServerSettings(
            name=name,
            availability=target.availability,
            mrl=target.mrl,
            on_demand=target.on_demand,
            spot=target.spot,
        )
        return request, target
    priced: dict[str, CoinPrices] = {}
    for currency, kinds in prices.prices.items():
        decimals = unit_of(currency).decimals
        # A price that moves goes out in whole units; one that stays (held while its rate is
        # unknown, say) goes back exactly as read, not rounded a fraction of a unit down.
        exact = {
            k: Decimal(price_units(p.target, decimals=decimals)).scaleb(-decimals)
            if p.changed
            else Decimal(repr(p.current))
            for k, p in kinds.items()
        }
        priced[currency] = CoinPrices(**exact)
    for currency, read in coins.others.items():  # not managed: sent back exactly as read
        priced[currency] = CoinPrices(**{k: Decimal(repr(v)) for k, v in read.items()})
    enabled = {c: c in prices.prices or c in coins.taken for c in CURRENCIES}
    by_currency = SetServerSettingsByCurrency(
        name=name,
        availability=target.availability,
        mrl=target.mrl,
        prices=priced,
        enabled=enabled,
        autoprice=None if coins.autoprice is None else dict(coins.autoprice),
        usd_pricing=None if coins.usd_pricing is None else dict(coins.usd_pricing),
    )
    reference = prices.reference
    written = target._replace(
        on_demand=prices.target(reference, "on_demand"), spot=prices.target(reference, "spot")
    )
    return by_currency, written


def _rules_by_field(decision: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The rules that moved each field in a recorded plan (Plan.to_dict()); {} if unreadable."""
    fields = decision.get("fields") if isinstance(decision, dict) else None
    if not isinstance(fields, dict):
        return {}
    rules: dict[str, tuple[str, ...]] = {}
    for name, field in fields.items():
        reasons = field.get("rule_reasons") if isinstance(field, dict) else None
        if isinstance(reasons, list):
            rules[name] = tuple(
                r["rule"] for r in reasons if isinstance(r, dict) and isinstance(r.get("rule"), str)
            )
    return rules
