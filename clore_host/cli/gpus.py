"""`clore-host gpus`: the GPUs' current readings, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..clock import SystemClock
from ..config import DEFAULT_CONFIG_PATH, GpuSection, config_path, load_config
from ..errors import EXIT_OK
from ..gpu import GpuReading, GpuSnapshot, open_backend
from . import add_config_option, echo

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "gpus",
        help="show the GPUs' current readings",
        description="Read the GPUs through the configured backend (gpu.backend in the config; "
        "NVML when there is no config) and print one line per GPU.",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gpu = GpuSection()  # the real GPUs, unless a config says otherwise
    path = config_path(args.config)
    # Without a config at the default place, read the real GPUs; a config named explicitly
    # (or through $CLORE_HOST_CONFIG) must load.
    if path != DEFAULT_CONFIG_PATH or path.exists():
        gpu = load_config(path).gpu
    gpus = open_backend(
        gpu.backend, scenario=gpu.scenario, clock=SystemClock(), call_timeout=gpu.call_timeout
    )
    try:
        snapshot = gpus.read()
    finally:
        gpus.close()
    echo(json.dumps(to_json(snapshot, gpu.backend), indent=2) if args.json else table(snapshot))
    return EXIT_OK


def to_json(snapshot: GpuSnapshot, backend: str) -> dict[str, Any]:
    gpus = []
    for gpu in snapshot.gpus:
        item = asdict(gpu)
        item["fans"] = list(gpu.fans)
        item["throttle"] = sorted(gpu.throttle)
        gpus.append(item)
    return {
        "backend": backend,
        "taken_at": snapshot.taken_at,
        "driver_version": snapshot.driver_version,
        "gpus": gpus,
    }


def table(snapshot: GpuSnapshot) -> str:
    head = (
        "#",
        "name",
        "util%",
        "temp C",
        "power/limit W",
        "mem used/total MiB",
        "fan%",
        "P",
        "health",
    )
    rows = [head] + [_row(gpu) for gpu in snapshot.gpus]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    driver = snapshot.driver_version or "unknown"
    return "\n".join([f"driver {driver}, {len(snapshot.gpus)} GPU(s)", *lines])


def _row(gpu: GpuReading) -> tuple[str, ...]:
    fan = max(gpu.fans) if gpu.fans else None
    return (
        str(gpu.index),
        gpu.name or "-",
        _fmt(gpu.utilization),
        _fmt(gpu.temperature),
        f"{_fmt(gpu.power)}/{_fmt(gpu.power_limit)}",
        f"{_fmt(gpu.memory_used)}/{_fmt(gpu.memory_total)}",
        _fmt(fan),
        "-" if gpu.pstate is None else f"P{gpu.pstate}",
        health(gpu),
    )


def health(gpu: GpuReading) -> str:
    """One short phrase: "ok", or what is wrong with the GPU."""
    if gpu.lost:
        return f"LOST: {gpu.error or 'not responding'}"
    problems = []
    if gpu.ecc_uncorrected:
        problems.append(f"{gpu.ecc_uncorrected} uncorrected ECC errors")
    if gpu.pages_pending:
        problems.append("memory pages pending retirement (reset needed)")
    slow = sorted(gpu.throttle - {"gpu_idle"})
    if slow:
        problems.append("throttled: " + ",".join(slow))
    return "; ".join(problems) or "ok"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}"
