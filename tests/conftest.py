"""Shared fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from clore_host.testing import FakeClock
from clore_host.testing.rig import PROXY_VARS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach only loopback: a proxy set on the machine running them must not apply."""
    for name in list(os.environ):
        if name.lower() in PROXY_VARS:
            monkeypatch.delenv(name)


# CI runs the property and fuzz tests on a fixed sequence of examples, so a submission's result
# does not depend on the draw; developers' runs keep drawing new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The end-to-end rig (emulator + fake GPUs + config on disk), shared by e2e and daemon tests.
pytest_plugins = ["tests.rig"]
