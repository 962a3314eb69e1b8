"""`clore-host simulate --policy P [--policy ...] [--market M ...]`: what each policy would
earn in a modelled market, against the best static price (clore_host.simulate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..duration import parse_duration
from ..errors import EXIT_OK, UsageError
from . import echo

if TYPE_CHECKING:
    from ..policy import Policy
    from . import Commands

MAX_DAYS = 3650.0
MAX_SEEDS = 1000


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "simulate",
        help="what policies would earn in a modelled market, against the best static price",
        description="Run each policy through the agent's decision step in a market model "
        "(peers, renters arriving by the hour and weekday, locked rental prices), over "
        "several seeds, and compare its net revenue with the best static price found by a "
        "sweep. Markets are files (see markets/); shipped ones can be named.",
    )
    parser.add_argument(
        "--policy",
        action="append",
        required=True,
        metavar="P",
        help="a policy file, or a shipped policy by name; repeat for more",
    )
    parser.add_argument(
        "--market",
        action="append",
        metavar="M",
        help="a market file, or a shipped market by name (steady, daily-cycle, crowded); "
        "repeat for more, or 'all' for every shipped one (default: steady)",
    )
    parser.add_argument("--days", type=float, default=30.0, help="days simulated (default 30)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per policy (default 20)")
    parser.add_argument(
        "--reconcile",
        default="5m",
        metavar="D",
        help="time between decisions, as the agent's reconcile_interval (default 5m)",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the figures as JSON")
    out.add_argument(
        "--markdown", action="store_true", help="print one markdown table (the README's)"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        type=Path,
        help="draw price, occupancy and net revenue over time (.png or .svg; needs the "
        "'plot' extra: pip install 'clore-host[plot]')",
    )
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from ..simulate.evaluate import evaluate
    from ..simulate.market_file import load_market, resolve_market, shipped_markets
    from ..simulate.plot import check_target, draw
    from ..simulate.report import markdown, text

    if not 0 < args.days <= MAX_DAYS:
        raise UsageError(
            f"--days {args.days:g}: give a number of days above 0, at most {MAX_DAYS:g}"
        )
    if not 0 < args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds {args.seeds}: give 1 to {MAX_SEEDS}")
    try:
        reconcile = parse_duration(args.reconcile)
    except ValueError as exc:
        raise UsageError(f"--reconcile {args.reconcile}: {exc}") from None
    if not 1 <= reconcile <= 86400:
        raise UsageError(f"--reconcile {args.reconcile}: give 1s to 1d")
    markets: list[str | Path] = []
    for name in args.market or ["steady"]:
        markets += shipped_markets() if name == "all" else [name]
    if args.plot is not None:
        if len(markets) != 1:
            raise UsageError("--plot draws one market: give one --market")
        check_target(args.plot)
    policies = _policies(args.policy)
    evaluations = []
    for value in markets:
        market = load_market(value)
        evaluations.append(
            evaluate(
                market,
                policies,
                seeds=range(args.seeds),
                days=args.days,
                reconcile=reconcile,
                source=str(resolve_market(value)),
                series=args.plot is not None,
            )
        )
    if args.plot is not None:
        draw(evaluations[0], args.plot)
    if args.json:
        echo(json.dumps({"markets": [e.to_dict() for e in evaluations]}, indent=2))
    elif args.markdown:
        for line in markdown(evaluations):
            echo(line)
    else:
        for k, evaluation in enumerate(evaluations):
            if k:
                echo()
            for line in text(evaluation):
                echo(line)
    if args.plot is not None and not args.json:
        echo(f"plot: {args.plot}")
    return EXIT_OK


def _policies(values: list[str]) -> dict[str, Policy]:
    """Each --policy loaded, named by its file's stem (by the path when two stems agree)."""
    from ..config import load_policy
    from ..config.paths import resolve_shipped

    paths = [resolve_shipped(value, "policies") for value in values]
    stems = [p.stem for p in paths]
    out: dict[str, Policy] = {}
    for value, path, stem in zip(values, paths, stems, strict=True):
        name = stem if stems.count(stem) == 1 else value
        if name in out:
            raise UsageError(f"--policy {value} is given twice")
        out[name] = load_policy(path)
    return out
