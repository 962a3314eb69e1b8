"""A scripted run of the agent on the emulator with `server.currencies` left at its default
(bitcoin alone), keeping the exact bytes of every set_server_settings body.

`golden_seed_bodies.json` beside this file holds what this run sent before per-currency
prices existed (captured from that code, commit "tests/currencies: golden seed-form bodies");
test_seed_form compares the current code's bytes with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from clore_host.agent import Agent
from clore_host.api import CloreClient, Token
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

GOLDEN = Path(__file__).with_name("golden_seed_bodies.json")

# Idle: on demand down by odd factors (prices with float noise: 0.0001 * 0.9 * 0.93 ...),
# spot at 45 % of it, mrl 48; rented: on demand up 7 %, availability off on a fault flag.
POLICY = policy_text(
    """
[[rule]]
name = "idle walk"
when = { fact = "rented", value = false }
then.on_demand = { scale = 0.93 }
then.spot = { relative_to = "on_demand", factor = 0.45 }
then.mrl = 48

[[rule]]
name = "rented climb"
when = { fact = "rented" }
then.on_demand = { step = "+7%" }
then.mrl = 96
""",
    max_step="10%",
)


class Recording(httpx.BaseTransport):
    """Forwards to the emulator and keeps each set_server_settings request's raw body."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/set_server_settings"):
            self.bodies.append(request.read())
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def run(root: Path, config: dict[str, Any] | None = None) -> list[bytes]:
    """Ten reconciles 31 minutes apart, idle for six and rented for four."""
    clock = FakeClock()
    recording = Recording()
    with Rig(root, clock=clock, policy=POLICY, config=config) as rig:
        cfg = rig.load_config()
        client = CloreClient.connect(
            rig.emulator.url,
            Token(rig.token),
            state_dir=cfg.state.dir,
            clock=clock,
            retries=0,
            transport=recording,
        )
        agent = Agent.open(cfg, clock=clock, client=client)
        try:
            for cycle in range(10):
                if cycle == 6:
                    rig.emulator.set_rental_status(rig.server, 2)
                agent.reconcile()
                clock.advance(31 * 60)
        finally:
            agent.close()
    return recording.bodies


# Settings (availability, mrl, on_demand, spot) whose seed-form body is kept as well: the edges
# of a price (one satoshi, MAX_PRICE), float noise, more decimals than a satoshi.
MODEL_CASES: list[tuple[bool, int, float, float]] = [
    (True, 72, 0.0001, 0.00005),
    (False, 6, 0.00000001, 0.00000001),
    (True, 3000, 1000.0, 999.99999999),
    (True, 168, 0.0001 * 0.729, 0.0001 * 0.9 * 0.5),
    (False, 720, 0.000123456789, 0.000000014999),
    (True, 96, 12.5, 0.1),
]


def model_body(availability: bool, mrl: int, on_demand: float, spot: float) -> bytes:
    """The body the client sends for these settings (as api.client.set_server_settings)."""
    from clore_host.api import SetServerSettings
    from clore_host.api.wire import encode_json

    request = SetServerSettings(
        name="rig-01", availability=availability, mrl=mrl, on_demand=on_demand, spot=spot
    )
    return encode_json(request.body())


if __name__ == "__main__":  # python -m tests.currencies.seed_run DIR: rewrite the golden file
    bodies = run(Path(sys.argv[1]))
    golden = {
        "run": [b.decode("ascii") for b in bodies],
        "model": [
            {"settings": list(case), "body": model_body(*case).decode("ascii")}
            for case in MODEL_CASES
        ],
    }
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"{len(bodies)} bodies and {len(MODEL_CASES)} model bodies written to {GOLDEN}")
