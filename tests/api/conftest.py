"""Fixtures: an emulator and clients that share one FakeClock, so nothing sleeps for real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clore_host.api import CloreClient, Token
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator, default_state

# A token no test output would contain by accident.
SECRET = "tok-Zq8Xw2Secret9Kp"
OTHER_SECRET = "tok-Wrong7Vb3Secret"


def make_state() -> dict[str, Any]:
    state = default_state()
    state["tokens"] = [SECRET]
    return state


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(make_state(), clock=clock) as emu:
        yield emu


ClientFactory = Callable[..., CloreClient]


@pytest.fixture
def make_client(emulator: Emulator, clock: FakeClock) -> Iterator[ClientFactory]:
    made: list[CloreClient] = []

    def make(
        url: str | None = None, token: str = SECRET, state_dir: Path | None = None, **kw: Any
    ) -> CloreClient:
        client = CloreClient.connect(
            url or emulator.url, Token(token), clock=clock, state_dir=state_dir, **kw
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> CloreClient:
    return make_client()
