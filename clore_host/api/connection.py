"""One HTTP exchange with CLORE.AI: the auth header, request spacing, and what the answer means.

Below the typed client (client.py): no retries and no response models.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from ..clock import Clock, SystemClock
from .errors import (
    ApiTimeout,
    ApiUnreachable,
    BadBaseUrl,
    CloreError,
    HttpStatusError,
    MalformedResponse,
    TooManyRequests,
    api_error,
)
from .ratelimit import RateLimiter
from .token import Token

log = logging.getLogger(__name__)


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
        self._http = httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=False, verify=tls
        )

    def __repr__(self) -> str:
        return f"Connection({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

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
        try:
            return self._http.request(
                request.method,
                f"{self.base_url}/{endpoint}",
                params=request.params,
                json=request.json,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise ApiTimeout(endpoint, f"no answer within {self.timeout:g} s") from None
        except httpx.ConnectError:
            raise ApiUnreachable(endpoint, f"cannot connect to {self.base_url}") from None
        except httpx.RemoteProtocolError:
            raise ApiUnreachable(endpoint, "connection closed without an answer") from None
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise ApiUnreachable(endpoint, f"connection failed ({kind})") from None

    def _interpret(self, endpoint: str, response: httpx.Response) -> Answer:
        status = response.status_code
        if status == 429:
            return Answer("http_429", TooManyRequests(endpoint, self._retry_after(response)))
        if not 200 <= status < 300:
            return Answer(f"http_{status}", HttpStatusError(endpoint, status))
        try:
            data = response.json()
        except ValueError:
            return Answer("malformed", MalformedResponse(endpoint, "response is not JSON"))
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
        return Answer("0", data)

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


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~50 ms for every client."""
    return httpx.create_ssl_context()
