"""The client against the emulator over loopback HTTP: every endpoint, retries, spacing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from clore_host.api import (
    ApiUnreachable,
    CloreClient,
    CloreError,
    CreateOrder,
    HttpStatusError,
    InvalidInput,
    MalformedResponse,
    NamedApiError,
    SetServerSettings,
    Token,
    TooManyRequests,
    may_have_landed,
)
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import SECRET, ClientFactory


def test_wallets(client: CloreClient, emulator: Emulator) -> None:
    wallets = client.wallets().wallets
    assert [(w.name, w.balance) for w in wallets] == [("bitcoin", 0.0015)]
    (record,) = emulator.requests
    assert (record.endpoint, record.method, record.code) == ("wallets", "GET", 0)


def test_my_servers_and_marketplace_agree(client: CloreClient) -> None:
    mine = client.my_servers()
    market = client.marketplace()
    assert mine.limit == 16
    (server,) = mine.servers
    assert (server.name, server.id, server.visibility) == ("demo-rig", 1, "public")
    assert market.my_servers == {1}
    listed = {s.id: s for s in market.servers}
    assert server.pricing is not None and server.min_spot_pricing is not None
    assert listed[1].on_demand == server.pricing["bitcoin"]
    assert listed[1].spot == server.min_spot_pricing["bitcoin"]
    assert (listed[6].owner, listed[6].gpu) == (4, "1x NVIDIA GeForce GTX 1080 Ti")


def test_server_config_sends_body_on_get(client: CloreClient, emulator: Emulator) -> None:
    answer = client.server_config("demo-rig")
    config = answer.config
    assert answer.creation_completed is True
    assert (config.name, config.id, config.mrl, config.rental_status) == ("demo-rig", 1, 72, 0)
    assert config.pricing == {"bitcoin": 0.0001, "usd": 0.0}
    assert config.spot_pricing == {"bitcoin": 0.00005, "usd": 0.0}
    assert config.is_available() is True
    (record,) = emulator.requests
    assert (record.method, record.body) == ("GET", {"server_name": "demo-rig"})


def test_settings_written_are_read_back(client: CloreClient, emulator: Emulator) -> None:
    client.set_server_settings(
        SetServerSettings(
            name="demo-rig", availability=False, mrl=96, on_demand=0.0002, spot=0.0001
        )
    )
    config = client.server_config("demo-rig").config
    assert config.pricing is not None and config.pricing["bitcoin"] == 0.0002
    assert config.spot_pricing is not None and config.spot_pricing["bitcoin"] == 0.0001
    assert (config.mrl, config.visibility, config.availability) == (96, "hidden", False)
    assert emulator.requests[0].body == {
        "name": "demo-rig",
        "availability": False,
        "mrl": 96,
        "on_demand": 0.0002,
        "spot": 0.0001,
    }
    # Hidden servers leave the marketplace; my_servers still lists them.
    market = client.marketplace()
    assert 1 not in {s.id for s in market.servers} and market.my_servers == {1}


def test_rental_status_hook_is_visible(client: CloreClient, emulator: Emulator) -> None:
    emulator.set_rental_status("demo-rig", 2)
    assert client.server_config("demo-rig").config.rental_status == 2
    assert {s.id: s.rented for s in client.marketplace().servers}[1] is True
    assert emulator.server("demo-rig")["rental_status"] == 2


def test_my_orders_and_create_cancel(client: CloreClient, emulator: Emulator) -> None:
    assert client.my_orders().orders == []
    client.create_order(
        CreateOrder(currency="bitcoin", image="cloreai/ubuntu", renting_server=6, type="on-demand")
    )
    (order,) = client.my_orders().orders
    assert (order.si, order.price, order.spot, order.expired) == (6, 0.00001, False, False)
    assert {s.id: s.rented for s in client.marketplace().servers}[6] is True
    client.cancel_order(order.id, issue="GPU #1 overheating")
    assert client.my_orders().orders == []
    (done,) = client.my_orders(return_completed=True).orders
    assert done.expired is True
    assert emulator.requests.for_endpoint("my_orders")[-1].params == {"return_completed": "true"}
    assert emulator.requests.for_endpoint("cancel_order")[0].body == {
        "id": order.id,
        "issue": "GPU #1 overheating",
    }


def test_spot_marketplace_and_spot_price_rules(client: CloreClient, clock: FakeClock) -> None:
    market = client.spot_marketplace(6)
    assert market.exists is True and market.market is not None
    assert market.market.server is not None and market.market.server.mrl == 73 * 3600
    (offer,) = market.market.offers
    assert (offer.offer_id, offer.bid, offer.my) == (39, 0.0000042, True)
    with pytest.raises(NamedApiError) as step:
        client.set_spot_price(39, 0.000002)  # more than 0.000001 below the bid
    assert step.value.error == "exceeded_max_step"
    assert step.value.max_step == pytest.approx(0.0000032)
    client.set_spot_price(39, 0.0000032)
    clock.advance(100)
    with pytest.raises(NamedApiError) as wait:
        client.set_spot_price(39, 0.0000025)
    assert wait.value.error == "can_lower_every_600_seconds"
    assert wait.value.time_to_lowering is not None
    assert wait.value.time_to_lowering == 500  # lowered 100 s ago
    client.set_spot_price(39, 0.000005)  # raising is always allowed
    clock.advance(600)
    client.set_spot_price(39, 0.000004)
    assert client.spot_marketplace(6).market.offers[0].bid == 0.000004  # type: ignore[union-attr]
    assert client.spot_marketplace(999).exists is False


def test_create_spot_order_adds_an_offer(client: CloreClient) -> None:
    client.create_order(
        CreateOrder(currency="bitcoin", image="img", renting_server=6, type="spot", spotprice=2e-6)
    )
    market = client.spot_marketplace(6).market
    assert market is not None
    assert sorted(o.bid or 0 for o in market.offers if o.my) == [2e-6, 4.2e-6]


def test_client_spaces_requests_by_its_clock(client: CloreClient, emulator: Emulator) -> None:
    for _ in range(3):
        client.wallets()
    order = CreateOrder(
        currency="bitcoin", image="img", renting_server=6, type="spot", spotprice=1e-6
    )
    client.create_order(order)
    client.create_order(order)
    times = [r.time for r in emulator.requests]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 1.0, 1.0, 5.0]
    assert all(r.code == 0 for r in emulator.requests)


# -- retries ----------------------------------------------------------------------------------

TRANSIENT = {
    "code 1": lambda e: e.faults.api_code(1),
    "code 5": lambda e: e.faults.api_code(5),
    "http 429": lambda e: e.faults.too_many_requests(retry_after=None),
    "http 500": lambda e: e.faults.http_status(500),
    "http 503": lambda e: e.faults.http_status(503),
    "dropped": lambda e: e.faults.drop(),
    "malformed": lambda e: e.faults.malformed(),
    "timeout": lambda e: e.faults.slow(0.3),
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_transient_fault_then_success(
    make_client: ClientFactory, emulator: Emulator, clock: FakeClock, fault: str
) -> None:
    TRANSIENT[fault](emulator)
    outcomes: list[tuple[str, str]] = []
    client = make_client(timeout=0.05, on_response=lambda e, o: outcomes.append((e, o)))
    start = clock.now()
    assert client.server_config("demo-rig").config.name == "demo-rig"
    assert len(emulator.requests) == 2
    assert outcomes[-1] == ("server_config", "0") and len(outcomes) == 2
    assert clock.now() - start >= 1.0  # backed off on the fake clock


def test_backoff_doubles_and_exhausts(
    make_client: ClientFactory, emulator: Emulator, clock: FakeClock
) -> None:
    emulator.faults.http_status(500, endpoint="wallets", times=10)
    outcomes: list[str] = []
    client = make_client(retries=3, on_response=lambda e, o: outcomes.append(o))
    with pytest.raises(HttpStatusError) as info:
        client.wallets()
    assert info.value.status == 500
    times = [r.time for r in emulator.requests]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 2.0, 4.0]
    assert outcomes == ["http_500"] * 4
    assert emulator.faults.pending() == 6


def test_retry_after_is_honoured(make_client: ClientFactory, emulator: Emulator) -> None:
    emulator.faults.too_many_requests(retry_after=7)
    make_client().wallets()
    first, second = emulator.requests
    assert (first.status, second.code) == (429, 0)
    assert second.time - first.time == 7.0


@pytest.mark.parametrize("seconds", [3600, 60])
def test_overlong_retry_after_is_not_waited(
    make_client: ClientFactory, emulator: Emulator, seconds: int
) -> None:
    # 60 s is already too long: the daemon's watchdog (90 s) gets no ping while it waits.
    emulator.faults.too_many_requests(retry_after=seconds)
    with pytest.raises(TooManyRequests) as info:
        make_client().wallets()
    assert info.value.retry_after == float(seconds)
    assert len(emulator.requests) == 1


def test_set_server_settings_is_retried(client: CloreClient, emulator: Emulator) -> None:
    emulator.faults.drop(endpoint="set_server_settings")
    client.set_server_settings(
        SetServerSettings(name="demo-rig", availability=True, mrl=80, on_demand=0.0003, spot=0.0002)
    )
    assert [r.fault for r in emulator.requests] == ["drop", None]
    assert emulator.server("demo-rig")["mrl"] == 80


SETTINGS = SetServerSettings(
    name="demo-rig", availability=True, mrl=80, on_demand=0.0003, spot=0.0002
)


@pytest.mark.parametrize(
    "then",
    [
        lambda f: f.too_many_requests(120, endpoint="set_server_settings"),
        lambda f: f.api_code(6, "exceeded_max_step", endpoint="set_server_settings"),
        lambda f: f.http_status(400, endpoint="set_server_settings"),
    ],
    ids=["429-retry-after-120", "code-6", "http-400"],
)
def test_an_error_after_a_lost_answer_is_marked_in_doubt(
    client: CloreClient, emulator: Emulator, then: Any
) -> None:
    # The first attempt is carried out and its answer lost; the retry is refused. The error
    # raised is the retry's, but it must not pass for "nothing was carried out".
    emulator.faults.lose_answer(endpoint="set_server_settings")
    then(emulator.faults)
    with pytest.raises(CloreError) as info:
        client.set_server_settings(SETTINGS)
    assert info.value.earlier_attempt_in_doubt is True
    assert may_have_landed(info.value)
    assert emulator.server("demo-rig")["mrl"] == 80  # it was carried out


def test_a_refusal_after_a_refusal_is_not_in_doubt(client: CloreClient, emulator: Emulator) -> None:
    # A 429 says the request was not carried out: the code 6 after it leaves nothing in doubt.
    emulator.faults.too_many_requests(1, endpoint="set_server_settings")
    emulator.faults.api_code(6, "exceeded_max_step", endpoint="set_server_settings")
    with pytest.raises(NamedApiError) as info:
        client.set_server_settings(SETTINGS)
    assert info.value.earlier_attempt_in_doubt is False
    assert not may_have_landed(info.value)
    assert len(emulator.requests) == 2


NEVER_RETRIED: dict[str, Any] = {
    "create_order": lambda c: c.create_order(
        CreateOrder(currency="bitcoin", image="img", renting_server=6, type="on-demand")
    ),
    "cancel_order": lambda c: c.cancel_order(39),
    "set_spot_price": lambda c: c.set_spot_price(39, 0.000005),
}


@pytest.mark.parametrize("endpoint", sorted(NEVER_RETRIED))
@pytest.mark.parametrize("fault", ["http 500", "dropped", "code 1"])
def test_orders_are_never_retried(
    client: CloreClient, emulator: Emulator, endpoint: str, fault: str
) -> None:
    TRANSIENT[fault](emulator)
    with pytest.raises(CloreError):
        NEVER_RETRIED[endpoint](client)
    assert [r.endpoint for r in emulator.requests] == [endpoint]


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(
    client: CloreClient, emulator: Emulator, status: int
) -> None:
    emulator.faults.http_status(status, times=5)
    with pytest.raises(HttpStatusError, match=f"wallets: HTTP status {status}"):
        client.wallets()
    assert len(emulator.requests) == 1


def test_invalid_input_is_not_retried(client: CloreClient, emulator: Emulator) -> None:
    with pytest.raises(InvalidInput):
        client.server_config("no-such-rig")
    assert len(emulator.requests) == 1


def test_api_can_go_away_and_come_back(make_client: ClientFactory, clock: FakeClock) -> None:
    with Emulator(_state(), clock=clock) as first:
        port = first.port
        client = make_client(url=first.url, retries=0)
        client.wallets()
    with pytest.raises(ApiUnreachable, match="wallets: cannot connect to"):
        client.wallets()
    first.update_server("demo-rig", mrl=99)
    with Emulator(first.state(), clock=clock, port=port) as second:
        assert second.server("demo-rig")["mrl"] == 99
        assert client.wallets().code == 0
        assert len(second.requests) == 1


def _state() -> dict[str, Any]:
    from .conftest import make_state

    return make_state()


# -- shapes (httpx.MockTransport: bodies the emulator does not produce) ------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "response is not a JSON object"),
        (b'{"config": {}}', "response has no integer code"),
        (b'{"code": "0"}', "response has no integer code"),
        (b'{"code": true}', "response has no integer code"),
        (b'{"code": 0}', "unexpected response shape: config is missing"),
        (
            b'{"code": 0, "config": {"name": "r", "mrl": "many"}}',
            'config.mrl is "many", expected a whole number',
        ),
    ],
)
def test_wrong_shapes_are_malformed(clock: FakeClock, body: bytes, message: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with (
        CloreClient.connect(
            "http://api.test/v1", Token(SECRET), clock=clock, retries=0, transport=transport
        ) as client,
        pytest.raises(MalformedResponse) as info,
    ):
        client.server_config("r")
    assert str(info.value).startswith(f"server_config: {message}")


def test_extra_fields_and_auth_header(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"code": 0, "config": {"name": "r", "gpu_array": [1]}, "allowed_coins": ["x"]}
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(answer)
    with CloreClient.connect(
        "http://api.test/v1/", Token(SECRET), clock=clock, transport=transport
    ) as client:
        assert client.server_config("r").config.name == "r"
    (request,) = seen
    assert request.headers["auth"] == SECRET
    assert "authorization" not in request.headers
    assert str(request.url) == "http://api.test/v1/server_config"
    assert json.loads(request.content) == {"server_name": "r"}


def test_retry_after_as_http_date(clock: FakeClock) -> None:
    from email.utils import formatdate

    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": formatdate(clock.now() + 30, usegmt=True)}),
            httpx.Response(200, json={"code": 0}),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))
    start = clock.now()
    with CloreClient.connect(
        "http://api.test/v1", Token(SECRET), clock=clock, transport=transport
    ) as c:
        c.wallets()
    assert 29 <= clock.now() - start <= 31


@pytest.mark.parametrize("url", ["ftp://x/v1", "not a url", "http:///v1", "http://[::1"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        CloreClient.connect(url, Token(SECRET))


def test_shared_state_dir_spaces_two_clients(
    make_client: ClientFactory, emulator: Emulator, tmp_path: Path
) -> None:
    a, b = make_client(state_dir=tmp_path), make_client(state_dir=tmp_path)
    a.wallets()
    b.wallets()
    a.wallets()
    times = [r.time for r in emulator.requests]
    assert [y - x for x, y in itertools.pairwise(times)] == [1.0, 1.0]
