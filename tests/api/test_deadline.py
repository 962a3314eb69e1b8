"""Time limits that hold, and answers no reader chokes on.

`api.timeout` bounds the whole request: a server that drips its answer a byte at a time is
cut off at the timeout (httpx's own timeout bounds each read, so a drip went on for as long
as the server liked). These tests run a tiny loopback server in real time, kept short: a
timeout of 0.5 s against a drip that would last 4 s.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from clore_host.api import ApiTimeout, CloreClient, MalformedResponse, Token
from clore_host.api.connection import MAX_DEPTH
from clore_host.errors import describe
from clore_host.testing import FakeClock

TIMEOUT = 0.5
DRIP_INTERVAL = 0.05
DRIP_BYTES = 80  # 4 s of dripping: far past the timeout
BODY = json.dumps({"code": 0, "wallets": []}).encode().ljust(DRIP_BYTES)


class Dripper:
    """Answers each connection a byte at a time: the headers too (`headers=True`), or the
    headers at once and then the body."""

    def __init__(self, *, headers: bool) -> None:
        self.drip_headers = headers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.drips: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            drip = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            self.drips.append(drip)
            drip.start()

    def _drip(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        with conn:
            conn.recv(65536)  # the request (small: one read)
            if not self.drip_headers:
                conn.sendall(head)
            for byte in (head if self.drip_headers else b"") + BODY:
                if self.stop.wait(DRIP_INTERVAL):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()
        # Every socket closed before the test ends: a later test in this process may count
        # the open file descriptors (tests/api/test_ratelimit.py).
        for drip in self.drips:
            drip.join(timeout=2)


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_a_server_dripping_its_answer_is_cut_off_at_the_timeout(headers: bool) -> None:
    dripper = Dripper(headers=headers)
    client = CloreClient.connect(
        dripper.url, Token("drip-token"), clock=FakeClock(), timeout=TIMEOUT, retries=0
    )
    try:
        started = time.monotonic()
        with pytest.raises(ApiTimeout) as info:
            client.wallets()
        took = time.monotonic() - started
    finally:
        client.close()
        dripper.close()
    assert took < TIMEOUT + 0.75, f"the request took {took:.2f} s"
    code, line = describe(info.value)
    assert code == 4
    assert line == "API unavailable, nothing changed: wallets: no answer within 0.5 s"


def test_a_prompt_answer_is_not_cut_off() -> None:
    # The deadline is per request: a client that waited before is not out of time.
    answers = [json.dumps({"code": 0, "wallets": []}).encode()]
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                body = answers[0]
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    with CloreClient.connect(
        url, Token("t"), clock=FakeClock(), timeout=TIMEOUT, retries=0
    ) as client:
        assert client.wallets().wallets == []
        time.sleep(TIMEOUT)  # a pause between requests (real time: the deadline's clock)
        assert client.wallets().wallets == []
    thread.join(timeout=2)
    server.close()


# -- answers nested thousands deep ---------------------------------------------------------


def _client(body: bytes) -> CloreClient:
    return CloreClient.connect(
        "https://api.example.test/v1",
        Token("t"),
        clock=FakeClock(),
        retries=0,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 0, "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # json: RecursionError
        b'{"code": 0, "wallets": []' + b', "x": {"a": ' * 200 + b"1" + b"}" * 200 + b"}",
        b'{"code": 1, "error": "x", "detail": ' + b"[" * 500 + b"]" * 500 + b"}",
        b"[" * 50_000,  # not even closed
    ],
    ids=["100000-deep", "200-deep", "error-500-deep", "unclosed"],
)
def test_an_answer_nested_too_deep_is_malformed_not_a_recursion_error(body: bytes) -> None:
    with _client(body) as client, pytest.raises(MalformedResponse) as info:
        client.wallets()
    code, line = describe(info.value)
    assert code == 4
    assert line.startswith("API unavailable, nothing changed: wallets: response ")


def test_an_answer_of_the_documented_depth_is_read() -> None:
    nested = {
        "code": 0,
        "wallets": [],
        "x": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)),
    }
    with _client(json.dumps(nested).encode()) as client:
        assert client.wallets().wallets == []
