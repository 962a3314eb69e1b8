"""A stand-in for systemd: the test binds NOTIFY_SOCKET and reads what the daemon says."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..rig import Rig

WATCHDOG_USEC = 300_000  # the daemon pings every 0.15 s


class Systemd:
    """The notify socket's receiving end."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path
        self.messages: list[tuple[float, str]] = []

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536).decode()
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), data))
            if predicate(data):
                return data
        seen = [m for _, m in self.messages[-10:]]
        raise AssertionError(f"no such message within {timeout}s; last: {seen}")

    def drain(self, seconds: float) -> list[str]:
        """Every message within the next `seconds`."""
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536).decode()
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), data))
            got.append(data)
        return got


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    stand_in = Systemd(tmp_path / "notify.sock")
    yield stand_in
    stand_in.sock.close()


def start_daemon(rig: Rig, systemd: Systemd) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}
    env["NOTIFY_SOCKET"] = str(systemd.path)
    env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    return subprocess.Popen(
        [sys.executable, "-m", "clore_host", "run", "--config", str(rig.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def daemon_config(rig: Rig, **gpu: object) -> None:
    rig.write_config(
        agent={"sample_interval": 0.2, "reconcile_interval": 3, "jitter": 0, "backoff": 0.5},
        gpu={"call_timeout": 0.3, **gpu},
    )


def stop(proc: subprocess.Popen[str]) -> tuple[int, float]:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=10)
    return code, time.monotonic() - began
