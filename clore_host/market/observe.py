"""Observe the market: read `marketplace` and `spot_marketplace` at most every
`market.interval` (the summary kept in the state directory, shared by every process), and turn
the summary into the market.* and spot.* facts.

Nothing here raises for a failed read, a malformed answer or a damaged summary file: the facts
it feeds become Unknown with the reason, and a warning says what happened. A summary older
than `market.max_age` makes every fact it feeds Unknown("stale", (age, max_age)); a failed
read falls back on a summary younger than that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..api import CloreClient, CloreError, MalformedResponse, ServerConfig
from ..config import Config
from ..errors import printable
from ..facts import Observed, Unknown
from ..money import MAX_PRICE
from .gpu_class import GpuClass, cross_check, server_class
from .peers import PERCENTILES, Summary, select_peers, summarise
from .spot import rates_in_usd, read_spot
from .store import MarketStore, Stored, StoredMarket, StoredSpot, Tried

PEER_FACTS: tuple[str, ...] = (
    "market.peers",
    *(f"market.on_demand.p{p}" for p in PERCENTILES),
    *(f"market.spot.p{p}" for p in PERCENTILES),
    "market.rented_share",
    "market.rank",
    "market.age",
)
SPOT_FACTS: tuple[str, ...] = ("spot.offers", "spot.best_bid")
FACTS: tuple[str, ...] = PEER_FACTS + SPOT_FACTS
NOT_OBSERVED = Unknown("not_observed")


@dataclass(frozen=True)
class MarketObservation:
    """What observe_market saw: the facts, the exchange rates spot_marketplace sent, the
    summary to record in history (when read from the API this cycle) and warnings."""

    facts: Mapping[str, Observed]  # every name in FACTS
    rates_in_usd: Mapping[str, object] | None  # as sent; None when absent or not read
    rates_at: float | None  # when that answer was read
    record: dict[str, Any] | None
    warnings: tuple[str, ...] = ()
    # For `clore-host market`: the class, the statistics and where they came from.
    server_class: GpuClass | None = None
    summary: Summary | None = None
    own_price: float | None = None
    read_at: float | None = None  # when the marketplace summary was read


def observe_market(
    config: Config,
    client: CloreClient,
    server: ServerConfig,
    gpu_names: Sequence[str],
    now: float,
    *,
    peers: bool,
    spot: bool,
) -> MarketObservation:
    """The market and spot facts of `server` at `now`: `peers` reads `marketplace`, `spot`
    reads `spot_marketplace` for this server, each only when the stored summary is older
    than market.interval (else what is stored is used). Never raises for the API or the
    summary file."""
    return _Observer(config, client, server, now).run(gpu_names, peers=peers, spot=spot)


class _Observer:
    def __init__(
        self, config: Config, client: CloreClient, server: ServerConfig, now: float
    ) -> None:
        self.config = config
        self.market = config.market
        self.client = client
        self.server = server
        self.now = now
        self.store = MarketStore(config.state.dir)
        self.warnings: list[str] = []
        self.facts: dict[str, Observed] = {}
        self.record: dict[str, Any] = {}
        self.fresh: set[str] = set()  # what was read from the API this cycle

    def run(self, gpu_names: Sequence[str], *, peers: bool, spot: bool) -> MarketObservation:
        stored, problem = self.store.load()
        cls = server_class(self.server.specs, self.server.gpu_array)
        if isinstance(cls, GpuClass):
            mismatch = cross_check(cls, gpu_names)
            if mismatch is not None:
                self.warnings.append(mismatch)
        own_price = _price(self.server.pricing, self.config.server.currency)
        if peers or spot:
            with self.store.reading() as lock:
                if lock == "held":  # another process may have read since: what it stored
                    stored, problem = self.store.load()
                if lock != "busy":
                    stored = self._read(stored, cls, peers=peers, spot=spot)
        if problem is not None:
            self.warnings.insert(0, problem)
        summary, read_at = self._peer_facts(stored, cls, own_price, peers)
        rates, rates_at = self._spot_facts(stored, spot)
        return MarketObservation(
            facts=dict(self.facts),
            rates_in_usd=rates,
            rates_at=rates_at,
            record=({"at": self.now, **self.record} if self.record else None),
            warnings=tuple(self.warnings),
            server_class=cls if isinstance(cls, GpuClass) else None,
            summary=summary,
            own_price=own_price,
            read_at=read_at,
        )

    # -- reading ------------------------------------------------------------------------

    def _market_key(self, cls: GpuClass) -> dict[str, Any]:
        return {
            "server": self.server.id,
            "class": [cls.model, cls.count],
            "match": self.market.match,
            "currency": self.config.server.currency,
        }

    def _due(self, stored: Stored, name: str, key: Any) -> bool:
        """Whether `name` is to be read: not tried for `key` within the interval (a try
        stamped in the future, after the clock went back, does not count)."""
        tried = stored.tried.get(name)
        if tried is None or tried.key != key:
            return True
        age = self.now - tried.at
        return not 0 <= age < self.market.interval

    def _read(self, stored: Stored, cls: GpuClass | str, *, peers: bool, spot: bool) -> Stored:
        """Read what is wanted and due, and store it with the time of each try."""
        tried = dict(stored.tried)
        market, spot_market = stored.marketplace, stored.spot
        if peers and isinstance(cls, GpuClass):
            key = self._market_key(cls)
            if self._due(stored, "marketplace", key):
                fresh, failure = self._read_marketplace(cls, key)
                tried["marketplace"] = Tried(self.now, key, failure)
                if fresh is not None:
                    market = fresh
                    self.fresh.add("marketplace")
        server_id = self.server.id
        if spot and server_id is not None and self._due(stored, "spot", server_id):
            fresh_spot, failure = self._read_spot(server_id)
            tried["spot"] = Tried(self.now, server_id, failure)
            if fresh_spot is not None:
                spot_market = fresh_spot
                self.fresh.add("spot")
        if tried == stored.tried:
            return stored
        updated = Stored(market, spot_market, tried)
        try:
            self.store.dir.mkdir(parents=True, exist_ok=True)
            self.store.save(updated)
        except OSError as exc:
            self.warnings.append(
                f"market summary {self.store.path} cannot be written: {exc.strerror or exc}"
            )
        return updated

    def _read_marketplace(
        self, cls: GpuClass, key: Any
    ) -> tuple[StoredMarket | None, tuple[str, str, str] | None]:
        try:
            answer = self.client.marketplace(self.config.server.currency)
        except CloreError as exc:
            return None, self._failed("marketplace", exc)
        own = {*answer.my_servers, *([self.server.id] if self.server.id is not None else [])}
        selection = select_peers(
            answer.servers,
            cls,
            own_ids=own,
            match=self.market.match,
            unreadable=sum(answer.unreadable.values()),
        )
        return StoredMarket(self.now, key, selection), None

    def _read_spot(self, server_id: int) -> tuple[StoredSpot | None, tuple[str, str, str] | None]:
        try:
            answer = self.client.spot_marketplace(server_id)
        except CloreError as exc:
            return None, self._failed("spot_marketplace", exc)
        summary = read_spot(answer)
        sent, rates = rates_in_usd(answer)
        stored = StoredSpot(
            self.now, server_id, summary.offers, summary.best_bid, summary.unreadable, sent, rates
        )
        return stored, None

    def _failed(self, endpoint: str, exc: CloreError) -> tuple[str, str, str]:
        # The error's own line without the endpoint it starts with; not its headline ("API
        # unavailable, nothing changed"), which speaks for a whole run, not for one fact.
        line = printable(str(exc)).removeprefix(f"{endpoint}: ") or type(exc).__name__
        self.warnings.append(f"{endpoint} read failed: {line}")
        if isinstance(exc, MalformedResponse):
            return ("unreadable", f"{endpoint} answer", line)
        return ("read_failed", endpoint, line)

    # -- facts ----------------------------------------------------------------------------

    def _usable(self, at: float | None, tried: Tried | None) -> Unknown | None:
        """Why a summary read at `at` (None: none is kept) cannot be used now, given the
        last try to read it; None when it can."""
        failed = tried is not None and tried.failure is not None
        if at is not None:
            age = self.now - at
            if 0 <= age <= self.market.max_age:
                return None
            # Too old; or stamped in the future (the clock went back), which says nothing of
            # its age: then a failed read is the better reason.
            if age > self.market.max_age or not failed:
                return Unknown("stale", (round(age), self.market.max_age))
        if tried is not None and tried.failure is not None:
            reason, what, line = tried.failure
            return Unknown(reason, (what, line) if reason == "read_failed" else (what,))
        return NOT_OBSERVED

    def _peer_facts(
        self, stored: Stored, cls: GpuClass | str, own_price: float | None, wanted: bool
    ) -> tuple[Summary | None, float | None]:
        if isinstance(cls, str):
            self._all(PEER_FACTS, Unknown("no_class", (cls,)) if wanted else NOT_OBSERVED)
            return None, None
        market = stored.marketplace
        if market is not None and market.key != self._market_key(cls):
            market = None  # read for another class, match or currency
        tried = stored.tried.get("marketplace")
        if tried is not None and tried.key != self._market_key(cls):
            tried = None
        why = self._usable(market.at if market else None, tried)
        if why is not None or market is None:
            self._all(PEER_FACTS, why or NOT_OBSERVED)
            return None, None
        summary = summarise(market.selection, min_peers=self.market.min_peers, own_price=own_price)
        self.facts.update(peer_values(summary, own_price, self.now - market.at))
        if "marketplace" in self.fresh:
            self.record["marketplace"] = _record(summary, cls, self.market.match)
        return summary, market.at

    def _spot_facts(
        self, stored: Stored, wanted: bool
    ) -> tuple[Mapping[str, object] | None, float | None]:
        spot = stored.spot
        if self.server.id is None:
            self._all(
                SPOT_FACTS, Unknown("unreadable", ("server_config id",)) if wanted else NOT_OBSERVED
            )
            return None, None
        if spot is not None and spot.key != self.server.id:
            spot = None
        tried = stored.tried.get("spot")
        if tried is not None and tried.key != self.server.id:
            tried = None
        why = self._usable(spot.at if spot else None, tried)
        if why is not None or spot is None:
            self._all(SPOT_FACTS, why or NOT_OBSERVED)
        else:
            self.facts["spot.offers"] = float(spot.offers)
            self.facts["spot.best_bid"] = (
                spot.best_bid if spot.best_bid is not None else Unknown("no_offers")
            )
            if "spot" in self.fresh:
                self.record["spot"] = {
                    "offers": spot.offers,
                    "best_bid": spot.best_bid,
                    "unreadable": spot.unreadable,
                }
        if spot is None or not spot.rates_sent:
            return None, None
        if not isinstance(spot.rates, dict):
            if "spot" in self.fresh:  # said once, when read
                self.warnings.append(
                    "spot_marketplace: market.currency_rates_in_usd is not an object"
                )
            return None, None
        return spot.rates, spot.at

    def _all(self, names: Sequence[str], why: Unknown) -> None:
        for name in names:
            self.facts[name] = why


def _price(prices: object, currency: str) -> float | None:
    """This server's price in `currency` from server_config, read strictly (None: none)."""
    value = prices.get(currency) if isinstance(prices, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 < value <= MAX_PRICE and math.isfinite(value) else None


def peer_values(summary: Summary, own_price: float | None, age: float = 0.0) -> dict[str, Observed]:
    """The market.* facts of `summary` read `age` seconds ago (the simulator's peers too)."""
    few = Unknown("too_few_peers", (summary.peers, summary.need))
    out: dict[str, Observed] = {"market.peers": float(summary.peers), "market.age": max(0.0, age)}
    for p in PERCENTILES:
        od = summary.on_demand
        sp = summary.spot
        out[f"market.on_demand.p{p}"] = od[p] if od is not None else few
        out[f"market.spot.p{p}"] = (
            sp[p]
            if sp is not None
            else Unknown("too_few_peers", (summary.spot_peers, summary.need))
        )
    out["market.rented_share"] = (
        summary.rented_share
        if summary.rented_share is not None
        else few
        if summary.on_demand is None
        else Unknown("too_few_peers", (summary.rented_owners, summary.need))
    )
    if summary.on_demand is None:
        out["market.rank"] = few
    elif own_price is None or summary.rank is None:
        out["market.rank"] = Unknown("not_listed")
    else:
        out["market.rank"] = summary.rank
    return out


def _record(summary: Summary, cls: GpuClass, match: str) -> dict[str, Any]:
    """The summary as history records it (JSON-able)."""
    return {
        "class": {"model": cls.shown, "count": cls.count},
        "match": match,
        "peers": summary.peers,
        "need": summary.need,
        "on_demand": _by_percentile(summary.on_demand),
        "spot_peers": summary.spot_peers,
        "spot": _by_percentile(summary.spot),
        "rented_share": summary.rented_share,
        "rank": summary.rank,
        "listings": summary.listings,
        "dropped": dict(summary.dropped),
    }


def _by_percentile(values: Mapping[int, float] | None) -> dict[str, float] | None:
    return None if values is None else {f"p{p}": v for p, v in values.items()}
