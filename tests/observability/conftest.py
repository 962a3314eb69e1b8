"""Inputs for the observability tests: a fake-GPU snapshot and real cycle results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent import CycleResult
from clore_host.config import load_policy
from clore_host.facts import Facts, LocalTime, Observed, PriorState, Settings, Unknown
from clore_host.gpu import GpuSnapshot, open_backend
from clore_host.outputs.metrics import AgentMetrics, MetricsServer
from clore_host.policy import Policy, make_plan
from clore_host.testing import FakeClock

# Three cards with constant traces (exact values to compare with); GPU 1 does not report
# memory utilisation, GPU 2 has fallen off the bus.
SCENARIO = """
driver_version = "550.54.15"
seed = 5

[defaults]
name = "NVIDIA GeForce RTX 3090"
memory_total = 24576
fans = 2
utilization = 97
memory_utilization = 70
temperature = 72
power = 335
power_limit = 350
memory_used = 21500
fan = 72
sm_clock = 1860
mem_clock = 9751
pstate = 2
throttle = ["sw_power_cap"]
ecc_uncorrected = 0
pages_pending = false

[[gpu]]
[[gpu]]
temperature = 64
throttle = []
[[gpu]]

[[fault]]
kind = "metric_not_supported"
gpu = 1
metric = "memory_utilization"

[[fault]]
kind = "gpu_lost"
gpu = 2
"""


@pytest.fixture
def snapshot(tmp_path: Path, clock: FakeClock) -> GpuSnapshot:
    path = tmp_path / "three-cards.toml"
    path.write_text(SCENARIO)
    backend = open_backend("fake", scenario=path, clock=clock, call_timeout=2.0)
    try:
        return backend.read()
    finally:
        backend.close()


# Policies as shipped before they priced at the market (kept for `make earnings`).
OLD_POLICIES = Path(__file__).resolve().parents[1] / "simulate" / "old_policies"


@pytest.fixture(scope="session")
def policy() -> Policy:
    # A policy that acts on the rig's own state, without a market: the default before it
    # priced at the market (kept for `make earnings`), with its "idle discount" rule.
    return load_policy(OLD_POLICIES / "default.toml")


def make_facts(clock: FakeClock, **overrides: Any) -> Facts:
    values: dict[str, Any] = {
        "now": clock.now(),
        "local": LocalTime.at(clock.now(), "UTC"),
        "rental_status": "not_rented",
        "rental_status_for": 7 * 3600.0,
        "current": Settings(on_demand=0.0002, spot=0.0001, availability=True, mrl=72),
        "expected_gpus": 0,
        "gpus": (),
        "idle_for": 7 * 3600.0,
    }
    values.update(overrides)
    return Facts(**values)


def cycle_result(policy: Policy, facts: Facts, outcome: str | None = None) -> CycleResult:
    """A CycleResult from a real plan; the outcome follows the plan unless given."""
    plan = make_plan(policy, facts, PriorState())
    if outcome is None:
        outcome = "changed" if plan.changed else "unchanged"
    return CycleResult(outcome, plan, facts)  # type: ignore[arg-type]


@pytest.fixture
def served() -> Iterator[tuple[AgentMetrics, MetricsServer]]:
    metrics = AgentMetrics()
    server = metrics.serve("127.0.0.1:0")
    try:
        yield metrics, server
    finally:
        server.close()


# A cycle's cost facts (clore_host.costs.observe_costs): the README's 4x RTX 4090 rig, with a
# euro rate the config lacks.
COST_FACTS: dict[str, Observed] = {
    "cost.per_day": 0.0000795,
    "cost.floor.on_demand": 0.00009937,
    "cost.floor.spot": 0.00009492,
    "cost.power_w": 1950.0,
    "tariff.now": 0.14,
    "fx.bitcoin_usd": 95000.0,
    "fx.eur_usd": Unknown("rate_unknown", ("eur", "the market sent none")),
}


@pytest.fixture
def fed_metrics(snapshot: GpuSnapshot, policy: Policy, clock: FakeClock) -> AgentMetrics:
    """An AgentMetrics that has seen one of everything, so every series exists."""
    metrics = AgentMetrics()
    metrics.observe_snapshot(snapshot)
    metrics.observe_cycle(cycle_result(policy, make_facts(clock, observed=COST_FACTS)))
    metrics.on_api_response("server_config", "0")
    metrics.set_info("0.1.0", "abc123def456")
    return metrics
