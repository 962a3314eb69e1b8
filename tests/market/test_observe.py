"""observe_market against the emulator: the facts, the summary shared between runs, and every
way a read can fail leaving the facts it feeds unknown, never an exception."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from clore_host.api import CloreClient, Token
from clore_host.config import Config
from clore_host.facts import Unknown
from clore_host.market import FACTS, PEER_FACTS, SPOT_FACTS, MarketObservation
from clore_host.market.store import STORE_NAME, MarketStore
from clore_host.testing import FakeClock
from clore_host.testing.emulator import ABSENT, Emulator
from clore_host.testing.market import DEFAULT_RATES

from .conftest import SECRET, Observe, make_config

STATISTICS = [n for n in PEER_FACTS if n not in ("market.peers", "market.age")]


def reads(emulator: Emulator, endpoint: str = "marketplace") -> int:
    return len(emulator.requests.for_endpoint(endpoint))


def number(seen: MarketObservation, name: str) -> float:
    value = seen.facts[name]
    assert isinstance(value, float), (name, value)
    return value


def test_a_fresh_read_gives_every_fact(observe: Observe, emulator: Emulator) -> None:
    seen = observe()
    assert set(seen.facts) == set(FACTS)
    facts = {name: number(seen, name) for name in FACTS}  # every one known
    assert facts["market.peers"] >= 100 and facts["market.age"] == 0.0
    p = [facts[f"market.on_demand.p{q}"] for q in (10, 25, 50, 75, 90)]
    assert p == sorted(p) and 0.00005 < p[2] < 0.00012  # a 1x RTX 4090, per day in BTC
    assert 0 <= facts["market.rank"] <= 100 and 0 < facts["market.rented_share"] < 1
    assert facts["spot.offers"] == 2.0 and facts["spot.best_bid"] > 0
    assert seen.rates_in_usd == DEFAULT_RATES and seen.warnings == ()
    assert seen.record is not None
    dropped = seen.record["marketplace"]["dropped"]
    # The emulator's market holds every kind of listing a peer is not.
    assert all(dropped[r] > 0 for r in ("own", "other_model", "other_count", "same_owner"))
    assert all(dropped[r] > 0 for r in ("outlier", "no_price", "malformed", "offline"))
    assert (
        sum(dropped.values()) + seen.record["marketplace"]["peers"]
        == (seen.record["marketplace"]["listings"])
    )
    json.dumps(seen.record, allow_nan=False)  # as history records it
    assert (reads(emulator), reads(emulator, "spot_marketplace")) == (1, 1)


def test_not_read_again_within_the_interval(
    observe: Observe, emulator: Emulator, clock: FakeClock, config: Config
) -> None:
    first = observe()
    assert first.read_at is not None
    clock.set(first.read_at + config.market.interval - 10)
    again = observe()
    assert (reads(emulator), reads(emulator, "spot_marketplace")) == (1, 1)
    assert again.record is None  # nothing new to record
    assert again.facts["market.age"] == config.market.interval - 10
    assert again.facts["market.on_demand.p50"] == first.facts["market.on_demand.p50"]
    assert again.rates_in_usd == DEFAULT_RATES and again.rates_at == first.rates_at
    clock.advance(10)
    assert observe().record is not None
    assert (reads(emulator), reads(emulator, "spot_marketplace")) == (2, 2)


def test_runs_sharing_a_state_directory_share_the_summary(
    observe: Observe, emulator: Emulator, clock: FakeClock, config: Config, tmp_path: Path
) -> None:
    # A daemon and a one-shot run: two clients, one state directory.
    start = clock.now()
    observe()
    with CloreClient.connect(
        emulator.url, Token(SECRET), clock=clock, state_dir=config.state.dir, retries=0
    ) as other:
        clock.set(start + 60)
        seen = observe(client=other)
    assert reads(emulator) == 1 and seen.facts["market.age"] == 60.0


def test_the_rank_follows_this_servers_price_without_a_new_read(
    observe: Observe, emulator: Emulator, clock: FakeClock, client: CloreClient
) -> None:
    low = observe().facts["market.rank"]
    emulator.update_server("demo-rig", pricing={"bitcoin": 0.0002, "usd": 0})
    clock.advance(60)
    high = observe(server=client.server_config("demo-rig").config).facts["market.rank"]
    assert reads(emulator) == 1 and isinstance(low, float) and high == 100.0 > low
    emulator.update_server("demo-rig", pricing={"bitcoin": "0.0002"})
    clock.advance(60)
    server = client.server_config("demo-rig").config
    assert observe(server=server).facts["market.rank"] == Unknown("not_listed")


def _line_of(seen_warnings: tuple[str, ...]) -> str:
    (warning,) = seen_warnings
    return warning


def test_a_failing_read_leaves_the_facts_unknown(
    observe: Observe, emulator: Emulator, clock: FakeClock, config: Config
) -> None:
    emulator.faults.http_status(503, endpoint="marketplace")
    seen = observe()
    line = "HTTP status 503"
    for name in PEER_FACTS:
        assert seen.facts[name] == Unknown("read_failed", ("marketplace", line))
    assert _line_of(seen.warnings) == f"marketplace read failed: {line}"
    assert seen.facts["spot.offers"] == 2.0  # the other read is not affected
    assert seen.record is not None and "marketplace" not in seen.record
    # Not tried again before the interval, and still unknown meanwhile.
    clock.advance(60)
    assert observe().facts["market.peers"] == Unknown("read_failed", ("marketplace", line))
    assert reads(emulator) == 1
    clock.advance(config.market.interval)
    assert isinstance(observe().facts["market.peers"], float) and reads(emulator) == 2


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        ("malformed", "read failed: response is not JSON"),
        ("shape", "read failed: unexpected response shape: servers is not a list"),
        ("mine", "read failed: unexpected response shape: my_servers is missing"),
    ],
)
def test_a_malformed_answer_leaves_the_facts_unknown(
    observe: Observe, emulator: Emulator, fault: str, line: str
) -> None:
    if fault == "malformed":
        emulator.faults.malformed(endpoint="marketplace")
    elif fault == "shape":
        emulator.faults.api_code(
            0, extra={"servers": {"a": 1}, "my_servers": []}, endpoint="marketplace"
        )
    else:
        emulator.faults.api_code(0, extra={"servers": []}, endpoint="marketplace")
    seen = observe()
    for name in PEER_FACTS:
        assert seen.facts[name] == Unknown("unreadable", ("marketplace answer",))
    assert line in _line_of(seen.warnings)


def test_a_slow_answer_times_out_and_leaves_the_facts_unknown(
    emulator: Emulator, clock: FakeClock, config: Config, observe: Observe
) -> None:
    emulator.faults.slow(0.5, endpoint="marketplace")
    with CloreClient.connect(
        emulator.url, Token(SECRET), clock=clock, timeout=0.2, retries=0
    ) as quick:
        seen = observe(client=quick)
    assert seen.facts["market.p50" if False else "market.on_demand.p50"] == Unknown(
        "read_failed",
        ("marketplace", "no answer within 0.2 s"),
    )


def test_a_failed_read_falls_back_on_a_summary_younger_than_max_age(
    observe: Observe, emulator: Emulator, clock: FakeClock, config: Config
) -> None:
    start = clock.now()
    first = observe()
    clock.set(start + config.market.interval + 1)
    emulator.faults.http_status(500, endpoint="marketplace")
    seen = observe()
    assert seen.facts["market.on_demand.p50"] == first.facts["market.on_demand.p50"]
    assert seen.facts["market.age"] == config.market.interval + 1
    assert "marketplace read failed" in seen.warnings[0]


def test_a_summary_older_than_max_age_is_stale(
    observe: Observe, emulator: Emulator, clock: FakeClock, config: Config
) -> None:
    start = clock.now()
    observe()
    clock.set(start + config.market.max_age + 1)
    emulator.faults.http_status(500, endpoint="marketplace", times=1)
    emulator.faults.http_status(500, endpoint="spot_marketplace", times=1)
    seen = observe()
    stale = Unknown("stale", (config.market.max_age + 1, config.market.max_age))
    for name in FACTS:
        assert seen.facts[name] == stale, name
    # Without a read this cycle (peers and spot not wanted), a stale summary is stale too.
    clock.set(start + config.market.max_age + 61)
    quiet = observe(peers=False, spot=False)
    assert quiet.facts["market.peers"] == Unknown(
        "stale", (config.market.max_age + 61, config.market.max_age)
    )


def test_nothing_read_when_nothing_is_wanted(observe: Observe, emulator: Emulator) -> None:
    seen = observe(peers=False, spot=False)
    assert all(seen.facts[n] == Unknown("not_observed") for n in FACTS)
    assert reads(emulator) == reads(emulator, "spot_marketplace") == 0
    assert seen.rates_in_usd is None and seen.record is None


def test_a_server_without_a_class_reads_no_marketplace(
    observe: Observe, emulator: Emulator, client: CloreClient
) -> None:
    emulator.update_server("demo-rig", specs={"cpu": "x"})
    seen = observe(server=client.server_config("demo-rig").config, gpu_names=())
    for name in PEER_FACTS:
        assert seen.facts[name] == Unknown("no_class", ("server_config has no specs.gpu",))
    assert reads(emulator) == 0 and seen.facts["spot.offers"] == 2.0


def test_the_drivers_gpus_disagreeing_is_a_warning(observe: Observe) -> None:
    seen = observe(gpu_names=("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090"))
    assert seen.warnings == (
        "the server's class is 1x NVIDIA GeForce RTX 4090 (server_config), but the driver "
        "lists 2 GPU(s): NVIDIA GeForce RTX 4090",
    )
    assert isinstance(seen.facts["market.peers"], float)  # the API's class is used


def test_too_few_peers(observe: Observe, tmp_path: Path) -> None:
    config = make_config(tmp_path / "state", min_peers=1000)
    seen = observe(config=config)
    peers = seen.facts["market.peers"]
    assert isinstance(peers, float)
    for name in STATISTICS:
        assert seen.facts[name] in (
            Unknown("too_few_peers", (int(peers), 1000)),
            Unknown("too_few_peers", (seen.summary.spot_peers if seen.summary else -1, 1000)),
        )


def test_per_gpu_matching_counts_more_peers(observe: Observe, tmp_path: Path) -> None:
    by_count = observe()
    per_gpu = observe(config=make_config(tmp_path / "other", match="model"))
    assert number(per_gpu, "market.peers") > number(by_count, "market.peers")


@pytest.mark.parametrize("rates", [0, "abc", [1, 2], None])
def test_rates_that_are_not_an_object_are_not_passed_on(
    observe: Observe, emulator: Emulator, rates: object
) -> None:
    emulator.currency_rates_in_usd = rates
    seen = observe()
    assert seen.rates_in_usd is None and seen.facts["spot.offers"] == 2.0
    if rates is not None:
        assert seen.warnings == ("spot_marketplace: market.currency_rates_in_usd is not an object",)


@pytest.mark.parametrize(
    "rates", [{"bitcoin": 0}, {"bitcoin": -1.0}, {"bitcoin": "abc"}, {"bitcoin": 9_700_000.0}]
)
def test_rates_are_passed_on_as_sent(observe: Observe, emulator: Emulator, rates: object) -> None:
    emulator.currency_rates_in_usd = rates
    seen = observe()
    assert seen.rates_in_usd == rates and seen.rates_at is not None


def test_absent_rates(observe: Observe, emulator: Emulator) -> None:
    emulator.currency_rates_in_usd = ABSENT
    seen = observe()
    assert seen.rates_in_usd is None and seen.rates_at is None and seen.warnings == ()


def test_a_failing_spot_read(observe: Observe, emulator: Emulator) -> None:
    emulator.faults.api_code(1, endpoint="spot_marketplace")
    seen = observe()
    line = "API code 1 (database error)"
    for name in SPOT_FACTS:
        assert seen.facts[name] == Unknown("read_failed", ("spot_marketplace", line))
    assert isinstance(seen.facts["market.peers"], float)
    assert seen.rates_in_usd is None


def test_spot_without_offers(observe: Observe, emulator: Emulator) -> None:
    emulator.set_marketplace([], {1: []})
    seen = observe()
    assert seen.facts["spot.offers"] == 0.0
    assert seen.facts["spot.best_bid"] == Unknown("no_offers")
    assert seen.facts["market.peers"] == 0.0
    assert seen.facts["market.on_demand.p50"] == Unknown("too_few_peers", (0, 5))


def test_the_summary_file_is_private_and_a_damaged_one_is_read_again(
    observe: Observe, emulator: Emulator, config: Config
) -> None:
    observe()
    path = config.state.dir / STORE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.write_text('{"version": 1, "tried": {}, "marketplace": 3}')
    seen = observe()
    assert seen.warnings == (
        f"market summary {path} is damaged (marketplace is not an object); it is read again",
    )
    assert isinstance(seen.facts["market.peers"], float) and reads(emulator) == 2
    assert MarketStore(config.state.dir).load()[1] is None  # replaced by the new read


def test_another_process_reading_means_this_one_uses_what_is_stored(
    observe: Observe, emulator: Emulator, config: Config
) -> None:
    with MarketStore(config.state.dir).reading() as held:
        assert held == "held"
        seen = observe()
    assert reads(emulator) == 0 and seen.facts["market.peers"] == Unknown("not_observed")


def test_a_summary_that_cannot_be_written_is_a_warning(
    observe: Observe, emulator: Emulator, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: MarketStore, stored: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(MarketStore, "save", full)
    seen = observe()
    assert isinstance(seen.facts["market.peers"], float)
    path = config.state.dir / STORE_NAME
    assert seen.warnings == (f"market summary {path} cannot be written: No space left on device",)
