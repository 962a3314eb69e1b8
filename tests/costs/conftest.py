"""Configs, GPUs and a history for the costs tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from clore_host.config import Config
from clore_host.facts import GpuNow
from clore_host.history import History

# 2026-11-30 12:00 UTC, a Monday: two days after the fixed rate's date.
NOW = 1_796_040_000.0
AS_OF = date(2026, 11, 28)


def config(**sections: Any) -> Config:
    """A config: server "rig", the sections given (as the TOML file would have them)."""
    return Config.model_validate({"server": {"name": "rig"}, **sections})


# The README's worked example: 4x RTX 4090 at 0.14 USD/kWh.
RIG_COSTS: dict[str, Any] = {
    "electricity": {"price": 0.14, "currency": "USD"},
    "fixed": {"per_day": 1.0, "currency": "USD"},
    "overhead_w": 150,
}
RIG_FX: dict[str, Any] = {"bitcoin_usd": 95000, "as_of": AS_OF}


def rig_config(**sections: Any) -> Config:
    return config(**{"costs": RIG_COSTS, "fx": RIG_FX, **sections})


def gpus(count: int = 4, limit: float | None = 450.0) -> tuple[GpuNow, ...]:
    return tuple(GpuNow(index=i, power_limit=limit, power=30.0) for i in range(count))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    with History.open(tmp_path / "history.db", now=NOW) as h:
        yield h
