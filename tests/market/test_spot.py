"""The spot market on this server: each offer read strictly on its own (anyone can bid), the
active ones counted, the best active bid; the exchange rates kept as sent."""

from __future__ import annotations

from typing import Any

import pytest

from clore_host.api import SpotMarketplaceResponse
from clore_host.market.spot import SpotSummary, rates_in_usd, read_spot


def answer(offers: list[Any], **market: Any) -> SpotMarketplaceResponse:
    return SpotMarketplaceResponse.model_validate(
        {"code": 0, "exists": True, "market": {"offers": offers, **market}}
    )


def offer(bid: Any, active: Any = True) -> dict[str, Any]:
    return {"offer_id": 1, "bid": bid, "active": active, "my": False}


def test_active_offers_and_the_best_active_bid() -> None:
    got = read_spot(answer([offer(4e-5), offer(5.5e-5), offer(9e-5, active=False)]))
    assert got == SpotSummary(offers=2, best_bid=5.5e-5, unreadable=0)


@pytest.mark.parametrize(
    "junk",
    [offer("0.0001"), offer(True), offer(0), offer(-1e-5), offer(2000), offer(1e-4, "yes"), {}],
)
def test_an_offer_that_cannot_be_read_is_counted_not_fatal(junk: dict[str, Any]) -> None:
    got = read_spot(answer([offer(4e-5), junk]))
    assert got == SpotSummary(offers=1, best_bid=4e-5, unreadable=1)


def test_no_market_no_offers() -> None:
    assert read_spot(SpotMarketplaceResponse.model_validate({"code": 0, "exists": False})) == (
        SpotSummary(0, None)
    )
    assert read_spot(answer([offer(4e-5, active=False)])) == SpotSummary(0, None)


def test_the_best_bid_is_a_whole_unit() -> None:
    assert read_spot(answer([offer(4.0000000001e-5)])).best_bid == 4e-5


def test_rates_as_sent() -> None:
    assert rates_in_usd(answer([], currency_rates_in_usd={"bitcoin": "abc"})) == (
        True,
        {"bitcoin": "abc"},
    )
    assert rates_in_usd(answer([], currency_rates_in_usd=0)) == (True, 0)
    assert rates_in_usd(answer([])) == (False, None)
    top = SpotMarketplaceResponse.model_validate(
        {"code": 0, "currency_rates_in_usd": {"bitcoin": 97000.0}}
    )
    assert rates_in_usd(top) == (True, {"bitcoin": 97000.0})
