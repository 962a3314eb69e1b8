"""Proxies named in the environment are honoured as httpx honours them (HTTP_PROXY,
HTTPS_PROXY, ALL_PROXY, lowercase or not, and NO_PROXY's exceptions), through the same time
limit as a direct connection; one the client cannot use is refused with one line naming the
variable, never ignored (a rig that needs its proxy must not silently connect directly)."""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest

from clore_host.api import ApiTimeout, BadProxy, CloreClient, Connection, Token
from clore_host.api.connection import _DeadlineBackend
from clore_host.errors import describe
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import SECRET, ClientFactory
from .test_deadline import TIMEOUT, Dripper

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the caller's own proxy settings: each test sets what it means."""
    for name in list(os.environ):
        if name.lower() in PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


class ForwardProxy:
    """A plain HTTP forward proxy on loopback: takes a request in absolute form
    (`GET http://host:port/path`), forwards it, and logs what it carried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []  # method, URL, whether the token came along
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                target = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path, self.headers.get("auth") == SECRET))
                upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                self.send_header("content-type", answer.getheader("content-type") or "")
                self.send_header("content-length", str(len(data)))
                self.send_header("connection", "close")
                self.close_connection = True  # one request a connection: nothing lingers
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        # Its handlers are joined when it closes (ThreadingHTTPServer's block_on_close): no
        # socket outlives the test, for a later one that counts open file descriptors.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy()
    yield forward
    forward.close()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    emulator: Emulator,
    make_client: ClientFactory,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    client = make_client()
    assert client.server_config("demo-rig").config.name == "demo-rig"
    assert proxy.seen == [("GET", f"{emulator.url}/server_config", True)]
    assert [r.endpoint for r in emulator.requests] == ["server_config"]


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", " example.com , 127.0.0.1 "]
)
def test_no_proxy_sends_requests_directly(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    emulator: Emulator,
    make_client: ClientFactory,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    make_client().wallets()
    assert proxy.seen == []
    assert len(emulator.requests) == 1


def test_a_proxy_for_another_scheme_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ForwardProxy,
    emulator: Emulator,
    make_client: ClientFactory,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # the emulator is plain http
    make_client().wallets()
    assert proxy.seen == []


def _transport(connection: Connection, url: str) -> httpx.HTTPTransport:
    transport = connection.transport_for(url)
    assert isinstance(transport, httpx.HTTPTransport)
    return transport


def test_an_https_api_gets_the_https_proxy_over_the_same_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.lan:3128")
    monkeypatch.setenv("NO_PROXY", "internal.lan")
    connection = Connection("https://api.clore.ai/v1", Token(SECRET), clock=FakeClock())
    try:
        pool = _transport(connection, "https://api.clore.ai/v1/wallets")._pool
        assert isinstance(pool, httpcore.HTTPProxy)
        assert pool._proxy_url.host == b"proxy.lan" and pool._proxy_url.port == 3128
        auth = dict(pool._proxy_headers)[b"Proxy-Authorization"]
        assert auth == b"Basic " + base64.b64encode(b"user:pw")
        assert isinstance(pool._network_backend, _DeadlineBackend)  # the time limit holds
        direct = _transport(connection, "https://api.internal.lan/v1")._pool
        assert not isinstance(direct, httpcore.HTTPProxy)
        assert isinstance(direct._network_backend, _DeadlineBackend)
    finally:
        connection.close()


def test_without_proxy_settings_every_url_goes_direct() -> None:
    connection = Connection("https://api.clore.ai/v1", Token(SECRET), clock=FakeClock())
    try:
        for url in ("https://api.clore.ai/v1", "http://127.0.0.1:1/v1"):
            pool = _transport(connection, url)._pool
            assert type(pool) is httpcore.ConnectionPool
            assert isinstance(pool._network_backend, _DeadlineBackend)
    finally:
        connection.close()


def test_a_proxy_dripping_its_answer_is_cut_off_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The proxy is the one that drips: api.timeout bounds the whole request through it too.
    dripper = Dripper(headers=False)
    monkeypatch.setenv("HTTP_PROXY", dripper.url.removesuffix("/v1"))
    client = CloreClient.connect(
        "http://api.example/v1", Token(SECRET), clock=FakeClock(), timeout=TIMEOUT, retries=0
    )
    try:
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            client.wallets()
        took = time.monotonic() - started
    finally:
        client.close()
        dripper.close()
    assert took < TIMEOUT + 0.75, f"the request took {took:.2f} s"


def test_an_unreachable_proxy_is_named_in_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://user:hunter2@127.0.0.1:9")
    client = CloreClient.connect(
        "https://api.example/v1", Token(SECRET), clock=FakeClock(), retries=0
    )
    try:
        with pytest.raises(Exception) as info:
            client.wallets()
    finally:
        client.close()
    code, line = describe(info.value)
    assert code == 4
    assert line == (
        "API unavailable, nothing changed: wallets: cannot connect to https://api.example/v1 "
        "through the proxy http://127.0.0.1:9 (https_proxy)"
    )


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("ALL_PROXY", "socks5://user:hunter2@127.0.0.1:1080", "ALL_PROXY names socks5://"),
        ("HTTPS_PROXY", "socks5h://proxy.lan", "HTTPS_PROXY names socks5h://proxy.lan: only"),
        ("http_proxy", "ftp://proxy.lan", "http_proxy is not a proxy URL clore-host can use"),
        ("HTTP_PROXY", "http://[::1", "HTTP_PROXY is not a proxy URL clore-host can use"),
    ],
)
def test_a_proxy_that_cannot_be_used_is_refused_not_ignored(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(BadProxy) as info:
        CloreClient.connect("https://api.clore.ai/v1", Token(SECRET), clock=FakeClock())
    code, line = describe(info.value)
    assert code == 2
    assert line.startswith(words), line
    assert "hunter2" not in line and "user" not in line


def test_a_transport_passed_in_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # As httpx does: a transport given is used for every URL.
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json={"code": 0}))
    connection = Connection(
        "https://api.clore.ai/v1", Token(SECRET), clock=FakeClock(), transport=mock
    )
    try:
        assert connection.transport_for("https://api.clore.ai/v1") is mock
    finally:
        connection.close()
