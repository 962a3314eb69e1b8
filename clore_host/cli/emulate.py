"""`clore-host emulate`: serve the loopback CLORE.AI API emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from ..errors import EXIT_FAILURE, EXIT_INVALID, EXIT_OK
from . import fail


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "emulate", help="serve an emulated CLORE.AI API on loopback (for tests and demos)"
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (default: 0, any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--state", metavar="FILE", help="JSON state file (default: a built-in demo account)"
    )
    p.set_defaults(func=_emulate)


def _emulate(args: argparse.Namespace) -> int:
    from ..testing import Emulator, default_state, load_state  # loaded by this command only

    if not 0 <= args.port <= 65535:
        return fail(f"--port {args.port} is not a TCP port (0-65535)", EXIT_INVALID)
    try:
        state = load_state(args.state) if args.state else default_state()
        emulator = Emulator(state, host=args.host, port=args.port)
    except ValueError as exc:
        return fail(str(exc), EXIT_INVALID)
    try:
        emulator.start()
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", EXIT_FAILURE)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(emulator.url, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    return EXIT_OK
