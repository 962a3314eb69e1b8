"""This server's spot market, as `spot_marketplace?market=ID` shows it: the offers on it.

Anyone can make an offer, so each is read strictly on its own: a bid must be a positive,
finite JSON number (never a string or a bool) no larger than MAX_PRICE, `active` true or
false. An offer that is not is left out and counted, not the whole answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.models import SpotMarketplaceResponse, SpotOffer
from ..money import MAX_PRICE, to_unit


@dataclass(frozen=True)
class SpotSummary:
    """The offers on this server: how many are active, the best active bid (None: none)."""

    offers: int  # active offers
    best_bid: float | None  # the highest bid of an active offer, in whole units
    unreadable: int = 0  # offers left out: a bid or `active` of the wrong type or range


def _bid(offer: SpotOffer) -> float | None:
    bid = offer.bid
    if isinstance(bid, bool) or not isinstance(bid, (int, float)):
        return None
    return float(bid) if 0 < bid <= MAX_PRICE else None  # NaN fails the comparison


def read_spot(answer: SpotMarketplaceResponse) -> SpotSummary:
    """The summary of a spot_marketplace answer (no market: no offers)."""
    market = answer.market
    if market is None or answer.exists is False:
        return SpotSummary(0, None)
    active, bids, unreadable = 0, [], 0
    for offer in market.offers:
        bid = _bid(offer)
        if bid is None or not isinstance(offer.active, bool):
            unreadable += 1
            continue
        if offer.active:
            active += 1
            bids.append(bid)
    return SpotSummary(active, to_unit(max(bids)) if bids else None, unreadable)


def rates_in_usd(answer: SpotMarketplaceResponse) -> tuple[bool, object]:
    """(sent, value): `market.currency_rates_in_usd` as sent (any JSON value), else the
    top-level one some answers carry; sent is False when neither is there (or is null)."""
    if answer.market is not None and answer.market.currency_rates_in_usd is not None:
        return True, answer.market.currency_rates_in_usd
    if answer.currency_rates_in_usd is not None:
        return True, dict(answer.currency_rates_in_usd)
    return False, None
