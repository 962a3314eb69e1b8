"""The market model: peers, renters, and the server under test, run for one seed.

- Peers: `peers.count` servers of this class, list prices drawn from a lognormal; every
  `peers.interval` all list prices move by `drift_per_day`, and the peers given a rule reprice
  by it (see market_file.PeerRule); the rest hold their list price. Spot = price x spot_factor.
- Renters arrive as a Poisson process whose rate follows the hour of the day and the weekday
  (thinning). Each is an on-demand renter, or a spot renter (`spot_share`). It considers the
  listed servers that are free (an on-demand renter also those rented on spot when
  `spot_preempted`) at a price within its reservation price, and picks one by a logit on price
  (weight exp(-price_sensitivity x price / reference), the reference being the peers' median
  list price), or leaves when none is within its reservation price. A spot renter bids the
  server's spot minimum: no other bidder is modelled, so a higher bid would buy nothing.
- A rental lasts the renter's wish (lognormal hours) within 6 h and the chosen server's mrl,
  at the price in force when it starts: a price change reaches the next renter only.
- The server under test either holds static settings (the baseline) or runs a policy through
  policy.step every `reconcile` seconds, with GPUs that read busy while it is rented and idle
  otherwise, the market facts (market.py) and the cost facts of the market file.

The random streams are separate and seeded from the seed (arrivals, peers), and the renters
are drawn before the run: every policy and every static price meets the same renters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..facts import GpuNow, HostNow, Observed, RentalStatus, Settings
from ..policy import Policy
from ..policy.step import Memory, Observation, step
from .market import MarketRoom, cost_facts
from .market_file import LogNormal, MarketFile, PeerRule
from .samples import MemorySamples

DAY = 86400.0
HOUR = 3600.0
MIN_RENTAL = 6 * HOUR  # the shortest rental CLORE.AI takes
# The simulation starts on a Monday at midnight UTC (2026-01-05).
START = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
DEFAULT_RECONCILE = 300.0


@dataclass(frozen=True)
class Arrival:
    """One renter: when it comes, which market, the most it pays, how long it wants, and the
    uniform draw that makes its choice."""

    t: float
    spot: bool
    reservation: float
    hours: float
    u: float


@dataclass(eq=False)
class Listing:
    """A server on the market (a peer, or the server under test)."""

    price: float  # on-demand, per day
    spot: float  # the spot minimum
    mrl: float  # seconds
    list_price: float = 0.0  # a peer's own list price (before drift)
    rule: PeerRule | None = None
    listed: bool = True
    busy_until: float = -math.inf  # the current rental's end (not after now: free)
    kind: RentalStatus = "not_rented"  # the current (or last) rental's kind
    locked: float = 0.0  # the current rental's price

    def rented(self, t: float) -> bool:
        return self.busy_until > t


@dataclass(frozen=True)
class Rental:
    start: float
    end: float
    kind: RentalStatus
    price: float


@dataclass(frozen=True)
class Series:
    """Hourly points of one run, for pictures: the on-demand price, the share of the last
    24 h rented, and the net revenue so far."""

    hours: tuple[float, ...]
    price: tuple[float, ...]
    occupancy: tuple[float, ...]
    net: tuple[float, ...]


@dataclass(frozen=True)
class RunResult:
    """One seed's outcome for the server under test. Money in the listing currency."""

    days: float
    gross: float
    fees: float
    power: float
    occupancy: float  # share of the time rented
    price_changes: int  # writes that changed on-demand or spot
    hours_below_floor: float
    rentals: tuple[Rental, ...]  # the server's, in order (a preempted one ends early)
    timeline: tuple[tuple[float, Settings], ...]  # its settings, from START and each change
    series: Series | None = None

    @property
    def net(self) -> float:
        return self.gross - self.fees - self.power


# --- renters and peers, drawn per seed --------------------------------------------------------


def draw(rng: random.Random, dist: LogNormal) -> float:
    return dist.median * math.exp(dist.sigma * rng.gauss(0.0, 1.0)) if dist.sigma else dist.median


def _scaled(values: Sequence[float]) -> tuple[float, ...]:
    mean = sum(values) / len(values)
    return tuple(v / mean for v in values)


@lru_cache(maxsize=64)
def arrivals(market: MarketFile, seed: int, days: float) -> tuple[Arrival, ...]:
    """The renters of one seed, in time order (thinning a Poisson process at the peak rate)."""
    demand = market.demand
    daily, weekly = _scaled(demand.daily), _scaled(demand.weekly)
    peak = max(daily) * max(weekly)
    rate = demand.arrivals_per_day * peak / DAY
    rng = random.Random(f"arrivals:{seed}")
    zone = ZoneInfo(market.timezone)
    horizon = START + days * DAY
    out: list[Arrival] = []
    t = START
    while rate > 0:
        t += rng.expovariate(rate)
        if t >= horizon:
            break
        local = datetime.fromtimestamp(t, zone)
        keep = rng.random() * peak < daily[local.hour] * weekly[local.weekday()]
        spot = rng.random() < demand.spot_share
        reservation = demand.spot_reservation if spot else demand.reservation
        assert reservation is not None  # the market file requires it with spot_share
        wish = Arrival(t, spot, draw(rng, reservation), draw(rng, market.rentals.hours), 0.0)
        u = rng.random()
        if keep:
            out.append(Arrival(wish.t, wish.spot, wish.reservation, wish.hours, u))
    return tuple(out)


def peers(market: MarketFile, seed: int) -> list[Listing]:
    """The peers of one seed: list prices drawn, rules dealt out by their shares."""
    part = market.peers
    rng = random.Random(f"peers:{seed}")
    prices = [draw(rng, part.price) for _ in range(part.count)]
    rules: list[PeerRule | None] = []
    for rule in part.rule:
        rules += [rule] * round(rule.share * part.count)
    rules = (rules + [None] * part.count)[: part.count]
    rng.shuffle(rules)
    return [
        Listing(price=p, spot=p * part.spot_factor, mrl=part.mrl * HOUR, list_price=p, rule=rule)
        for p, rule in zip(prices, rules, strict=True)
    ]


def reprice(market: MarketFile, listings: Sequence[Listing], t: float) -> None:
    """Every peer's list price drifts; those with a rule apply it (on the prices as they were
    before this round)."""
    part = market.peers
    level = (1 + part.drift_per_day) ** ((t - START) / DAY)
    before = [peer.price for peer in listings]
    ordered = sorted(before)
    for i, peer in enumerate(listings):
        top = peer.list_price * level
        rule = peer.rule
        if rule is None:
            price = top
        elif rule.kind == "idle_discount":
            price = min(peer.price, top)
            if peer.rented(t):
                price = min(top, price * (1 + rule.step))
            elif t - max(START, peer.busy_until) >= rule.idle_after:
                price = price * (1 - rule.step)
            price = max(rule.floor * top, price)
        else:  # undercut: the median of the others, less `below`
            others = _median_without(ordered, before[i])
            price = max(rule.floor * top, min(top, others * (1 - rule.below)))
        peer.price = price
        peer.spot = price * part.spot_factor


def _median_without(ordered: list[float], value: float) -> float:
    """The median of `ordered` (sorted) with one `value` taken out."""
    if len(ordered) == 1:
        return value
    rest = list(ordered)
    rest.remove(value)
    n = len(rest)
    mid = n // 2
    return rest[mid] if n % 2 else (rest[mid - 1] + rest[mid]) / 2


# --- the server under test --------------------------------------------------------------------


def gpu_readings(market: MarketFile, busy: bool) -> tuple[GpuNow, ...]:
    r = market.server.busy if busy else market.server.idle
    return tuple(
        GpuNow(
            i,
            utilization=r.utilization,
            temperature=r.temperature,
            power=r.power,
            power_limit=market.server.busy.power,
        )
        for i in range(market.server.gpus)
    )


HOST = HostNow(cpu_percent=5.0, load1=0.5, mem_percent=20.0, disk_free_mib=200_000.0)


def run(
    market: MarketFile,
    seed: int,
    days: float,
    settings: Settings,
    policy: Policy | None = None,
    *,
    reconcile: float = DEFAULT_RECONCILE,
    series: bool = False,
) -> RunResult:
    """Simulate `days` from START for one seed: the server starts at `settings` and keeps them
    (no policy: the static baseline), or runs `policy` through policy.step every `reconcile`
    seconds, each write landing at once. Like the agent, it observes the market only for a
    policy that reads a market fact."""
    horizon = START + days * DAY
    crowd = peers(market, seed)
    server = Listing(
        settings.on_demand, settings.spot, settings.mrl * HOUR, listed=settings.availability
    )
    listings = [server, *crowd]
    choose = _Chooser(market, listings)
    rentals: list[Rental] = []
    timeline: list[tuple[float, Settings]] = [(START, settings)]
    changes = 0
    busy_gpus, idle_gpus = gpu_readings(market, True), gpu_readings(market, False)
    costs = cost_facts(market)
    observed: dict[str, Observed] = costs
    read_at = next_read = START
    reads_market = policy is not None and any(
        name.startswith(("market.", "spot.")) for name in policy.fact_names()
    )
    samples = MemorySamples()
    memory = Memory()
    room = MarketRoom(market)
    sampled_end = -math.inf  # the last rental end recorded in the samples
    people = arrivals(market, seed, days)
    i, n_people = 0, len(people)
    t_reprice = START + market.peers.interval if crowd else math.inf
    t_decide = START if policy is not None else math.inf
    while True:
        t_arrive = people[i].t if i < n_people else math.inf
        t = min(t_arrive, t_reprice, t_decide)
        if t >= horizon:
            break
        if t == t_arrive:
            choose(people[i], rentals)
            i += 1
            continue
        if t == t_reprice:
            t_reprice += market.peers.interval
            reprice(market, crowd, t)
            continue
        assert policy is not None
        t_decide += reconcile
        rented = server.busy_until > t
        end = server.busy_until
        if not rented and end > sampled_end and end >= START:
            # Busy until the rental ended: the agent's 10 s samples would have seen it.
            samples.record(end, busy_gpus)
            sampled_end = end
        samples.record(t, busy_gpus if rented else idle_gpus)
        if reads_market:
            if t >= next_read:
                read_at, next_read = t, t + market.market.interval
                observed = {**costs, **room.read(crowd, server, t)}
            observed = {**observed, "market.age": t - read_at}
        current = timeline[-1][1]
        obs = Observation(
            t,
            market.timezone,
            server.kind if rented else "not_rented",
            current,
            market.server.gpus,
            busy_gpus if rented else idle_gpus,
            HOST,
            observed,
        )
        plan, memory = step(policy, obs, memory, samples)
        if plan.changed:
            target = plan.target
            changes += target.on_demand != current.on_demand or target.spot != current.spot
            timeline.append((t, target))
            server.price, server.spot = target.on_demand, target.spot
            server.listed, server.mrl = target.availability, target.mrl * HOUR
    return _result(market, days, rentals, timeline, changes, series)


class _Chooser:
    """Renters choosing among the listings; the server under test is listings[0]."""

    def __init__(self, market: MarketFile, listings: list[Listing]) -> None:
        self.listings = listings
        self.server = listings[0]
        # exp(-beta * price): the logit's weight, price relative to the peers' median.
        self.beta = market.demand.price_sensitivity / market.peers.price.median
        self.preempt = market.demand.spot_preempted

    def __call__(self, renter: Arrival, rentals: list[Rental]) -> None:
        t = renter.t
        top = renter.reservation
        options: list[tuple[Listing, float]] = []
        if renter.spot:
            for x in self.listings:
                if x.listed and x.busy_until <= t and x.spot <= top:
                    options.append((x, x.spot))
        else:
            for x in self.listings:
                free = x.busy_until <= t or (self.preempt and x.kind == "spot")
                if x.listed and free and x.price <= top:
                    options.append((x, x.price))
        if not options:
            return  # every price above what this renter pays: it leaves
        if len(options) == 1:
            chosen, price = options[0]
        else:
            low = min(p for _, p in options)
            weights = [math.exp(-self.beta * (p - low)) for _, p in options]
            pick = renter.u * sum(weights)
            chosen, price = options[-1]
            for (x, p), w in zip(options, weights, strict=True):
                pick -= w
                if pick < 0:
                    chosen, price = x, p
                    break
        if chosen.busy_until > t and chosen is self.server:  # a spot rental taken over
            last = rentals[-1]
            rentals[-1] = Rental(last.start, t, last.kind, last.price)
        length = min(max(renter.hours * HOUR, MIN_RENTAL), max(chosen.mrl, MIN_RENTAL))
        chosen.busy_until = t + length
        chosen.kind = "spot" if renter.spot else "on_demand"
        chosen.locked = price
        if chosen is self.server:
            rentals.append(Rental(t, t + length, chosen.kind, price))


def _result(
    market: MarketFile,
    days: float,
    rentals: list[Rental],
    timeline: list[tuple[float, Settings]],
    changes: int,
    series: bool,
) -> RunResult:
    horizon = START + days * DAY
    fee = {"on_demand": market.fees.on_demand, "spot": market.fees.spot}
    floor_od, floor_spot = market.cost_floor
    floor = {"on_demand": floor_od, "spot": floor_spot}
    gross = fees = busy = below = 0.0
    for r in rentals:
        span = min(r.end, horizon) - r.start
        earned = r.price * span / DAY
        gross += earned
        fees += earned * fee[r.kind]
        busy += span
        if r.price < floor[r.kind]:
            below += span
    # Listed and free below the on-demand floor: each stretch of settings, less its rentals.
    for k, (start, s) in enumerate(timeline):
        end = timeline[k + 1][0] if k + 1 < len(timeline) else horizon
        if s.availability and s.on_demand < floor_od and end > start:
            below += (end - start) - _overlap(rentals, start, end)
    total = days * DAY
    power = _power_cost(market, busy, total - busy)
    return RunResult(
        days=days,
        gross=gross,
        fees=fees,
        power=power,
        occupancy=busy / total,
        price_changes=changes,
        hours_below_floor=below / HOUR,
        rentals=tuple(rentals),
        timeline=tuple(timeline),
        series=_series(market, days, rentals, timeline) if series else None,
    )


def _power_cost(market: MarketFile, busy: float, idle: float) -> float:
    """Electricity (busy and idle draw) and the fixed cost over busy + idle seconds."""
    costs = market.costs
    kwh = (market.busy_w * busy + market.idle_w * idle) / HOUR / 1000
    usd = kwh * costs.electricity + costs.fixed_per_day * (busy + idle) / DAY
    return usd / costs.bitcoin_usd


def _overlap(rentals: Sequence[Rental], start: float, end: float) -> float:
    return sum(max(0.0, min(r.end, end) - max(r.start, start)) for r in rentals)


def _series(
    market: MarketFile, days: float, rentals: list[Rental], timeline: list[tuple[float, Settings]]
) -> Series:
    """Hourly points: price in force, the share of the last 24 h rented, net so far."""
    fee = {"on_demand": market.fees.on_demand, "spot": market.fees.spot}
    hours, price, occupancy, net = [], [], [], []
    k = 0
    for h in range(int(days * 24) + 1):
        t = START + h * HOUR
        while k + 1 < len(timeline) and timeline[k + 1][0] <= t:
            k += 1
        earned = sum(
            r.price * max(0.0, min(r.end, t) - r.start) / DAY * (1 - fee[r.kind]) for r in rentals
        )
        busy = _overlap(rentals, START, t)
        hours.append(h / 24)
        price.append(timeline[k][1].on_demand)
        occupancy.append(_overlap(rentals, max(START, t - DAY), t) / min(DAY, max(t - START, 1.0)))
        net.append(earned - _power_cost(market, busy, t - START - busy))
    return Series(tuple(hours), tuple(price), tuple(occupancy), tuple(net))


__all__ = [
    "DEFAULT_RECONCILE",
    "START",
    "Arrival",
    "Listing",
    "Rental",
    "RunResult",
    "Series",
    "arrivals",
    "peers",
    "reprice",
    "run",
]
