"""`clore-host market`: the report in words (compared with golden files, exactly) and the
documented `--json` shape, on the emulator's seeded market."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.api import CloreClient, Token
from clore_host.cli.market import report
from clore_host.market import FACTS, REASONS
from clore_host.testing import FakeClock
from clore_host.testing.market import marketplace_listings
from clore_host.testing.rig import Rig

GOLDEN = Path(__file__).parent / "golden"
SEED = 15


@pytest.fixture
def rig(tmp_path: Path, clock: FakeClock) -> Iterator[Rig]:
    with Rig(tmp_path, clock=clock, market=SEED) as rig:
        yield rig


@pytest.fixture
def client(rig: Rig, clock: FakeClock) -> Iterator[CloreClient]:
    config = rig.load_config()
    with CloreClient.connect(
        rig.emulator.url, Token(rig.token), clock=clock, state_dir=config.state.dir, retries=0
    ) as client:
        yield client


def _report(rig: Rig, client: CloreClient, clock: FakeClock, *, as_json: bool = False) -> str:
    return "\n".join(report(rig.load_config(), client, clock, as_json=as_json)) + "\n"


def test_the_report_in_words(rig: Rig, client: CloreClient, clock: FakeClock) -> None:
    assert _report(rig, client, clock) == (GOLDEN / "market.txt").read_text()
    # Within market.interval the summary kept is shown, and no new read is made.
    clock.advance(300)
    again = _report(rig, client, clock)
    assert "read 2026-01-01 00:00:00Z, 5m" in again
    assert len(rig.emulator.requests.for_endpoint("marketplace")) == 1


def test_the_report_when_the_market_is_unknown(
    rig: Rig, client: CloreClient, clock: FakeClock
) -> None:
    rig.emulator.faults.http_status(503, endpoint="marketplace")
    rig.emulator.update_server("demo-rig", specs={"gpu": "2x NVIDIA GeForce RTX 4090"})
    assert _report(rig, client, clock) == (GOLDEN / "market-unknown.txt").read_text()


def test_too_few_peers_in_words(rig: Rig, client: CloreClient, clock: FakeClock) -> None:
    rig.emulator.set_marketplace(marketplace_listings(SEED, servers=60))
    out = _report(rig, client, clock)
    assert "on demand     unknown (" in out and "peers, need 5)" in out, out


def test_the_json_shape(rig: Rig, client: CloreClient, clock: FakeClock) -> None:
    doc = json.loads(_report(rig, client, clock, as_json=True))
    assert set(doc) == {
        *("server", "class", "currency", "match", "prices", "read_at"),
        *("facts", "listings", "dropped", "warnings"),
    }
    assert doc["server"] == "demo-rig" and doc["currency"] == "bitcoin"
    assert doc["class"] == {"model": "NVIDIA GeForce RTX 4090", "count": 1}
    assert doc["prices"] == {"on_demand": 0.0001, "spot": 0.00005}
    assert doc["match"] == "model_and_count" and doc["read_at"] == 1_767_225_600.0
    assert set(doc["facts"]) == set(FACTS)
    assert all(isinstance(v, float) for v in doc["facts"].values())
    assert set(doc["dropped"]) == set(REASONS)
    assert sum(doc["dropped"].values()) + doc["facts"]["market.peers"] == doc["listings"]
    assert doc["warnings"] == []


def test_the_json_shape_of_unknown_facts(rig: Rig, client: CloreClient, clock: FakeClock) -> None:
    rig.emulator.faults.malformed(endpoint="marketplace")
    doc = json.loads(_report(rig, client, clock, as_json=True))
    assert doc["facts"]["market.on_demand.p50"] == {
        "unknown": "unreadable",
        "values": ["marketplace answer"],
        "words": "marketplace answer unreadable",
    }
    assert doc["dropped"] is None and doc["listings"] is None and doc["read_at"] is None
    assert doc["warnings"] == ["marketplace read failed: response is not JSON"]
    assert isinstance(doc["facts"]["spot.offers"], float)


def test_the_command_as_a_timer_runs_it(tmp_path: Path) -> None:
    # A fresh process on the system clock: registered, configured, exit 0; then the summary
    # it kept is shown by the next run without reading the marketplace again.
    with Rig(tmp_path / "real", market=SEED, config={"api": {"retries": 0}}) as real:
        done = real.cli("market", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["facts"]["market.peers"] >= 100
        again = real.cli("market")
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[0].startswith("demo-rig: 1x NVIDIA GeForce RTX 4090")
        assert len(real.emulator.requests.for_endpoint("marketplace")) == 1
