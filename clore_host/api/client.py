"""The CLORE.AI client: typed endpoints and bounded retries over one Connection."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..clock import Clock
from ..issues import format_location
from .connection import Answer, Connection, Request, server_config_request
from .errors import (
    ApiTimeout,
    ApiUnreachable,
    CloreError,
    DatabaseError,
    HttpStatusError,
    ImplausibleResponse,
    MalformedResponse,
    RateLimited,
    TooManyRequests,
    TransportError,
    may_have_landed,
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
    SetServerSettingsByCurrency,
    SetSpotPrice,
    SpotMarketplaceResponse,
    WalletsResponse,
    read_marketplace,
)
from .token import Token

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
OnResponse = Callable[[str, str], None]

BACKOFF_BASE = 1.0  # seconds before the first retry; doubles each time
BACKOFF_MAX = 30.0
# A longer Retry-After is not waited for: the error goes to the caller. Kept well inside the
# daemon's watchdog (WatchdogSec=90s), which no ping reaches while a request waits.
RETRY_AFTER_MAX = 30.0


SHOWN_MAX = 40  # characters of a value quoted from an answer in an error message
# What a field of the wrong JSON type should have held, by pydantic's error type.
_EXPECTED = {
    "bool_type": "true or false",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "dict_type": "an object",
    "list_type": "a list",
}
_NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type"})


SCRUBBED = "***"


def _scrubbed(value: object, scrub: Callable[[str], str]) -> object:
    """`value` (decoded JSON) with `scrub` applied to every string in it, keys too."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item, scrub) for item in value]
    if isinstance(value, dict):
        return {_scrubbed(k, scrub): _scrubbed(v, scrub) for k, v in value.items()}
    return value


def _is_union_tag(part: str | int) -> bool:
    # pydantic's tags of union members and validators, e.g. `function-after[...]`; a dict key
    # such as "CLORE-Blockchain" is kept.
    return isinstance(part, str) and "[" in part


class CloreClient:
    """One client per base URL and token. Thread-safe; use as a context manager or close()."""

    def __init__(
        self,
        connection: Connection,
        *,
        retries: int = 3,
        on_response: OnResponse | None = None,
    ) -> None:
        """A client over `connection`."""
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self._connection = connection
        self._clock = connection.clock
        self._retries = retries
        self._on_response = on_response

    @classmethod
    def connect(
        cls,
        base_url: str,
        token: Token,
        *,
        state_dir: Path | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        on_response: OnResponse | None = None,
    ) -> CloreClient:
        """A client with a new connection to `base_url`."""
        if retries < 0:  # before a connection exists to leak
            raise ValueError("retries must be >= 0")
        connection = Connection(
            base_url, token, state_dir=state_dir, clock=clock, timeout=timeout, transport=transport
        )
        return cls(connection, retries=retries, on_response=on_response)

    def __repr__(self) -> str:
        return f"CloreClient({self._connection.base_url!r})"

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
        self._connection.close()

    # -- reads (retried) ------------------------------------------------------------------

    def wallets(self) -> WalletsResponse:
        return self._call(Request("wallets"), WalletsResponse)

    def my_servers(self) -> MyServersResponse:
        return self._call(Request("my_servers"), MyServersResponse)

    def server_config(self, name: str) -> ServerConfigResponse:
        """The settings and rental status of server `name`; an answer about another server is
        refused (ImplausibleResponse), whatever it says."""
        answer = self._call(server_config_request(name), ServerConfigResponse)
        if answer.config.name != name:
            shown = self._shown(answer.config.name)
            raise ImplausibleResponse(
                "server_config", f"asked for server {self._shown(name)}, the answer is for {shown}"
            )
        return answer

    def marketplace(self, currency: str = "bitcoin") -> MarketplaceResponse:
        """Every public server, each reduced as it is parsed to what the market reads, with
        its prices in `currency` (models.read_marketplace): the answer is megabytes."""
        read = functools.partial(read_marketplace, currency=currency, scrub=self._scrub_kept)
        return self._call_raw(Request("marketplace"), read)

    def my_orders(self, return_completed: bool = False) -> MyOrdersResponse:
        params = {"return_completed": "true"} if return_completed else None
        return self._call(Request("my_orders", params=params), MyOrdersResponse)

    def spot_marketplace(self, market_id: int) -> SpotMarketplaceResponse:
        request = Request("spot_marketplace", params={"market": market_id})
        return self._call(request, SpotMarketplaceResponse)

    # -- writes ---------------------------------------------------------------------------

    def set_server_settings(self, req: SetServerSettings | SetServerSettingsByCurrency) -> None:
        """Write the full settings, in the seed's form or the per-currency one (the caller
        decides which, from the config). Retried: the same full state sent twice is
        harmless."""
        self._call(Request("set_server_settings", "POST", json=req.body()), CodeResponse)

    def set_spot_price(self, order_id: int, desired_price: float) -> None:
        """Never retried: a repeat could hit the 600 s lowering rule."""
        body = SetSpotPrice(order_id=order_id, desired_price=desired_price).body()
        self._call(Request("set_spot_price", "POST", json=body), CodeResponse, retry=False)

    def cancel_order(self, id: int, issue: str | None = None) -> None:
        """Never retried."""
        body = CancelOrder(id=id, issue=issue).body()
        self._call(Request("cancel_order", "POST", json=body), CodeResponse, retry=False)

    def create_order(self, req: CreateOrder) -> None:
        """Never retried (a repeat could rent twice); spaced 5 s apart."""
        request = Request("create_order", "POST", json=req.body())
        self._call(request, CodeResponse, retry=False)

    # -- machinery ------------------------------------------------------------------------

    def _call(self, request: Request, model: type[M], *, retry: bool = True) -> M:
        return self._retrying(request, lambda r: self._attempt(r, model), retry=retry)

    def _retrying(
        self, request: Request, attempt_once: Callable[[Request], R], *, retry: bool = True
    ) -> R:
        """attempt_once(request), retried as far as `retry` and the error allow."""
        attempts = 1 + (self._retries if retry else 0)
        in_doubt = False  # an earlier attempt may have been carried out (its answer was lost)
        for attempt in range(attempts):
            try:
                return attempt_once(request)
            except CloreError as exc:
                # The error raised is the last attempt's; what it says of that attempt says
                # nothing of the ones before it.
                if in_doubt:
                    exc.earlier_attempt_in_doubt = True
                in_doubt = in_doubt or may_have_landed(exc)
                delay = self._retry_delay(exc, attempt)
                if delay is None or attempt + 1 >= attempts:
                    raise
                log.warning("%s; retry %d of %d in %g s", exc, attempt + 1, attempts - 1, delay)
                self._clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, request: Request, model: type[M]) -> M:
        """One HTTP attempt; reports its outcome to `on_response` exactly once."""
        outcome, result = self._connection.exchange(request)
        if not isinstance(result, CloreError):
            try:
                parsed = model.model_validate(result)
            except ValidationError as exc:
                outcome, result = "malformed", self._shape_problem(request.endpoint, exc)
        self._report(request.endpoint, outcome)
        if isinstance(result, CloreError):
            raise result
        return parsed

    def _call_raw(self, request: Request, read: Callable[[bytes], R | None]) -> R:
        """_call for an answer read from its raw bytes by `read` (None: not a successful
        answer, which the connection then interprets as it does any other)."""
        return self._retrying(request, lambda r: self._attempt_raw(r, read))

    def _attempt_raw(self, request: Request, read: Callable[[bytes], R | None]) -> R:
        """One HTTP attempt, its body read by `read` straight from the bytes.

        The connection's exchange() parses a whole answer into dicts and copies it to redact
        the token; for a megabyte answer that is several times what is kept. The request is
        sent the same way, through the shared rate limiter and under the same deadline.
        """
        connection = self._connection
        endpoint = request.endpoint
        answer: Answer | None = None
        try:
            with connection._limiter.slot(order=False):
                response = connection._send(request)
        except (ApiTimeout, ApiUnreachable) as exc:
            answer = Answer("timeout" if isinstance(exc, ApiTimeout) else "unreachable", exc)
        if answer is None and 200 <= response.status_code < 300:
            try:
                parsed = read(response.content)
            except MalformedResponse as exc:
                answer = Answer("malformed", exc)
            else:
                if parsed is not None:
                    self._report(endpoint, "0")
                    return parsed
        if answer is None:  # an error status, or a body that is no successful answer
            answer = connection._interpret(endpoint, response)
            if not isinstance(answer.result, CloreError):  # a success `read` could not read
                shape = MalformedResponse(endpoint, "unexpected response shape")
                answer = Answer("malformed", shape)
        self._report(endpoint, answer.outcome)
        assert isinstance(answer.result, CloreError)
        raise answer.result

    def _shape_problem(self, endpoint: str, exc: ValidationError) -> MalformedResponse:
        """The first thing wrong with an answer: where, what it holds, what was due. A value
        of the wrong type is implausible (never coerced); a missing part, or an object
        where none is, is a malformed answer."""
        err = exc.errors()[0]
        # A key of the answer is as much the service's text as a value: scrubbed alike.
        where = format_location(
            [
                self._scrub(p) if isinstance(p, str) else p
                for p in err["loc"]
                if not _is_union_tag(p)
            ]
        )
        kind = err.get("type", "")
        value = err.get("input")
        if kind == "missing":
            return MalformedResponse(endpoint, f"unexpected response shape: {where} is missing")
        if kind in _NOT_AN_OBJECT:
            return MalformedResponse(
                endpoint,
                f"unexpected response shape: {where} is {self._shown(value)}, not an object",
            )
        expected = _EXPECTED.get(kind)
        if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
            expected = "a number of a plausible size"  # 10**400: no float holds it
        if expected is None:
            message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
            return ImplausibleResponse(endpoint, f"{where} is {self._shown(value)}: {message}")
        return ImplausibleResponse(
            endpoint, f"{where} is {self._shown(value)}, expected {expected}"
        )

    def _shown(self, value: object) -> str:
        """A value from an answer as one short line of JSON, without the token."""
        value = _scrubbed(value, self._scrub)  # before JSON escapes a `"` or `\` in the token
        try:
            text = json.dumps(value, ensure_ascii=True, allow_nan=True)
        except (TypeError, ValueError):
            text = repr(value)
        text = self._scrub(text)
        return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."

    def _scrub_kept(self, text: str) -> str:
        """A string kept from an answer read raw, without the token (as the connection
        redacts every string of the answers it parses)."""
        secret = self._connection.token.reveal()
        return text.replace(secret, SCRUBBED) if secret in text else text

    def _scrub(self, text: str) -> str:
        """`text` without the token: as it is, and as JSON or repr() escape it."""
        secret = self._connection.token.reveal()
        for form in (secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]):
            text = text.replace(form, SCRUBBED)
        return text

    def _retry_delay(self, exc: CloreError, attempt: int) -> float | None:
        """Seconds to wait before retrying after `exc`, or None if it is not worth retrying."""
        backoff = min(BACKOFF_MAX, BACKOFF_BASE * 2.0**attempt)
        if isinstance(exc, ImplausibleResponse):
            return None  # junk in an answer is not a hiccup: asking again only repeats it
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
