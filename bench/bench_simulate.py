"""Simulator benchmark: a 30-day simulation of one policy at a 5-minute reconcile (8,640
decisions through policy.step, the market model around them) against the policy engine's own
speed.

The floor is the time the 8,640 plans alone take at the rate bench_policy.py measures (the
default policy over random facts); the figure is the simulation's time as a ratio to it, and
against the target of 1 s. One process, one core; best of five runs (the machine is shared).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Run as a file (`make bench`), Python puts bench/ on the path; the policy bench's random
# facts are imported from the repository's root.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_policy import random_case
from clore_host.config import load_policy
from clore_host.config.paths import resolve_shipped
from clore_host.policy import make_plan
from clore_host.simulate.evaluate import static_settings
from clore_host.simulate.market_file import load_market
from clore_host.simulate.model import DEFAULT_RECONCILE, run

TARGET_SECONDS = 1.0
DAYS = 30
STEPS = int(DAYS * 86400 / DEFAULT_RECONCILE)


def plans_per_second(seconds: float = 2.0) -> float:
    """bench_policy's measure: make_plan over its random facts."""
    import random

    policy = load_policy(resolve_shipped("default", "policies"))
    rng = random.Random(4)
    cases = [random_case(rng, policy) for _ in range(2_000)]
    for facts, prior in cases[:200]:
        make_plan(policy, facts, prior)
    plans = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for facts, prior in cases:
            make_plan(policy, facts, prior)
        plans += len(cases)
    return plans / (time.perf_counter() - start)


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    policy = load_policy(resolve_shipped("default", "policies"))
    market = load_market("steady")
    settings = static_settings(market, market.server.list_price)
    run(market, 0, 2, settings, policy)  # warm up (and draw nothing twice: seeds differ)
    times = []
    for seed in range(5):
        start = time.perf_counter()
        result = run(market, seed, DAYS, settings, policy)
        times.append(time.perf_counter() - start)
    best = min(times)
    rate = plans_per_second()
    floor = STEPS / rate
    print(
        f"simulate: {DAYS} days of policies/default.toml on markets/steady.toml, a decision "
        f"every {DEFAULT_RECONCILE / 60:g} min: {STEPS:,} steps in {best:.3f} s (best of 5; "
        f"the last ran {len(result.rentals)} rentals, {result.price_changes} price changes)"
    )
    print(
        f"  policy bench: {rate:,.0f} Plans/s, so {STEPS:,} plans alone take {floor:.3f} s "
        f"(the floor): ratio {best / floor:.2f}"
    )
    print(f"  target {TARGET_SECONDS:g} s: ratio {best / TARGET_SECONDS:.2f}")
    if best > TARGET_SECONDS:
        print("  FAIL: slower than the target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
