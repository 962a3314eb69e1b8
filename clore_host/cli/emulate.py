"""`clore-host emulate`: serve the loopback CLORE.AI API emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import EXIT_OK, UsageError
from . import echo

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "emulate", help="serve an emulated CLORE.AI API on loopback (for tests and demos)"
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (default: 0, any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--state", metavar="FILE", help="JSON state file (default: a built-in demo account)"
    )
    p.set_defaults(func=_emulate)


def _emulate(args: argparse.Namespace) -> int:
    from ..testing.emulator import (  # loaded by this command only
        Emulator,
        default_state,
        load_state,
    )

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    try:  # the emulator's own errors, in the terms of this command's arguments
        state = load_state(args.state) if args.state else default_state()
        emulator = Emulator(state, host=args.host, port=args.port)
        emulator.start()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    echo(emulator.url)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    return EXIT_OK
