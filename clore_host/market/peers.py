"""Peers and their statistics: pure functions of the marketplace listings.

Selection (select_peers): listings of this server's GPU model and, by default, count (with
`match = "model"`, any count, each price per GPU times this server's count). Left out, each
counted by its reason: the account's own servers, other models, other counts, offline ones,
a second listing of the same id, and those without a positive price in the server's
currency. Then **one owner, one vote**: each owner is the median of its listings, the others
counted as "same owner".

Statistics (summarise): owners outside the 1.5 IQR fences are dropped ("outlier"); with fewer
than `min_peers` owners left the statistics are unknown. Percentiles are
`statistics.quantiles(..., method="inclusive")`: linear interpolation between the closest
ranks, numpy's default. The rented share weighs each owner the same (its share of listings
rented); the rank is this server's price as a percentile among the owners (0-100, ties half).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..api.models import MarketListing
from ..money import price_units, to_unit
from .gpu_class import GpuClass, listing_class

Match = Literal["model_and_count", "model"]

# Why a listing is not a peer, in the order they are tested; each listing counts under one.
REASONS: tuple[str, ...] = (
    "malformed",  # the API's answer had a field of the wrong type (see MarketplaceResponse)
    "own",
    "duplicate",  # the same server id listed again
    "other_model",
    "other_count",
    "offline",
    "no_price",
    "same_owner",  # another listing of an owner already counted (one owner, one vote)
    "outlier",  # an owner outside the 1.5 IQR fences
)
PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)
FENCE = 1.5


@dataclass(frozen=True)
class OwnerVote:
    """One owner's vote: the medians of its matching listings' prices (whole-server prices
    for this server's GPU count), and the share of them rented (None: none says)."""

    on_demand: float
    spot: float | None
    rented: float | None


@dataclass(frozen=True)
class Selection:
    """The owners' votes, and the listings left out by reason (outliers are left out later,
    by summarise)."""

    owners: tuple[OwnerVote, ...]
    dropped: Mapping[str, int]
    listings: int  # every listing in the answer, the unreadable ones included


def select_peers(
    listings: Iterable[MarketListing],
    cls: GpuClass,
    *,
    own_ids: Iterable[int],
    match: Match = "model_and_count",
    unreadable: int = 0,
) -> Selection:
    """The peers of a server of class `cls` among `listings`, one vote per owner."""
    own = set(own_ids)
    dropped = dict.fromkeys(REASONS, 0)
    dropped["malformed"] = unreadable
    seen: set[int] = set()
    by_owner: dict[int, list[tuple[float, float | None, bool | None]]] = {}
    total = unreadable
    for listing in listings:
        total += 1
        reason = _left_out(listing, cls, own, seen, match)
        if reason is not None:
            dropped[reason] += 1
            continue
        assert listing.on_demand is not None
        scale = 1.0
        if match == "model":  # per-GPU prices times this server's count
            theirs = listing_class(listing.gpu, listing.gpu_array)
            assert theirs is not None
            scale = cls.count / theirs.count
        spot = None if listing.spot is None else listing.spot * scale
        by_owner.setdefault(listing.owner, []).append(
            (listing.on_demand * scale, spot, listing.rented)
        )
    owners = []
    for entries in by_owner.values():
        dropped["same_owner"] += len(entries) - 1
        owners.append(_vote(entries))
    return Selection(tuple(owners), dropped, total)


def _left_out(
    listing: MarketListing, cls: GpuClass, own: set[int], seen: set[int], match: Match
) -> str | None:
    if listing.id in own:
        return "own"
    if listing.id in seen:
        return "duplicate"
    seen.add(listing.id)
    theirs = listing_class(listing.gpu, listing.gpu_array)
    if theirs is None or theirs.model != cls.model:
        return "other_model"
    if match == "model_and_count" and theirs.count != cls.count:
        return "other_count"
    if listing.online is False:
        return "offline"
    if listing.on_demand is None:
        return "no_price"
    return None


def _vote(entries: Sequence[tuple[float, float | None, bool | None]]) -> OwnerVote:
    spots = [s for _, s, _ in entries if s is not None]
    rented = [r for _, _, r in entries if r is not None]
    return OwnerVote(
        on_demand=statistics.median(p for p, _, _ in entries),
        spot=statistics.median(spots) if spots else None,
        rented=sum(rented) / len(rented) if rented else None,
    )


# -- statistics -------------------------------------------------------------------------------


def fenced(values: Sequence[float]) -> tuple[list[float], int]:
    """`values` within the 1.5 IQR fences (quartiles as the percentiles are computed), sorted,
    and how many were outside."""
    ordered = sorted(values)
    if len(ordered) < 2:
        return ordered, 0
    q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    low, high = q1 - FENCE * (q3 - q1), q3 + FENCE * (q3 - q1)
    kept = [v for v in ordered if low <= v <= high]
    return kept, len(ordered) - len(kept)


def percentiles(ordered: Sequence[float]) -> dict[int, float]:
    """p10, p25, p50, p75, p90 of `ordered` (at least one value), by linear interpolation
    between the closest ranks, rounded to whole units of the currency."""
    if len(ordered) == 1:
        return {p: to_unit(ordered[0]) for p in PERCENTILES}
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {p: to_unit(cuts[p - 1]) for p in PERCENTILES}


def rank(price: float, ordered: Sequence[float]) -> float:
    """Where `price` stands among `ordered` as a percentile, 0-100: the share of values
    below it, ties (at the whole unit) counting half."""
    units = price_units(price)
    compared = [price_units(v) for v in ordered]
    below = sum(1 for v in compared if v < units)
    equal = sum(1 for v in compared if v == units)
    return round(100.0 * (below + 0.5 * equal) / len(ordered), 1)


@dataclass(frozen=True)
class Summary:
    """The market for one class, as the policy's market.* facts read it."""

    peers: int  # owners counted, after the fences
    need: int  # min_peers
    on_demand: Mapping[int, float] | None  # percentile -> price; None: too few peers
    spot_peers: int
    spot: Mapping[int, float] | None
    rented_owners: int  # owners counted that say whether they are rented
    rented_share: float | None
    rank: float | None  # None: too few peers, or this server has no price
    dropped: Mapping[str, int] = field(default_factory=dict)
    listings: int = 0


def summarise(selection: Selection, *, min_peers: int, own_price: float | None) -> Summary:
    """The statistics of `selection`: outliers fenced, then at least `min_peers` owners."""
    kept, outliers = fenced([o.on_demand for o in selection.owners])
    dropped = dict(selection.dropped)
    dropped["outlier"] = outliers
    enough = len(kept) >= min_peers
    spot_kept, _ = fenced([o.spot for o in selection.owners if o.spot is not None])
    # The rented share of the owners counted: an owner the fences left out has no say.
    low, high = (kept[0], kept[-1]) if kept else (0.0, -1.0)
    shares = [
        o.rented for o in selection.owners if o.rented is not None and low <= o.on_demand <= high
    ]
    return Summary(
        peers=len(kept),
        need=min_peers,
        on_demand=percentiles(kept) if enough else None,
        spot_peers=len(spot_kept),
        spot=percentiles(spot_kept) if len(spot_kept) >= min_peers else None,
        rented_owners=len(shares),
        rented_share=sum(shares) / len(shares) if len(shares) >= min_peers else None,
        rank=rank(own_price, kept) if enough and own_price is not None else None,
        dropped=dropped,
        listings=selection.listings,
    )
