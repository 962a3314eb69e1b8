"""The shipped policies in the market model (issue 19, item 4): on every shipped market, at
most 6 price changes a day and no hour listed or rented below the cost floor; none changes a
running rental's price. The earnings themselves are `make earnings`'s table (30 days x 20
seeds, minutes of CPU): noisy over a few days, so not asserted here."""

from __future__ import annotations

import pytest

from clore_host.config import load_policy, shipped_dir
from clore_host.simulate.evaluate import static_settings
from clore_host.simulate.market_file import load_market, shipped_markets
from clore_host.simulate.model import run

POLICIES = sorted(shipped_dir("policies").glob("*.toml"))
MARKETS = shipped_markets()
DAYS = 5


@pytest.mark.parametrize("market_path", MARKETS, ids=lambda p: p.stem)
def test_every_shipped_policy_changes_prices_rarely_and_never_under_cost(
    market_path: object,
) -> None:
    market = load_market(str(market_path))
    start = static_settings(market, market.server.list_price)
    for path in POLICIES:
        policy = load_policy(path)
        for seed in (0, 1):
            result = run(market, seed, DAYS, start, policy)
            assert result.price_changes / DAYS <= 6, (path.stem, seed)
            assert result.hours_below_floor == 0, (path.stem, seed)
            for rental in result.rentals:
                if rental.kind != "on_demand":
                    continue
                # A renter pays the price it found on arrival: no write under it moves it.
                during = {s.on_demand for t, s in result.timeline if rental.start < t < rental.end}
                assert during <= {rental.price}, (path.stem, seed, rental)
