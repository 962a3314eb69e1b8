"""A rig for end-to-end tests: the emulator on loopback, fake GPUs, a config on disk, and the
CLI run as a subprocess exactly as a timer would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clore_host.api.emulator import Emulator, default_state

TOKEN = "e2e-secret-token-3f9c1a"
SERVER = "demo-rig"

# Raises the price a little: one write, within the default rails.
RAISE_POLICY = """
version = 1
[rails]
on_demand = { floor = 0.00005, ceiling = 0.0003 }
spot = { floor = 0.00002, ceiling = 0.0002 }
max_step = "20%"
min_interval = "30m"
deadband = "1%"
[[rule]]
name = "test raise"
when = { fact = "rental_status", op = "==", value = "not_rented" }
then.on_demand = { set = 0.00011 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""

# Asks for exactly what the emulator's sample server already has.
STEADY_POLICY = RAISE_POLICY.replace("0.00011", "0.0001")

IDLE_SCENARIO = """
driver_version = "550.54.15"
seed = 1
[[gpu]]
name = "NVIDIA GeForce RTX 4090"
utilization = 1
temperature = 35
power = 20
"""


@dataclass
class Rig:
    root: Path
    emulator: Emulator
    config: Path

    def write_config(self, **sections: dict[str, Any]) -> None:
        base: dict[str, dict[str, Any]] = {
            "server": {"name": SERVER, "expected_gpus": 1},
            "api": {
                "base_url": self.emulator.url,
                "token_file": "token",
                "retries": 0,
                "timeout": 1,
            },
            "gpu": {"backend": "fake", "scenario": "scenario.toml", "call_timeout": 0.5},
            "policy": {"path": "policy.toml"},
            "state": {"dir": "state"},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        lines = []
        for name, values in base.items():
            lines.append(f"[{name}]")
            for key, value in values.items():
                rendered = f'"{value}"' if isinstance(value, str) else repr(value).lower()
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    rendered = repr(value)
                lines.append(f"{key} = {rendered}")
        self.config.write_text("\n".join(lines) + "\n")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}
        env.pop("NOTIFY_SOCKET", None)
        return subprocess.run(
            [sys.executable, "-m", "clore_host", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}
        env.pop("NOTIFY_SOCKET", None)
        return subprocess.Popen(
            [sys.executable, "-m", "clore_host", *args, "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def writes(self) -> list[Any]:
        return [r.body for r in self.emulator.requests.for_endpoint("set_server_settings")]

    def settings(self) -> tuple[Any, ...]:
        server = self.emulator.server(SERVER)
        return (
            server["pricing"]["bitcoin"],
            server["spot_pricing"]["bitcoin"],
            server["availability"],
            server["mrl"],
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    state = default_state()
    state["tokens"] = [TOKEN]
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    (tmp_path / "policy.toml").write_text(RAISE_POLICY)
    (tmp_path / "scenario.toml").write_text(IDLE_SCENARIO)
    with Emulator(state) as emulator:
        rig = Rig(tmp_path, emulator, tmp_path / "config.toml")
        rig.write_config()
        yield rig
