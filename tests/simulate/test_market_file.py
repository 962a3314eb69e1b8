"""Market files: every mistake located; the shipped ones documented value by value; the facts
the model gives a policy (market statistics as the market room computes them, cost floors)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from clore_host.issues import InputFileError
from clore_host.policy import parse_policy
from clore_host.simulate.evaluate import static_settings
from clore_host.simulate.market import cost_facts, market_facts
from clore_host.simulate.market_file import load_market, parse_market, shipped_markets
from clore_host.simulate.model import START, Listing, peers, run

from .conftest import market, market_data


def test_at_least_three_markets_ship_and_load() -> None:
    names = [p.stem for p in shipped_markets()]
    assert {"steady", "daily-cycle", "crowded"} <= set(names)
    for path in shipped_markets():
        assert load_market(path).name == path.stem
        assert load_market(path.stem) == load_market(path)


def test_every_shipped_value_says_where_it_comes_from() -> None:
    """Each line setting a value has a comment with "source:" or "assumption" (on the line,
    or on the table header above it for a table's own keys)."""
    for path in shipped_markets():
        header_noted = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if text.startswith("["):
                header_noted = "source" in text or "assumption" in text
                continue
            if not text or text.startswith("#") or "=" not in text.split("#")[0]:
                continue
            if text.startswith(("version", "name", "about")):
                continue  # the file's own name and description, not model parameters
            note = line.partition("#")[2]
            assert re.search(r"source:|assumption", note) or header_noted, f"{path.name}:{number}"


@pytest.mark.parametrize(
    ("section", "key", "value", "where", "message"),
    [
        ("demand", "daily", [1.0] * 23, "demand.daily", "needs 24 numbers (one per hour), not 23"),
        ("demand", "weekly", [0.0] * 7, "demand.weekly", "needs a positive number somewhere"),
        ("demand", "spot_share", 1.5, "demand.spot_share", "less than or equal to 1"),
        ("demand", "arrivals_per_day", "12", "demand.arrivals_per_day", "not a string"),
        ("peers", "interval", "0s", "peers.interval", "must be at least 1m"),
        ("server", "mrl", 3, "server.mrl", "greater than or equal to 6"),
        ("fees", "on_demand", 1.0, "fees.on_demand", "less than 1"),
        ("rentals", "hours", {"median": 24}, "rentals.hours.sigma", "required key is missing"),
        ("server", "colour", "red", "server.colour", "unknown key"),
        ("sweep", "low", 3.0, "sweep", "low must be below high"),
    ],
)
def test_a_mistake_is_reported_with_its_place(
    section: str, key: str, value: object, where: str, message: str
) -> None:
    data = market_data()
    data[section][key] = value
    with pytest.raises(InputFileError) as info:
        parse_market(data, "my-market.toml")
    line = info.value.line()
    assert f"my-market.toml: {where}: " in line and message in line, line


def test_a_missing_file_names_the_shipped_markets(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found \\(shipped markets: crowded"):
        load_market("busy")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = [")
    with pytest.raises(InputFileError, match="TOML syntax error"):
        load_market(bad)
    zone = market_data()
    zone["timezone"] = "Mars/Olympus"
    with pytest.raises(InputFileError, match="timezone: unknown time zone 'Mars/Olympus'"):
        parse_market(zone)


def test_cost_facts_are_the_power_bill_over_the_fees() -> None:
    steady = market()
    facts = cost_facts(steady)
    # 1 GPU at 400 W + 100 W overhead: 12 kWh a day at 0.14 USD, plus 0.5 USD, at 95,000 USD.
    cost = (0.5 * 24 * 0.14 + 0.5) / 95000
    assert math.isclose(facts["cost.per_day"], cost)  # type: ignore[arg-type]
    assert math.isclose(facts["cost.floor.on_demand"], cost / 0.8)  # type: ignore[arg-type]
    assert math.isclose(facts["cost.floor.spot"], cost / (1 - 0.1625))  # type: ignore[arg-type]


def test_market_facts_are_the_market_rooms_statistics() -> None:
    steady = market()
    crowd = [Listing(p, p / 2, 3600.0) for p in (0.00008, 0.00009, 0.0001, 0.00011, 0.00012)]
    crowd.append(Listing(0.01, 0.005, 3600.0))  # an outlier, fenced out
    crowd[0].busy_until = START + 10  # rented
    server = Listing(0.0001, 0.00005, 3600.0)
    facts = market_facts(steady, crowd, server, START)
    assert facts["market.peers"] == 5
    assert facts["market.on_demand.p50"] == 0.0001
    assert facts["market.on_demand.p10"] == 0.000084  # linear between the closest ranks
    assert facts["market.spot.p90"] == 0.000058
    assert facts["market.rented_share"] == 0.2
    assert facts["market.rank"] == 50.0
    assert facts["spot.offers"] == 0.0
    few = market_facts(market(market={"min_peers": 7}), crowd, server, START)
    assert few["market.on_demand.p50"] == few["market.rank"]
    assert getattr(few["market.on_demand.p50"], "values", None) == (5, 7)
    # Rented on spot: one offer, the renter's bid.
    server.busy_until, server.kind, server.locked = START + 60, "spot", 0.00004
    assert market_facts(steady, crowd, server, START)["spot.best_bid"] == 0.00004


def test_a_policy_reading_the_market_follows_it() -> None:
    follow = parse_policy(
        {
            "version": 1,
            "rails": {
                "on_demand": {"floor": 0.00003, "ceiling": 0.0003},
                "spot": {"floor": 0.00001, "ceiling": 0.0002},
                "max_step": "10%",
                "min_interval": "1h",
            },
            "rule": [
                {
                    "name": "follow the median",
                    "then": {"on_demand": {"relative_to": "market.on_demand.p50", "factor": 0.9}},
                }
            ],
        }
    )
    crowded = market("crowded")
    start = static_settings(crowded, 0.0002)
    result = run(crowded, 0, 10, start, follow)
    final = result.timeline[-1][1].on_demand
    median = sorted(p.price for p in peers(crowded, 0))[len(peers(crowded, 0)) // 2]
    # It walked down from twice the list price to below the (falling) peers' median.
    assert result.price_changes >= 5
    assert final < 0.9 * median
