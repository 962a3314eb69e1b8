"""Fixtures: the emulator serving the seeded market, a client and a config on a FakeClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clore_host.api import CloreClient, ServerConfig, Token
from clore_host.config import Config
from clore_host.market import MarketObservation, observe_market
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator, default_state
from clore_host.testing.market import marketplace_listings, spot_offers

SECRET = "tok-Market7Secret3Qx"
SEED = 15


def market_state() -> dict[str, Any]:
    state = default_state()
    state["tokens"] = [SECRET]
    return state


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(market_state(), clock=clock) as emu:
        emu.set_marketplace(marketplace_listings(SEED), {1: spot_offers(SEED, 0.0001)})
        yield emu


@pytest.fixture
def client(emulator: Emulator, clock: FakeClock, tmp_path: Path) -> Iterator[CloreClient]:
    with CloreClient.connect(
        emulator.url, Token(SECRET), clock=clock, state_dir=tmp_path / "state", retries=0
    ) as client:
        yield client


def make_config(state_dir: Path, **market: Any) -> Config:
    return Config.model_validate(
        {"server": {"name": "demo-rig"}, "state": {"dir": str(state_dir)}, "market": market}
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "state").mkdir(exist_ok=True)
    return make_config(tmp_path / "state")


Observe = Callable[..., MarketObservation]


@pytest.fixture
def observe(config: Config, client: CloreClient, clock: FakeClock) -> Observe:
    """observe_market for the emulator's sample server (one RTX 4090) at the clock's time
    (its server_config read once, first: only the market's reads happen in a run)."""
    sample = client.server_config("demo-rig").config

    def run(
        *,
        config: Config = config,
        client: CloreClient = client,
        server: ServerConfig | None = None,
        gpu_names: tuple[str, ...] = ("NVIDIA GeForce RTX 4090",),
        peers: bool = True,
        spot: bool = True,
    ) -> MarketObservation:
        return observe_market(
            config, client, server or sample, gpu_names, clock.now(), peers=peers, spot=spot
        )

    return run
