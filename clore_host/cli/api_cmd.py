"""`clore-host api servers|config NAME`: read-only queries for the operator.

What they print never carries the API token, even where the service echoes it back in a
successful answer (in `background_job`, say): every string of the answer, as text or JSON,
has it replaced by ***. The text form shows each of the service's strings through
errors.printable: a line break or a terminal escape sequence in one is shown, not obeyed.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import CloreClient, Token, load_token
from ..api.models import MyServersResponse, ServerConfigResponse
from ..config import ApiSection, api_base_url, load_config
from ..errors import EXIT_OK, printable
from . import add_config_option, echo

if TYPE_CHECKING:
    from . import Commands


RENTAL_STATUS = {0: "not rented", 1: "rented on the spot market", 2: "rented on demand"}


def register(commands: Commands) -> None:
    api = commands.add_parser("api", help="query the CLORE.AI API (read-only)")
    queries = api.add_subparsers(dest="api_command", metavar="QUERY", required=True)

    servers = queries.add_parser("servers", help="list your servers (my_servers)")
    add_config_option(servers)
    servers.add_argument("--json", action="store_true", help="print the answer as JSON")
    servers.set_defaults(func=_servers)

    config = queries.add_parser("config", help="show one server's configuration (server_config)")
    config.add_argument("name", help="the server's name on CLORE.AI")
    add_config_option(config)
    config.add_argument("--json", action="store_true", help="print the answer as JSON")
    config.set_defaults(func=_config)


@dataclass(frozen=True)
class _Settings:
    base_url: str
    token_file: Path | None
    state_dir: Path | None
    timeout: float
    retries: int


def _settings(args: argparse.Namespace) -> _Settings:
    """From --config when given; else $CLORE_API_URL and the token from the environment."""
    if not args.config:
        api = ApiSection()
        return _Settings(api_base_url(api.base_url), None, None, api.timeout, api.retries)
    cfg = load_config(args.config)
    # Share the daemon's rate limiter when this user may; a read by another user (no write
    # access to the state directory) is spaced within this process only.
    state_dir = cfg.state.dir if os.access(cfg.state.dir, os.W_OK) else None
    api = cfg.api
    return _Settings(api.base_url, api.token_file, state_dir, api.timeout, api.retries)


Query = Callable[[CloreClient, Token], str]


def _run(args: argparse.Namespace, query: Query) -> int:
    s = _settings(args)
    token = load_token(s.token_file)
    with CloreClient.connect(
        s.base_url, token, state_dir=s.state_dir, timeout=s.timeout, retries=s.retries
    ) as client:
        text = query(client, token)
    echo(text.replace(token.reveal(), SCRUBBED))
    return EXIT_OK


def _servers(args: argparse.Namespace) -> int:
    def query(client: CloreClient, token: Token) -> str:
        answer = client.my_servers()
        return _as_json(answer, token) if args.json else _servers_text(answer)

    return _run(args, query)


def _config(args: argparse.Namespace) -> int:
    def query(client: CloreClient, token: Token) -> str:
        answer = client.server_config(args.name)
        return _as_json(answer, token) if args.json else _config_text(answer)

    return _run(args, query)


SCRUBBED = "***"


def _as_json(answer: MyServersResponse | ServerConfigResponse, token: Token) -> str:
    data = _scrub(answer.model_dump(mode="json"), token.reveal())
    return json.dumps(data, indent=2, sort_keys=True)


def _scrub(value: Any, secret: str) -> Any:
    """`value` with `secret` replaced in every string, keys too (before JSON escapes it)."""
    if isinstance(value, str):
        return value.replace(secret, SCRUBBED)
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, secret): _scrub(v, secret) for k, v in value.items()}
    return value


def _servers_text(answer: MyServersResponse) -> str:
    if not answer.servers:
        return "no servers"
    lines = []
    for s in answer.servers:
        online = {True: "online", False: "offline", None: "online ?"}[s.online]
        lines.append(
            f"{_text(s.name)}  id {_opt(s.id)}  {_text(s.visibility or 'visibility ?')}  "
            f"{online}  on-demand {_prices(s.pricing)}  spot min {_prices(s.min_spot_pricing)}"
        )
    return "\n".join(lines)


def _config_text(answer: ServerConfigResponse) -> str:
    c = answer.config
    status = c.rental_status
    rows = [
        ("name", _text(c.name)),
        ("id", _opt(c.id)),
        ("online", _yes(c.online)),
        ("available", f"{_yes(c.is_available())} (visibility {_text(c.visibility or '?')})"),
        ("rental status", f"{_opt(status)} ({RENTAL_STATUS.get(status or 0, 'unknown')})"),
        ("on-demand", _prices(c.pricing)),
        ("spot minimum", _prices(c.spot_pricing)),
        ("max rental", f"{c.mrl} h" if c.mrl is not None else "?"),
        ("gpu", _text((c.specs or {}).get("gpu", "?"))),
    ]
    # Beyond the seed, when the service sends them: the currencies the server takes (the
    # per-currency form's switches) and the service's own conversion from USD.
    for label, value in (
        ("takes", c.allowed_coins),
        ("autoprice", c.autoprice),
        ("usd pricing", c.usd_pricing),
    ):
        if value is not None:
            rows.append((label, _coins(value) if label == "takes" else _any(value)))
    return "\n".join(f"{label:<14} {value}" for label, value in rows)


def _coins(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(_text(v) for v in value) or "none"
    return _any(value)


def _any(value: Any) -> str:
    """Any JSON value the service sent, as one line of JSON."""
    try:
        return printable(json.dumps(value, ensure_ascii=True, sort_keys=True))
    except (TypeError, ValueError):
        return "?"


def _text(value: object) -> str:
    """One of the service's values as text on one line, shown, never obeyed by the terminal."""
    return printable(value if isinstance(value, str) else str(value))


def _prices(prices: dict[str, Any] | None) -> str:
    if not prices:
        return "?"
    return ", ".join(f"{_price(v)} {_text(k)}/day" for k, v in prices.items())


def _price(value: Any) -> str:
    """A price as the one price form; anything else the service sent for one (null for a
    currency it has not implemented, a string) as JSON."""
    from ..policy import format_price  # the one price form; imported only when shown

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return format_price(float(value))
        except OverflowError:
            pass
    try:
        return printable(json.dumps(value, ensure_ascii=True))
    except (TypeError, ValueError):
        return "?"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


def _opt(value: object) -> str:
    return "?" if value is None else _text(value)
