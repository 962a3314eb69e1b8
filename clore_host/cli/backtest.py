"""`clore-host backtest --policy P [--since 30d] [--json]`: what P would have done with what
this rig's agent saw, beside what the agent did (clore_host.simulate.backtest)."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from ..errors import EXIT_OK
from . import add_config_option, echo

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "backtest",
        help="replay this rig's recorded decisions through another policy",
        description="Replay each reconcile the agent recorded in history (rental status, "
        "settings, GPU and host readings, market and cost facts) through policy P, with the "
        "history's windows, and show P's changes and figures beside those of the policy that "
        "ran. Revenue assumes the rentals happened as they did, each at P's price when it began.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--policy",
        required=True,
        metavar="P",
        help="a policy file, or a shipped policy by name (the config's [policy] params apply)",
    )
    parser.add_argument(
        "--since",
        default="30d",
        metavar="WHEN",
        help="how far back: a duration (30d, 12h) or an ISO date (default 30d)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run_backtest)


def run_backtest(args: argparse.Namespace) -> int:
    from ..config import load_config, load_policy
    from ..config.paths import resolve_shipped
    from ..history import History
    from ..simulate.backtest import backtest
    from ..simulate.report import backtest_text
    from . import since_time

    config = load_config(args.config)
    path = resolve_shipped(args.policy, "policies")
    policy = load_policy(path, config.policy.params)
    since = since_time(args.since, time.time())
    with History.open(config.state.dir / "history.db") as history:
        result = backtest(history, policy, config.server.name, since=since)
    if args.json:
        doc = {"policy": str(path), "ran": str(config.policy.path), **result.to_dict()}
        echo(json.dumps(doc, indent=2))
        return EXIT_OK
    for line in backtest_text(result, path.stem, config.policy.path.stem):
        echo(line)
    return EXIT_OK
