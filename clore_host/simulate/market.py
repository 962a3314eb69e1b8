"""The facts the agent's market and cost rooms would observe, computed from the model.

Market facts follow the market room's rules (issue 15): each peer is its own owner (one vote
each), peers outside the 1.5 IQR fences of the on-demand prices are dropped, fewer than
`market.min_peers` left makes every price statistic unknown ("too_few_peers"), percentiles
interpolate linearly between closest ranks (statistics.quantiles' "inclusive" method).
This is a small local implementation: clore_host.market's peer statistics were not there to
share when it was written.

Cost facts (issue 16) at the rig's busy draw (the conservative "limit" figure): cost.per_day
in the listing currency, and the gross floors cost / (1 - fee) per rental kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..facts import Observed, Unknown
from .market_file import MarketFile

if TYPE_CHECKING:
    from .model import Listing

PERCENTILES = (10, 25, 50, 75, 90)
PRICE_FACTS = tuple(f"market.{kind}.p{q}" for kind in ("on_demand", "spot") for q in PERCENTILES)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, linear between closest ranks ("inclusive")."""
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def fenced(values: Sequence[float]) -> tuple[float, float]:
    """The 1.5 IQR fences of `values` (at least one value)."""
    ordered = sorted(values)
    q1, q3 = quantile(ordered, 0.25), quantile(ordered, 0.75)
    spread = 1.5 * (q3 - q1)
    return q1 - spread, q3 + spread


def market_facts(
    market: MarketFile, crowd: Sequence[Listing], server: Listing, t: float
) -> dict[str, Observed]:
    """The market facts a read at `t` gives: the listed peers' prices, rented share, this
    server's rank among them; spot.* from this server's own spot market."""
    out: dict[str, Observed] = {}
    listed = [peer for peer in crowd if peer.listed]
    if listed:
        low, high = fenced([peer.price for peer in listed])
        listed = [peer for peer in listed if low <= peer.price <= high]
    n = len(listed)
    out["market.peers"] = float(n)
    need = market.market.min_peers
    if n < need:
        missing = Unknown("too_few_peers", (n, need))
        for name in (*PRICE_FACTS, "market.rented_share", "market.rank"):
            out[name] = missing
    else:
        on_demand = sorted(peer.price for peer in listed)
        spot = sorted(peer.spot for peer in listed)
        for q in PERCENTILES:
            out[f"market.on_demand.p{q}"] = quantile(on_demand, q / 100)
            out[f"market.spot.p{q}"] = quantile(spot, q / 100)
        out["market.rented_share"] = sum(peer.rented(t) for peer in listed) / n
        below = sum(p < server.price for p in on_demand)
        same = sum(p == server.price for p in on_demand)
        out["market.rank"] = 100 * (below + same / 2) / n
    on_spot = server.rented(t) and server.kind == "spot"
    out["spot.offers"] = 1.0 if on_spot else 0.0
    out["spot.best_bid"] = server.locked if on_spot else Unknown("no_offers")
    return out


def cost_facts(market: MarketFile) -> dict[str, Observed]:
    """cost.per_day (busy), its gross floors, the power figure and the exchange rate."""
    floor_on_demand, floor_spot = market.cost_floor
    return {
        "cost.per_day": market.cost_per_day(market.busy_w),
        "cost.floor.on_demand": floor_on_demand,
        "cost.floor.spot": floor_spot,
        "cost.power_w": market.busy_w,
        "fx.bitcoin_usd": market.costs.bitcoin_usd,
    }


__all__ = ["PERCENTILES", "cost_facts", "fenced", "market_facts", "quantile"]
