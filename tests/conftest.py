"""Shared fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from clore_host.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# CI runs the property and fuzz tests on a fixed sequence of examples, so a submission's result
# does not depend on the draw; developers' runs keep drawing new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The end-to-end rig (emulator + fake GPUs + config on disk), shared by e2e and daemon tests.
pytest_plugins = ["tests.rig"]
