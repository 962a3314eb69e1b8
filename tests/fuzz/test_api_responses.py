"""Fuzzing what the API answers: random statuses, headers and bodies (JSON of every shape,
near-misses of the documented one, and bytes) fed to the client through httpx.MockTransport,
then on to the agent's reading of server_config. Nothing may escape but the client's typed
CloreError subclasses, and no error may carry the token."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_host.api import CloreClient, CloreError, SetServerSettings, Token
from clore_host.observe.server import current_settings, rental_status_of
from clore_host.testing import FakeClock

TOKEN = "fuzz-secret-token-77c2e0"
FUZZ = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PRICES = st.one_of(st.dictionaries(st.sampled_from(["bitcoin", "usd", ""]), SCALAR), JSON)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("rig"), JSON),
        "pricing": PRICES,
        "spot_pricing": PRICES,
        "mrl": st.one_of(st.integers(-5, 5000), JSON),
        "availability": JSON,
        "visibility": st.one_of(st.sampled_from(["public", "hidden", "private", "x"]), JSON),
        "rental_status": st.one_of(st.integers(-1, 3), JSON),
        "specs": JSON,
        "online": JSON,
    },
)
CODE = st.one_of(st.integers(-1, 8), st.integers(), JSON)
# A service echoing the token back as a field's text (nested echoes: see the test below).
ECHO = st.one_of(JSON, st.just(TOKEN), st.just(f"bad token {TOKEN}"))
DOCUMENT = st.fixed_dictionaries(
    {"code": CODE},
    optional={
        "config": st.one_of(CONFIG, JSON),
        "error": ECHO,
        "max_step": ECHO,
        "servers": JSON,
        "wallets": JSON,
        "orders": JSON,
        "market": JSON,
        "exists": JSON,
    },
)
BODY = st.one_of(
    DOCUMENT.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=64),
)
STATUS = st.sampled_from([200] * 8 + [201, 204, 302, 400, 403, 404, 418, 429, 500, 502, 503])
RETRY_AFTER = st.one_of(
    st.none(),
    st.sampled_from(["1", "0", "-3", "1e9", "nan", "inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10),
)


class Answers:
    """The transport's side: answers every request with the current example."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.retry_after: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return httpx.Response(self.status, headers=headers, content=self.body)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[CloreClient, Answers]]:
    answers = Answers()
    client = CloreClient.connect(
        "https://api.example.test/v1",
        Token(TOKEN),
        clock=FakeClock(),  # retries and spacing wait on it, instantly
        retries=1,
        transport=httpx.MockTransport(answers),
    )
    with client:
        yield client, answers


def only_clore_errors(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except CloreError as exc:
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)
        return None


@FUZZ
@given(status=STATUS, body=BODY, retry_after=RETRY_AFTER)
def test_server_config_answers(
    api: tuple[CloreClient, Answers], status: int, body: bytes, retry_after: str | None
) -> None:
    client, answers = api
    answers.status, answers.body, answers.retry_after = status, body, retry_after
    response = only_clore_errors(lambda: client.server_config("rig"))
    if response is not None:
        # What the agent then reads from it: settings and rental status, or ServerDataError.
        only_clore_errors(lambda: current_settings(response.config, "bitcoin"))
        only_clore_errors(lambda: rental_status_of(response.config))


WRITE = SetServerSettings(name="rig", availability=True, mrl=72, on_demand=0.0001, spot=0.00005)


@FUZZ
@given(status=STATUS, body=BODY, retry_after=RETRY_AFTER)
def test_set_server_settings_answers(
    api: tuple[CloreClient, Answers], status: int, body: bytes, retry_after: str | None
) -> None:
    client, answers = api
    answers.status, answers.body, answers.retry_after = status, body, retry_after
    only_clore_errors(lambda: client.set_server_settings(WRITE))


@FUZZ
@given(
    endpoint=st.sampled_from(["wallets", "my_servers", "marketplace", "my_orders", "spot"]),
    status=STATUS,
    body=BODY,
)
def test_other_read_answers(
    api: tuple[CloreClient, Answers], endpoint: str, status: int, body: bytes
) -> None:
    client, answers = api
    answers.status, answers.body, answers.retry_after = status, body, None
    calls: dict[str, Callable[[], Any]] = {
        "wallets": client.wallets,
        "my_servers": client.my_servers,
        "marketplace": client.marketplace,
        "my_orders": client.my_orders,
        "spot": lambda: client.spot_marketplace(6),
    }
    only_clore_errors(calls[endpoint])


def test_a_token_echoed_inside_a_nested_field_reaches_no_message(
    api: tuple[CloreClient, Answers], caplog: pytest.LogCaptureFixture
) -> None:
    # Found by this fuzzing: {"code": 1, "max_step": ["<token>"]}.
    client, answers = api
    answers.status, answers.retry_after = 200, None
    answers.body = json.dumps({"code": 1, "max_step": [TOKEN], "detail": {"auth": TOKEN}}).encode()
    with pytest.raises(CloreError) as info:
        client.server_config("rig")
    assert TOKEN not in str(info.value)
    assert TOKEN not in caplog.text
