"""The token never reaches a message quoting an answer: not as it is, not as JSON or repr()
escape it (a token may hold `"` or `\\`), not in a value, not in a key naming where the value
is, and not through the settings read from server_config (issue 14, item 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from clore_host.api import CloreClient, CloreError, ServerConfigResponse, Token
from clore_host.api.models import SpotMarketplaceResponse
from clore_host.errors import describe
from clore_host.observe.server import ServerDataError, current_settings
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import SECRET, make_state

# checked_token takes any printable ASCII but the space: quotes and backslashes too.
SECRETS = [SECRET, 'tok-"Quote\\Back7Zq', "tok-'Apos\\\\Two9Zq", "tok-\\u0041-\"'Mix3Zq"]


def forms(secret: str) -> list[str]:
    """The token as it is and as JSON or repr() would write it inside a string."""
    return [secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], ascii(secret)[1:-1]]


def assert_scrubbed(line: str, secret: str) -> None:
    for form in forms(secret):
        assert form not in line, line
    # Nor any long piece of it (a value cut short to fit the line).
    assert not any(secret[i : i + 8] in line for i in range(len(secret) - 7)), line


@pytest.fixture(params=SECRETS, ids=["plain", "quote-backslash", "apostrophe", "mixed"])
def secret(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(clock: FakeClock, secret: str) -> Iterator[tuple[Emulator, CloreClient]]:
    state = make_state()
    state["tokens"] = [secret]
    with (
        Emulator(state, clock=clock) as emu,
        CloreClient.connect(emu.url, Token(secret), clock=clock, retries=0) as client,
    ):
        yield emu, client


def _answer(emu: Emulator, endpoint: str, body: dict[str, Any]) -> None:
    emu.faults.api_code(0, extra=body, endpoint=endpoint)


def _config(emu: Emulator, **fields: Any) -> dict[str, Any]:
    return {"config": {**emu.server("demo-rig"), **fields}, "creation_completed": True}


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("mrl", 'config.mrl is "***", expected a whole number'),
        ("availability", 'config.availability is "***", expected true or false'),
        ("name", None),  # an answer about another server, named by the token
    ],
)
def test_a_value_holding_the_token_is_quoted_without_it(
    served: tuple[Emulator, CloreClient], secret: str, field: str, words: str | None
) -> None:
    emu, client = served
    _answer(emu, "server_config", _config(emu, **{field: f"x{secret}"}))
    with pytest.raises(CloreError) as info:
        client.server_config("demo-rig")
    code, line = describe(info.value)
    assert code == 4
    assert_scrubbed(line, secret)
    assert words is None or words.replace('"***"', '"x***"') in line, line


def test_a_key_holding_the_token_is_named_without_it(
    served: tuple[Emulator, CloreClient], secret: str
) -> None:
    # A map whose values must be numbers: the key is where the error is, and is shown.
    emu, client = served
    _answer(emu, "spot_marketplace", {"currency_rates_in_usd": {secret: "x"}})
    with pytest.raises(CloreError) as info:
        client.spot_marketplace(6)
    code, line = describe(info.value)
    assert code == 4
    assert_scrubbed(line, secret)
    assert 'currency_rates_in_usd.*** is "x"' in line, line


@pytest.mark.parametrize("where", ["pricing", "spot_pricing"])
def test_a_price_holding_the_token_is_refused_without_it(
    served: tuple[Emulator, CloreClient], secret: str, where: str
) -> None:
    # The configured currency's price is read by observe.server, which does not know the
    # token: the answer reached it without it.
    emu, client = served
    prices = {"bitcoin": f"{secret}", secret: 1}
    _answer(emu, "server_config", _config(emu, **{where: prices}))
    config = client.server_config("demo-rig").config
    with pytest.raises(ServerDataError) as info:
        current_settings(config, "bitcoin")
    code, line = describe(info.value)
    assert code == 4
    assert_scrubbed(line, secret)
    assert f'{where}.bitcoin is "***", expected a number' in line, line


def test_a_successful_answer_reaches_no_model_with_the_token(
    served: tuple[Emulator, CloreClient], secret: str
) -> None:
    emu, client = served
    emu.update_server("demo-rig", background_job={"command": f"run {secret}", secret: [secret]})
    dumped = client.server_config("demo-rig").model_dump_json()
    assert_scrubbed(dumped, secret)
    assert json.loads(dumped)["config"]["background_job"] == {
        "command": "run ***",
        "***": ["***"],
    }


# The client's own scrubbing, below the connection's (which has already replaced the token in
# every answer): a location and a value straight from pydantic, as an answer could hold them.
@pytest.mark.parametrize(
    ("model", "data", "words"),
    [
        (
            SpotMarketplaceResponse,
            lambda s: {"code": 0, "currency_rates_in_usd": {s: "x"}},
            'currency_rates_in_usd.*** is "x"',
        ),
        (
            ServerConfigResponse,
            lambda s: {"code": 0, "config": {"name": "r", "mrl": [s, {s: s}]}},
            'config.mrl is ["***", {"***": "***"}]',
        ),
    ],
)
def test_the_clients_own_messages_scrub_every_form(
    clock: FakeClock, secret: str, model: Any, data: Any, words: str
) -> None:
    with pytest.raises(ValidationError) as error:
        model.model_validate(data(secret))
    with CloreClient.connect("http://127.0.0.1:9", Token(secret), clock=clock) as client:
        problem = client._shape_problem("x", error.value)
    line = describe(problem)[1]
    assert_scrubbed(line, secret)
    assert words in line, line
