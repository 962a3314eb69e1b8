"""Shared fixtures."""

from __future__ import annotations

import pytest

from clore_host.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# The end-to-end rig (emulator + fake GPUs + config on disk), shared by e2e and daemon tests.
pytest_plugins = ["tests.rig"]
