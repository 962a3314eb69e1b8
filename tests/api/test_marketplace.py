"""`marketplace`, read from the raw answer and reduced as it is parsed: each listing checked
strictly on its own (an unreadable one counted, not fatal), the answer's own shape strictly
(an error), through the same rate limiter, retries, error model and token scrubbing."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from clore_host.api import (
    AuthError,
    CloreClient,
    CloreError,
    HttpStatusError,
    MalformedResponse,
    RateLimited,
)
from clore_host.api.models import MarketListing, read_marketplace
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import SECRET, ClientFactory

GOOD: dict[str, Any] = {
    "id": 6,
    "owner": 4,
    "mrl": 73,
    "price": {"on_demand": {"bitcoin": 0.00001}, "spot": {"bitcoin": 0.000001}},
    "rented": False,
    "specs": {"gpu": "1x NVIDIA GeForce GTX 1080 Ti", "gpuram": 11, "net": {"cc": "CZ"}},
}


def read(servers: list[Any], **top: Any) -> Any:
    answer = {"code": 0, "servers": servers, "my_servers": [1], **top}
    return read_marketplace(json.dumps(answer).encode(), currency="bitcoin", scrub=str)


def test_a_listing_is_reduced_to_what_the_market_reads() -> None:
    market = read([GOOD, {**GOOD, "id": 7, "online": True, "gpu_array": [["A", "A"]]}])
    assert market.servers == (
        MarketListing(6, 4, "1x NVIDIA GeForce GTX 1080 Ti", None, 0.00001, 0.000001, False, None),
        MarketListing(
            7, 4, "1x NVIDIA GeForce GTX 1080 Ti", ("A", "A"), 0.00001, 0.000001, False, True
        ),
    )
    assert market.my_servers == {1} and market.unreadable == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "6"}, "id"),
        ({"id": True}, "id"),
        ({"id": 6.0}, "id"),
        ({"owner": None}, "owner"),
        ({"owner": "4"}, "owner"),
        ({"specs": {"gpu": 1080}}, "specs.gpu"),
        ({"specs": None}, "specs.gpu"),
        ({"rented": "false"}, "rented"),
        ({"rented": 0}, "rented"),
        ({"online": "yes"}, "online"),
    ],
)
def test_a_listing_with_a_field_of_the_wrong_type_is_counted_not_fatal(
    change: dict[str, Any], field: str
) -> None:
    market = read([GOOD, {**GOOD, **change}])
    assert [s.id for s in market.servers] == [6]
    assert market.unreadable == {field: 1}


def test_things_that_are_not_server_objects_are_counted() -> None:
    market = read([GOOD, 3, "x", None, [GOOD], {"mrl": 1}])
    assert len(market.servers) == 1 and market.unreadable == {"id": 5}


@pytest.mark.parametrize(
    "price",
    [None, 0, 0.0, -0.00001, "0.0001", True, [], {}, 1001, 10**400, float("nan"), float("inf")],
)
def test_a_price_that_is_not_a_positive_number_is_no_price(price: Any) -> None:
    listing = {**GOOD, "price": {"on_demand": {"bitcoin": price, "usd": 5}, "spot": {}}}
    raw = json.dumps({"code": 0, "servers": [listing], "my_servers": []})
    market = read_marketplace(raw.encode(), currency="bitcoin", scrub=str)
    assert market is not None
    (server,) = market.servers
    assert server.on_demand is None and server.spot is None


def test_prices_in_another_currency_are_not_read() -> None:
    (server,) = read([{**GOOD, "price": {"on_demand": {"CLORE-Blockchain": 400}}}]).servers
    assert server.on_demand is None
    usd = read_marketplace(
        json.dumps({"code": 0, "servers": [GOOD], "my_servers": []}).encode(),
        currency="usd",
        scrub=str,
    )
    assert usd is not None and usd.servers[0].on_demand is None


@pytest.mark.parametrize(
    ("top", "words"),
    [
        ({"servers": {"6": GOOD}}, "servers is not a list"),
        ({"servers": None}, "servers is missing"),
        ({"my_servers": None}, "my_servers is missing"),
        ({"my_servers": ["1"]}, "my_servers is not a list of server ids"),
        ({"my_servers": [True]}, "my_servers is not a list of server ids"),
    ],
)
def test_an_answer_not_of_the_apis_shape_is_malformed(top: dict[str, Any], words: str) -> None:
    answer = {"code": 0, "servers": [GOOD], "my_servers": [], **top}
    answer = {k: v for k, v in answer.items() if v is not None}
    with pytest.raises(MalformedResponse, match=words):
        read_marketplace(json.dumps(answer).encode(), currency="bitcoin", scrub=str)


@pytest.mark.parametrize(
    "raw", [b"<html>", b"[]", b'{"servers": []}', b'{"code": "0"}', b'{"code": 3}', b"[" * 5000]
)
def test_anything_else_goes_to_the_connection(raw: bytes) -> None:
    assert read_marketplace(raw, currency="bitcoin", scrub=str) is None


# -- through the client, against the emulator --------------------------------------------------


def test_the_emulators_market(client: CloreClient, emulator: Emulator) -> None:
    from clore_host.testing.market import marketplace_listings

    emulator.set_marketplace(marketplace_listings(3, servers=500))
    market = client.marketplace()
    assert len(market.servers) + sum(market.unreadable.values()) == 501  # and ours
    assert 1 in market.my_servers and len(market.my_servers) == 4  # 3 own listings + the rig
    (record,) = emulator.requests.for_endpoint("marketplace")
    assert (record.method, record.code, record.status) == ("GET", 0, 200)


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        ({"code": 3}, AuthError, "marketplace: API code 3"),
        ({"code": 0, "servers": 5, "my_servers": []}, MalformedResponse, "servers is not a list"),
    ],
)
def test_errors_of_the_one_error_model(
    make_client: ClientFactory,
    emulator: Emulator,
    answer: dict[str, Any],
    error: type,
    words: str,
) -> None:
    emulator.faults.api_code(answer.pop("code"), extra=answer, endpoint="marketplace")
    with pytest.raises(error, match=words):
        make_client(retries=0).marketplace()


def test_malformed_and_http_errors(make_client: ClientFactory, emulator: Emulator) -> None:
    client = make_client(retries=0)
    emulator.faults.malformed(endpoint="marketplace")
    with pytest.raises(MalformedResponse, match="response is not JSON"):
        client.marketplace()
    emulator.faults.http_status(404, endpoint="marketplace")
    with pytest.raises(HttpStatusError, match="HTTP status 404"):
        client.marketplace()


def test_retried_and_spaced_like_every_read(
    make_client: ClientFactory, emulator: Emulator, clock: FakeClock
) -> None:
    outcomes: list[tuple[str, str]] = []
    client = make_client(retries=2, on_response=lambda e, o: outcomes.append((e, o)))
    emulator.faults.api_code(5, endpoint="marketplace")
    emulator.faults.http_status(503, endpoint="marketplace")
    client.server_config("demo-rig")
    assert client.marketplace().servers
    assert outcomes == [
        ("server_config", "0"),
        ("marketplace", "5"),
        ("marketplace", "http_503"),
        ("marketplace", "0"),
    ]
    times = [r.time for r in emulator.requests]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times
    with pytest.raises(RateLimited):
        emulator.faults.api_code(5, endpoint="marketplace", times=3)
        client.marketplace()


def test_the_token_is_scrubbed_from_what_is_kept(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    listing = {**GOOD, "specs": {"gpu": f"1x {SECRET}"}, "gpu_array": [f"GPU {SECRET}"]}
    emulator.set_marketplace([listing])
    (server, *_) = make_client().marketplace().servers
    assert server.gpu == "1x ***" and server.gpu_array == ("GPU ***",)


def test_an_error_quoting_the_token_is_scrubbed(
    make_client: ClientFactory, emulator: Emulator
) -> None:
    emulator.faults.api_code(6, error=f"bad {SECRET}", endpoint="marketplace")
    with pytest.raises(CloreError) as info:
        make_client().marketplace()
    assert SECRET not in str(info.value)
