"""A loopback emulator of the CLORE.AI API, for tests and the demo. Standard library only.

It implements every endpoint of the seed against an in-memory state (loaded from JSON), checks
tokens, input and the 1 request/second limit by an injectable clock, and logs every request it
sees. Tests script failures through `faults` (HTTP 500, 429, slow or dropped answers, malformed
JSON, API error codes, and answers lost after the request was carried out).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..clock import Clock, SystemClock
from .market import DEFAULT_RATES

log = logging.getLogger(__name__)

RATE_INTERVAL = 1.0
ORDER_INTERVAL = 5.0
LOWERING_INTERVAL = 600.0
_SAFE = re.compile(r"^[a-zA-Z0-9\s=.@+/-]+$")
_NO_BODY = object()  # the body was present but not JSON
ABSENT: Any = object()  # Emulator.currency_rates_in_usd: leave the field out of the answer
# The payment currencies of the per-currency form of set_server_settings (beyond the seed).
COINS = ("bitcoin", "CLORE-Blockchain", "USD-Blockchain")


def default_state() -> dict[str, Any]:
    """A small account: one rig of ours, one server of someone else's with a spot offer of ours."""
    return {
        "tokens": ["demo-token"],
        "owner_id": 1,
        "limit": 16,
        "currency": "bitcoin",
        "spot_max_step": 0.000001,
        "wallets": [
            {"name": "bitcoin", "deposit": "tb1qdemo", "balance": 0.0015, "withdrawal_fee": 0.0001}
        ],
        "servers": [
            {
                "id": 1,
                "name": "demo-rig",
                "connected": True,
                "visibility": "public",
                "availability": True,
                "pricing": {"bitcoin": 0.0001, "usd": 0},
                "spot_pricing": {"bitcoin": 0.00005, "usd": 0},
                "mrl": 72,
                "online": True,
                "initialized": True,
                "rental_status": 0,
                "specs": {
                    "cpu": "AMD Ryzen 9 7950X",
                    "cpus": "16/32",
                    "ram": 64,
                    "disk": "NVMe 1TB",
                    "gpu": "1x NVIDIA GeForce RTX 4090",
                    "gpuram": 24,
                    "net": {"down": 900.0, "up": 450.0, "cc": "CZ"},
                },
                "background_job": {"image": "cloreai/ubuntu20.04-jupyter", "command": ""},
            }
        ],
        "marketplace": [
            {
                "id": 6,
                "owner": 4,
                "mrl": 73,
                "price": {"on_demand": {"bitcoin": 0.00001}, "spot": {"bitcoin": 0.000001}},
                "rented": False,
                "specs": {"gpu": "1x NVIDIA GeForce GTX 1080 Ti", "gpuram": 11},
            }
        ],
        "spot_offers": {"6": [{"offer_id": 39, "bid": 0.0000042, "active": True, "my": True}]},
        "orders": [],
    }


def load_state(path: str | Path) -> dict[str, Any]:
    """Read and check an emulator state file; ValueError names the file and the problem."""
    p = Path(path)
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"emulator state {p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"emulator state {p}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"emulator state {p}: not JSON: {exc}") from None
    _check_state(state, str(p))
    return dict(state)


def _check_state(state: Any, source: str) -> None:
    def bad(message: str) -> ValueError:
        return ValueError(f"emulator state {source}: {message}")

    if not isinstance(state, dict):
        raise bad("must be a JSON object")
    tokens = state.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise bad("tokens must be a list of non-empty strings")
    servers = state.get("servers")
    if not isinstance(servers, list):
        raise bad("servers must be a list")
    names: set[str] = set()
    for i, server in enumerate(servers):
        if not isinstance(server, dict):
            raise bad(f"servers[{i}] must be an object")
        if not isinstance(server.get("name"), str) or not server["name"]:
            raise bad(f"servers[{i}].name must be a non-empty string")
        if not _is_int(server.get("id")):
            raise bad(f"servers[{i}].id must be an integer")
        if server["name"] in names:
            raise bad(f"servers[{i}].name {server['name']!r} is used twice")
        names.add(server["name"])
        if server.get("rental_status", 0) not in (0, 1, 2):
            raise bad(f"servers[{i}].rental_status must be 0, 1 or 2")
    for key in ("wallets", "marketplace", "orders"):
        if not isinstance(state.get(key, []), list):
            raise bad(f"{key} must be a list")
    if not isinstance(state.get("spot_offers", {}), dict):
        raise bad("spot_offers must be an object (server id -> offers)")


# -- test hooks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted failure. `kind`: http_status, http_429, slow, drop, malformed, code or
    lost (the request is carried out, then its answer is lost: `status` 0 drops the
    connection, else that HTTP status is answered)."""

    kind: str
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    code: int = 1
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FaultPlan:
    """Faults queued for the next requests to an endpoint (None: to any endpoint), in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[list[Any]] = []  # [endpoint | None, Fault, remaining]

    def add(self, fault: Fault, endpoint: str | None = None, times: int = 1) -> None:
        with self._lock:
            self._queue.append([endpoint, fault, times])

    def http_status(self, status: int = 500, endpoint: str | None = None, times: int = 1) -> None:
        self.add(Fault("http_status", status=status), endpoint, times)

    def too_many_requests(
        self, retry_after: float | None = 1.0, endpoint: str | None = None, times: int = 1
    ) -> None:
        self.add(Fault("http_429", status=429, retry_after=retry_after), endpoint, times)

    def slow(self, delay: float, endpoint: str | None = None, times: int = 1) -> None:
        """Answer normally after `delay` real seconds (keep it tiny: for timeout tests)."""
        self.add(Fault("slow", delay=delay), endpoint, times)

    def drop(self, endpoint: str | None = None, times: int = 1) -> None:
        """Close the connection without an answer."""
        self.add(Fault("drop"), endpoint, times)

    def lose_answer(
        self, endpoint: str | None = None, times: int = 1, status: int | None = None
    ) -> None:
        """Carry the request out (a write lands), then lose its answer: drop the connection,
        or with `status` answer that HTTP status instead (a proxy's 502 after the fact)."""
        self.add(Fault("lost", status=status or 0), endpoint, times)

    def malformed(self, endpoint: str | None = None, times: int = 1) -> None:
        self.add(Fault("malformed"), endpoint, times)

    def api_code(
        self,
        code: int,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        endpoint: str | None = None,
        times: int = 1,
    ) -> None:
        self.add(Fault("code", code=code, error=error, extra=dict(extra or {})), endpoint, times)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(entry[2] for entry in self._queue)

    def take(self, endpoint: str) -> Fault | None:
        with self._lock:
            for entry in self._queue:
                if entry[0] is None or entry[0] == endpoint:
                    entry[2] -= 1
                    if entry[2] <= 0:
                        self._queue.remove(entry)
                    fault: Fault = entry[1]
                    return fault
        return None


@dataclass(frozen=True)
class RequestRecord:
    """What the emulator saw: never the token."""

    time: float  # by the emulator's clock, on arrival
    endpoint: str
    method: str
    params: dict[str, str]
    body: Any  # parsed JSON, None when absent
    code: int | None  # API code answered; None when there was no JSON answer
    status: int | None  # HTTP status; None when the connection was dropped
    fault: str | None = None


class RequestLog:
    """A thread-safe, append-only list of RequestRecord."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def for_endpoint(self, endpoint: str) -> list[RequestRecord]:
        return [r for r in self.snapshot() if r.endpoint == endpoint]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._items[index]


# -- the emulator -------------------------------------------------------------------------


class _Invalid(Exception):
    """Invalid input: answered with code 2."""


class _Named(Exception):
    """A code 6 answer."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.payload: dict[str, Any] = {"error": error, **extra}


Route = Callable[[dict[str, str], Any, float], dict[str, Any]]


class Emulator:
    """The emulated API on http://HOST:PORT/v1. Start with start() or `with`."""

    def __init__(
        self,
        state: dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        state = copy.deepcopy(state if state is not None else default_state())
        _check_state(state, "(in memory)")
        for key in ("wallets", "marketplace", "orders"):
            state.setdefault(key, [])
        state.setdefault("spot_offers", {})
        self._state = state
        self._clock: Clock = clock or SystemClock()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._last_request: dict[str, float] = {}
        self._last_order: dict[str, float] = {}
        self._lowered_at: dict[int, float] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests = RequestLog()
        self.faults = FaultPlan()
        # spot_marketplace's market.currency_rates_in_usd, served as it is (any JSON value:
        # a rate of 0, a string, a 100x jump); ABSENT leaves the field out.
        self.currency_rates_in_usd: Any = dict(DEFAULT_RATES)
        self._routes: dict[str, tuple[str, Route]] = {
            "wallets": ("GET", self._wallets),
            "my_servers": ("GET", self._my_servers),
            "server_config": ("GET", self._server_config),
            "marketplace": ("GET", self._marketplace),
            "my_orders": ("GET", self._my_orders),
            "spot_marketplace": ("GET", self._spot_marketplace),
            "set_server_settings": ("POST", self._set_server_settings),
            "set_spot_price": ("POST", self._set_spot_price),
            "cancel_order": ("POST", self._cancel_order),
            "create_order": ("POST", self._create_order),
        }

    @classmethod
    def from_file(
        cls, path: str | Path, *, clock: Clock | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> Emulator:
        return cls(load_state(path), clock=clock, host=host, port=port)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((self._host, self._port), _Handler)
        server.emulator = self
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            # A short poll keeps stop() quick; tests start and stop hundreds of emulators.
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    # -- state hooks ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A copy of the whole current state, e.g. to start a new emulator where this one was."""
        with self._lock:
            return copy.deepcopy(self._state)

    def server(self, name: str) -> dict[str, Any]:
        """A copy of the current state of one of our servers."""
        with self._lock:
            return copy.deepcopy(self._find(name))

    def set_rental_status(self, name: str, status: int) -> None:
        if status not in (0, 1, 2):
            raise ValueError("rental_status must be 0, 1 or 2")
        self.update_server(name, rental_status=status)

    def update_server(self, name: str, **fields: Any) -> None:
        """Change fields of one of our servers, as the service or a renter would."""
        with self._lock:
            self._find(name).update(copy.deepcopy(fields))

    def set_marketplace(
        self,
        listings: list[Any],
        spot_offers: dict[int, list[dict[str, Any]]] | None = None,
    ) -> None:
        """Serve `listings` (as `marketplace` lists them, junk included) as the other servers
        of the market, and with `spot_offers` the offers on servers by id. A listing whose
        owner is this account's (`owner_id`) is named in `my_servers`."""
        with self._lock:
            self._state["marketplace"] = copy.deepcopy(listings)
            for server_id, offers in (spot_offers or {}).items():
                self._state["spot_offers"][str(server_id)] = copy.deepcopy(offers)

    def _find(self, name: str) -> dict[str, Any]:
        for server in self._state["servers"]:
            if server["name"] == name:
                found: dict[str, Any] = server
                return found
        raise KeyError(f"no server named {name!r} in the emulator state")

    # -- serving --------------------------------------------------------------------------

    def _serve(self, handler: _Handler, method: str) -> None:
        now = self._clock.now()
        split = urlsplit(handler.path)
        endpoint = split.path.removeprefix("/v1/").strip("/")
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = _read_body(handler)
        fault = self.faults.take(endpoint)

        def record(code: int | None, status: int | None) -> None:
            logged = None if body is _NO_BODY else body
            kind = fault.kind if fault else None
            self.requests.append(
                RequestRecord(now, endpoint, method, params, logged, code, status, kind)
            )

        if fault is not None and fault.kind not in ("slow", "lost"):
            self._answer_fault(handler, fault, record)
            return
        token = handler.headers.get("auth")
        payload = self._dispatch(endpoint, method, token, params, body, now)
        if fault is not None and fault.kind == "lost":
            # The work is done; the answer never arrives (or arrives as an error).
            record(payload["code"], fault.status or None)
            if not fault.status:
                handler.close_connection = True
            else:
                _send(handler, fault.status, b'{"error": "emulated"}')
            return
        record(payload["code"], 200)
        if fault is not None:
            # The work is done and logged; only the answer is late (as when a write lands
            # but the client times out).
            time.sleep(fault.delay)
        _send(handler, 200, json.dumps(payload).encode())

    def _answer_fault(
        self, handler: _Handler, fault: Fault, record: Callable[[int | None, int | None], None]
    ) -> None:
        if fault.kind == "drop":
            record(None, None)
            handler.close_connection = True
            return
        if fault.kind == "malformed":
            record(None, 200)
            _send(handler, 200, b"<html>502 Bad Gateway</html>", "text/html")
        elif fault.kind == "code":
            payload = {**fault.extra, "code": fault.code}
            if fault.error is not None:
                payload["error"] = fault.error
            record(fault.code, 200)
            _send(handler, 200, json.dumps(payload).encode())
        else:  # http_status, http_429
            headers = {}
            if fault.kind == "http_429" and fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            record(None, fault.status)
            _send(handler, fault.status, b'{"error": "emulated"}', headers=headers)

    def _dispatch(
        self,
        endpoint: str,
        method: str,
        token: str | None,
        params: dict[str, str],
        body: Any,
        now: float,
    ) -> dict[str, Any]:
        route = self._routes.get(endpoint)
        if route is None or route[0] != method:
            return {"code": 4}
        with self._lock:
            if token is None or token not in self._state["tokens"]:
                return {"code": 3}
            # Every request counts, rejected ones too: the live limit is "1 request/second".
            last = self._last_request.get(token)
            self._last_request[token] = now
            if last is not None and now - last < RATE_INTERVAL:
                return {"code": 5}
            if endpoint == "create_order":
                last_order = self._last_order.get(token)
                self._last_order[token] = now
                if last_order is not None and now - last_order < ORDER_INTERVAL:
                    return {"code": 5}
            if body is _NO_BODY:
                return {"code": 2, "error": "body is not JSON"}
            try:
                return {**route[1](params, body, now), "code": 0}
            except _Invalid as exc:
                return {"code": 2, "error": str(exc)}
            except _Named as exc:
                return {**exc.payload, "code": 6}

    # -- endpoints (called with the lock held) --------------------------------------------

    def _wallets(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        return {"wallets": copy.deepcopy(self._state["wallets"])}

    def _my_servers(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        servers = [
            {
                "id": s["id"],
                "name": s["name"],
                "connected": s.get("connected", True),
                "visibility": s.get("visibility", "hidden"),
                "pricing": copy.deepcopy(s.get("pricing", {})),
                "online": s.get("online", False),
                "min_spot_pricing": copy.deepcopy(s.get("spot_pricing", {})),
                "init_token": s.get("init_token", f"init-{s['id']}"),
                "specs": copy.deepcopy(s.get("specs", {})),
            }
            for s in self._state["servers"]
        ]
        return {"servers": servers, "limit": self._state.get("limit", 16)}

    def _server_config(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("server_name"), str):
            raise _Invalid("server_name (string) is required in the JSON body")
        server = self._by_name(body["server_name"])
        config = copy.deepcopy(server)
        config.pop("init_token", None)
        config.setdefault("availability", server.get("visibility") == "public")
        config.setdefault("rental_status", 0)
        return {"config": config, "creation_completed": True}

    def _marketplace(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        # A shallow copy: the listings are replaced whole (set_marketplace), never edited in
        # place but for `rented`, and thousands of deep copies per request would be slow.
        listed = list(self._state["marketplace"])
        for s in self._state["servers"]:
            if s.get("visibility") == "public":
                listed.append(self._market_entry(s))
        mine = [s["id"] for s in self._state["servers"]]
        owner = self._state.get("owner_id", 1)
        mine += [
            m["id"]
            for m in self._state["marketplace"]
            if isinstance(m, dict) and m.get("owner") == owner and _is_int(m.get("id"))
        ]
        return {"servers": listed, "my_servers": mine}

    def _market_entry(self, server: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": server["id"],
            "owner": self._state.get("owner_id", 1),
            "mrl": server.get("mrl"),
            "price": {
                "on_demand": copy.deepcopy(server.get("pricing", {})),
                "spot": copy.deepcopy(server.get("spot_pricing", {})),
            },
            "rented": server.get("rental_status", 0) == 2,
            "specs": copy.deepcopy(server.get("specs", {})),
        }

    def _my_orders(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        flag = params.get("return_completed", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise _Invalid("return_completed must be true or false")
        orders = self._state["orders"]
        if flag in ("false", "0"):
            orders = [o for o in orders if not o.get("expired")]
        return {"orders": copy.deepcopy(orders), "limit": self._state.get("order_limit", 13)}

    def _spot_marketplace(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        try:
            market = int(params["market"])
        except (KeyError, ValueError):
            raise _Invalid("market (server id) is required in the query string") from None
        offers = self._state["spot_offers"].get(str(market), [])
        mine = [s for s in self._state["servers"] if s["id"] == market]
        if mine:
            s = mine[0]
            server = {
                "min_pricing": copy.deepcopy(s.get("spot_pricing", {})),
                "mrl": int(s.get("mrl", 0)) * 3600,
                "visibility": s.get("visibility", "hidden"),
                "online": s.get("online", False),
            }
        else:
            others = self._listed(market)
            if not others:
                return {"exists": False}
            m = others[0]
            price = m.get("price")
            spot = price.get("spot") if isinstance(price, dict) else None
            mrl = m.get("mrl")
            server = {
                "min_pricing": copy.deepcopy(spot if isinstance(spot, dict) else {}),
                "mrl": mrl * 3600 if isinstance(mrl, int) and not isinstance(mrl, bool) else 0,
                "visibility": "public",
                "online": True,
            }
        answer: dict[str, Any] = {"offers": copy.deepcopy(offers), "server": server}
        if self.currency_rates_in_usd is not ABSENT:
            answer["currency_rates_in_usd"] = copy.deepcopy(self.currency_rates_in_usd)
        return {"exists": True, "market": answer}

    def _listed(self, server_id: int) -> list[dict[str, Any]]:
        """The market's listings of server `server_id` (junk entries passed over)."""
        return [
            m
            for m in self._state["marketplace"]
            if isinstance(m, dict) and m.get("id") == server_id and _is_int(m.get("id"))
        ]

    def _set_server_settings(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        """Both forms: the seed's (`on_demand`, `spot` in the account's currency) and the
        per-currency form public clients of the live service send (see _per_currency)."""
        if isinstance(body, dict) and not {"on_demand", "spot"} & set(body):
            return self._per_currency(body)
        fields = _require(body, name=str, availability=bool, mrl=int, on_demand=float, spot=float)
        server = self._by_name(fields["name"])
        if fields["mrl"] <= 0:
            raise _Invalid("mrl must be a positive number of hours")
        currency = self._state.get("currency", "bitcoin")
        server.setdefault("pricing", {})[currency] = fields["on_demand"]
        server.setdefault("spot_pricing", {})[currency] = fields["spot"]
        self._set_listing(server, fields)
        return {}

    def _per_currency(self, body: dict[str, Any]) -> dict[str, Any]:
        """`name`, `availability`, `mrl`, `<coin>_on_demand` and `<coin>_spot` (both or
        neither), `enabled-<coin>`, and optionally `autoprice` / `usd_pricing` objects, for
        the coins in COINS; any other key is refused, as is an enabled coin without prices.
        The prices land in `pricing` / `spot_pricing` by coin, the switches in
        `allowed_coins` (a coin not switched keeps its state)."""
        fields = _require(body, name=str, availability=bool, mrl=int)
        server = self._by_name(fields["name"])
        if fields["mrl"] <= 0:
            raise _Invalid("mrl must be a positive number of hours")
        known = {"name", "availability", "mrl", "autoprice", "usd_pricing"}
        for coin in COINS:
            known |= {f"{coin}_on_demand", f"{coin}_spot", f"enabled-{coin}"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise _Invalid(f"unknown field {unknown[0]!r}")
        prices: dict[str, tuple[float, float]] = {}
        for coin in COINS:
            pair = [f"{coin}_on_demand", f"{coin}_spot"]
            given = [k for k in pair if k in body]
            if len(given) == 1:
                raise _Invalid(f"{given[0]} without {(set(pair) - set(given)).pop()}")
            if given:
                read = _require(body, **{k: float for k in pair})
                prices[coin] = (read[pair[0]], read[pair[1]])
        enabled = _require(body, **{k: bool for k in body if k.startswith("enabled-")})
        if not enabled:
            raise _Invalid("no enabled-<coin> switch: the per-currency form names them")
        for switch, on in enabled.items():
            coin = switch.removeprefix("enabled-")
            if on and coin not in prices:
                raise _Invalid(f"{switch} is true but {coin}_on_demand is missing")
        for name in ("autoprice", "usd_pricing"):
            if name in body and not isinstance(body[name], dict):
                raise _Invalid(f"{name} must be an object")
        for coin, (on_demand, spot) in prices.items():
            server.setdefault("pricing", {})[coin] = on_demand
            server.setdefault("spot_pricing", {})[coin] = spot
        taken = list(server.get("allowed_coins") or [])
        for switch, on in enabled.items():
            coin = switch.removeprefix("enabled-")
            if on and coin not in taken:
                taken.append(coin)
            elif not on and coin in taken:
                taken.remove(coin)
        server["allowed_coins"] = [c for c in COINS if c in taken]
        for name in ("autoprice", "usd_pricing"):
            if name in body:
                server[name] = copy.deepcopy(body[name])
        self._set_listing(server, fields)
        return {}

    @staticmethod
    def _set_listing(server: dict[str, Any], fields: dict[str, Any]) -> None:
        server["mrl"] = fields["mrl"]
        server["availability"] = fields["availability"]
        server["visibility"] = "public" if fields["availability"] else "hidden"

    def _set_spot_price(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        fields = _require(body, order_id=int, desired_price=float)
        offer = self._my_offer(fields["order_id"])
        desired, bid = fields["desired_price"], float(offer["bid"])
        if desired < bid:
            lowered = self._lowered_at.get(offer["offer_id"])
            if lowered is not None and now - lowered < LOWERING_INTERVAL:
                wait = LOWERING_INTERVAL - (now - lowered)
                raise _Named("can_lower_every_600_seconds", time_to_lowering=round(wait))
            lowest = bid - float(self._state.get("spot_max_step", 0.000001))
            if desired < lowest - 1e-15:
                raise _Named("exceeded_max_step", max_step=round(lowest, 12))
            self._lowered_at[offer["offer_id"]] = now
        offer["bid"] = desired
        return {}

    def _cancel_order(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        fields = _require(body, id=int)
        issue = body.get("issue")
        if issue is not None and (not isinstance(issue, str) or len(issue) > 2048):
            raise _Invalid("issue must be a string of at most 2048 characters")
        for order in self._state["orders"]:
            if order.get("id") == fields["id"] and not order.get("expired"):
                order["expired"] = True
                if not order.get("spot"):
                    for entry in self._listed(order.get("si", -1)):
                        entry["rented"] = False
                return {}
        for offers in self._state["spot_offers"].values():
            for offer in offers:
                if offer.get("offer_id") == fields["id"] and offer.get("my"):
                    offers.remove(offer)
                    return {}
        raise _Invalid(f"no active order or offer with id {fields['id']}")

    def _create_order(self, params: dict[str, str], body: Any, now: float) -> dict[str, Any]:
        fields = _require(body, currency=str, image=str, renting_server=int, type=str)
        kind = fields["type"]
        if kind not in ("on-demand", "spot"):
            raise _Invalid("type must be on-demand or spot")
        _check_optional(body)
        wallets = {w.get("name") for w in self._state["wallets"]}
        if wallets and fields["currency"] not in wallets:
            raise _Invalid(f"unknown currency {fields['currency']!r}")
        server_id = fields["renting_server"]
        if any(s["id"] == server_id for s in self._state["servers"]):
            raise _Invalid("you cannot rent your own server")
        entries = self._listed(server_id)
        if not entries:
            raise _Invalid(f"no server {server_id} on the marketplace")
        entry = entries[0]
        new_id = self._next_id()
        if kind == "spot":
            price = _require(body, spotprice=float)["spotprice"]
            offer = {"offer_id": new_id, "bid": price, "active": False, "my": True}
            self._state["spot_offers"].setdefault(str(server_id), []).append(offer)
        else:
            if entry.get("rented"):
                raise _Named("server_is_rented")
            prices = entry.get("price")
            on_demand = prices.get("on_demand") if isinstance(prices, dict) else None
            price = on_demand.get(fields["currency"], 0) if isinstance(on_demand, dict) else 0
            entry["rented"] = True
        self._state["orders"].append(
            {
                "id": new_id,
                "price": price,
                "mrl": int(entry.get("mrl", 0)) * 3600,
                "image": fields["image"],
                "currency": fields["currency"],
                "spend": 0,
                "ct": int(now),
                "si": server_id,
                "spot": kind == "spot",
                "expired": False,
                "tcp_ports": [],
            }
        )
        return {}

    def _by_name(self, name: str) -> dict[str, Any]:
        try:
            return self._find(name)
        except KeyError:
            raise _Invalid(f"unknown server name {name!r}") from None

    def _my_offer(self, offer_id: int) -> dict[str, Any]:
        for offers in self._state["spot_offers"].values():
            for offer in offers:
                if offer.get("offer_id") == offer_id and offer.get("my"):
                    found: dict[str, Any] = offer
                    return found
        raise _Invalid(f"no offer of yours with id {offer_id}")

    def _next_id(self) -> int:
        ids = [o.get("id", 0) for o in self._state["orders"]]
        for offers in self._state["spot_offers"].values():
            ids.extend(o.get("offer_id", 0) for o in offers)
        return max(ids, default=0) + 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(body: Any, **kinds: type) -> dict[str, Any]:
    """The named fields of a JSON object body, each of its kind; _Invalid names the first wrong.

    A bool is neither an int nor a float here, and numbers (float) must be finite and > 0.
    """
    if not isinstance(body, dict):
        raise _Invalid("a JSON object body is required")
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        if name not in body:
            raise _Invalid(f"{name} is required")
        value = body[name]
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = _is_int(value)
        elif kind is float:
            ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0
        else:
            ok = isinstance(value, kind) and bool(value)
        if not ok:
            raise _Invalid(f"{name} must be {_KIND_TEXT[kind]}")
        out[name] = float(value) if kind is float else value
    return out


_KIND_TEXT: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number greater than 0",
    str: "a non-empty string",
}


def _check_optional(body: dict[str, Any]) -> None:
    """create_order's optional fields, as the seed limits them."""
    limits = {"jupyter_token": 32, "ssh_key": 3072, "ssh_password": 32}
    for name, most in limits.items():
        value = body.get(name)
        if value is not None and (
            not isinstance(value, str) or len(value) > most or not _SAFE.match(value)
        ):
            raise _Invalid(f"{name} must be at most {most} allowed characters")
    ports = body.get("ports")
    if ports is not None and (not isinstance(ports, dict) or len(ports) > 5):
        raise _Invalid("ports must be an object of at most 5 entries")
    for name in ("spotprice", "required_price"):
        if body.get(name) is not None:
            _require(body, **{name: float})


def _read_body(handler: _Handler) -> Any:
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return _NO_BODY
    if length <= 0:
        return None
    raw = handler.rfile.read(length)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _NO_BODY


def _send(
    handler: _Handler,
    status: int,
    data: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a timeout test); nothing to answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: Emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("emulator: error while serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so stop() leaves no kept-alive connection behind
    # that would go on answering after the API was "taken away".
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_GET(self) -> None:
        self.server.emulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.emulator._serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.emulator._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.emulator._serve(self, "DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)
