"""The CLORE.AI client: auth, request spacing, bounded retries, and typed errors."""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..clock import Clock, SystemClock
from ..validation import issues_from_validation
from .errors import (
    ApiTimeout,
    ApiUnreachable,
    CloreError,
    DatabaseError,
    HttpStatusError,
    MalformedResponse,
    RateLimited,
    TooManyRequests,
    TransportError,
    api_error,
)
from .models import (
    CancelOrder,
    CodeResponse,
    CreateOrder,
    MarketplaceResponse,
    MyOrdersResponse,
    MyServersResponse,
    ServerConfigResponse,
    SetServerSettings,
    SetSpotPrice,
    SpotMarketplaceResponse,
    WalletsResponse,
)
from .ratelimit import RateLimiter
from .token import Token

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
OnResponse = Callable[[str, str], None]

BACKOFF_BASE = 1.0  # seconds before the first retry; doubles each time
BACKOFF_MAX = 30.0
# A longer Retry-After is not waited for: the error goes to the caller. Kept well inside the
# daemon's watchdog (WatchdogSec=90s), which no ping reaches while a request waits.
RETRY_AFTER_MAX = 30.0


class CloreClient:
    """One client per base URL and token. Thread-safe; use as a context manager or close()."""

    def __init__(
        self,
        base_url: str,
        token: Token,
        *,
        state_dir: Path | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        on_response: OnResponse | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"API base URL {base_url!r} is not an http(s) URL")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self._base = str(url).rstrip("/")
        self._token = token
        self._clock: Clock = clock or SystemClock()
        self._timeout = timeout
        self._retries = retries
        self._on_response = on_response
        self._limiter = RateLimiter(state_dir, self._clock)
        # The token is added per request, never as a default header of the httpx client, so it
        # is in no object that something might print.
        # Loading the CA bundle is the costliest part of a client; a plain-HTTP base URL (the
        # loopback emulator) never uses it, and redirects are not followed.
        tls = _tls_context() if self._base.startswith("https:") else False
        self._http = httpx.Client(
            timeout=timeout, transport=transport, follow_redirects=False, verify=tls
        )

    def __repr__(self) -> str:
        return f"CloreClient({self._base!r})"

    def __enter__(self) -> CloreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads (retried) ------------------------------------------------------------------

    def wallets(self) -> WalletsResponse:
        return self._call("wallets", WalletsResponse)

    def my_servers(self) -> MyServersResponse:
        return self._call("my_servers", MyServersResponse)

    def server_config(self, name: str) -> ServerConfigResponse:
        # The seed sends the body on a GET; httpx keeps it with request("GET", json=...).
        return self._call("server_config", ServerConfigResponse, json={"server_name": name})

    def marketplace(self) -> MarketplaceResponse:
        return self._call("marketplace", MarketplaceResponse)

    def my_orders(self, return_completed: bool = False) -> MyOrdersResponse:
        params = {"return_completed": "true"} if return_completed else None
        return self._call("my_orders", MyOrdersResponse, params=params)

    def spot_marketplace(self, market_id: int) -> SpotMarketplaceResponse:
        return self._call("spot_marketplace", SpotMarketplaceResponse, params={"market": market_id})

    # -- writes ---------------------------------------------------------------------------

    def set_server_settings(self, req: SetServerSettings) -> None:
        """Write the full settings. Retried: the same full state sent twice is harmless."""
        self._call("set_server_settings", CodeResponse, method="POST", json=req.body())

    def set_spot_price(self, order_id: int, desired_price: float) -> None:
        """Never retried: a repeat could hit the 600 s lowering rule."""
        body = SetSpotPrice(order_id=order_id, desired_price=desired_price).body()
        self._call("set_spot_price", CodeResponse, method="POST", json=body, retry=False)

    def cancel_order(self, id: int, issue: str | None = None) -> None:
        """Never retried."""
        body = CancelOrder(id=id, issue=issue).body()
        self._call("cancel_order", CodeResponse, method="POST", json=body, retry=False)

    def create_order(self, req: CreateOrder) -> None:
        """Never retried (a repeat could rent twice); spaced 5 s apart."""
        self._call("create_order", CodeResponse, method="POST", json=req.body(), retry=False)

    # -- machinery ------------------------------------------------------------------------

    def _call(
        self,
        endpoint: str,
        model: type[M],
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> M:
        attempts = 1 + (self._retries if retry else 0)
        for attempt in range(attempts):
            try:
                return self._attempt(endpoint, model, method, params, json)
            except CloreError as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None or attempt + 1 >= attempts:
                    raise
                log.warning("%s; retry %d of %d in %g s", exc, attempt + 1, attempts - 1, delay)
                self._clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        endpoint: str,
        model: type[M],
        method: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
    ) -> M:
        """One HTTP request; reports its outcome to `on_response` exactly once."""
        try:
            with self._limiter.slot(order=endpoint == "create_order"):
                response = self._send(endpoint, method, params, json)
        except ApiTimeout:
            self._report(endpoint, "timeout")
            raise
        except ApiUnreachable:
            self._report(endpoint, "unreachable")
            raise
        outcome, result = self._interpret(endpoint, response)
        if not isinstance(result, CloreError):
            try:
                parsed = model.model_validate(result)
            except ValidationError as exc:
                first = issues_from_validation(exc)[0]
                where = f" at {first.location}" if first.location else ""
                cause = f"unexpected response shape{where}: {first.message}"
                outcome, result = "malformed", MalformedResponse(endpoint, cause)
        self._report(endpoint, outcome)
        if isinstance(result, CloreError):
            raise result
        return parsed

    def _send(
        self,
        endpoint: str,
        method: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
    ) -> httpx.Response:
        headers = {"auth": self._token.reveal()}
        url = f"{self._base}/{endpoint}"
        log.debug("%s %s", method, endpoint)
        try:
            return self._http.request(method, url, params=params, json=json, headers=headers)
        except httpx.TimeoutException:
            raise ApiTimeout(endpoint, f"no answer within {self._timeout:g} s") from None
        except httpx.ConnectError:
            raise ApiUnreachable(endpoint, f"cannot connect to {self._base}") from None
        except httpx.RemoteProtocolError:
            raise ApiUnreachable(endpoint, "connection closed without an answer") from None
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise ApiUnreachable(endpoint, f"connection failed ({kind})") from None

    def _interpret(
        self, endpoint: str, response: httpx.Response
    ) -> tuple[str, dict[str, Any] | CloreError]:
        """The outcome label and either the body or the error it stands for."""
        status = response.status_code
        if status == 429:
            return "http_429", TooManyRequests(endpoint, self._retry_after(response))
        if not 200 <= status < 300:
            return f"http_{status}", HttpStatusError(endpoint, status)
        try:
            data = response.json()
        except ValueError:
            return "malformed", MalformedResponse(endpoint, "response is not JSON")
        if not isinstance(data, dict):
            return "malformed", MalformedResponse(endpoint, "response is not a JSON object")
        code = data.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return "malformed", MalformedResponse(endpoint, "response has no integer code")
        if code != 0:
            error = data.get("error")
            text = self._redact(error) if isinstance(error, str) else None
            extra = {k: self._redact(v) for k, v in data.items() if k not in ("code", "error")}
            return str(code), api_error(endpoint, code, text, extra)
        return "0", data

    def _redact(self, value: Any) -> Any:
        # The service could echo what it was sent, at any depth; the token must not reach a
        # message.
        if isinstance(value, str):
            return value.replace(self._token.reveal(), "***")
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
        return max(0.0, when.timestamp() - self._clock.now())

    def _retry_delay(self, exc: CloreError, attempt: int) -> float | None:
        """Seconds to wait before retrying after `exc`, or None if it is not worth retrying."""
        backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2.0**attempt)
        if isinstance(exc, TooManyRequests):
            if exc.retry_after is None:
                return backoff
            return exc.retry_after if exc.retry_after <= RETRY_AFTER_MAX else None
        if isinstance(exc, HttpStatusError):
            return backoff if exc.status >= 500 else None
        if isinstance(exc, (TransportError, DatabaseError, RateLimited)):
            return backoff
        return None

    def _report(self, endpoint: str, outcome: str) -> None:
        if self._on_response is None:
            return
        try:
            self._on_response(endpoint, outcome)
        except Exception:  # a metrics hook must not break a request
            log.exception("on_response hook failed for %s", endpoint)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~50 ms for every client."""
    return httpx.create_ssl_context()
