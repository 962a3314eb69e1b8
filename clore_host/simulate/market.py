"""The facts the agent's market and cost rooms would observe, computed from the model.

Market facts come from the market room's own statistics (clore_host.market.peers.summarise:
one owner one vote, here each peer its own owner; 1.5 IQR fences; at least
`market.min_peers`; inclusive percentiles in whole units; the rank with ties counting half),
turned into the market.* facts as the room names them. spot.* facts are this server's own
spot market: one offer (its spot renter's bid) while it is rented on spot, none otherwise.

Cost facts (issue 16) at the rig's busy draw (the conservative "limit" figure): cost.per_day
in the listing currency, and the gross floors cost / (1 - fee) per rental kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..facts import Observed, Unknown
from ..market.observe import peer_values
from ..market.peers import OwnerVote, Selection, summarise
from .market_file import MarketFile

if TYPE_CHECKING:
    from .model import Listing


class MarketRoom:
    """Market reads during one run. The statistics are computed again only when a peer's
    price or rented state, or this server's price, changed since the last read (most reads
    find the same market: peers reprice hourly, reads come every 15 minutes)."""

    def __init__(self, market: MarketFile) -> None:
        self.market = market
        self._key: tuple[object, ...] | None = None
        self._facts: dict[str, Observed] = {}

    def read(self, crowd: Sequence[Listing], server: Listing, t: float) -> dict[str, Observed]:
        owners = tuple(
            OwnerVote(peer.price, peer.spot, 1.0 if peer.rented(t) else 0.0)
            for peer in crowd
            if peer.listed
        )
        own = server.price if server.listed else None
        key = (owners, own)
        if key != self._key:
            summary = summarise(
                Selection(owners, {}, len(owners)),
                min_peers=self.market.market.min_peers,
                own_price=own,
            )
            self._key, self._facts = key, peer_values(summary, own)
        return {**self._facts, **spot_facts(server, t)}


def market_facts(
    market: MarketFile, crowd: Sequence[Listing], server: Listing, t: float
) -> dict[str, Observed]:
    """The facts a read at `t` gives: the listed peers' statistics and this server's rank
    among them (market.age 0: the caller ages them), and this server's spot offers."""
    return MarketRoom(market).read(crowd, server, t)


def spot_facts(server: Listing, t: float) -> dict[str, Observed]:
    """This server's own spot market: one offer (its renter's bid) while rented on spot."""
    out: dict[str, Observed] = {}
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


__all__ = ["MarketRoom", "cost_facts", "market_facts", "peer_values", "spot_facts"]
