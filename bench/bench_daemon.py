"""The daemon's cost: CPU per sample and per reconcile with 8 fake GPUs, the CPU share that
implies at the default intervals, and RSS over 10,000 cycles on a simulated clock.

Targets: 0.5 % of one core or less at the default intervals (sample every 10 s, reconcile
every 5 min); RSS 60 MB or less, growing 2 MB or less over 10,000 cycles.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from clore_host.agent.daemon import Notifier
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig

CYCLES = 10_000
WARMUP = 1_000
SAMPLE_S, RECONCILE_S = 10.0, 300.0
CPU_TARGET, RSS_TARGET_MB, GROWTH_TARGET_MB = 0.005, 60.0, 2.0


def main() -> int:
    clock = FakeClock()
    config = {"gpu": {"scenario": "mixed-8gpu"}, "policy": {"path": "default"}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Rig(Path(tmp), clock=clock, gpus=8, config=config) as rig,
    ):
        emulator = rig.emulator
        daemon = rig.daemon(notifier=Notifier())
        process = psutil.Process()
        sample_cpu: list[float] = []
        reconcile_cpu: list[float] = []
        rss_start = 0.0
        checkpoints: list[float] = []
        began = time.perf_counter()
        for cycle in range(CYCLES):
            reconciles = emulator.requests.for_endpoint("server_config")
            before = time.process_time()
            delay = daemon.step()
            spent = time.process_time() - before
            did_reconcile = len(emulator.requests.for_endpoint("server_config")) > len(reconciles)
            (reconcile_cpu if did_reconcile else sample_cpu).append(spent)
            clock.advance(max(delay, 0.001))
            if cycle % 100 == 0:
                emulator.requests.clear()  # the emulator's memory, not the agent's
            if cycle % 1000 == 0:
                gc.collect()
                checkpoints.append(process.memory_info().rss / 2**20)
            if cycle == WARMUP:  # caches filled: SQLite's page cache, first rollups
                rss_start = checkpoints[-1]
        gc.collect()
        rss_end = process.memory_info().rss / 2**20
        wall = time.perf_counter() - began
        daemon.close()
    per_sample = statistics.median(sample_cpu)
    per_reconcile = statistics.median(reconcile_cpu) if reconcile_cpu else 0.0
    share = per_sample / SAMPLE_S + per_reconcile / RECONCILE_S
    growth = rss_end - rss_start
    print(
        f"cycles {CYCLES} ({len(reconcile_cpu)} reconciles) in {wall:.1f} s wall, "
        f"{(clock.now() - FakeClock().now()) / 86400:.1f} simulated days"
    )
    print(f"CPU per sample (8 GPUs): median {per_sample * 1e3:.2f} ms")
    print(f"CPU per reconcile:       median {per_reconcile * 1e3:.2f} ms")
    print(
        f"CPU share at 10 s / 5 min: {share * 100:.3f} % of one core "
        f"(target <= {CPU_TARGET * 100:.1f} %, ratio {share / CPU_TARGET:.2f})"
    )
    print("RSS every 1000 cycles (MB): " + " ".join(f"{mb:.1f}" for mb in checkpoints))
    print(
        f"RSS after warm-up {rss_start:.1f} MB, after {CYCLES} cycles {rss_end:.1f} MB, "
        f"growth {growth:+.2f} MB (targets <= {RSS_TARGET_MB:.0f} MB, <= {GROWTH_TARGET_MB} MB)"
    )
    ok = share <= CPU_TARGET and rss_end <= RSS_TARGET_MB and growth <= GROWTH_TARGET_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
