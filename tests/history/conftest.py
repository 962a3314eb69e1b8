"""Fixtures for the history tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.history import History


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History.open(tmp_path / "history.db") as h:
        yield h
