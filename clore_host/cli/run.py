"""`clore-host run`: the daemon (see clore_host.agent.daemon)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import add_config_option

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run as a daemon (systemd Type=notify): sample, reconcile, repeat",
        description="Sample the GPUs and reconcile the server's settings forever. "
        "SIGHUP reloads config and policy; SIGTERM stops.",
    )
    add_config_option(run)
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..agent.daemon import run_daemon

    return run_daemon(args.config)
