"""observe_costs: the facts and the record of one cycle, from a config, the GPUs and history."""

from __future__ import annotations

import json

import pytest

from clore_host.costs import COSTS_KIND, observe_costs
from clore_host.facts import GpuNow, Unknown
from clore_host.history import History

from .conftest import NOW, RIG_COSTS, config, gpus, rig_config

HOUR = 3600.0
DAY = 86400.0


def test_a_4x4090_rig_at_0_14_usd(history: History) -> None:
    seen = observe_costs(rig_config(), history, gpus(), None, None, NOW)
    assert dict(seen.facts) == {
        "cost.power_w": 1950.0,
        "fx.bitcoin_usd": 95000.0,
        "tariff.now": 0.14,
        "cost.per_day": 0.0000795,
        "cost.floor.on_demand": 0.00009937,
        "cost.floor.spot": 0.00009492,
    }
    assert seen.warnings == ()
    record = seen.record
    assert record["power"]["source"] == "limit" and record["power"]["gpus_w"] == 1800.0
    assert record["fx"]["bitcoin"] == {
        "fact": "fx.bitcoin_usd",
        "usd": 95000.0,
        "source": "config",
        "sent": None,
        "as_of": "2026-11-28",
    }
    assert record["cost"]["horizon"]["usd"] == pytest.approx(7.552)
    assert record["floors"]["on_demand"] == {"price": 0.00009937, "kept_percent": 20.0}
    assert record["floors"]["spot"] == {"price": 0.00009492, "kept_percent": 16.25}
    # The record is JSON, and the history keeps it as it is.
    history.record_observation(NOW, COSTS_KIND, record)
    assert history.observations(COSTS_KIND, NOW) == [(NOW, json.loads(json.dumps(record)))]


def test_without_an_electricity_price_the_costs_are_not_configured(history: History) -> None:
    seen = observe_costs(
        config(fx={"bitcoin_usd": 95000, "as_of": "2026-11-28"}), history, gpus(), None, None, NOW
    )
    absent = Unknown("not_configured", ("costs.electricity",))
    assert seen.facts["cost.per_day"] == absent
    assert seen.facts["cost.floor.on_demand"] == absent
    assert seen.facts["cost.floor.spot"] == absent
    assert seen.facts["tariff.now"] == absent
    # What is observed without it still is.
    assert seen.facts["cost.power_w"] == 1800.0 and seen.facts["fx.bitcoin_usd"] == 95000.0
    assert seen.record["cost"] is None and seen.record["facts"]["cost.per_day"] == {
        "unknown": "not_configured",
        "values": ["costs.electricity"],
    }


def test_a_time_of_use_tariff_prices_the_horizon(history: History) -> None:
    # NOW is Monday 12:00 UTC; 17-21 on weekdays costs 0.30, else 0.10. The next 24 h hold
    # the 4 peak hours: the average is (4 x 0.30 + 20 x 0.10) / 24 = 0.1333...
    costs = {
        **RIG_COSTS,
        "electricity": {"price": 0.10, "currency": "USD"},
        "tariff": [
            {"hours": [17, 21], "weekdays": ["mon", "tue", "wed", "thu", "fri"], "price": 0.3}
        ],
        "fixed": None,
    }
    del costs["fixed"]
    seen = observe_costs(rig_config(costs=costs), history, gpus(), None, None, NOW)
    assert seen.facts["tariff.now"] == 0.10
    assert seen.record["tariff"]["average"] == pytest.approx(3.2 / 24)
    # 46.8 kWh x 0.1333 = 6.24 USD -> 0.00006568421 bitcoin -> 0.00006569.
    assert seen.facts["cost.per_day"] == 0.00006569
    assert seen.record["cost"]["now"]["usd"] == pytest.approx(4.68)  # at 0.10 now
    assert [s["price"] for s in seen.record["tariff"]["segments"]] == [0.10, 0.30, 0.10]
    # A 6-hour horizon from noon: 5 h at 0.10 and 1 h at 0.30.
    short = {**costs, "horizon": "6h"}
    seen = observe_costs(rig_config(costs=short), history, gpus(), None, None, NOW)
    assert seen.record["tariff"]["average"] == pytest.approx(0.8 / 6)


def test_the_tariff_follows_the_config_time_zone(history: History) -> None:
    costs = {
        "electricity": {"price": 0.10, "currency": "USD"},
        "tariff": [{"hours": [12, 14], "price": 0.5}],
    }
    utc = observe_costs(rig_config(costs=costs), history, gpus(), None, None, NOW)
    prague = observe_costs(
        rig_config(costs=costs, timezone="Europe/Prague"), history, gpus(), None, None, NOW
    )
    assert utc.facts["tariff.now"] == 0.5  # 12:00 UTC
    assert prague.facts["tariff.now"] == 0.5  # 13:00 in Prague
    late = NOW + 1.5 * HOUR  # 13:30 UTC, 14:30 in Prague
    assert (
        observe_costs(rig_config(costs=costs), history, gpus(), None, None, late).facts[
            "tariff.now"
        ]
        == 0.5
    )
    assert (
        observe_costs(
            rig_config(costs=costs, timezone="Europe/Prague"), history, gpus(), None, None, late
        ).facts["tariff.now"]
        == 0.10
    )


def test_costs_in_euros_need_the_euro_rate(history: History) -> None:
    costs = {
        "electricity": {"price": 0.25, "currency": "EUR"},
        "fixed": {"per_day": 2.0, "currency": "EUR"},
    }
    two = gpus(2, 500.0)  # 1000 W: 24 kWh x 0.25 + 2 = 8 EUR = 8.64 USD
    fx = {"bitcoin_usd": 95000, "eur_usd": 1.08, "as_of": "2026-11-28"}
    seen = observe_costs(config(costs=costs, fx=fx), history, two, None, None, NOW)
    assert seen.facts["fx.eur_usd"] == 1.08
    assert seen.facts["cost.per_day"] == 0.00009095
    assert seen.record["cost"]["horizon"]["energy"] == 6.0
    assert seen.record["cost"]["horizon"]["usd"] == pytest.approx(8.64)
    # Without it: the euro rate and every cost fact are unknown, saying why.
    fx = {"bitcoin_usd": 95000, "as_of": "2026-11-28"}
    seen = observe_costs(config(costs=costs, fx=fx), history, two, None, None, NOW)
    why = Unknown("rate_unknown", ("eur", "the market sent none and the config has no fx.eur_usd"))
    assert seen.facts["fx.eur_usd"] == why
    assert seen.facts["cost.per_day"] == why and seen.facts["cost.floor.spot"] == why
    assert seen.facts["fx.bitcoin_usd"] == 95000.0 and seen.facts["tariff.now"] == 0.25


def test_the_surcharge_and_fees_are_configurable(history: History) -> None:
    fees = {"on_demand": "10%", "spot": 0, "surcharge": {"bitcoin": 0}}
    seen = observe_costs(rig_config(fees=fees), history, gpus(), None, None, NOW)
    # 7.552 / 0.9 / 95000 = 0.0000883274 -> 0.00008833; spot nets at the cost itself.
    assert seen.facts["cost.floor.on_demand"] == 0.00008833
    assert seen.facts["cost.floor.spot"] == seen.facts["cost.per_day"] == 0.0000795


def test_unknown_power_makes_the_costs_unknown(history: History) -> None:
    lost = (GpuNow(index=0, power_limit=450.0), GpuNow(index=1, lost=True))
    seen = observe_costs(rig_config(), history, lost, None, None, NOW)
    why = Unknown("power_unknown", ("GPU 1 is lost",))
    assert seen.facts["cost.power_w"] == why
    assert seen.facts["cost.per_day"] == why and seen.facts["cost.floor.on_demand"] == why
    assert seen.record["power"] == {"unknown": "power_unknown", "values": ["GPU 1 is lost"]}


def rented_hour(history: History, start: float, watts: float, every: float = 10.0) -> None:
    """An hour of rented samples of four cards drawing `watts` each (one a minute at +40 W)."""
    history.record_rental_status(start, "on_demand")
    for i in range(int(HOUR / every)):
        spike = 40.0 if i % 6 == 0 else 0.0
        history.record_sample(
            start + i * every,
            [GpuNow(index=g, power=watts + spike, power_limit=450.0) for g in range(4)],
        )
    history.record_rental_status(start + HOUR, "not_rented")


def test_measured_power_from_rented_samples_versus_the_limit(history: History) -> None:
    measured = rig_config(costs={**RIG_COSTS, "power": "measured"})
    # Idle samples while not rented do not count.
    history.record_rental_status(NOW - 3 * DAY, "not_rented")
    for i in range(360):
        history.record_sample(
            NOW - 2 * DAY + i * 10, [GpuNow(index=g, power=20.0) for g in range(4)]
        )
    seen = observe_costs(measured, history, gpus(), None, None, NOW)
    assert seen.record["power"]["asked"] == "measured"
    assert seen.record["power"]["source"] == "limit"  # no rented sample yet: the limit
    assert seen.record["power"]["samples"] == 0 and seen.record["power"]["need"] == 360
    assert seen.facts["cost.power_w"] == 1950.0
    # An hour rented at 300 W a card, a sixth of samples at 340 W: the p95 is 4 x 340 W.
    rented_hour(history, NOW - 5 * HOUR, 300.0)
    seen = observe_costs(measured, history, gpus(), None, None, NOW)
    assert seen.record["power"]["source"] == "measured"
    assert seen.record["power"]["measured_w"] == 1360.0
    assert seen.facts["cost.power_w"] == 1510.0  # + 150 W overhead
    # 1510 W: 36.24 kWh x 0.14 + 1 = 6.0736 USD -> 0.0000639326 -> 0.00006394.
    assert seen.facts["cost.per_day"] == 0.00006394
    # Out of the power window (7 d), the rented hour no longer counts.
    later = NOW + 7 * DAY
    fx = {"bitcoin_usd": 95000, "as_of": "2026-12-05"}
    seen = observe_costs(
        rig_config(costs={**RIG_COSTS, "power": "measured"}, fx=fx),
        history,
        gpus(),
        None,
        None,
        later,
    )
    assert seen.record["power"]["source"] == "limit"
    # With "limit", the history is not asked.
    seen = observe_costs(rig_config(), history, gpus(), None, None, NOW)
    assert seen.record["power"]["source"] == "limit" and seen.record["power"]["samples"] == 0


def test_market_rates_are_recorded_as_sent_and_old_ones_not_used(history: History) -> None:
    sent = {"bitcoin": 96000.0, "CLORE-Blockchain": "0.02"}
    seen = observe_costs(rig_config(), history, gpus(), sent, NOW - 60, NOW)
    assert seen.facts["fx.bitcoin_usd"] == 96000.0
    assert seen.record["fx_sent"] == {"rates": sent, "at": NOW - 60, "fresh": True}
    assert seen.record["fx"]["bitcoin"]["source"] == "market"
    # Read two hours ago (market.max_age 1h): the fixed rate serves.
    seen = observe_costs(rig_config(), history, gpus(), {"bitcoin": 96000.0}, NOW - 2 * HOUR, NOW)
    assert seen.facts["fx.bitcoin_usd"] == 95000.0
    assert seen.record["fx_sent"]["fresh"] is False


def test_a_fixed_rate_about_to_expire_is_warned_of(history: History) -> None:
    # as_of 2026-11-28 + 7 d = 2026-12-05 00:00 UTC; NOW + 4 d is 12 h before.
    seen = observe_costs(rig_config(), history, gpus(), None, None, NOW + 4 * DAY)
    assert seen.warnings == (
        "the fixed bitcoin rate (95000 USD, as of 2026-11-28) expires in 12h: update fx.as_of",
    )


def test_nonsense_rates_of_every_kind_never_raise(history: History) -> None:
    nonsense: list[object] = [0, -1, "abc", [], {"bitcoin": {"n": 1}}, {"bitcoin": b"x"}, 10**400]
    for sent in nonsense:
        seen = observe_costs(rig_config(), history, gpus(), sent, NOW, NOW)  # type: ignore[arg-type]
        assert isinstance(seen.facts["cost.floor.on_demand"], Unknown)
        json.dumps(seen.record, allow_nan=False)
