"""`clore-host market [--json]`: this server's class and prices, its peers' prices, how many
of them are rented, where this server ranks, and which listings were left out and why.

It reads through the agent's own code (market.observe_market): from the API when the summary
kept in the state directory is older than market.interval, else that summary.

The `--json` document (documented in the README; tests/market/test_cli.py checks it):

    server       the config's server.name
    class        {"model": "NVIDIA GeForce RTX 4090", "count": 1}, or null when unknown
    currency     the server's currency (prices are per day, for the whole server)
    match        market.match
    prices       this server's {"on_demand": ..., "spot": ...} (a price, or null)
    read_at      when the marketplace summary was read (Unix time), or null
    facts        every market.* and spot.* fact: a number, or
                 {"unknown": reason, "values": [...], "words": "..."}
    listings     listings in the marketplace answer, or null
    dropped      listings left out, by reason (own, duplicate, other_model, other_count,
                 offline, no_price, same_owner, outlier, malformed), or null
    warnings     what went wrong reading (a failed read, a class the GPUs disagree with)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_OK, Failure
from . import add_config_option, echo

if TYPE_CHECKING:
    from ..api import CloreClient, ServerConfig
    from ..clock import Clock
    from ..config import Config
    from ..facts import Observed
    from ..market import MarketObservation
    from . import Commands

# How the text names each reason a listing was left out, in the order shown.
REASON_WORDS: dict[str, str] = {
    "other_model": "other model",
    "other_count": "other count",
    "same_owner": "same owner",
    "outlier": "outlier",
    "no_price": "no price",
    "offline": "offline",
    "duplicate": "listed twice",
    "own": "own",
    "malformed": "unreadable",
}
MATCH_WORDS = {"model_and_count": "same model and count", "model": "same model, per GPU"}


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "market",
        help="this server's peers on the market: their prices, rented share, this server's rank",
        description="Read the marketplace (at most every market.interval; the summary is "
        "shared with the agent) and show what servers like this one charge.",
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..api import CloreClient, load_token
    from ..clock import SystemClock
    from ..config import load_config

    config = load_config(args.config)
    clock = SystemClock()
    config.state.dir.mkdir(parents=True, exist_ok=True)
    with CloreClient.connect(
        config.api.base_url,
        load_token(config.api.token_file),
        state_dir=config.state.dir,
        clock=clock,
        timeout=config.api.timeout,
        retries=config.api.retries,
    ) as client:
        for line in report(config, client, clock, as_json=args.json):
            echo(line)
    return EXIT_OK


def report(config: Config, client: CloreClient, clock: Clock, *, as_json: bool) -> list[str]:
    """The command's output lines: server_config, the GPUs' names, then the market."""
    from ..market import observe_market

    server = client.server_config(config.server.name).config
    names, gpu_problem = _gpu_names(config, clock)
    now = clock.now()
    seen = observe_market(config, client, server, names, now, peers=True, spot=True)
    if gpu_problem is not None:
        seen = _with_warning(seen, gpu_problem)
    if as_json:
        return [json.dumps(to_json(config, server, seen), indent=2, sort_keys=True)]
    return text(config, server, seen, now)


def _gpu_names(config: Config, clock: Clock) -> tuple[list[str], str | None]:
    """The GPUs' names for the class cross-check; a backend that cannot read is a note."""
    from ..gpu import open_backend

    gpu = config.gpu
    try:
        backend = open_backend(
            gpu.backend, scenario=gpu.scenario, clock=clock, call_timeout=gpu.call_timeout
        )
        try:
            snapshot = backend.read()
        finally:
            backend.close()
    except Failure as exc:
        return [], f"GPUs not read, the class not cross-checked: {exc.line()}"
    return [g.name for g in snapshot.gpus if g.name], None


def _with_warning(seen: MarketObservation, warning: str) -> MarketObservation:
    from dataclasses import replace

    return replace(seen, warnings=(*seen.warnings, warning))


# -- JSON -------------------------------------------------------------------------------------


def to_json(config: Config, server: ServerConfig, seen: MarketObservation) -> dict[str, Any]:
    summary = seen.summary
    cls = seen.server_class
    return {
        "server": config.server.name,
        "class": None if cls is None else {"model": cls.shown, "count": cls.count},
        "currency": config.server.currency,
        "match": config.market.match,
        "prices": {
            "on_demand": seen.own_price,
            "spot": _price(server.spot_pricing, config.server.currency),
        },
        "read_at": seen.read_at,
        "facts": {name: _fact_json(value) for name, value in sorted(seen.facts.items())},
        "listings": None if summary is None else summary.listings,
        "dropped": None if summary is None else dict(summary.dropped),
        "warnings": list(seen.warnings),
    }


def _fact_json(value: Observed) -> Any:
    from ..facts import Unknown
    from ..policy.catalogue import unknown_words

    if isinstance(value, Unknown):
        return {
            "unknown": value.reason,
            "values": list(value.values),
            "words": unknown_words(value),
        }
    return value


def _price(prices: object, currency: str) -> float | None:
    value = prices.get(currency) if isinstance(prices, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# -- text -------------------------------------------------------------------------------------


def text(config: Config, server: ServerConfig, seen: MarketObservation, now: float) -> list[str]:
    """The report in words; `now`: the time observe_market was given."""
    from ..market import PEER_FACTS
    from ..money import format_price

    facts = seen.facts
    cls = seen.server_class
    currency = config.server.currency
    spot_price = _price(server.spot_pricing, currency)
    lines = [
        f"{config.server.name}: {cls if cls is not None else 'GPU class unknown'}, "
        f"prices in {currency} per day for the whole server",
        _row(
            "this server",
            f"on demand {_money(seen.own_price)}, spot {_money(spot_price)}",
        ),
    ]
    peers, age = facts.get("market.peers"), facts.get("market.age")
    if not isinstance(peers, float) and len({facts.get(n) for n in PEER_FACTS}) == 1:
        # Every market fact unknown for one reason (a failed read, stale, no class): said once.
        lines.append(_row("market", _unknown(peers)))
        _spot_offers(lines, facts)
        lines += [f"warning: {w}" for w in seen.warnings]
        return lines
    if isinstance(peers, float) and isinstance(age, float) and seen.summary is not None:
        read = datetime.fromtimestamp(now - age, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        lines.append(
            _row(
                "peers",
                f"{peers:.0f} owners ({MATCH_WORDS[config.market.match]}, at least "
                f"{seen.summary.need}); read {read}, {_ago(age)}",
            )
        )
    else:
        lines.append(_row("peers", _unknown(peers)))
    for label, prefix in (("on demand", "market.on_demand"), ("spot", "market.spot")):
        values = [facts.get(f"{prefix}.p{p}") for p in (10, 25, 50, 75, 90)]
        if all(isinstance(v, float) for v in values):
            shown = "  ".join(
                f"p{p} {format_price(v)}"
                for p, v in zip((10, 25, 50, 75, 90), values, strict=True)
                if isinstance(v, float)
            )
            lines.append(_row(label, shown))
        else:
            lines.append(_row(label, _unknown(next(v for v in values if not isinstance(v, float)))))
    share = facts.get("market.rented_share")
    lines.append(
        _row(
            "rented",
            f"{share:.0%} of peers (each owner counts once)"
            if isinstance(share, float)
            else _unknown(share),
        )
    )
    rank = facts.get("market.rank")
    lines.append(
        _row(
            "rank",
            f"{rank:g}: this server's on-demand price is above {rank:g}% of peers' "
            "(ties count half)"
            if isinstance(rank, float)
            else _unknown(rank),
        )
    )
    _spot_offers(lines, facts)
    if seen.summary is not None:
        lines.append(_row("left out", _dropped(seen.summary.dropped, seen.summary.listings)))
    lines += [f"warning: {w}" for w in seen.warnings]
    return lines


def _spot_offers(lines: list[str], facts: Mapping[str, Observed]) -> None:
    from ..money import format_price

    offers, best = facts.get("spot.offers"), facts.get("spot.best_bid")
    if isinstance(offers, float):
        bid = f"best bid {format_price(best)}" if isinstance(best, float) else _unknown(best)
        lines.append(_row("spot offers", f"{offers:.0f} active, {bid}"))
    else:
        lines.append(_row("spot offers", _unknown(offers)))


def _row(label: str, value: str) -> str:
    return f"{label:<13} {value}"


def _money(value: float | None) -> str:
    from ..money import format_price

    return "none" if value is None else format_price(value)


def _unknown(value: Observed | None) -> str:
    from ..facts import Unknown
    from ..policy.catalogue import unknown_words

    if isinstance(value, Unknown):
        return f"unknown ({unknown_words(value)})"
    return "unknown"


def _ago(seconds: float) -> str:
    from ..duration import format_duration

    return "just now" if seconds < 1 else f"{format_duration(round(seconds))} ago"


def _dropped(dropped: Mapping[str, int], listings: int) -> str:
    left = sum(dropped.values())
    parts: Sequence[str] = [
        f"{REASON_WORDS[r]} {dropped[r]}"
        for r in sorted(
            REASON_WORDS, key=lambda r: (-dropped.get(r, 0), list(REASON_WORDS).index(r))
        )
        if dropped.get(r, 0)
    ]
    return f"{left} of {listings} listings: " + ", ".join(parts) if parts else "none"
