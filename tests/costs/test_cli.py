"""`clore-host costs`: golden text output and the documented --json shape."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from clore_host.cli.costs import run
from clore_host.costs import COSTS_KIND
from clore_host.facts import GpuNow
from clore_host.history import History
from clore_host.testing import FakeClock

from .conftest import NOW

# Four RTX 4090s at their default 450 W power limit, idle.
SCENARIO = """
driver_version = "550.54.15"
seed = 3
[defaults]
name = "NVIDIA GeForce RTX 4090"
memory_total = 24564
utilization = 0
temperature = 34
power = 21
power_limit = 450
[[gpu]]
[[gpu]]
[[gpu]]
[[gpu]]
"""

# The README's worked example: a 4x RTX 4090 rig at 0.14 USD/kWh, 150 W for the rest of the
# host, 1 USD a day of fixed costs, bitcoin at 95000 USD.
CONFIG = """
[server]
name = "rig-4090"
expected_gpus = 4

[gpu]
backend = "fake"
scenario = "four-4090.toml"

[state]
dir = "state"

[costs]
electricity = { price = 0.14, currency = "USD" }
fixed = { per_day = 1.00, currency = "USD" }
overhead_w = 150

[fx]
bitcoin_usd = 95000
as_of = AS_OF
"""

GOLDEN = """\
Costs of rig-4090: per day for the whole server, prices in bitcoin
power       1950 W        the GPUs' power limits, 1800 W + overhead 150 W (cost.power_w)
energy      46.8 kWh/day  at that power
tariff now  0.14 USD/kWh  costs.electricity (tariff.now)
tariff 24h  0.14 USD/kWh  averaged over the next 24h (costs.horizon)
fixed       1 USD/day     costs.fixed
rate        95000 USD     per bitcoin: fixed in the config, as of 2026-11-28 (fx.bitcoin_usd)
cost now    0.00007950    7.552 USD/day at the tariff now
cost        0.00007950    7.552 USD/day at the tariff over the next 24h (cost.per_day)
fees        5% + 15%      on demand fee (fees.on_demand) + bitcoin surcharge (fees.surcharge)
fees        1.25% + 15%   spot fee (fees.spot) + bitcoin surcharge (fees.surcharge)
floor       0.00009937    on demand: nets the cost after fees of 20% (cost.floor.on_demand)
floor       0.00009492    spot: nets the cost after fees of 16.25% (cost.floor.spot)
A policy's rails.cost_floor adds its margin to these floors.
"""

# A time-of-use tariff in Prague, measured power with too little history, a euro fixed cost
# whose rate the config lacks.
GOLDEN_UNKNOWN = """\
Costs of rig-4090: per day for the whole server, prices in bitcoin
power       1950 W          the GPUs' power limits, 1800 W (measured needs 360 rented samples in 7d,
                            has 0) + overhead 150 W (cost.power_w)
energy      46.8 kWh/day    at that power
tariff now  0.1 USD/kWh     costs.electricity and costs.tariff, Europe/Prague (tariff.now)
tariff 24h  0.1333 USD/kWh  averaged over the next 24h (costs.horizon)
            0.1 USD/kWh     13:00-17:00 (Europe/Prague)
            0.3 USD/kWh     17:00-21:00
            0.1 USD/kWh     21:00-13:00
fixed       2 EUR/day       costs.fixed
rate        95000 USD       per bitcoin: fixed in the config, as of 2026-11-28 (fx.bitcoin_usd)
rate        unknown         eur rate unknown: the market sent none and the config has no fx.eur_usd
                            (fx.eur_usd)
cost        unknown         eur rate unknown: the market sent none and the config has no fx.eur_usd
fees        5% + 15%        on demand fee (fees.on_demand) + bitcoin surcharge (fees.surcharge)
fees        1.25% + 15%     spot fee (fees.spot) + bitcoin surcharge (fees.surcharge)
floor       unknown         on demand (cost.floor.on_demand): eur rate unknown: the market sent none
                            and the config has no fx.eur_usd
floor       unknown         spot (cost.floor.spot): eur rate unknown: the market sent none and the
                            config has no fx.eur_usd
A policy's rails.cost_floor adds its margin to these floors.
"""


# Measured power from an hour rented; the bitcoin rate as the agent last recorded it.
GOLDEN_MEASURED = """\
Costs of rig-4090: per day for the whole server, prices in bitcoin
power       1550 W        measured: p95 of the GPUs' draw while rented, 1400 W (360 samples in 7d) +
                          overhead 150 W (cost.power_w)
energy      37.2 kWh/day  at that power
tariff now  0.14 USD/kWh  costs.electricity (tariff.now)
tariff 24h  0.14 USD/kWh  averaged over the next 24h (costs.horizon)
fixed       1 USD/day     costs.fixed
rate        100000 USD    per bitcoin: the market's currency_rates_in_usd, read 5m ago
                          (fx.bitcoin_usd)
cost now    0.00006208    6.208 USD/day at the tariff now
cost        0.00006208    6.208 USD/day at the tariff over the next 24h (cost.per_day)
fees        5% + 15%      on demand fee (fees.on_demand) + bitcoin surcharge (fees.surcharge)
fees        1.25% + 15%   spot fee (fees.spot) + bitcoin surcharge (fees.surcharge)
floor       0.00007760    on demand: nets the cost after fees of 20% (cost.floor.on_demand)
floor       0.00007413    spot: nets the cost after fees of 16.25% (cost.floor.spot)
A policy's rails.cost_floor adds its margin to these floors.
"""


def rig(tmp_path: Path, config: str = CONFIG, as_of: str = "2026-11-28") -> Path:
    (tmp_path / "four-4090.toml").write_text(SCENARIO)
    path = tmp_path / "config.toml"
    path.write_text(config.replace("AS_OF", as_of))
    return path


def costs(path: Path, capsys: pytest.CaptureFixture[str], *, as_json: bool = False) -> str:
    args = argparse.Namespace(config=str(path), json=as_json)
    assert run(args, clock=FakeClock(NOW)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_the_worked_example_prints_as_the_readme_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert costs(rig(tmp_path), capsys) == GOLDEN


def unknown_config() -> str:
    return 'timezone = "Europe/Prague"\n' + CONFIG.replace(
        'fixed = { per_day = 1.00, currency = "USD" }',
        'fixed = { per_day = 2, currency = "EUR" }\npower = "measured"\n'
        'tariff = [{ hours = [17, 21], weekdays = ["mon", "tue", "wed", "thu", "fri"], '
        "price = 0.30 }]",
    ).replace("price = 0.14", "price = 0.10")


def test_unknown_figures_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert costs(rig(tmp_path, unknown_config()), capsys) == GOLDEN_UNKNOWN


def test_measured_power_and_the_market_rate_the_agent_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rig(tmp_path, CONFIG.replace("overhead_w = 150", 'overhead_w = 150\npower = "measured"'))
    (tmp_path / "state").mkdir()
    with History.open(tmp_path / "state" / "history.db", now=NOW) as history:
        history.record_rental_status(NOW - 2 * 3600, "spot")
        for i in range(360):
            gpus = [GpuNow(index=g, power=350.0, power_limit=450.0) for g in range(4)]
            history.record_sample(NOW - 2 * 3600 + i * 10, gpus)
        sent = {"rates": {"bitcoin": 100000.0}, "at": NOW - 300, "fresh": True}
        history.record_observation(NOW - 290, COSTS_KIND, {"fx_sent": sent})
    # 1550 W: 37.2 kWh x 0.14 + 1 = 6.208 USD -> 0.00006208 bitcoin at 100000; / 0.8 on demand.
    assert costs(path, capsys) == GOLDEN_MEASURED


# The documented --json shape (README, `clore-host costs --json`): key -> type.
SHAPE: dict[str, Any] = {
    "server": str,
    "at": float,
    "version": int,
    "currency": str,
    "power": {
        "watts": float,
        "asked": str,
        "source": str,
        "gpus_w": float,
        "overhead_w": float,
        "psu_efficiency": (float, type(None)),
        "limit_w": (float, type(None)),
        "measured_w": (float, type(None)),
        "window_s": float,
        "samples": int,
        "need": int,
    },
    "energy": {"kwh_per_day": float},
    "tariff": {
        "currency": str,
        "timezone": str,
        "now": float,
        "average": float,
        "horizon_s": float,
        "segments": list,
    },
    "fixed": {"per_day": float, "currency": str},
    "fx": {
        "bitcoin": {
            "fact": str,
            "usd": float,
            "source": str,
            "sent": type(None),
            "as_of": str,
        }
    },
    "fx_sent": type(None),
    "fees": {"on_demand": float, "spot": float, "surcharge": float, "surcharge_currency": str},
    "cost": {
        when: {
            "energy": float,
            "fixed": float,
            "usd": float,
            "listing_exact": float,
            "listing": float,
        }
        for when in ("now", "horizon")
    },
    "floors": {kind: {"price": float, "kept_percent": float} for kind in ("on_demand", "spot")},
    "facts": {
        name: float
        for name in (
            "cost.per_day",
            "cost.floor.on_demand",
            "cost.floor.spot",
            "cost.power_w",
            "fx.bitcoin_usd",
            "tariff.now",
        )
    },
    "warnings": list,
}


def conforms(value: Any, shape: Any, where: str = "") -> None:
    if isinstance(shape, dict):
        assert isinstance(value, dict), where
        assert set(value) == set(shape), (where, sorted(set(value) ^ set(shape)))
        for key, inner in shape.items():
            conforms(value[key], inner, f"{where}.{key}")
    else:
        assert isinstance(value, shape), (where, value)


def test_json_has_the_documented_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(costs(rig(tmp_path), capsys, as_json=True))
    conforms(doc, SHAPE)
    assert doc["facts"]["cost.floor.on_demand"] == 0.00009937
    assert doc["tariff"]["segments"] == [{"from": NOW, "to": NOW + 86400, "price": 0.14}]
    assert doc["at"] == NOW and doc["server"] == "rig-4090" and doc["warnings"] == []


def test_json_says_why_a_figure_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(
        costs(rig(tmp_path, CONFIG.replace("bitcoin_usd = 95000\n", "")), capsys, as_json=True)
    )
    why = {
        "unknown": "rate_unknown",
        "values": ["bitcoin", "the market sent none and the config has no fx.bitcoin_usd"],
    }
    assert doc["facts"]["cost.per_day"] == why and doc["fx"]["bitcoin"]["usd"] == why
    assert doc["cost"] is None and doc["floors"] is None


def test_the_command_runs_as_installed(tmp_path: Path) -> None:
    today = datetime.now(timezone.utc).date().isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "clore_host", "costs", "--config", str(rig(tmp_path, as_of=today))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "floor       0.00009937    on demand" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "clore_host", "costs", "--config", str(tmp_path / "absent.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "file not found" in bad.stderr
