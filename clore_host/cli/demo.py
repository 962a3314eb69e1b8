"""`clore-host demo`: a simulated day on the built-in emulator with fake GPUs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import EXIT_OK, UsageError
from . import echo

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the agent over a simulated day (emulator + fake GPU; no token or GPU needed)",
    )
    demo.add_argument(
        "--policy", default="default", help="a shipped policy name (default: default)"
    )
    demo.add_argument("--hours", type=float, default=24.0, help="length of the simulated run")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..testing.demo import run_demo

    if not (0 < args.hours <= 24 * 31):  # also refuses nan
        raise UsageError(f"--hours {args.hours}: give a number of hours above 0 (at most 744)")
    run_demo(echo, policy=args.policy, hours=args.hours)
    return EXIT_OK
