"""Exact prices on the wire: whole units of the currency (one satoshi, 0.00000001), written in
fixed point, and settled at that unit after an interrupted write."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from clore_host.api import CloreClient, ServerConfig, SetServerSettings, Token
from clore_host.api.wire import encode_json
from clore_host.facts import Settings
from clore_host.money import price_text, price_units, unit_price
from clore_host.observe.server import current_settings, same_settings
from clore_host.policy import make_plan
from clore_host.testing import FakeClock

from ..policy.test_properties import Case, cases

# A number token of a JSON body (outside strings: the body's only string is the name).
NUMBER = re.compile(rb'"(on_demand|spot)":([^,}]*)')
FIXED_POINT = re.compile(rb"[0-9]+\.[0-9]{1,8}")


class Wire:
    """The transport's side: keeps each request's body, answers code 0."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.types: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        self.types.append(request.headers.get("content-type"))
        return httpx.Response(200, json={"code": 0})


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[CloreClient, Wire]]:
    seen = Wire()
    client = CloreClient.connect(
        "https://api.example.test/v1",
        Token("wire-test-token"),
        clock=FakeClock(),  # the 1 s spacing waits on it, instantly
        retries=0,
        transport=httpx.MockTransport(seen),
    )
    with client:
        yield client, seen


def _send(client: CloreClient, wire: Wire, target: Settings) -> bytes:
    # As the agent's cycle builds its write from the plan's target.
    client.set_server_settings(
        SetServerSettings(
            name="rig",
            availability=target.availability,
            mrl=target.mrl,
            on_demand=target.on_demand,
            spot=target.spot,
        )
    )
    return wire.bodies[-1]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_every_price_on_the_wire_is_the_plans_in_whole_units_and_settles_as_applied(
    wire: tuple[CloreClient, Wire], case: Case
) -> None:
    client, seen = wire
    plan = make_plan(case.policy, case.facts, case.prior)
    if not plan.changed:
        return  # nothing goes on the wire
    body = _send(client, seen, plan.target)
    numbers = dict(NUMBER.findall(body))
    assert set(numbers) == {b"on_demand", b"spot"}, body
    for field, text in numbers.items():
        price = getattr(plan.target, field.decode())
        # Fixed point, at most 8 decimals, no exponent.
        assert FIXED_POINT.fullmatch(text), body
        # The plan's own price: what the plan shows is what is sent, to the satoshi.
        assert Decimal(text.decode()) == Decimal(f"{price:.8f}")
        assert float(text) == price
    # The service stores what it read; the next run finds the interrupted write applied
    # (and tells a write that never landed from one that did).
    stored = json.loads(body)
    config = ServerConfig.model_validate(
        {
            "name": "rig",
            "pricing": {"bitcoin": stored["on_demand"]},
            "spot_pricing": {"bitcoin": stored["spot"]},
            "availability": stored["availability"],
            "visibility": "public" if stored["availability"] else "hidden",
            "mrl": stored["mrl"],
        }
    )
    if 6 <= stored["mrl"] <= 3000:  # the rails' mrl may go below the API's 6 h
        read = current_settings(config, "bitcoin", case.policy.rails)
        assert same_settings(plan.target, read)
    assert same_settings(plan.target, Settings(*plan.target))
    assert not same_settings(plan.target, plan.current)


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (0.00005, "0.00005000"),  # json.dumps: 5e-05
        (0.0001 * 0.729, "0.00007290"),  # json.dumps: 7.290000000000001e-05
        (0.000123456789, "0.00012346"),  # 9 decimals: the nearest unit
        (0.000000014999, "0.00000001"),
        (1e-8, "0.00000001"),
        (12.5, "12.50000000"),
    ],
)
def test_a_price_is_written_in_fixed_point_whole_units(price: float, text: str) -> None:
    assert price_text(price) == text
    body = SetServerSettings(name="r", availability=True, mrl=72, on_demand=price, spot=price)
    encoded = encode_json(body.body())
    assert encoded == (
        f'{{"name":"r","availability":true,"mrl":72,"on_demand":{text},"spot":{text}}}'.encode()
    )
    assert json.loads(encoded)["spot"] == float(text)


def test_the_body_of_every_request_is_json() -> None:
    value = {"a": [1, None, True, "x\n\u00e9"], "b": {"c": 0.5}, "d": 1e20}
    assert json.loads(encode_json(value)) == value
    assert b"e+" not in encode_json(value) and b"e-" not in encode_json({"x": 5e-05})
    with pytest.raises(ValueError, match="finite"):
        encode_json({"x": float("nan")})


def test_whole_units_forgive_float_noise_only() -> None:
    assert price_units(0.0001 * 0.9) == 9000  # 9.000000000000001e-05
    assert price_units(0.0001 * 0.9, "ROUND_CEILING") == 9000
    assert price_units(0.000090001, "ROUND_CEILING") == 9001
    assert price_units(0.000090009, "ROUND_FLOOR") == 9000
    assert unit_price(7290) == 0.0000729 == json.loads("0.00007290")
    with pytest.raises(ValueError):
        price_units(float("inf"))


def test_the_wire_carries_what_the_request_says(wire: tuple[CloreClient, Wire]) -> None:
    client, seen = wire
    body = _send(client, seen, Settings(0.0001 * 0.729, 0.00005, True, 72))
    assert body == (
        b'{"name":"rig","availability":true,"mrl":72,"on_demand":0.00007290,"spot":0.00005000}'
    )
    assert seen.types[-1] == "application/json"
