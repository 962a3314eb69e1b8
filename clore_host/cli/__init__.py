"""The `clore-host` command line: one module per command group, registered here."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import EXIT_FAILURE, EXIT_INVALID, describe
from ..outputs.logs import setup_logging

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..agent import Agent

    # What each command module's `register(commands)` adds its parsers to.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("clore_host.cli")

__all__ = [
    "add_config_option",
    "build_parser",
    "echo",
    "entry",
    "fail",
    "main",
    "with_agent",
]

# The module that defines each command; it has `register(subparsers)`, and its parsers set
# `func(args) -> int`. Only the module of the command being run is imported (a one-shot run
# from a timer should not pay for every other command's imports); --help imports them all.
COMMANDS: dict[str, str] = {
    "reprice": "reprice",
    "plan": "reprice",
    "status": "status",
    "history": "status",
    "run": "run",
    "demo": "demo",
    "check": "check",
    "gpus": "gpus",
    "api": "api_cmd",
    "init": "init",
    "emulate": "emulate",
    "market": "market",
    "costs": "costs",
    "simulate": "simulate",
    "backtest": "backtest",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that command's module is loaded."""
    parser = argparse.ArgumentParser(
        prog="clore-host",
        description="Prices and lists a GPU server on CLORE.AI according to a policy.",
    )
    parser.add_argument("--version", action="version", version=f"clore-host {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: warning; `run` logs at info)",
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "text", "json"],
        help="key=value text (auto: no timestamps under systemd) or one JSON object per line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $CLORE_HOST_CONFIG, else /etc/clore-host/config.toml)",
    )


def with_agent(args: argparse.Namespace, job: Callable[[Agent], int]) -> int:
    """Open the agent from --config, run `job`, close it; failures go up to main()."""
    from ..agent import Agent
    from ..config import load_config

    agent = Agent.open(load_config(args.config))
    try:
        return job(agent)
    finally:
        agent.close()


def since_time(value: str, now: float) -> float:
    """`--since` as a time: a duration back from `now` ("24h", "7d") or an ISO date (UTC
    unless it says otherwise)."""
    from datetime import datetime, timezone

    from ..duration import parse_duration
    from ..errors import UsageError

    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r}: use a duration such as 24h or an ISO date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def echo(text: str = "") -> None:
    """Print a line of a command's output. Once the reader has gone (`clore-host history |
    head -1`) the rest is dropped quietly, and the command still ends with its own code."""
    if _stdout_gone:
        return
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _drop_stdout()


_stdout_gone = False


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that no later write or the last flush fails again."""
    global _stdout_gone
    _stdout_gone = True
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def fail(message: str, code: int) -> int:
    """Print one clear line to stderr and return the exit code."""
    print(f"clore-host: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    # A daemon's decisions belong in the journal; one-shot commands print their own result.
    setup_logging(
        args.log_level or ("info" if args.command == "run" else "warning"), args.log_format
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_INVALID
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one place a failure becomes its line and exit code
        code, line = describe(exc)
        if code == EXIT_FAILURE:  # a bug: the traceback for whoever runs with --log-level debug
            log.debug("traceback of the unexpected error", exc_info=exc)
        return fail(line, code)
    return code


def entry() -> int:
    """The `clore-host` program: main(), then out without a last garbage collection.

    The commands close what they opened before main() returns (after Ctrl-C the kernel drops
    any lock left); collecting every object of every loaded module on the way out would only
    delay a timer's run (~30 ms).
    """
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
