"""The one decision step: the agent's SQLite History and the simulator's in-memory samples
give the same Facts, plans and memories for the same samples; memory bookkeeping; records."""

from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from clore_host.facts import GpuNow, HostNow, RentalStatus, Settings, Unknown, WindowKey
from clore_host.history import History
from clore_host.policy import parse_policy
from clore_host.policy.step import (
    WINDOW_COVERAGE,
    Memory,
    Observation,
    RecordError,
    facts_for,
    memory_from_record,
    observation_from_record,
    observation_to_record,
    step,
)
from clore_host.simulate.samples import MemorySamples

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday
BASE = Settings(on_demand=0.0001, spot=0.00005, availability=True, mrl=72)

# Every kind of history question: each aggregate, short and long windows (p95 over 2 h reads
# history's per-minute rollups), idle time and time in the rental status.
POLICY = parse_policy(
    tomllib.loads(
        """
version = 1
[rails]
on_demand = { floor = 0.00005, ceiling = 0.0003 }
spot = { floor = 0.00002, ceiling = 0.0002 }
min_interval = "10m"
availability_hold = "15m"

[[rule]]
name = "idle"
when.all = [{ fact = "rented", value = false }, { fact = "idle_for", op = ">=", value = "40m" }]
then.on_demand = { scale = 0.95 }

[[rule]]
name = "busy hour"
when = { metric = "utilization", window = "1h", agg = "avg", gpus = "mean", op = ">", value = 50 }
then.on_demand = { step = "+4%" }

[[rule]]
name = "power spikes"
when = { metric = "power", window = "2h", agg = "p95", gpus = "any", op = ">", value = 300 }
then.spot = { relative_to = "on_demand", factor = 0.55 }

[[rule]]
name = "cool"
when = { metric = "temperature", window = "30m", agg = "max", gpus = "all", op = "<", value = 70 }
then.mrl = 96

[[rule]]
name = "memory floor"
when = { metric = "memory_used", window = "10m", agg = "min", gpus = "sum", op = ">=", value = 9e2 }
then.mrl = 48

[[rule]]
name = "long rental"
when = { fact = "rental_status_for", op = ">=", value = "1h" }
then.availability = false

[[rule]]
name = "back"
when = { fact = "availability", value = false }
then.availability = true
"""
    )
)


def _reading(rng: random.Random, index: int, busy: bool) -> GpuNow:
    # Whole numbers, as NVML reports most metrics: sums are exact in any order.
    return GpuNow(
        index,
        utilization=float(rng.randint(60, 100) if busy else rng.randint(0, 8)),
        temperature=float(rng.randint(55, 80) if busy else rng.randint(30, 45)),
        power=float(rng.randint(200, 420) if busy else rng.randint(20, 60)),
        memory_used=None if rng.random() < 0.05 else float(rng.randint(100, 9000)),
    )


def test_history_and_memory_samples_give_the_same_facts_plans_and_memories(
    tmp_path: Path,
) -> None:
    rng = random.Random(17)
    memory_samples = MemorySamples()
    status: RentalStatus = "not_rented"
    current = BASE
    changes = 0
    with History.open(tmp_path / "history.db") as history:
        memories = {"sqlite": Memory(), "memory": Memory()}
        now = T0
        for tick in range(8 * 3600 // 20):
            now = T0 + tick * 20 + rng.choice((0.0, 0.25, 0.5))
            if tick % 360 == 0:  # a new rental status every two hours
                status = rng.choice(["not_rented", "on_demand", "spot"])
            busy = status != "not_rented"
            gpus = tuple(
                GpuNow(i, lost=True) if rng.random() < 0.02 else _reading(rng, i, busy)
                for i in range(2)
            )
            history.record_sample(now, gpus)
            memory_samples.record(now, gpus)
            if tick % 15:  # a reconcile every 5 minutes
                continue
            host = HostNow(cpu_percent=3.0)
            obs = Observation(now, "Europe/Berlin", status, current, 2, gpus, host)
            facts = {
                "sqlite": facts_for(POLICY, obs, memories["sqlite"], history),
                "memory": facts_for(POLICY, obs, memories["memory"], memory_samples),
            }
            assert facts["sqlite"] == facts["memory"], now
            plans = {}
            for name, samples in (("sqlite", history), ("memory", memory_samples)):
                plans[name], memories[name] = step(POLICY, obs, memories[name], samples)
            assert plans["sqlite"] == plans["memory"]
            assert plans["sqlite"].to_dict() == plans["memory"].to_dict()
            assert memories["sqlite"] == memories["memory"]
            changes += plans["memory"].changed
            current = plans["memory"].target
    # The sequence exercised the rules: prices, availability and mrl all moved.
    assert changes >= 10
    windows = facts["memory"].windows
    assert all(any(v is not None for v in values) for values in windows.values())


def test_windows_are_unknown_until_history_covers_most_of_them() -> None:
    samples = MemorySamples()
    key = WindowKey("temperature", "max", 1800.0)
    policy = parse_policy(
        {
            **_bare(),
            "rule": [
                {
                    "name": "cool",
                    "when": {
                        "metric": "temperature",
                        "window": "30m",
                        "agg": "max",
                        "op": "<",
                        "value": 80,
                    },
                    "then": {"availability": True},
                }
            ],
        }
    )
    gpus = (GpuNow(0, utilization=0.0, temperature=40.0),)
    samples.record(T0, gpus)
    obs = Observation(T0, "UTC", "not_rented", BASE, 1, gpus)
    edge = T0 + 1800 * WINDOW_COVERAGE
    early = facts_for(policy, replace(obs, now=edge - 1), Memory(), samples)
    assert early.windows[key] == {}  # too little history: no GPU has a value
    known = facts_for(policy, replace(obs, now=edge), Memory(), samples)
    assert known.windows[key] == {0: 40.0}


def test_local_time_comes_from_now_and_the_time_zone() -> None:
    obs = Observation(T0, "America/New_York", "not_rented", BASE, 1, ())
    facts = facts_for(parse_policy(_bare()), obs, Memory(), MemorySamples())
    # 2026-01-01 00:00 UTC is 19:00 on Wednesday in New York.
    assert (facts.local.hour, facts.local.weekday) == (19, 2)


def _bare() -> dict[str, object]:
    return {
        "version": 1,
        "rails": {
            "on_demand": {"floor": 0.00005, "ceiling": 0.0003},
            "spot": {"floor": 0.00002, "ceiling": 0.0002},
        },
        "rule": [{"name": "list", "then": {"on_demand": {"set": 0.00011}}}],
    }


def test_memory_tracks_the_rental_status_and_the_writes_that_land() -> None:
    policy = parse_policy(_bare())
    samples = MemorySamples()
    obs = Observation(T0, "UTC", "not_rented", BASE, 1, ())
    plan, memory = step(policy, obs, Memory(), samples, applied_at=T0 + 2)
    assert plan.target.on_demand == 0.00011
    # First sight of the status: how long is unknown; the price change landed at T0 + 2.
    assert facts_for(policy, obs, Memory(), samples).rental_status_for is None
    assert memory == Memory(T0 + 2, None, "not_rented", T0)
    later = Observation(T0 + 600, "UTC", "not_rented", plan.target, 1, ())
    assert facts_for(policy, later, memory, samples).rental_status_for == 600
    plan2, memory2 = step(policy, later, memory, samples)
    assert not plan2.changed and memory2 is memory  # nothing new: the same memory
    rented = Observation(T0 + 900, "UTC", "spot", plan.target, 1, ())
    _, memory3 = step(policy, rented, memory, samples)
    assert memory3 == Memory(T0 + 2, None, "spot", T0 + 900)
    assert memory3.prior.last_price_change == T0 + 2
    # The min interval (30m default) holds the next change, counted from the landing.
    held = Observation(T0 + 1801, "UTC", "spot", BASE, 1, ())
    plan4, _ = step(policy, held, memory3, samples)
    assert not plan4.changed
    assert [r.rail for r in plan4.fields["on_demand"].rail_reasons] == ["min_interval"]


def test_an_availability_change_starts_the_hold() -> None:
    data = _bare()
    data["rule"] = [{"name": "off", "then": {"availability": False}}]
    obs = Observation(T0, "UTC", "not_rented", BASE, 1, ())
    plan, memory = step(parse_policy(data), obs, Memory(), MemorySamples())
    assert plan.target.availability is False
    assert memory.availability_since == T0 and memory.last_price_change is None


# --- records -------------------------------------------------------------------------------

FULL = Observation(
    now=T0 + 0.1,
    timezone="Europe/Berlin",
    rental_status="on_demand",
    current=Settings(0.00012345, 1 / 3 * 1e-4, False, 168),
    expected_gpus=3,
    gpus=(
        GpuNow(
            0,
            utilization=97.0,
            temperature=71.5,
            power=301.123456789,
            throttle=frozenset({"sw_power_cap", "hw_thermal"}),
            ecc_uncorrected=0,
            pages_pending=False,
        ),
        GpuNow(2, lost=True),
        GpuNow(5, utilization=0, memory_used=0.1 + 0.2, fan=math.nan, sm_clock=math.inf),
    ),
    host=HostNow(cpu_percent=12.5, load1=0.01, disk_free_mib=-math.inf, uptime_s=1e9),
    observed={
        "market.on_demand.p50": 0.000101,
        "market.peers": 7,
        "market.on_demand.p10": Unknown("too_few_peers", (3, 5)),
        "fx.bitcoin_usd": Unknown("rate_rejected", ("bitcoin", "1e9", "moved 100x")),
        "cost.per_day": math.nan,
    },
)


def _same(a: Observation, b: Observation) -> bool:
    """Equal, NaN included (NaN != NaN): compared through their records' JSON text."""
    return json.dumps(observation_to_record(a)) == json.dumps(observation_to_record(b))


def test_records_round_trip_exactly_through_json() -> None:
    record = observation_to_record(FULL, Memory(T0 - 60, None, "on_demand", T0 - 7200))
    text = json.dumps(record, allow_nan=False)  # valid JSON: no NaN or infinity in it
    back = observation_from_record(json.loads(text))
    assert _same(back, FULL)
    assert back.current == FULL.current and back.gpus[0] == FULL.gpus[0]
    assert back.gpus[0].power == 301.123456789 and back.current.spot == 1 / 3 * 1e-4
    assert math.isnan(back.gpus[2].fan or 0) and back.gpus[2].sm_clock == math.inf
    assert back.observed["market.on_demand.p10"] == Unknown("too_few_peers", (3, 5))
    assert memory_from_record(json.loads(text)) == Memory(T0 - 60, None, "on_demand", T0 - 7200)
    assert memory_from_record(observation_to_record(FULL)) is None
    # Compact: readings a card does not report take no room.
    assert record["gpus"][1] == {"index": 2, "lost": True}


def test_a_replayed_record_decides_as_the_observation_did() -> None:
    policy = parse_policy(_bare())
    obs = Observation(T0, "UTC", "not_rented", BASE, 1, (GpuNow(0, utilization=3.0),))
    back = observation_from_record(json.loads(json.dumps(observation_to_record(obs))))
    replayed = step(policy, back, Memory(), MemorySamples())
    assert replayed == step(policy, obs, Memory(), MemorySamples())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda r: r.pop("now"), "now: missing"),
        (lambda r: r.update(now="soon"), "now: not a number"),
        (lambda r: r["current"].update(mrl=72.0), "current.mrl: not an integer"),
        (lambda r: r["current"].update(availability=1), "current.availability: not true or false"),
        (lambda r: r["gpus"][0].update(utilization=True), "gpus[0].utilization: not a number"),
        (lambda r: r["gpus"][0].update(colour=1), "gpus[0]: unknown key 'colour'"),
        (lambda r: r.update(rental_status="rented"), "rental_status: unknown status 'rented'"),
        (
            lambda r: r["observed"].update(x={"unknown": 3, "values": []}),
            "observed.x.unknown: not a string",
        ),
        (lambda r: r.update(v=2), "v: unsupported record version 2"),
        (lambda r: r.update(gpus={}), "gpus: not a list"),
    ],
)
def test_a_damaged_record_is_refused_with_its_place(change, where: str) -> None:
    record = json.loads(json.dumps(observation_to_record(FULL)))
    change(record)
    with pytest.raises(RecordError) as info:
        observation_from_record(record)
    assert str(info.value) == where
