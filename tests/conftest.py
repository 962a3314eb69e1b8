"""Shared fixtures."""

from __future__ import annotations

import pytest

from clore_host.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
