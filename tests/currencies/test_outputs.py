"""Each currency's price where the agent shows prices: `status`, `api config`, the metrics
(a gauge series per currency) and the webhook's change_applied document."""

from __future__ import annotations

import json
import subprocess
import sys

from prometheus_client import generate_latest

from clore_host.outputs.metrics import AgentMetrics
from clore_host.outputs.webhook import change_payload

from .conftest import ALL, BTC, CLORE, USD, CurrencyRig


def test_status_shows_each_currency(three: CurrencyRig) -> None:
    three.rig.emulator.update_server(
        three.rig.server,
        autoprice={c: False for c in ALL},
        usd_pricing={CLORE: {"on_demand": 8.5, "spot": 4.0}},
    )
    result = three.rig.cli("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "currencies  bitcoin on_demand=0.00010000 spot=0.00005000 (reference)" in lines, (
        result.stdout
    )
    assert (
        "            CLORE-Blockchain on_demand=400.00000000 spot=200.00000000 (converted)" in lines
    )
    # All the digits of a price with more than its unit's (set by hand), else the unit's.
    assert "            USD-Blockchain on_demand=9.1234567 spot=4.500000 (converted)" in lines
    assert "takes       bitcoin, CLORE-Blockchain, USD-Blockchain" in lines
    assert any(x.startswith('autoprice   {"CLORE-Blockchain": false') for x in lines)
    assert any(x.startswith('usd pricing {"CLORE-Blockchain": {"on_demand": 8.5') for x in lines)
    three.clock.advance(2)  # the emulator's 1 request/second, on the rig's clock
    doc = json.loads(three.rig.cli("status", "--json").stdout)["currencies"]
    assert doc["form"] == "per_currency" and doc["reference"] == BTC
    assert doc["prices"][CLORE] == {"on_demand": 400.0, "spot": 200.0}
    assert doc["allowed_coins"] == ALL
    assert doc["usd_pricing"] == {CLORE: {"on_demand": 8.5, "spot": 4.0}}


def test_status_says_when_the_server_does_not_take_a_currency(three: CurrencyRig) -> None:
    three.rig.emulator.update_server(three.rig.server, allowed_coins=[BTC, CLORE])
    result = three.rig.cli("status")
    assert result.returncode == 0, result.stderr
    assert "currencies  server.currencies names USD-Blockchain, which server" in result.stdout


def test_api_config_shows_both_forms_fields(three: CurrencyRig) -> None:
    three.rig.emulator.update_server(three.rig.server, autoprice={BTC: False})
    env = {**three.rig.env(), "CLORE_API_URL": three.rig.emulator.url}
    env["CLORE_API_TOKEN"] = three.rig.token
    command = [sys.executable, "-m", "clore_host", "api", "config", three.rig.server]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = dict(
        (line[:14].strip(), line[15:]) for line in result.stdout.splitlines() if line.strip()
    )
    assert rows["on-demand"] == (
        "0.00010000 bitcoin/day, 400.00000000 CLORE-Blockchain/day, "
        "9.12345670 USD-Blockchain/day, null usd/day"
    )
    assert rows["takes"] == "bitcoin, CLORE-Blockchain, USD-Blockchain"
    assert rows["autoprice"] == '{"bitcoin": false}'
    assert "usd pricing" not in rows  # not sent


def test_metrics_have_a_series_per_currency(three: CurrencyRig) -> None:
    metrics = AgentMetrics(currency=BTC)
    result = three.reconcile()
    metrics.observe_cycle(result)
    text = generate_latest(metrics.registry).decode()
    after = result.currencies.table("target")
    for currency in ALL:
        for name, kind in (("on_demand_price", "on_demand"), ("spot_min_price", "spot")):
            line = f'clore_host_{name}{{currency="{currency}"}} '
            (found,) = [x for x in text.splitlines() if x.startswith(line)]
            assert float(found.split()[-1]) == after[currency][kind]
    assert 'clore_host_on_demand_price{currency="USD-Blockchain"} 10.67' in text
    # A cycle that writes nothing shows the prices as they are.
    three.clock.advance(60)
    unchanged = three.reconcile()
    assert unchanged.outcome == "unchanged"
    metrics.observe_cycle(unchanged)
    text = generate_latest(metrics.registry).decode()
    assert 'clore_host_on_demand_price{currency="USD-Blockchain"} 10.67' in text


def test_the_webhook_document_carries_each_currency(three: CurrencyRig) -> None:
    result = three.reconcile()
    payload = change_payload(result)
    currencies = payload["currencies"]
    assert currencies["reference"] == BTC
    assert currencies["before"][USD] == {"on_demand": 9.1234567, "spot": 4.5}
    assert currencies["after"][USD] == {"on_demand": 10.67, "spot": 5.335}
    assert currencies["after"][BTC] == {"on_demand": 0.00011, "spot": 0.000055}
    assert any(
        r.startswith("CLORE-Blockchain on_demand 400.00000000 -> ") for r in currencies["reasons"]
    )
    assert payload["after"]["on_demand"] == 0.00011  # the reference settings, as before
    json.dumps(payload)  # JSON as it is sent


def test_plan_shows_each_currency_line(three: CurrencyRig) -> None:
    result = three.rig.cli("plan")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    clore = [x for x in lines if x.startswith(f"  {CLORE} on_demand ")]
    usd = [x for x in lines if x.startswith(f"  {USD} spot ")]
    assert len(clore) == 1 and len(usd) == 1, result.stdout
    assert any(x.startswith(f"  {BTC} on_demand ") for x in lines)
