"""The NVML backend on a real GPU (the device machine; never run by `make bench` or CI).

Opens clore-host's NVML backend as the agent does, reads every GPU repeatedly, and prints
what it read, the read latency, and which metrics came back unknown. Then the readings go
through the same conversion the agent's Facts use, and one reconcile of the shipped default
policy's decision core runs on them, so a real card's values are shown to be plausible to
the policy (no blocked plan). Exit 0 on success, 1 when a GPU is lost or nothing is read.

    python bench/device_nvml.py [READS] [SCENARIO]

With a SCENARIO (e.g. idle-rig) it runs on the fake backend instead: a dry run anywhere.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clore_host.clock import SystemClock
from clore_host.config import load_policy, resolve_shipped
from clore_host.errors import Failure
from clore_host.facts import Facts, HostNow, LocalTime, PriorState, Settings
from clore_host.gpu import GpuReading, open_backend
from clore_host.observe.host import read_host
from clore_host.policy import make_plan


def main(reads: int, scenario: str | None) -> int:
    clock = SystemClock()
    kind = "fake" if scenario else "nvml"
    try:
        backend = open_backend(kind, scenario=scenario, clock=clock, call_timeout=5.0)
    except Failure as exc:
        print(f"device_nvml: {exc.line()}")
        return 1
    try:
        first = backend.read()
        latencies = []
        for _ in range(reads):
            start = time.perf_counter()
            snapshot = backend.read()
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        backend.close()
    print(f"driver {first.driver_version}, {len(first.gpus)} GPU(s)")
    for gpu in snapshot.gpus:
        values = asdict(gpu)
        unknown = [
            f.name for f in fields(GpuReading) if values[f.name] is None and f.name != "error"
        ]
        print(f"gpu {gpu.index}: {gpu.name} lost={gpu.lost} error={gpu.error}")
        for key in (
            "utilization",
            "memory_utilization",
            "temperature",
            "power",
            "power_limit",
            "memory_used",
            "memory_total",
            "fans",
            "sm_clock",
            "mem_clock",
            "pstate",
            "throttle",
            "ecc_uncorrected",
            "pages_pending",
        ):
            print(f"    {key:<19} {values.get(key)}")
        print(f"    unknown: {', '.join(unknown) or 'none'}")
    lat = sorted(latencies)
    p95 = lat[int(0.95 * (len(lat) - 1))]
    print(
        f"read(): {reads} reads, median {statistics.median(lat):.2f} ms, p95 {p95:.2f} ms, "
        f"max {lat[-1]:.2f} ms"
    )

    gpus = tuple(gpu.to_now() for gpu in snapshot.gpus)
    host: HostNow = read_host(Path("/tmp"))
    now = clock.now()
    facts = Facts(
        now=now,
        local=LocalTime.at(now, "UTC"),
        rental_status="not_rented",
        rental_status_for=None,
        current=Settings(0.0001, 0.00005, True, 72),
        expected_gpus=len(gpus),
        gpus=gpus,
        windows={},
        idle_for=None,
        host=host,
    )
    plan = make_plan(load_policy(resolve_shipped("default", "policies")), facts, PriorState())
    print(f"default policy on these readings: blocked={plan.blocked!r}")
    for line in plan.explain():
        print(f"    {line}")
    if not snapshot.gpus or any(gpu.lost for gpu in snapshot.gpus) or plan.blocked:
        return 1
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(int(args[0]) if args else 50, args[1] if len(args) > 1 else None))
