"""The [costs], [fees] and [fx] sections: defaults, and a located, clear message for every
bad value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from clore_host.config import Config, load_config
from clore_host.config.costs import DEFAULT_PLAUSIBLE
from clore_host.issues import InputFileError


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text('[server]\nname = "rig"\n' + text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(InputFileError) as info:
        load(tmp_path, text)
    return {issue.location: issue.message for issue in info.value.issues}


def test_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.costs.electricity is None and config.costs.tariff == []
    assert (config.costs.power, config.costs.power_window, config.costs.horizon) == (
        "limit",
        7 * 86400,
        86400,
    )
    assert (config.fees.on_demand, config.fees.spot) == (5.0, 1.25)
    assert config.fees.surcharge == {
        "bitcoin": 15.0,
        "USD-Blockchain": 15.0,
        "CLORE-Blockchain": 0.0,
    }
    assert config.fees.kept("on_demand", "bitcoin") == 20.0
    assert config.fees.kept("spot", "CLORE-Blockchain") == 1.25
    assert (config.fx.rates(), config.fx.max_age, config.fx.max_move) == ({}, 7 * 86400, 20.0)
    assert config.fx.plausible_range("bitcoin") == DEFAULT_PLAUSIBLE["bitcoin"]


def test_a_full_example_reads_as_written(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[costs]
electricity = { price = 0.25, currency = "eur" }
fixed = { per_day = 2, currency = "EUR" }
overhead_w = 120
psu_efficiency = "92%"
power = "measured"
power_window = "3d"
horizon = "12h"

[[costs.tariff]]
hours = [17, 21]
weekdays = ["mon", "tue", "wed", "thu", 4]
price = 0.40

[[costs.tariff]]
hours = [22, 6]
price = 0.12

[fees]
on_demand = 4
spot = "1%"
surcharge = { bitcoin = "10%" }

[fx]
bitcoin_usd = 95000
eur_usd = 1.08
as_of = 2026-11-28
max_age = "3d"
max_move = "15%"
plausible = { bitcoin = [20000, 500000] }
""",
    )
    costs = config.costs
    assert costs.electricity is not None and costs.electricity.currency == "EUR"
    assert costs.currencies() == ("EUR",)
    assert [(w.hours, w.weekdays, w.price) for w in costs.tariff] == [
        ([17, 21], [0, 1, 2, 3, 4], 0.40),
        ([22, 6], None, 0.12),
    ]
    assert (costs.overhead_w, costs.psu_efficiency, costs.power) == (120, 92.0, "measured")
    assert (costs.power_window, costs.horizon) == (3 * 86400, 12 * 3600)
    assert (
        config.fees.surcharge["bitcoin"] == 10.0 and config.fees.surcharge["USD-Blockchain"] == 15
    )
    assert config.fees.kept("on_demand", "bitcoin") == 14.0
    assert config.fx.rates() == {"bitcoin": 95000.0, "eur": 1.08}
    assert config.fx.as_of == date(2026, 11, 28)
    assert config.fx.plausible_range("bitcoin") == (20000.0, 500000.0)
    assert config.fx.plausible_range("eur") == DEFAULT_PLAUSIBLE["eur"]
    assert (config.fx.max_age, config.fx.max_move) == (3 * 86400, 15.0)


def test_bad_costs_are_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
[costs]
electricity = { price = -0.1, currency = "dollars" }
fixed = { per_day = "1", currency = "USD" }
overhead_w = -5
psu_efficiency = 0.92
power = "max"
power_window = "10m"
horizon = "30d"
tariff = [
  { hours = [17, 17], price = 0.3 },
  { hours = [25, 2], price = 0.3 },
  { hours = [1, 2, 3], price = 0.3 },
  { weekdays = ["someday"], price = 0.3 },
  { weekdays = [], price = 0.3 },
  { price = 0.3 },
  { hours = [1, 2], price = 1e9 },
]
""",
    )
    assert found == {
        "costs.electricity.price": "Input should be greater than or equal to 0",
        "costs.electricity.currency": "'dollars' is not a currency code: write its three "
        'letters, e.g. "USD" or "EUR"',
        "costs.fixed.per_day": "Input should be a valid number, not a string (in quotes)",
        "costs.overhead_w": "Input should be greater than or equal to 0",
        "costs.psu_efficiency": 'must be at least 50% (a plain number is percent: write "92%")',
        "costs.power": "Input should be 'limit' or 'measured'",
        "costs.power_window": "must be at least 1h",
        "costs.horizon": "must be at most 7d",
        "costs.tariff[0].hours": "start and end are the same hour: leave `hours` out for all day",
        "costs.tariff[1].hours": "the start hour 25 must be 0 to 23",
        "costs.tariff[2].hours": "hours are [start, end], e.g. [17, 21] for 17:00 to 20:59",
        "costs.tariff[3].weekdays": "'someday' is not a weekday: use mon, tue, wed, thu, fri, "
        "sat, sun or 0-6",
        "costs.tariff[4].weekdays": "an empty list of weekdays: leave `weekdays` out for every day",
        "costs.tariff[5]": "a tariff window needs `hours`, `weekdays` or both",
        "costs.tariff[6].price": "Input should be less than or equal to 1000000",
    }


def test_a_tariff_needs_an_electricity_price(tmp_path: Path) -> None:
    found = problems(tmp_path, "[costs]\ntariff = [{ hours = [17, 21], price = 0.3 }]\n")
    assert found == {
        "costs.tariff": "a tariff needs `electricity` (the price outside its windows and the "
        "currency of its prices)"
    }


def test_bad_fees_are_located(tmp_path: Path) -> None:
    assert problems(
        tmp_path, '[fees]\non_demand = "100%"\nspot = "-1%"\nsurcharge = { x = "a" }\n'
    ) == {
        "fees.on_demand": "must be below 100%",
        "fees.spot": "must be at least 0%",
        "fees.surcharge.x": '\'a\' is not a percentage: write e.g. "10%", "+5%" or "-10%"',
    }
    assert problems(tmp_path, '[fees]\non_demand = "90%"\n') == {
        "fees.on_demand": "90% with the surcharge of 15% (bitcoin, USD-Blockchain) leaves "
        "nothing of a rental: together they must stay below 100%"
    }


def test_bad_exchange_rates_are_located(tmp_path: Path) -> None:
    assert problems(tmp_path, "[fx]\nbitcoin_usd = 95000\n") == {
        "fx.bitcoin_usd": "a fixed rate needs its date: as_of = 2026-11-28"
    }
    assert problems(tmp_path, "[fx]\nas_off = 2026-11-28\nusd_usd = 1\nEUR_usd = 1.1\n") == {
        "fx.as_off": "unknown key (not allowed here; a fixed rate is written <currency>_usd, "
        "e.g. bitcoin_usd = 95000 or eur_usd = 1.08)",
        "fx.usd_usd": "a dollar is always 1 USD: leave usd_usd out",
        "fx.EUR_usd": "unknown key (not allowed here; a fixed rate is written <currency>_usd, "
        "e.g. bitcoin_usd = 95000 or eur_usd = 1.08)",
    }
    found = problems(
        tmp_path,
        '[fx]\nbitcoin_usd = 9500\neur_usd = -1\ngbp_usd = "1.3"\nas_of = 2026-11-28T10:00:00\n'
        'max_age = "30m"\nmax_move = 0\nplausible = { eur = [2, 1], gbp = "wide" }\n',
    )
    assert found == {
        "fx.eur_usd": "Input should be greater than 0",
        "fx.gbp_usd": "Input should be a valid number, not a string (in quotes)",
        "fx.as_of": "expected a date such as 2026-11-28, not a date and time",
        "fx.max_age": "must be at least 1h",
        "fx.max_move": "must be at least 0.1%",
        "fx.plausible.eur": "a plausible range is [low, high] with 0 < low < high, e.g. "
        "[100, 10000000]",
        "fx.plausible.gbp": "a plausible range is [low, high] in USD, e.g. [100, 10000000]",
    }
    # A fixed rate outside its plausible range: a typo caught at load, not at the market.
    assert problems(tmp_path, "[fx]\nbitcoin_usd = 95\nas_of = 2026-11-28\n") == {
        "fx.bitcoin_usd": "95 is outside the plausible range 100 to 10000000 USD "
        "(fx.plausible.bitcoin)"
    }
    assert problems(tmp_path, '[fx]\nas_of = "28.11.2026"\n') == {
        "fx.as_of": "'28.11.2026' is not a date: write e.g. 2026-11-28"
    }
