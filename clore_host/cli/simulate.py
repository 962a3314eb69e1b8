"""`clore-host simulate --policy P [--policy ...] [--market M ...]`: what each policy would
earn in a modelled market, against the best static price (clore_host.simulate)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
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
        metavar="[LABEL=]P",
        help="a policy file, or a shipped policy by name; repeat for more. Named by its "
        "file's stem, or by LABEL when given (e.g. 'default (old)=old/default.toml')",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a policy param, as the config's [policy] params does (e.g. "
        "list_price=0.00008), for every policy that declares it; repeat for more",
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
    policies = _policies(args.policy, _params(args.param))
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


def _params(values: list[str]) -> dict[str, float]:
    """The --param values by name; a malformed one is a usage error naming it."""
    out: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param {value}: give NAME=VALUE (e.g. list_price=0.00008)")
        try:
            parsed = float(number)
        except ValueError:
            parsed = math.nan
        if not math.isfinite(parsed):
            raise UsageError(f"--param {value}: {number.strip()!r} is not a finite number")
        if name in out:
            raise UsageError(f"--param {name} is given twice")
        out[name] = parsed
    return out


def _policies(values: list[str], params: Mapping[str, float]) -> dict[str, Policy]:
    """Each --policy loaded, named by its LABEL or its file's stem (by the path when two
    stems agree), with the --params it declares applied as the config's [policy] params."""
    from ..config import load_toml
    from ..config.paths import resolve_shipped
    from ..policy import parse_policy

    given = [_labelled(value) for value in values]
    paths = [resolve_shipped(value, "policies") for _, value in given]
    stems = [p.stem for p in paths]
    # A stem names a policy unless another unlabelled one has it too.
    unlabelled = [stem for (label, _), stem in zip(given, stems, strict=True) if not label]
    out: dict[str, Policy] = {}
    used: set[str] = set()
    declared: dict[str, list[str]] = {}
    for (label, value), path, stem in zip(given, paths, stems, strict=True):
        name = label or (stem if unlabelled.count(stem) == 1 else value)
        if name in out:
            raise UsageError(f"--policy {value}: a policy named {name!r} is given already")
        data = load_toml(path, "policy")
        own = data.get("params")
        names = set(own) if isinstance(own, dict) else set()
        declared[name] = sorted(names)
        mine = {k: v for k, v in params.items() if k in names}
        used.update(mine)
        out[name] = parse_policy(data, str(path), mine)
    for name in params:
        if name not in used:
            have = "; ".join(f"{p}: {', '.join(n) or 'none'}" for p, n in declared.items())
            raise UsageError(f"--param {name}: no policy declares it (params of {have})")
    return out


def _labelled(value: str) -> tuple[str | None, str]:
    """(LABEL, P) of a --policy value: LABEL=P, unless the whole value is an existing file."""
    label, sep, rest = value.partition("=")
    if not sep or Path(value).exists() or not label.strip() or not rest:
        return None, value
    return label.strip(), rest
