"""One HTTP exchange with CLORE.AI: the auth header, request spacing, and what the answer means.

Below the typed client (client.py): no retries and no response models.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import httpcore
import httpx
from httpx._utils import get_environment_proxies  # how httpx.Client reads the environment

from ..clock import Clock, SystemClock
from ..errors import printable
from .errors import (
    ApiTimeout,
    ApiUnreachable,
    BadBaseUrl,
    BadProxy,
    CloreError,
    HttpStatusError,
    MalformedResponse,
    TooManyRequests,
    api_error,
)
from .ratelimit import RateLimiter
from .token import Token
from .wire import encode_json

log = logging.getLogger(__name__)

# No documented answer nests deeper than a few levels (config.specs.net.down); one nested
# thousands deep is not the API's, and would exhaust the recursion limit of whatever reads it.
MAX_DEPTH = 32


class Answer(NamedTuple):
    """What one request came to: an outcome label for metrics, and the body or the error."""

    outcome: str  # "0", an API code, "http_503", "timeout", "unreachable", "malformed"
    result: dict[str, Any] | CloreError


class Request(NamedTuple):
    endpoint: str
    method: str = "GET"
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None


def server_config_request(name: str) -> Request:
    """The read of one server's settings and rental status."""
    # The seed sends the body on a GET; httpx keeps it with request("GET", json=...).
    return Request("server_config", "GET", None, {"server_name": name})


class Connection:
    """Sends one request at a time, spaced by the shared rate limiter; never retries."""

    def __init__(
        self,
        base_url: str,
        token: Token,
        *,
        state_dir: Path | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise BadBaseUrl(f"API base URL {base_url!r} is not an http(s) URL")
        # Proxies from the environment (HTTPS_PROXY, ...) are honoured as httpx honours them
        # (it reads them only when it builds its own transport), over the same deadline; a
        # transport passed in (tests) is used as it is, for every URL.
        env_proxies = environment_proxies() if transport is None else {}
        self.base_url = str(url).rstrip("/")
        self.token = token
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self._limiter = RateLimiter(state_dir, self.clock)
        # The token is added per request, never as a default header of the httpx client, so it
        # is in no object that something might print.
        # Loading the CA bundle is the costliest part of a client; a plain-HTTP base URL (the
        # loopback emulator) never uses it, and redirects are not followed.
        tls = _tls_context() if self.base_url.startswith("https:") else False
        # The timeout bounds the whole request: httpx's bounds each read, so a server that
        # drips its answer a byte at a time would hold the writer lock and the rate limiter
        # for as long as it liked. A transport passed in (tests) is used as it is.
        self._deadline = _Deadline()
        mounts: dict[str, httpx.BaseTransport | None] = {}
        proxies: dict[httpx.BaseTransport, str] = {}  # a proxy's transport -> it, in words
        if transport is None:
            transport = _deadline_transport(tls, self._deadline)
            for pattern, proxy in env_proxies.items():
                if proxy is None:
                    mounts[pattern] = None  # NO_PROXY: connect directly
                    continue
                through = _proxy_transport(proxy, tls, self._deadline)
                mounts[pattern] = through
                proxies[through] = proxy.shown
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            mounts=mounts,
            follow_redirects=False,
            verify=tls,
        )
        # How a message names the proxy requests go through ("" when they go direct).
        self._via = proxies.get(self.transport_for(self.base_url), "")

    def __repr__(self) -> str:
        return f"Connection({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def transport_for(self, url: str) -> httpx.BaseTransport:
        """The transport a request to `url` goes through: direct, or a proxy's."""
        return self._http._transport_for_url(httpx.URL(url))

    def exchange(self, request: Request) -> Answer:
        """Wait for a slot, send, and interpret the answer. Raises only LocalStateError."""
        try:
            with self._limiter.slot(order=request.endpoint == "create_order"):
                response = self._send(request)
        except (ApiTimeout, ApiUnreachable) as exc:
            return Answer("timeout" if isinstance(exc, ApiTimeout) else "unreachable", exc)
        return self._interpret(request.endpoint, response)

    def _send(self, request: Request) -> httpx.Response:
        endpoint = request.endpoint
        headers = {"auth": self.token.reveal()}
        log.debug("%s %s", request.method, endpoint)
        if request.json is not None:
            # Encoded here, not by httpx (json.dumps): prices in fixed point, no exponent.
            headers["content-type"] = "application/json"
            content: bytes | None = encode_json(request.json)
        else:
            content = None
        self._deadline.at = time.monotonic() + self.timeout
        try:
            return self._http.request(
                request.method,
                f"{self.base_url}/{endpoint}",
                params=request.params,
                content=content,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise ApiTimeout(endpoint, f"no answer within {self.timeout:g} s") from None
        except httpx.ConnectError:
            via = f" through {self._via}" if self._via else ""
            raise ApiUnreachable(endpoint, f"cannot connect to {self.base_url}{via}") from None
        except httpx.ProxyError:
            proxy = self._via or "the proxy"
            raise ApiUnreachable(endpoint, f"{proxy} refused the connection") from None
        except httpx.RemoteProtocolError:
            raise ApiUnreachable(endpoint, "connection closed without an answer") from None
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise ApiUnreachable(endpoint, f"connection failed ({kind})") from None
        finally:
            self._deadline.at = None

    def _interpret(self, endpoint: str, response: httpx.Response) -> Answer:
        status = response.status_code
        if status == 429:
            return Answer("http_429", TooManyRequests(endpoint, self._retry_after(response)))
        if not 200 <= status < 300:
            return Answer(f"http_{status}", HttpStatusError(endpoint, status))
        try:
            data = response.json()
        except RecursionError:
            return Answer("malformed", MalformedResponse(endpoint, _TOO_DEEP))
        except ValueError:
            return Answer("malformed", MalformedResponse(endpoint, "response is not JSON"))
        if _deeper_than(data, MAX_DEPTH):
            return Answer("malformed", MalformedResponse(endpoint, _TOO_DEEP))
        if not isinstance(data, dict):
            return Answer("malformed", MalformedResponse(endpoint, "response is not a JSON object"))
        code = data.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return Answer("malformed", MalformedResponse(endpoint, "response has no integer code"))
        if code != 0:
            error = data.get("error")
            text = self._redact(error) if isinstance(error, str) else None
            extra = {k: self._redact(v) for k, v in data.items() if k not in ("code", "error")}
            return Answer(str(code), api_error(endpoint, code, text, extra))
        # A successful answer too: a value echoing the token (background_job, say) must not
        # reach a message that quotes it, nor an operator's screen.
        return Answer("0", self._redact(data))

    def _redact(self, value: Any) -> Any:
        # The service could echo what it was sent, at any depth; the token must not reach a
        # message.
        if isinstance(value, str):
            return value.replace(self.token.reveal(), "***")
        if isinstance(value, (list, tuple)):
            return [self._redact(item) for item in value]
        if isinstance(value, dict):
            return {self._redact(k): self._redact(v) for k, v in value.items()}
        return value

    def _retry_after(self, response: httpx.Response) -> float | None:
        raw = response.headers.get("retry-after")
        if raw is None:
            return None
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - self.clock.now())


_TOO_DEEP = f"response is nested deeper than {MAX_DEPTH} levels"


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON `data` nests deeper than `limit` arrays and objects (without recursing)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# -- a time limit for the whole request -------------------------------------------------------


class _Deadline(threading.local):
    """When the request in progress on this thread must be done (time.monotonic), or None."""

    at: float | None = None

    def left(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout` for one socket operation, cut to the time the request has left."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise expired("the request's time limit ran out")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_unix_socket(path, left, socket_options), self._deadline
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline_transport(tls: ssl.SSLContext | bool, deadline: _Deadline) -> httpx.HTTPTransport:
    """httpx's own transport over a connection pool whose sockets keep `deadline`.

    httpx takes no network backend, so its pool is replaced by one that has ours (the same
    pool httpx builds without a proxy); tests/api/test_deadline.py fails if httpx changes.
    """
    transport = httpx.HTTPTransport(verify=tls)
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport no longer keeps an httpcore pool in _pool")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=tls if isinstance(tls, ssl.SSLContext) else None,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,  # httpx's defaults
        network_backend=_DeadlineBackend(deadline),
    )
    return transport


# -- proxies from the environment --------------------------------------------------------------


class Proxy(NamedTuple):
    """A proxy named in the environment: where it is, and how a message names it."""

    url: httpx.Proxy
    shown: str  # "the proxy http://proxy.lan:3128 (HTTPS_PROXY)", without credentials


def environment_proxies() -> dict[str, Proxy | None]:
    """The proxies the environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, and NO_PROXY's
    exceptions, as None), keyed by the URL pattern each applies to, read as httpx reads them.

    A proxy that cannot be used (not a URL, or a SOCKS proxy, which needs a package this
    program does not ship) is BadProxy naming the variable: connecting directly instead would
    ignore the setting without a word.
    """
    found: dict[str, Proxy | None] = {}
    for pattern, url in get_environment_proxies().items():
        if url is None:
            found[pattern] = None
            continue
        variable = _proxy_variable(pattern.split("://", 1)[0])
        try:
            proxy = httpx.Proxy(url=url)
        except (ValueError, httpx.InvalidURL):
            raise BadProxy(f"{variable} is not a proxy URL clore-host can use") from None
        shown = f"{proxy.url.scheme}://{proxy.url.host}" + (
            f":{proxy.url.port}" if proxy.url.port is not None else ""
        )
        if proxy.url.scheme not in ("http", "https") or not proxy.url.host:
            raise BadProxy(
                f"{variable} names {printable(shown)}: only http:// and https:// proxies are "
                "supported (unset it, or list the API's host in NO_PROXY)"
            )
        found[pattern] = Proxy(proxy, f"the proxy {shown} ({variable})")
    return found


def _proxy_variable(scheme: str) -> str:
    """The environment variable a proxy for `scheme` ("http", "https", "all") came from, as
    urllib reads them: the lowercase name wins over any other spelling."""
    lower = f"{scheme}_proxy"
    if os.environ.get(lower):
        return lower
    spelt = [name for name, value in os.environ.items() if name.lower() == lower and value]
    return spelt[0] if spelt else lower.upper()


def _proxy_transport(
    proxy: Proxy, tls: ssl.SSLContext | bool, deadline: _Deadline
) -> httpx.HTTPTransport:
    """httpx's transport through `proxy` (the pool httpx builds for it), its sockets keeping
    `deadline`; tests/api/test_proxy.py fails if httpx changes."""
    transport = httpx.HTTPTransport(verify=tls, proxy=proxy.url)
    if not isinstance(getattr(transport, "_pool", None), httpcore.HTTPProxy):
        raise RuntimeError("httpx.HTTPTransport no longer keeps an httpcore proxy in _pool")
    url = proxy.url.url
    transport._pool = httpcore.HTTPProxy(
        proxy_url=httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        ),
        proxy_auth=proxy.url.raw_auth,
        proxy_headers=proxy.url.headers.raw,
        ssl_context=tls if isinstance(tls, ssl.SSLContext) else None,
        proxy_ssl_context=proxy.url.ssl_context,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,  # httpx's defaults
        network_backend=_DeadlineBackend(deadline),
    )
    return transport


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~50 ms for every client."""
    return httpx.create_ssl_context()
