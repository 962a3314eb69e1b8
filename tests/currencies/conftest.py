"""A rig whose server takes three payment currencies, its agent's client keeping the raw
bytes of every write (seed_run.Recording), and the arithmetic the tests check prices with."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent import Agent
from clore_host.api import CloreClient, Token
from clore_host.testing import FakeClock
from clore_host.testing.market import DEFAULT_RATES
from clore_host.testing.rig import Rig, policy_text

from .seed_run import Recording

BTC, CLORE, USD = "bitcoin", "CLORE-Blockchain", "USD-Blockchain"
ALL = [BTC, CLORE, USD]
DECIMALS = {BTC: 8, CLORE: 8, USD: 6}
# The default fees (config [fees]): the kind's fee plus the currency's surcharge, percent.
KEPT = {
    BTC: {"on_demand": 20.0, "spot": 16.25},
    CLORE: {"on_demand": 5.0, "spot": 1.25},
    USD: {"on_demand": 20.0, "spot": 16.25},
}
# What the server holds before the first write: a price per currency and kind, far from
# where the conversion puts them, with more decimals than the unit for the USD coin.
PRICING = {BTC: 0.0001, CLORE: 400.0, USD: 9.1234567, "usd": None}
SPOT_PRICING = {BTC: 0.00005, CLORE: 200.0, USD: 4.5}

RAISE = """
[[rule]]
name = "raise"
then.on_demand = { set = 0.00011 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""
LOWER = """
[[rule]]
name = "lower"
then.on_demand = { scale = 0.9 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""

# A number in a JSON body, with its key.
NUMBER = re.compile(rb'"([A-Za-z-]+_(?:on_demand|spot))":([-0-9.eE+]+)')


@dataclass
class CurrencyRig:
    rig: Rig
    clock: FakeClock
    recording: Recording

    def agent(self) -> Agent:
        cfg = self.rig.load_config()
        client = CloreClient.connect(
            self.rig.emulator.url,
            Token(self.rig.token),
            state_dir=cfg.state.dir,
            clock=self.clock,
            retries=0,
            transport=self.recording,
        )
        return Agent.open(cfg, clock=self.clock, client=client)

    def reconcile(self, *, dry_run: bool = False) -> Any:
        agent = self.agent()
        try:
            return agent.reconcile(dry_run=dry_run)
        finally:
            agent.close()

    def server(self) -> dict[str, Any]:
        return self.rig.emulator.server(self.rig.server)

    def last_numbers(self) -> dict[str, bytes]:
        """The price numbers of the last write, as their exact bytes, by key."""
        return {k.decode(): v for k, v in NUMBER.findall(self.recording.bodies[-1])}

    def last_body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.recording.bodies[-1])
        return body


def make_rig(
    root: Path,
    *,
    currencies: list[str],
    policy: str = RAISE,
    reference: str | None = None,
    allowed: list[str] | None = None,
    config: dict[str, Any] | None = None,
    rails: dict[str, Any] | None = None,
) -> CurrencyRig:
    clock = FakeClock()
    server: dict[str, Any] = {"currencies": currencies}
    if reference is not None:
        server["reference_currency"] = reference
    text = policy_text(policy, **(rails or {}))
    rig = Rig(root, clock=clock, policy=text, config={"server": server, **(config or {})})
    rig.start()
    rig.emulator.update_server(
        rig.server,
        pricing=dict(PRICING),
        spot_pricing=dict(SPOT_PRICING),
        allowed_coins=list(ALL if allowed is None else allowed),
    )
    return CurrencyRig(rig, clock, Recording())


@pytest.fixture
def three(tmp_path: Path) -> Iterator[CurrencyRig]:
    made = make_rig(tmp_path, currencies=ALL)
    try:
        yield made
    finally:
        made.rig.close()


def factor(currency: str, kind: str, reference: str = BTC) -> Fraction:
    """The exact conversion factor of the issue: usd_ref/usd_c * (1-kept_ref)/(1-kept_c)."""
    rates = DEFAULT_RATES
    return (
        Fraction(rates[reference])
        / Fraction(rates[currency])
        * (100 - Fraction(KEPT[reference][kind]))
        / (100 - Fraction(KEPT[currency][kind]))
    )


def net_usd(price: float | Fraction, currency: str, kind: str) -> Fraction:
    """What the host keeps of a gross `price` in `currency`, in USD."""
    return (
        Fraction(price)
        * (1 - Fraction(KEPT[currency][kind]) / 100)
        * Fraction(DEFAULT_RATES[currency])
    )
