from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from clore_host.api import (
    CreateOrder,
    MarketplaceResponse,
    MyOrdersResponse,
    MyServersResponse,
    ServerConfig,
    ServerConfigResponse,
    SetServerSettings,
    SpotMarketplaceResponse,
)
from clore_host.api.models import read_marketplace

VALID: dict[str, Any] = {
    "name": "rig",
    "availability": True,
    "mrl": 96,
    "on_demand": 0.0001,
    "spot": 0.00005,
}


def test_valid_settings_body_is_exactly_the_five_fields() -> None:
    # Prices as Decimals of whole units, for the wire (api/wire.py writes them in fixed point).
    prices = {"on_demand": Decimal("0.0001"), "spot": Decimal("0.00005")}
    assert SetServerSettings(**VALID).body() == {**VALID, **prices}


def test_prices_go_out_as_whole_units() -> None:
    body = SetServerSettings(**{**VALID, "on_demand": 0.0001 * 0.729, "spot": 0.000123456789})
    assert body.body()["on_demand"] == Decimal("0.0000729")  # not 7.290000000000001e-05
    assert body.body()["spot"] == Decimal("0.00012346")


@pytest.mark.parametrize("price", [1e-9, 4.9e-9])
def test_a_price_below_one_unit_cannot_be_sent(price: float) -> None:
    with pytest.raises(ValidationError, match="at least one unit"):
        SetServerSettings(**{**VALID, "spot": price})


@pytest.mark.parametrize("missing", sorted(VALID))
def test_settings_cannot_be_built_with_a_field_missing(missing: str) -> None:
    fields = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(ValidationError) as info:
        SetServerSettings(**fields)
    assert info.value.errors()[0]["loc"] == (missing,)
    assert info.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize("field", ["mrl", "on_demand", "spot"])
@pytest.mark.parametrize("flag", [True, False])
def test_settings_refuse_bool_for_number(field: str, flag: bool) -> None:
    with pytest.raises(ValidationError, match=field):
        SetServerSettings(**{**VALID, field: flag})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("on_demand", 0.0),
        ("on_demand", -0.0001),
        ("spot", 0),
        ("spot", -1e-9),
        ("on_demand", math.inf),
        ("spot", math.nan),
        ("mrl", 0),
        ("mrl", -5),
        ("on_demand", "0.0001"),
        ("mrl", 96.0),
        ("availability", 1),
        ("availability", "true"),
        ("name", ""),
    ],
)
def test_settings_refuse_bad_values(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        SetServerSettings(**{**VALID, field: value})


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="bitcoin_on_demand"):
        SetServerSettings(**{**VALID, "bitcoin_on_demand": 0.0001})


def test_int_price_is_a_number() -> None:
    assert SetServerSettings(**{**VALID, "on_demand": 1}).on_demand == 1.0


def test_server_config_ignores_unknown_and_tolerates_missing() -> None:
    config = ServerConfig.model_validate(
        {"name": "rig", "autoprice": {"on": True}, "usd_pricing": 3, "mfp_usd": 1}
    )
    assert config.name == "rig"
    assert config.pricing is None and config.mrl is None and config.rental_status is None
    assert not hasattr(config, "mfp_usd")
    # Read for the per-currency form, kept as sent whatever their shape (observe.server reads
    # them strictly where they are used): an odd one does not fail the answer.
    assert config.autoprice == {"on": True} and config.usd_pricing == 3
    assert config.allowed_coins is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"visibility": "public"}, True),
        ({"visibility": "hidden"}, False),
        ({"visibility": "private"}, False),
        ({"visibility": "odd"}, None),
        ({}, None),
        ({"visibility": "public", "availability": False}, False),
        ({"visibility": "hidden", "availability": True}, True),
    ],
)
def test_is_available(fields: dict[str, Any], expected: bool | None) -> None:
    assert ServerConfig(name="rig", **fields).is_available() is expected


def test_server_config_response_requires_config() -> None:
    with pytest.raises(ValidationError, match="config"):
        ServerConfigResponse.model_validate({"code": 0, "creation_completed": True})


def test_seed_examples_parse() -> None:
    servers = MyServersResponse.model_validate(
        {
            "servers": [
                {"name": "Michael", "connected": False, "visibility": "hidden", "init_token": "x"},
                {"name": "Jan", "pricing": {"bitcoin": 0.00010337, "usd": 0}, "online": False},
            ],
            "limit": 16,
            "code": 0,
        }
    )
    assert servers.servers[1].pricing == {"bitcoin": 0.00010337, "usd": 0.0}
    assert servers.servers[0].specs is None
    market = _read_market(
        {
            "servers": [
                {
                    "id": 6,
                    "owner": 4,
                    "mrl": 73,
                    "price": {"on_demand": {"bitcoin": 0.00001}, "spot": {"bitcoin": 0.000001}},
                    "rented": False,
                    "specs": {"gpu": "1x NVIDIA GeForce GTX 1080 Ti", "gpuram": 11},
                }
            ],
            "my_servers": [1, 2, 4],
            "code": 0,
        }
    )
    assert market.servers[0].spot == 0.000001 and market.servers[0].on_demand == 0.00001
    assert market.my_servers == {1, 2, 4}
    orders = MyOrdersResponse.model_validate(
        {"orders": [{"id": 36, "spot": True, "expired": True, "tcp_ports": []}], "code": 0}
    )
    assert orders.orders[0].expired is True and orders.orders[0].price is None
    spot = SpotMarketplaceResponse.model_validate(
        {
            "market": {"offers": [{"offer_id": 39, "bid": 0.0000042, "active": True, "my": True}]},
            "exists": True,
            "code": 0,
            "currency_rates_in_usd": {"bitcoin": 60000.0},
        }
    )
    assert spot.market is not None and spot.market.offers[0].bid == 0.0000042


def test_init_token_never_shown_nor_dumped() -> None:
    servers = MyServersResponse.model_validate(
        {"servers": [{"name": "a", "init_token": "INIT-SECRET"}], "code": 0}
    )
    assert "INIT-SECRET" not in repr(servers)
    assert "INIT-SECRET" not in str(servers.model_dump())


def test_create_order_rules() -> None:
    with pytest.raises(ValidationError, match="spotprice is required"):
        CreateOrder(currency="bitcoin", image="img", renting_server=6, type="spot")
    with pytest.raises(ValidationError, match="ssh_password"):
        CreateOrder(
            currency="bitcoin",
            image="img",
            renting_server=6,
            type="on-demand",
            ssh_password="semi;colon",
        )
    with pytest.raises(ValidationError, match="ports"):
        CreateOrder(
            currency="bitcoin",
            image="img",
            renting_server=6,
            type="on-demand",
            ports={str(p): "tcp" for p in range(6)},
        )
    order = CreateOrder(
        currency="bitcoin", image="img", renting_server=6, type="spot", spotprice=0.000001
    )
    assert order.body() == {
        "currency": "bitcoin",
        "image": "img",
        "renting_server": 6,
        "type": "spot",
        "spotprice": Decimal("0.000001"),
    }


@pytest.mark.parametrize("mrl", [5, 3001, 10**9])
def test_settings_refuse_an_mrl_outside_the_apis_limits(mrl: int) -> None:
    # The API's documented 6 to 3000 hours, the same bounds observe.server reads with.
    with pytest.raises(ValidationError, match="mrl"):
        SetServerSettings(**{**VALID, "mrl": mrl})


@pytest.mark.parametrize("mrl", [6, 3000])
def test_settings_take_an_mrl_at_the_apis_limits(mrl: int) -> None:
    from clore_host.observe.server import MRL_MAX, MRL_MIN

    assert (MRL_MIN, MRL_MAX) == (6, 3000)
    assert SetServerSettings(**{**VALID, "mrl": mrl}).body()["mrl"] == mrl


@pytest.mark.parametrize("junk", [None, "0", True, [], {"a": 1}, -1, 10**400])
def test_a_price_map_holds_any_json_value(junk: object) -> None:
    # Currencies the service has not implemented: read by no one as a price (observe.server
    # reads the configured one, strictly), so no reason to refuse the whole answer.
    prices = {"bitcoin": 0.0001, "usd": junk}
    config = ServerConfig.model_validate({"name": "rig", "pricing": prices, "spot_pricing": prices})
    assert config.pricing == prices and config.spot_pricing == prices
    servers = MyServersResponse.model_validate(
        {"code": 0, "servers": [{"name": "rig", "pricing": prices, "min_spot_pricing": prices}]}
    )
    assert servers.servers[0].pricing == prices
    listing = {"id": 1, "owner": 2, "specs": {"gpu": "1x A"}}
    listing["price"] = {"on_demand": prices, "spot": prices}
    market = _read_market({"code": 0, "servers": [listing], "my_servers": []})
    assert (market.servers[0].on_demand, market.servers[0].spot) == (0.0001, 0.0001)


def _read_market(answer: dict[str, Any]) -> MarketplaceResponse:
    read = read_marketplace(json.dumps(answer).encode(), currency="bitcoin", scrub=str)
    assert read is not None
    return read
