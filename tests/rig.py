"""The `rig` fixture of the end-to-end and daemon tests: clore_host.testing.Rig on the system
clock, whose CLI runs as a subprocess exactly as a timer would run it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.testing.rig import SERVER, TOKEN, Rig, policy_text

__all__ = ["RAISE_POLICY", "SERVER", "STEADY_POLICY", "TOKEN", "Rig", "rig"]

# Raises the price a little: one write, within the rails.
RAISE_POLICY = policy_text(
    """
[[rule]]
name = "test raise"
when = { fact = "rental_status", op = "==", value = "not_rented" }
then.on_demand = { set = 0.00011 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""
)

# Asks for exactly what the emulator's sample server already has.
STEADY_POLICY = RAISE_POLICY.replace("0.00011", "0.0001")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    # No retries and short timeouts: a test that meets a fault sees it at once.
    config = {"api": {"retries": 0, "timeout": 1}, "gpu": {"call_timeout": 0.5}}
    with Rig(tmp_path, policy=RAISE_POLICY, config=config) as rig:
        yield rig
