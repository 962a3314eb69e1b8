"""Peer selection and the statistics, on fixtures: exact model and count across the name
variants, own servers out, one owner one vote, IQR fences, min peers, per-GPU matching."""

from __future__ import annotations

import pytest

from clore_host.facts import Unknown
from clore_host.market.observe import peer_values
from clore_host.market.peers import (
    REASONS,
    fenced,
    percentiles,
    rank,
    select_peers,
    summarise,
)

from .factories import RTX4090, cls, listing, owners_at

U = 1e-8  # one satoshi


def test_name_variants_match_near_misses_do_not() -> None:
    listings = [
        listing(1, 1e-4, gpu="1x NVIDIA GeForce RTX 4090"),
        listing(2, 1e-4, gpu="1x GeForce RTX 4090"),
        listing(3, 1e-4, gpu="1X  nvidia geforce rtx 4090 "),
        listing(4, 1e-4, gpu="1x NVIDIA GeForce RTX 4090 D"),
        listing(5, 1e-4, gpu="1x NVIDIA GeForce RTX 4090 SUPER"),
        listing(6, 1e-4, gpu="2x NVIDIA GeForce RTX 4090"),
        listing(7, 1e-4, gpu="RTX 4090"),  # no count: no class
        listing(8, 1e-4, gpu="2x A", gpu_array=["NVIDIA GeForce RTX 4090"]),  # the array wins
    ]
    selection = select_peers(listings, cls(), own_ids=())
    assert len(selection.owners) == 4  # owners 1, 2, 3 and 8
    assert selection.dropped["other_model"] == 3
    assert selection.dropped["other_count"] == 1
    assert set(selection.dropped) == set(REASONS)


def test_own_servers_are_left_out_whoever_owns_them() -> None:
    listings = [listing(1, 1e-4, id=1), listing(2, 1e-4, id=2), listing(3, 1e-4, id=3)]
    selection = select_peers(listings, cls(), own_ids={1, 2})
    assert len(selection.owners) == 1
    assert selection.dropped["own"] == 2


def test_left_out_by_reason_each_listing_counted_once() -> None:
    listings = [
        listing(1, 1e-4, id=50),
        listing(1, 1e-4, id=50),  # the same machine listed twice
        listing(2, None),  # no price in the server's currency
        listing(3, 1e-4, online=False),
        listing(4, 1e-4, online=True),
        listing(5, 1e-4, gpu="1x NVIDIA GeForce RTX 3090"),
    ]
    selection = select_peers(listings, cls(), own_ids=(), unreadable=7)
    dropped = {k: v for k, v in selection.dropped.items() if v}
    assert dropped == {
        "malformed": 7,
        "duplicate": 1,
        "no_price": 1,
        "offline": 1,
        "other_model": 1,
    }
    assert selection.listings == len(listings) + 7
    assert len(selection.owners) == 2


def test_one_owner_one_vote_its_median() -> None:
    # Owner 9 lists 200 servers at 1 satoshi: it is one vote, at the median of its listings.
    base = owners_at([10e-5, 11e-5, 12e-5, 13e-5, 14e-5, 15e-5])
    flood = [listing(99, U) for _ in range(200)]
    selection = select_peers(base + flood, cls(), own_ids=())
    assert len(selection.owners) == 7
    assert selection.dropped["same_owner"] == 199
    median_owner = select_peers(
        [listing(5, 1e-4), listing(5, 3e-4), listing(5, 2e-4)], cls(), own_ids=()
    )
    assert [o.on_demand for o in median_owner.owners] == [2e-4]


def test_rented_share_weighs_each_owner_the_same() -> None:
    listings = [listing(1, 1e-4, rented=True) for _ in range(9)]
    listings += [listing(2, 1e-4, rented=False), listing(3, 1e-4, rented=None)]
    listings += [listing(3, 1e-4, rented=True), listing(3, 1e-4, rented=False)]
    summary = summarise(select_peers(listings, cls(), own_ids=()), min_peers=3, own_price=None)
    # Owner 1: all rented; owner 2: none; owner 3: half of those that say. Not 10/12.
    assert summary.rented_share == pytest.approx(0.5)
    assert summary.rented_owners == 3


def test_iqr_fences_drop_outlying_owners() -> None:
    values = [10e-5, 11e-5, 12e-5, 13e-5, 14e-5, 100e-5, 0.1e-5]
    kept, outside = fenced(values)
    # Q1 = 10.5e-5 and Q3 = 13.5e-5 (inclusive); fences 6e-5 .. 18e-5.
    assert kept == [10e-5, 11e-5, 12e-5, 13e-5, 14e-5] and outside == 2
    summary = summarise(
        select_peers(owners_at(values), cls(), own_ids=()), min_peers=5, own_price=None
    )
    assert summary.peers == 5 and summary.dropped["outlier"] == 2
    assert summary.on_demand is not None and summary.on_demand[50] == 12e-5


def test_percentiles_interpolate_between_closest_ranks() -> None:
    # numpy.percentile([10, 20, 30, 40, 50], [10, 25, 50, 75, 90]) = 14, 20, 30, 40, 46.
    values = [10e-5, 20e-5, 30e-5, 40e-5, 50e-5]
    assert percentiles(values) == {10: 14e-5, 25: 20e-5, 50: 30e-5, 75: 40e-5, 90: 46e-5}
    # Rounded to whole satoshis.
    assert percentiles([1e-8, 2e-8])[10] == 1e-8
    assert percentiles([7e-5]) == dict.fromkeys((10, 25, 50, 75, 90), 7e-5)


def test_rank_of_this_servers_price() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert rank(5.0, values) == 0.0
    assert rank(45.0, values) == 100.0
    assert rank(20.0, values) == 37.5  # one below, one tied (half)
    assert rank(25.0, values) == 50.0


def test_too_few_owners_makes_the_statistics_unknown() -> None:
    # Ten listings but four owners: four votes, fewer than min_peers = 5.
    listings = [listing(1 + i % 4, (10 + i) * 1e-5) for i in range(10)]
    summary = summarise(select_peers(listings, cls(), own_ids=()), min_peers=5, own_price=1e-4)
    assert summary.peers == 4 and summary.on_demand is None and summary.rank is None
    facts = peer_values(summary, 1e-4, age=30.0)
    assert facts["market.peers"] == 4.0 and facts["market.age"] == 30.0
    for name in ("market.on_demand.p50", "market.rank", "market.rented_share"):
        assert facts[name] == Unknown("too_few_peers", (4, 5))
    assert facts["market.spot.p50"] == Unknown("too_few_peers", (0, 5))


def test_per_gpu_matching_scales_to_this_servers_count() -> None:
    two = cls("2x NVIDIA GeForce RTX 4090")
    listings = [
        listing(1, 1e-4, gpu="1x NVIDIA GeForce RTX 4090", spot=0.5e-4),
        listing(2, 4e-4, gpu="4x NVIDIA GeForce RTX 4090"),
        listing(3, 2.2e-4, gpu="2x NVIDIA GeForce RTX 4090"),
        listing(4, 1e-4, gpu="1x NVIDIA GeForce RTX 4090 D"),
    ]
    by_count = select_peers(listings, two, own_ids=())
    assert [o.on_demand for o in by_count.owners] == [2.2e-4]
    assert by_count.dropped["other_count"] == 2
    per_gpu = select_peers(listings, two, own_ids=(), match="model")
    assert sorted(o.on_demand for o in per_gpu.owners) == pytest.approx([2e-4, 2e-4, 2.2e-4])
    assert per_gpu.owners[0].spot == pytest.approx(1e-4)
    assert per_gpu.dropped["other_count"] == 0 and per_gpu.dropped["other_model"] == 1


def test_the_facts_of_a_full_summary() -> None:
    listings = [
        listing(i, (9 + i) * 1e-5, spot=(4 + i) * 1e-5, rented=i % 2 == 0) for i in range(1, 7)
    ]
    summary = summarise(select_peers(listings, cls(), own_ids=()), min_peers=5, own_price=12e-5)
    facts = peer_values(summary, 12e-5, age=0.0)
    assert facts["market.peers"] == 6.0
    assert facts["market.on_demand.p50"] == pytest.approx(12.5e-5)
    assert facts["market.spot.p10"] == pytest.approx(5.5e-5)
    assert facts["market.rented_share"] == pytest.approx(0.5)
    assert facts["market.rank"] == 41.7  # 2 below, 1 tied, of 6
    assert peer_values(summary, None, age=0.0)["market.rank"] == Unknown("not_listed")


def test_the_fixture_class_is_the_rigs() -> None:
    assert str(cls()) == RTX4090
