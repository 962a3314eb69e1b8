"""The error matrix over loopback HTTP: what a caller sees, and that the token is never in it."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from clore_host.api import (
    ApiError,
    ApiTimeout,
    ApiUnreachable,
    AuthError,
    CloreClient,
    CloreError,
    DatabaseError,
    HttpStatusError,
    InvalidEndpoint,
    InvalidInput,
    MalformedResponse,
    NamedApiError,
    RateLimited,
    TooManyRequests,
)
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import OTHER_SECRET, SECRET, ClientFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Case:
    kind: type[CloreError]
    message: str  # the whole str() a caller sees
    prepare: Callable[[Emulator], None] = lambda e: None
    call: Callable[[CloreClient], Any] = lambda c: c.wallets()
    token: str = SECRET
    url: Callable[[Emulator], str] = lambda e: e.url


MATRIX: dict[str, Case] = {
    "code 1": Case(
        DatabaseError,
        "wallets: API code 1 (database error)",
        prepare=lambda e: e.faults.api_code(1, times=9),
    ),
    "code 2": Case(
        InvalidInput,
        "server_config: API code 2 (invalid input data: unknown server name 'ghost')",
        call=lambda c: c.server_config("ghost"),
    ),
    "code 3": Case(AuthError, "wallets: API code 3 (invalid API token)", token=OTHER_SECRET),
    "code 4": Case(
        InvalidEndpoint,
        "wallets: API code 4 (invalid endpoint)",
        url=lambda e: e.url.replace("/v1", "/v0"),
    ),
    "code 5": Case(
        RateLimited,
        "wallets: API code 5 (exceeded 1 request/second limit)",
        prepare=lambda e: e.faults.api_code(5, times=9),
    ),
    "code 6": Case(
        NamedApiError,
        "set_spot_price: API code 6 (exceeded_max_step); max_step=3.2e-06",
        call=lambda c: c.set_spot_price(39, 0.000001),
    ),
    "code 6 echoing the token": Case(
        NamedApiError,
        "wallets: API code 6 (bad token *** here); hint='token was ***'",
        prepare=lambda e: e.faults.api_code(
            6, error=f"bad token {SECRET} here", extra={"hint": f"token was {SECRET}"}, times=9
        ),
    ),
    "unknown code": Case(
        ApiError,
        "wallets: API code 9 (unknown code)",
        prepare=lambda e: e.faults.api_code(9, times=9),
    ),
    "http 429": Case(
        TooManyRequests,
        "wallets: HTTP 429 too many requests, retry after 2 s",
        prepare=lambda e: e.faults.too_many_requests(retry_after=2, times=9),
    ),
    "http 500": Case(
        HttpStatusError,
        "wallets: HTTP status 500",
        prepare=lambda e: e.faults.http_status(500, times=9),
    ),
    "timeout": Case(
        ApiTimeout,
        "wallets: no answer within 0.05 s",
        prepare=lambda e: e.faults.slow(0.3, times=9),
    ),
    "refused": Case(
        ApiUnreachable,
        "wallets: cannot connect to http://127.0.0.1:{port}/v1",
        url=lambda e: f"http://127.0.0.1:{_free_port()}/v1",
    ),
    "dropped": Case(
        ApiUnreachable,
        "wallets: connection closed without an answer",
        prepare=lambda e: e.faults.drop(times=9),
    ),
    "malformed": Case(
        MalformedResponse,
        "wallets: response is not JSON",
        prepare=lambda e: e.faults.malformed(times=9),
    ),
}


def _run(case: Case, emulator: Emulator, make_client: ClientFactory, retries: int) -> CloreError:
    case.prepare(emulator)
    url = case.url(emulator)
    client = make_client(url=url, token=case.token, timeout=0.05, retries=retries)
    with pytest.raises(CloreError) as info:
        case.call(client)
    assert type(info.value) is case.kind
    expected = case.message.format(port=url.split(":")[-1].split("/")[0])
    assert str(info.value) == expected
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_error_matrix(name: str, emulator: Emulator, make_client: ClientFactory) -> None:
    error = _run(MATRIX[name], emulator, make_client, retries=0)
    assert error.endpoint in str(error)  # type: ignore[attr-defined]


def test_typed_fields(emulator: Emulator, make_client: ClientFactory) -> None:
    client = make_client(retries=0)
    emulator.faults.api_code(
        6, error="can_lower_every_600_seconds", extra={"time_to_lowering": 513}
    )
    with pytest.raises(NamedApiError) as named:
        client.wallets()
    assert (named.value.code, named.value.time_to_lowering, named.value.max_step) == (6, 513, None)
    assert named.value.extra == {"time_to_lowering": 513}
    emulator.faults.too_many_requests(retry_after=4)
    with pytest.raises(TooManyRequests) as many:
        client.wallets()
    assert (many.value.status, many.value.retry_after) == (429, 4.0)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_token_never_leaks(
    name: str,
    emulator: Emulator,
    make_client: ClientFactory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for logger in ("httpx", "httpcore", "clore_host"):
        caplog.set_level(logging.DEBUG, logger=logger)
    ok = make_client()
    ok.my_servers()  # a successful, logged exchange, token sent
    clock.advance(1)  # the next client has its own limiter
    error = _run(MATRIX[name], emulator, make_client, retries=1)
    seen = [
        caplog.text,
        str(error),
        repr(error),
        repr(error.args),
        repr(vars(error)),
        repr(ok),
        str(emulator.requests.snapshot()),
    ]
    for text in seen:
        assert SECRET not in text
        assert OTHER_SECRET not in text
    # The check above is only worth something if httpx really logged at DEBUG.
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)
