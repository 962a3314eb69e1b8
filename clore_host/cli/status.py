"""`clore-host status` and `clore-host history`: what the agent sees and what it did."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..duration import format_duration
from ..errors import EXIT_OK, printable
from . import add_config_option, echo, since_time, with_agent

if TYPE_CHECKING:
    from ..agent import Agent
    from ..api import ServerConfig
    from . import Commands


def register(commands: Commands) -> None:
    status = commands.add_parser(
        "status", help="server, rental status, settings, GPUs, last decision"
    )
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(func=run_status)

    history = commands.add_parser("history", help="applied changes with their reasons")
    add_config_option(history)
    history.add_argument(
        "--since", default="7d", help='how far back: a duration ("24h", "7d") or an ISO date'
    )
    history.add_argument("--json", action="store_true", help="print as JSON")
    history.add_argument(
        "--forget-future",
        action="store_true",
        help="after the clock jumped ahead and came back: remove what was recorded later than "
        "now, which blocks every write until that time passes (takes the writer lock; prints "
        "what it removed)",
    )
    history.set_defaults(func=run_history)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def run_status(args: argparse.Namespace) -> int:
    return with_agent(args, lambda agent: _status(agent, args.json))


def _status(agent: Agent, as_json: bool) -> int:
    from ..observe.server import current_settings, rental_status_of
    from ..policy import format_price

    server = agent.client.server_config(agent.config.server.name).config
    settings = current_settings(server, agent.config.server.reference, rails=agent.policy.rails)
    coins = _currencies(agent, server)
    rental = rental_status_of(server)
    snapshot = agent.gpus.read()
    decision = agent.history.last_decision()
    change = agent.history.last_change()
    doc: dict[str, Any] = {
        "server": agent.config.server.name,
        "rental_status": rental,
        "settings": settings._asdict(),
        "currencies": coins,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "lost": g.lost,
                "utilization": g.utilization,
                "temperature": g.temperature,
                "power": g.power,
            }
            for g in snapshot.gpus
        ],
        "last_decision": None if decision is None else {"ts": decision[0], "plan": decision[1]},
        "last_change": None
        if change is None
        else {"ts": change.ts, "after": change.after._asdict(), "reasons": list(change.reasons)},
    }
    if as_json:
        echo(json.dumps(doc, indent=2, sort_keys=True))
        return EXIT_OK
    s = settings
    echo(f"server      {doc['server']} ({rental.replace('_', ' ')})")
    echo(
        f"settings    on_demand={format_price(s.on_demand)} spot={format_price(s.spot)} "
        f"availability={'on' if s.availability else 'off'} mrl={s.mrl}h"
    )
    for line in _currency_lines(coins):
        echo(line)
    if not snapshot.gpus:
        echo("gpus        none listed by the driver (a hiccup, until gpu.zero_gpus_grace)")
    for g in snapshot.gpus:
        state = "LOST" if g.lost else f"{g.utilization or 0:.0f}% {g.temperature or 0:.0f}C"
        echo(f"gpu {g.index}       {g.name or '?'}: {state}")
    if decision is not None:
        ts, plan = decision
        echo(f"decided     {_when(ts)}: " + ("change" if plan.get("changed") else "no change"))
    if change is not None:
        echo(f"last change {_when(change.ts)}: {'; '.join(change.reasons)}")
    return EXIT_OK


def _currencies(agent: Agent, server: ServerConfig) -> dict[str, Any]:
    """The payment currencies as the config and server_config give them: the form written,
    the reference, each currency's prices (read strictly when managed), what the server
    takes, and the service's own USD conversion (`autoprice`, `usd_pricing`) as sent."""
    from ..observe.server import current_prices, served_problem

    section = agent.config.server
    doc: dict[str, Any] = {
        "form": "seed" if section.seed_form else "per_currency",
        "reference": section.reference,
        "managed": list(section.currencies),
        "prices": None,
        "allowed_coins": server.allowed_coins,
        "autoprice": server.autoprice,
        "usd_pricing": server.usd_pricing,
        "problem": None,
    }
    if section.seed_form:
        return doc
    problem = served_problem(server, section.currencies)
    if problem is not None:
        doc["problem"] = problem
        return doc
    read = current_prices(server, section.currencies, section.reference, agent.policy.rails)
    doc["prices"] = {c: dict(kinds) for c, kinds in {**read.managed, **read.others}.items()}
    return doc


def _as_read(price: float, places: int) -> str:
    """A price in its currency's decimals, or with all its digits when it has more (a price
    set by hand, or one the agent does not manage: shown as it is)."""
    from decimal import Decimal

    from ..money import format_price

    digits = Decimal(repr(price))
    exponent = digits.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return f"{digits:f}"
    return format_price(price, places)


def _currency_lines(doc: dict[str, Any]) -> list[str]:
    from ..money import unit_of

    lines: list[str] = []
    prices = doc["prices"] or {}
    for currency, kinds in prices.items():
        places = unit_of(currency).decimals
        role = (
            "reference"
            if currency == doc["reference"]
            else "converted"
            if currency in doc["managed"]
            else "not managed: sent back as read"
        )
        lines.append(
            f"{'currencies' if not lines else '':<11} {currency} "
            f"on_demand={_as_read(kinds['on_demand'], places)} "
            f"spot={_as_read(kinds['spot'], places)} ({role})"
        )
    if doc["problem"] is not None:
        lines.append(f"currencies  {printable(doc['problem'])}")
    if doc["form"] == "per_currency" or doc["allowed_coins"] is not None:
        coins = doc["allowed_coins"]
        taken = ", ".join(map(str, coins)) if isinstance(coins, list) else _json(coins)
        lines.append(f"takes       {printable(taken)}")
    for key, label in (("autoprice", "autoprice  "), ("usd_pricing", "usd pricing")):
        if doc[key] is not None:
            lines.append(f"{label} {printable(_json(doc[key]))} (the service's own conversion)")
    return lines


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, sort_keys=True)


def run_history(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..history import History

    if args.forget_future:
        return _forget_future(args)
    config = load_config(args.config)
    since = since_time(args.since, time.time())
    with History.open(config.state.dir / "history.db") as history:
        changes = history.changes(since=since)
    if args.json:
        echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "ts": c.ts,
                        "server": c.server,
                        "before": c.before._asdict(),
                        "after": c.after._asdict(),
                        "reasons": list(c.reasons),
                    }
                    for c in changes
                ],
                indent=2,
            )
        )
        return EXIT_OK
    if not changes:
        echo(f"no changes applied in the last {format_duration(time.time() - since)}")
    for c in changes:
        echo(f"{_when(c.ts)} #{c.id} {c.server}")
        for reason in c.reasons:
            echo(f"    {reason}")
    return EXIT_OK


def _forget_future(args: argparse.Namespace) -> int:
    """Remove what the history recorded later than now (a clock that jumped ahead and came
    back): the writer lock is held meanwhile, so no run decides on half of it."""
    from ..agent.lock import WriterLock
    from ..config import load_config
    from ..history import History

    config = load_config(args.config)
    now = time.time()
    with (
        WriterLock(config.state.dir, config.server.name),
        History.open(config.state.dir / "history.db") as history,
    ):
        future = [c for c in history.changes(status=None) if max(c.ts, c.status_ts) > now]
        removed = history.forget_future(now)
    for c in future:
        echo(f"{_when(c.ts)} #{c.id} {c.server} ({c.status}): {'; '.join(c.reasons)}")
    if removed:
        echo(f"removed {removed} record(s) dated after {_when(now)}")
        if future:  # a removed change may have reached the server
            echo("the minimum interval and the availability hold count from now")
    else:
        echo(f"nothing recorded after {_when(now)}: nothing removed")
    return EXIT_OK
