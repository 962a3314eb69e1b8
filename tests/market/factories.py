"""Listings for the market tests, as the API's reader builds them."""

from __future__ import annotations

from collections.abc import Sequence

from clore_host.api.models import MarketListing
from clore_host.market import GpuClass, parse_spec

RTX4090 = "1x NVIDIA GeForce RTX 4090"
_ids = iter(range(10_000, 10**9))


def listing(
    owner: int,
    on_demand: float | None,
    *,
    gpu: str | None = RTX4090,
    spot: float | None = None,
    rented: bool | None = None,
    online: bool | None = None,
    gpu_array: Sequence[str] | None = None,
    id: int | None = None,
) -> MarketListing:
    return MarketListing(
        id=next(_ids) if id is None else id,
        owner=owner,
        gpu=gpu,
        gpu_array=None if gpu_array is None else tuple(gpu_array),
        on_demand=on_demand,
        spot=spot,
        rented=rented,
        online=online,
    )


def cls(spec: str = RTX4090) -> GpuClass:
    found = parse_spec(spec)
    assert found is not None
    return found


def owners_at(prices: Sequence[float], *, first_owner: int = 1) -> list[MarketListing]:
    """One listing per owner at each price."""
    return [listing(first_owner + i, p) for i, p in enumerate(prices)]
