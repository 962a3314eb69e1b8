"""Waiting on a call that might block on a FIFO, without letting a test hang."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest


def within(seconds: float, fifo: Path, call: Callable[[], object]) -> BaseException | None:
    """Run `call` in a thread; the exception it raised, or a test failure when it has not
    returned within `seconds` (a read blocked on the FIFO: released by opening its other end)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # let the blocked reader go
        thread.join(seconds)
        pytest.fail(f"reading {fifo} blocked instead of refusing it")
    return outcome[0]
