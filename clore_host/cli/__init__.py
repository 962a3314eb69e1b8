"""The `clore-host` command line: one module per command group, registered here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..exitcodes import (
    EXIT_AUTH,
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
)
from ..logs import setup_logging

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILURE",
    "EXIT_INVALID",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "add_config_option",
    "build_parser",
    "fail",
    "main",
]

# Each module has `register(subparsers)`; its parsers set `func(args) -> int`.
COMMAND_MODULES: tuple[str, ...] = (
    "reprice",
    "status",
    "run",
    "demo",
    "api_cmd",
    "emulate",
    "check",
    "gpus",
)


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $CLORE_HOST_CONFIG, else /etc/clore-host/config.toml)",
    )


def fail(message: str, code: int) -> int:
    """Print one clear line to stderr and return the exit code."""
    print(f"clore-host: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
