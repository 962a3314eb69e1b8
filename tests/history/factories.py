"""Samples and settings shared by the history tests."""

from __future__ import annotations

from clore_host.facts import GpuNow, Settings
from clore_host.history import History

T0 = 1_767_225_600.0
A = Settings(on_demand=10.0, spot=5.0, availability=True, mrl=72)
Sample = tuple[float, list[GpuNow]]


def fill(history: History, start: float, count: int, every: float = 10.0) -> None:
    """`count` samples of two GPUs from `start`: utilization cycling 0..99, temperature 60."""
    for i in range(count):
        gpus = [
            GpuNow(index=g, utilization=float((i + g) % 100), temperature=60.0) for g in range(2)
        ]
        history.record_sample(start + i * every, gpus)


def util(ts: float, *values: float | None) -> Sample:
    """A sample of one GPU per value, with that utilization."""
    return ts, [GpuNow(index=i, utilization=v) for i, v in enumerate(values)]
