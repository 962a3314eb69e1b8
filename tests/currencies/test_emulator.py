"""The emulator takes both forms of set_server_settings: the seed's and the per-currency form
public clients of the live service send; and it refuses a per-currency body that is not
whole. The request model builds that form, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from clore_host.api.models import CoinPrices, SetServerSettingsByCurrency
from clore_host.api.wire import encode_json
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator, default_state

TOKEN = "tok-currencies-7Hq"
BTC, CLORE, USD = "bitcoin", "CLORE-Blockchain", "USD-Blockchain"

FORM: dict[str, Any] = {
    "name": "demo-rig",
    "availability": True,
    "mrl": 96,
    "bitcoin_on_demand": 0.0002,
    "bitcoin_spot": 0.0001,
    "CLORE-Blockchain_on_demand": 420.5,
    "CLORE-Blockchain_spot": 210.25,
    "enabled-bitcoin": True,
    "enabled-CLORE-Blockchain": True,
    "enabled-USD-Blockchain": False,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    state = default_state()
    state["tokens"] = [TOKEN]
    with Emulator(state, clock=clock) as emu:
        yield emu


@pytest.fixture
def http(emulator: Emulator, clock: FakeClock) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url + "/", headers={"auth": TOKEN}, verify=False) as c:
        yield c


def _post(http: httpx.Client, clock: FakeClock, body: Any) -> int:
    clock.advance(1)
    response = http.post("set_server_settings", content=json.dumps(body))
    code = response.json()["code"]
    assert isinstance(code, int)
    return code


def test_the_per_currency_form_lands_by_currency(
    http: httpx.Client, clock: FakeClock, emulator: Emulator
) -> None:
    emulator.update_server("demo-rig", allowed_coins=[BTC, USD])
    assert _post(http, clock, {**FORM, "autoprice": {BTC: False}}) == 0
    server = emulator.server("demo-rig")
    assert server["pricing"] == {BTC: 0.0002, "usd": 0, CLORE: 420.5}
    assert server["spot_pricing"] == {BTC: 0.0001, "usd": 0, CLORE: 210.25}
    assert server["allowed_coins"] == [BTC, CLORE]  # USD switched off, CLORE on
    assert server["autoprice"] == {BTC: False}
    assert (server["mrl"], server["visibility"]) == (96, "public")
    # server_config serves it back: the per-currency prices and the switches.
    clock.advance(1)
    config = http.request("GET", "server_config", json={"server_name": "demo-rig"}).json()
    assert config["config"]["allowed_coins"] == [BTC, CLORE]
    assert config["config"]["pricing"][CLORE] == 420.5


def test_the_seed_form_still_lands_in_the_accounts_currency(
    http: httpx.Client, clock: FakeClock, emulator: Emulator
) -> None:
    seed = {"name": "demo-rig", "availability": False, "mrl": 48, "on_demand": 3e-4, "spot": 1e-4}
    assert _post(http, clock, seed) == 0
    server = emulator.server("demo-rig")
    assert server["pricing"][BTC] == 3e-4 and "allowed_coins" not in server


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ETH_on_demand": 1.0}, "unknown field 'ETH_on_demand'"),
        ({"on_demand": 0.0002}, "spot is required"),  # the two forms mixed: read as the seed's
        ({"CLORE-Blockchain_spot": None}, "must be a number"),
        ({"CLORE-Blockchain_spot": "drop"}, "CLORE-Blockchain_on_demand without"),
        ({"bitcoin_on_demand": 0}, "must be a number greater than 0"),
        ({"enabled-USD-Blockchain": True}, "enabled-USD-Blockchain is true but"),
        ({"enabled-bitcoin": "yes"}, "must be true or false"),
        ({"autoprice": "usd"}, "autoprice must be an object"),
        ({"mrl": "drop"}, "mrl is required"),
        (
            {
                "enabled-bitcoin": "drop",
                "enabled-CLORE-Blockchain": "drop",
                "enabled-USD-Blockchain": "drop",
            },
            "no enabled-<coin> switch",
        ),
    ],
)
def test_a_per_currency_body_that_is_not_whole_is_refused(
    http: httpx.Client, clock: FakeClock, emulator: Emulator, change: dict[str, Any], why: str
) -> None:
    before = emulator.server("demo-rig")
    body = {**FORM, **change}
    body = {k: v for k, v in body.items() if v != "drop"}
    clock.advance(1)
    answer = http.post("set_server_settings", content=json.dumps(body)).json()
    assert answer["code"] == 2 and why in answer["error"], answer
    assert emulator.server("demo-rig") == before


def _exact(text: str) -> Decimal:
    return Decimal(text)


def test_the_model_writes_every_field_in_order_and_each_price_as_given() -> None:
    request = SetServerSettingsByCurrency(
        name="rig",
        availability=True,
        mrl=72,
        prices={
            USD: CoinPrices(on_demand=_exact("10.670000"), spot=_exact("5.335000")),
            BTC: CoinPrices(on_demand=_exact("0.00011000"), spot=_exact("0.00005500")),
            CLORE: CoinPrices(on_demand=_exact("400.0"), spot=_exact("1E+2")),
        },
        enabled={USD: True, CLORE: True, BTC: True},
    )
    assert encode_json(request.body()) == (
        b'{"name":"rig","availability":true,"mrl":72,'
        b'"bitcoin_on_demand":0.00011000,"bitcoin_spot":0.00005500,'
        b'"CLORE-Blockchain_on_demand":400.0,"CLORE-Blockchain_spot":100,'
        b'"USD-Blockchain_on_demand":10.670000,"USD-Blockchain_spot":5.335000,'
        b'"enabled-bitcoin":true,"enabled-CLORE-Blockchain":true,"enabled-USD-Blockchain":true}'
    )


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"prices": {"ETH": {"on_demand": Decimal(1), "spot": Decimal(1)}}}, "unknown currency"),
        ({"enabled": {BTC: True, CLORE: True}}, "enabled without prices: CLORE-Blockchain"),
        ({"enabled": {BTC: False}}, "no currency enabled"),
        ({"prices": {BTC: {"on_demand": Decimal(0), "spot": Decimal(1)}}}, "above 0"),
        ({"prices": {BTC: {"on_demand": Decimal("NaN"), "spot": Decimal(1)}}}, "finite"),
        ({"prices": {BTC: {"on_demand": 0.0001, "spot": Decimal(1)}}}, "Decimal"),
        ({"mrl": 5}, "greater than or equal to 6"),
    ],
)
def test_the_model_refuses_a_form_that_is_not_whole(fields: dict[str, Any], why: str) -> None:
    base: dict[str, Any] = {
        "name": "rig",
        "availability": True,
        "mrl": 72,
        "prices": {BTC: {"on_demand": Decimal("0.0001"), "spot": Decimal("0.00005")}},
        "enabled": {BTC: True},
    }
    with pytest.raises(ValidationError, match=why):
        SetServerSettingsByCurrency.model_validate({**base, **fields})
