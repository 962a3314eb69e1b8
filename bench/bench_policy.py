"""Policy engine benchmark: Plans per second for the default policy over random facts.

Each Plan is a full decide + guard (rules, rails, explanations) as one reconcile cycle runs
it. The facts vary (rental status, idle time, temperatures, lost GPUs, prices in and out of
the rails, prior changes), so every rule and rail is exercised. One process, one core.
Target: 5,000 Plans per second or more.
"""

from __future__ import annotations

import os
import random
import sys
import time

from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped
from clore_host.facts import Facts, GpuNow, LocalTime, PriorState, Settings
from clore_host.policy import Policy, make_plan

TARGET = 5_000.0
SECONDS = 3.0
T0 = 1_767_225_600.0


def random_case(rng: random.Random, policy: Policy) -> tuple[Facts, PriorState]:
    now = T0 + rng.uniform(0, 30 * 86400)
    gpus = tuple(
        GpuNow(
            i,
            lost=rng.random() < 0.02,
            utilization=rng.uniform(0, 100),
            temperature=rng.uniform(40, 95),
            power=rng.uniform(50, 450),
            throttle=frozenset({"hw_thermal"}) if rng.random() < 0.05 else frozenset(),
        )
        for i in range(rng.choice([1, 2, 4, 8]))
    )
    windows = {key: {g.index: rng.uniform(40, 95) for g in gpus} for key in policy.window_keys()}
    current = Settings(
        rng.uniform(0.00004, 0.0004),
        rng.uniform(0.00002, 0.0002),
        rng.random() < 0.8,
        rng.choice([24, 72, 168]),
    )
    facts = Facts(
        now=now,
        local=LocalTime(rng.randrange(24), 0, rng.randrange(7)),
        rental_status=rng.choice(["not_rented", "not_rented", "spot", "on_demand"]),
        rental_status_for=rng.uniform(0, 86400),
        current=current,
        expected_gpus=len(gpus) + (1 if rng.random() < 0.02 else 0),
        gpus=gpus,
        windows=windows,
        idle_for=rng.choice([None, rng.uniform(0, 86400)]),
    )
    ago = rng.uniform(0, 7200)
    prior = PriorState(last_price_change=now - ago, availability_since=now - 2 * ago)
    return facts, prior


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    policy = load_policy(resolve_shipped("default", "policies"))
    rng = random.Random(4)
    cases = [random_case(rng, policy) for _ in range(2_000)]
    for facts, prior in cases[:200]:  # warm up
        make_plan(policy, facts, prior)
    plans = changed = 0
    start = time.perf_counter()
    deadline = start + SECONDS
    while time.perf_counter() < deadline:
        for facts, prior in cases:
            changed += make_plan(policy, facts, prior).changed
        plans += len(cases)
    elapsed = time.perf_counter() - start
    rate = plans / elapsed
    print(f"policy: {rate:,.0f} Plans/s for policies/default.toml over random facts")
    print(f"  {plans:,} plans in {elapsed:.1f} s, {changed / plans:.0%} of them change a setting")
    print(f"  target {TARGET:,.0f} Plans/s: ratio {rate / TARGET:.2f}")
    if rate < TARGET:
        print("  FAIL: below target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
