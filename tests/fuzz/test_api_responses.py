"""Fuzzing what the API answers: random statuses, headers and bodies (JSON of every shape,
near-misses of the documented one, and bytes) fed to the client through httpx.MockTransport,
then on to the agent's reading of server_config. Nothing may escape but the client's typed
CloreError subclasses, no error may carry the token, and a value the agent reads is never
coerced from another JSON type: what it accepts is exactly what the answer said."""

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
from clore_host.policy import parse_policy
from clore_host.testing import FakeClock

RAILS = parse_policy(
    {
        "version": 1,
        "rails": {
            "on_demand": {"floor": 0.00005, "ceiling": 0.0003},
            "spot": {"floor": 0.00002, "ceiling": 0.0002},
        },
    }
).rails

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
# Near misses of every field the agent reads: the right value in the wrong JSON type.
NEAR_MISS = st.sampled_from(
    ["0.0001", "false", "true", "2", "96", "public", 0, 1, 0.0, 2.0, 96.0, True, False, None]
)
PRICE = st.one_of(
    st.floats(1e-4, 2e-4), st.sampled_from([1e308, 1e-300, 0, 10**400, 7.29e-05]), SCALAR
)
PRICES = st.one_of(
    st.dictionaries(st.sampled_from(["bitcoin", "usd", ""]), st.one_of(PRICE, NEAR_MISS)), JSON
)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("rig"), st.just("other"), NEAR_MISS, JSON),
        "pricing": PRICES,
        "spot_pricing": PRICES,
        "mrl": st.one_of(st.integers(-5, 5000), st.just(10**9), NEAR_MISS, JSON),
        "availability": st.one_of(st.booleans(), NEAR_MISS, JSON),
        "visibility": st.one_of(
            st.sampled_from(["public", "hidden", "private", "x"]), NEAR_MISS, JSON
        ),
        "rental_status": st.one_of(st.integers(-1, 3), NEAR_MISS, JSON),
        "specs": JSON,
        "online": JSON,
        "id": st.one_of(st.integers(0, 9), NEAR_MISS),
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
        settings = only_clore_errors(lambda: current_settings(response.config, "bitcoin", RAILS))
        rental = only_clore_errors(lambda: rental_status_of(response.config))
        if settings is not None and rental is not None:
            assert_read_as_sent(json.loads(body)["config"], settings, rental)


def assert_read_as_sent(raw: dict[str, Any], settings: Any, status: str) -> None:
    """Accepted only as the answer said it, in its own JSON type, and plausible."""
    assert raw["name"] == "rig"
    for key, field in (("pricing", "on_demand"), ("spot_pricing", "spot")):
        sent = raw[key]["bitcoin"]
        assert type(sent) in (int, float) and float(sent) == getattr(settings, field)
        assert 1e-8 <= sent <= 0.3
    assert type(raw["mrl"]) is int and raw["mrl"] == settings.mrl and 6 <= settings.mrl <= 3000
    if "availability" in raw and raw["availability"] is not None:
        assert raw["availability"] is settings.availability
    if raw.get("visibility") is not None:
        assert raw["visibility"] == ("public" if settings.availability else raw["visibility"])
        assert raw["visibility"] in ("public", "hidden", "private")
    assert type(raw["rental_status"]) is int
    assert status == ("not_rented", "spot", "on_demand")[raw["rental_status"]]
    assert raw.get("id") is None or type(raw["id"]) is int


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


VALID_CONFIG: dict[str, Any] = {
    "name": "rig",
    "pricing": {"bitcoin": 0.0001, "usd": 0},
    "spot_pricing": {"bitcoin": 0.00005, "usd": 0},
    "mrl": 72,
    "availability": True,
    "visibility": "public",
    "rental_status": 2,
    "id": 1,
}
READ_FIELDS = st.sampled_from(
    [
        *("name", "pricing.bitcoin", "spot_pricing.bitcoin", "mrl", "availability"),
        *("visibility", "rental_status", "id", "pricing", "spot_pricing"),
    ]
)


@FUZZ
@given(
    replaced=st.dictionaries(
        READ_FIELDS,
        st.one_of(NEAR_MISS, PRICE, st.integers(-5, 5000), JSON),
        min_size=1,
        max_size=2,
    )
)
def test_near_misses_of_a_valid_answer_are_refused_or_read_exactly(
    api: tuple[CloreClient, Answers], replaced: dict[str, Any]
) -> None:
    client, answers = api
    config: dict[str, Any] = json.loads(json.dumps(VALID_CONFIG))
    for path, value in replaced.items():
        if "." in path:
            key, currency = path.split(".")
            prices = config[key] if isinstance(config[key], dict) else {}
            config[key] = {**prices, currency: value}
        else:
            config[path] = value
    answers.status, answers.retry_after = 200, None
    try:
        answers.body = json.dumps({"code": 0, "config": config}).encode()
    except ValueError:  # a value JSON cannot hold (nan): not an answer
        return
    response = only_clore_errors(lambda: client.server_config("rig"))
    if response is None:
        return
    settings = only_clore_errors(lambda: current_settings(response.config, "bitcoin", RAILS))
    status = only_clore_errors(lambda: rental_status_of(response.config))
    if settings is not None and status is not None:
        assert_read_as_sent(json.loads(answers.body)["config"], settings, status)
