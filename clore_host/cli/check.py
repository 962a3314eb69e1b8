"""`clore-host check [--config C] [--policy P]`: validate the config and the policy.

Prints one OK line per file, or every problem with its place in the file; exit 0 or 2. Unlike
the other commands it goes on after a bad file, so one run lists the problems of all three.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config, config_path, load_config, load_policy
from ..config.paths import resolve_shipped
from ..errors import EXIT_INVALID, EXIT_OK
from ..issues import InputFileError
from . import add_config_option, echo, fail

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "check",
        help="validate the config and the policy, listing every error",
        description="Validate the config and the policy it names (or --policy). "
        "Exit 0 when both are valid, 2 otherwise.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--policy",
        metavar="P",
        help="policy file, or a shipped policy by name (default, idle-discount, ...); "
        "default: the config's policy.path",
    )
    parser.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    ok = True
    config: Config | None = None
    path = config_path(args.config)
    # Without --config and without a readable default config, --policy alone is checked.
    if args.config or path.exists() or not args.policy:
        try:
            config = load_config(path)
        except InputFileError as exc:
            ok = False
            fail(exc.render(), EXIT_INVALID)
        else:
            echo(f"OK config {path} (server {config.server.name!r})")
    policy_file: Path | None = None
    if args.policy:
        policy_file = resolve_shipped(args.policy, "policies")
    elif config is not None:
        policy_file = config.policy.path
    if policy_file is not None:
        try:
            policy = load_policy(policy_file)
        except InputFileError as exc:
            ok = False
            fail(exc.render(), EXIT_INVALID)
        else:
            echo(f"OK policy {policy_file} ({len(policy.rules)} rules, digest {policy.digest()})")
    if config is not None and config.gpu.backend == "fake" and config.gpu.scenario is not None:
        from ..testing import load_scenario

        try:
            scenario = load_scenario(config.gpu.scenario)
        except InputFileError as exc:
            ok = False
            fail(exc.render(), EXIT_INVALID)
        else:
            echo(f"OK scenario {config.gpu.scenario} ({len(scenario.gpu)} GPUs)")
    return EXIT_OK if ok else EXIT_INVALID
