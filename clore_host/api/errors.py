"""Typed errors of the CLORE.AI client; messages name the endpoint and cause, never the token."""

from __future__ import annotations

from typing import Any

from ..errors import EXIT_AUTH, EXIT_INVALID, Failure

CODE_NAMES = {
    1: "database error",
    2: "invalid input data",
    3: "invalid API token",
    4: "invalid endpoint",
    5: "exceeded 1 request/second limit",
    6: "error named in the error field",
}


class CloreError(Failure):
    """Anything that went wrong talking to CLORE.AI (or preparing to)."""

    headline = "API unavailable, nothing changed"
    # Set by the client on the error it raises when an earlier attempt of the same request
    # ended without a verdict (a lost answer): that attempt may have been carried out, whatever
    # the last attempt was told. See may_have_landed().
    earlier_attempt_in_doubt: bool = False


class TokenError(CloreError):
    """The API token is missing, empty, malformed or stored unsafely."""

    exit_code = EXIT_INVALID
    headline = ""


class BadBaseUrl(CloreError, ValueError):
    """The API's address (api.base_url or $CLORE_API_URL) is not an http(s) URL."""

    exit_code = EXIT_INVALID
    headline = ""


class BadProxy(CloreError, ValueError):
    """A proxy named in the environment (HTTPS_PROXY, ...) cannot be used."""

    exit_code = EXIT_INVALID
    headline = ""


class LocalStateError(CloreError):
    """The client's own state on this host (the shared rate limiter's file) is unusable."""

    headline = "state directory unavailable, nothing changed"


class ApiError(CloreError):
    """The API answered with a non-zero `code`."""

    def __init__(
        self,
        endpoint: str,
        code: int,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.code = code
        self.error = error
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self._render())

    def _render(self) -> str:
        cause = CODE_NAMES.get(self.code, "unknown code")
        if self.error:
            cause = f"{self.error}" if self.code == 6 else f"{cause}: {self.error}"
        details = ", ".join(f"{k}={v!r}" for k, v in sorted(self.extra.items()))
        suffix = f"; {details}" if details else ""
        return f"{self.endpoint}: API code {self.code} ({cause}){suffix}"


class DatabaseError(ApiError):
    """Code 1: the service's database failed; transient."""


class InvalidInput(ApiError):
    """Code 2: the request was rejected as invalid (e.g. a server name the account lacks)."""

    exit_code = EXIT_INVALID
    headline = "the API refused the request as invalid, nothing changed"


class AuthError(ApiError):
    """Code 3: the token was refused."""

    exit_code = EXIT_AUTH
    headline = "authentication failed"


class InvalidEndpoint(ApiError):
    """Code 4: the service does not know the endpoint."""


class RateLimited(ApiError):
    """Code 5: more than 1 request per second."""


class NamedApiError(ApiError):
    """Code 6: an error named in `error`, e.g. `exceeded_max_step`."""

    @property
    def max_step(self) -> float | None:
        return _number(self.extra.get("max_step"))

    @property
    def time_to_lowering(self) -> float | None:
        return _number(self.extra.get("time_to_lowering"))


_BY_CODE: dict[int, type[ApiError]] = {
    1: DatabaseError,
    2: InvalidInput,
    3: AuthError,
    4: InvalidEndpoint,
    5: RateLimited,
    6: NamedApiError,
}


def api_error(
    endpoint: str, code: int, error: str | None = None, extra: dict[str, Any] | None = None
) -> ApiError:
    """The typed error for an API `code` (plain ApiError for codes the seed does not define)."""
    return _BY_CODE.get(code, ApiError)(endpoint, code, error, extra)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class TransportError(CloreError):
    """No usable answer: HTTP error, timeout, failed connection, or a body not from the API."""

    def __init__(self, endpoint: str, cause: str) -> None:
        self.endpoint = endpoint
        self.cause = cause
        super().__init__(f"{endpoint}: {cause}")


class HttpStatusError(TransportError):
    """The HTTP status was not 2xx."""

    def __init__(self, endpoint: str, status: int, cause: str | None = None) -> None:
        self.status = status
        super().__init__(endpoint, cause or f"HTTP status {status}")


class TooManyRequests(HttpStatusError):
    """HTTP 429; `retry_after` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, endpoint: str, retry_after: float | None) -> None:
        self.retry_after = retry_after
        hint = f", retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(endpoint, 429, f"HTTP 429 too many requests{hint}")


class ApiTimeout(TransportError):
    """No complete answer within the timeout."""


class ApiUnreachable(TransportError):
    """The connection was refused, reset or dropped without an answer."""


class MalformedResponse(TransportError):
    """The body is not JSON, has no integer `code`, or does not have the documented shape."""


class ImplausibleResponse(MalformedResponse):
    """The answer has the documented shape, but a value of the wrong JSON type (`"false"` for
    a bool, `true` or `"0.0001"` for a price), or it is about another server than asked:
    refused, never coerced."""

    headline = "inputs implausible, nothing changed"


def may_have_landed(exc: CloreError) -> bool:
    """Whether a request that failed with `exc` may still have been carried out by the service.

    Only an answer that refuses the request says it was not: an API code (but code 1, the
    service's own database failing mid-request) or an HTTP 4xx. A timeout, a dropped or
    failed connection, a 5xx or an answer that is not the API's leave it unknown; so does any
    error that follows such an attempt of the same request (a retry told 429 or an API code
    says nothing about what became of the attempt before it).
    """
    if exc.earlier_attempt_in_doubt:
        return True
    if isinstance(exc, HttpStatusError):
        return exc.status >= 500
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ApiError):
        return isinstance(exc, DatabaseError)
    return False  # no request was sent (the token, the rate limiter's state file)
