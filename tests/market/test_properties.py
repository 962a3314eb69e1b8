"""One owner, one vote, as a property (hypothesis).

Take any market: owners, each with one or more listings of this server's class. Add one new
owner with any number of listings (1 to 200) at any prices (1 satoshi to 1000 BTC a day).

1. The new owner counts once: every statistic is exactly what it would be had the owner listed
   one server at the median of its listings.
2. It moves each percentile by at most one owner's rank. Precisely: let x[0] <= ... <= x[n-1]
   be the owners' values the fences kept before, and P the percentile, at position
   h = p/100 * (n-1) between x[a] and x[a+1] (a = floor(h)). After, P lies between x[a-1] and
   x[a+2] (-inf and +inf past either end), within one satoshi (percentiles are rounded to whole
   units). This holds whenever the fences keep the same old owners: a new owner can also move
   a fence across an old owner, and then that owner's vote counts (or stops counting) too.
"""

from __future__ import annotations

import math
import statistics

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clore_host.api.models import MarketListing
from clore_host.market.peers import PERCENTILES, fenced, select_peers, summarise

from .factories import cls, listing

U = 1e-8
CLASS = cls()
units = st.integers(min_value=5_000, max_value=20_000)  # a plausible market, in satoshis
any_price = st.integers(min_value=1, max_value=1000 * 10**8)  # 1 satoshi to 1000 BTC

markets = st.lists(st.lists(units, min_size=1, max_size=3), min_size=1, max_size=40)


def _listings(owners: list[list[int]]) -> list[MarketListing]:
    return [listing(i + 1, p * U) for i, prices in enumerate(owners) for p in prices]


def _kept(listings: list[MarketListing]) -> list[float]:
    selection = select_peers(listings, CLASS, own_ids=())
    return fenced([o.on_demand for o in selection.owners])[0]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(owners=markets, new=st.lists(any_price, min_size=1, max_size=200))
def test_a_new_owner_counts_once(owners: list[list[int]], new: list[int]) -> None:
    base = _listings(owners)
    flood = [listing(0, p * U) for p in new]
    one = [listing(0, statistics.median(p * U for p in new))]
    for min_peers in (1, 5):
        many = summarise(
            select_peers(base + flood, CLASS, own_ids=()), min_peers=min_peers, own_price=1e-4
        )
        single = summarise(
            select_peers(base + one, CLASS, own_ids=()), min_peers=min_peers, own_price=1e-4
        )
        assert (many.peers, many.on_demand, many.rank) == (
            single.peers,
            single.on_demand,
            single.rank,
        )
        assert many.dropped["same_owner"] == single.dropped["same_owner"] + len(new) - 1


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(owners=markets, new=st.lists(any_price, min_size=1, max_size=200))
def test_a_new_owner_moves_each_percentile_at_most_one_rank(
    owners: list[list[int]], new: list[int]
) -> None:
    base = _listings(owners)
    before = _kept(base)
    after_all = _kept(base + [listing(0, p * U) for p in new])
    vote = statistics.median(p * U for p in new)
    old_after = list(after_all)
    if vote in old_after:
        old_after.remove(vote)
    assume(old_after == before)  # the fences kept the same old owners (see the docstring)
    n = len(before)
    p_before = summarise(select_peers(base, CLASS, own_ids=()), min_peers=1, own_price=None)
    p_after = summarise(
        select_peers(base + [listing(0, p * U) for p in new], CLASS, own_ids=()),
        min_peers=1,
        own_price=None,
    )
    assert p_before.on_demand is not None and p_after.on_demand is not None
    assert p_after.peers - p_before.peers in (0, 1)

    def x(i: int) -> float:
        return -math.inf if i < 0 else math.inf if i >= n else before[i]

    for p in PERCENTILES:
        a = math.floor(p / 100 * (n - 1))
        assert x(a) - U <= p_before.on_demand[p] <= x(a + 1) + U
        assert x(a - 1) - U <= p_after.on_demand[p] <= x(a + 2) + U, (p, before, vote)
