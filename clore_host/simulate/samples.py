"""GPU samples in memory, answering the history questions a policy asks (policy.step.Samples)
with the meaning clore_host.history gives them, for the simulator and tests.

The same answers as the SQLite History holding the same samples, nothing pruned (this store
keeps every sample; the simulator's runs are short):
- window: the aggregate over the samples in [now - seconds, now] per GPU index; GPUs without
  a value for the metric there are absent. avg is the sum over the count (exactly rounded
  here; SQLite's running sum can differ in the last bit for readings that are not whole
  numbers), min and max exact. p95 is the nearest-rank 95th percentile, exact for windows up
  to an hour (history.windows.RAW_P95_LIMIT); over longer ones the whole minutes that history
  has rolled up (those before the latest sample's minute) count as their own per-minute p95
  weighted by their sample counts, as history's rollups do.
- idle_for: seconds since any GPU's utilization last exceeded the threshold; if it never did,
  since the oldest utilization sample; None without one.
- coverage: now minus the oldest sample (a reading of lost GPUs only stores nothing).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from ..facts import GpuNow, WindowKey
from ..history.windows import (
    RAW_P95_LIMIT,
    ceil_minute,
    check_key,
    floor_minute,
    nearest_rank_p95,
)


class MemorySamples:
    """Samples recorded in time order (a sample older than the newest is refused)."""

    def __init__(self) -> None:
        self._ts: list[float] = []
        self._gpus: list[tuple[GpuNow, ...]] = []
        # threshold -> (samples scanned, last time utilization exceeded it or None)
        self._busy: dict[float, tuple[int, float | None]] = {}

    def record(self, ts: float, gpus: Sequence[GpuNow]) -> None:
        """Store one reading of every GPU; a lost GPU stores nothing (as History does)."""
        kept = tuple(gpu for gpu in gpus if not gpu.lost)
        if not kept:
            return
        if self._ts and ts < self._ts[-1]:
            raise ValueError(f"sample at {ts} is older than the newest one ({self._ts[-1]})")
        self._ts.append(ts)
        self._gpus.append(kept)

    def __len__(self) -> int:
        return len(self._ts)

    # -- the questions (policy.step.Samples) ----------------------------------------------------

    def window(self, key: WindowKey, now: float) -> dict[int, float | None]:
        metric, agg, seconds = check_key(key)
        start = now - seconds
        lo = bisect_left(self._ts, start)
        hi = bisect_right(self._ts, now)
        if agg == "p95" and seconds > RAW_P95_LIMIT and hi > lo:
            return self._p95_rolled(metric, start, now, lo, hi)
        values: dict[int, list[float]] = {}
        for i in range(lo, hi):
            for gpu in self._gpus[i]:
                value = getattr(gpu, metric)
                if value is not None:
                    values.setdefault(gpu.index, []).append(value)
        out: dict[int, float | None] = {}
        for index, found in values.items():
            if agg == "avg":
                out[index] = math.fsum(found) / len(found)
            elif agg == "min":
                out[index] = float(min(found))
            elif agg == "max":
                out[index] = float(max(found))
            else:
                out[index] = nearest_rank_p95((v, 1) for v in found)
        return out

    def _p95_rolled(
        self, metric: str, start: float, end: float, lo: int, hi: int
    ) -> dict[int, float | None]:
        """p95 over a long window as history computes it: raw samples at the ends, and each
        whole minute it has rolled up by its own p95, weighing its sample count."""
        rolled_until = floor_minute(self._ts[-1])
        m0 = ceil_minute(start)
        m1 = max(m0, min(rolled_until, floor_minute(end)))
        items: dict[int, list[tuple[float, int]]] = {}
        minutes: dict[tuple[int, float], list[float]] = {}
        for i in range(lo, hi):
            ts = self._ts[i]
            rolled = m0 <= ts < m1
            for gpu in self._gpus[i]:
                value = getattr(gpu, metric)
                if value is None:
                    continue
                if rolled:
                    minutes.setdefault((gpu.index, floor_minute(ts)), []).append(value)
                else:
                    items.setdefault(gpu.index, []).append((value, 1))
        for (index, _), found in minutes.items():
            items.setdefault(index, []).append(
                (nearest_rank_p95((v, 1) for v in found), len(found))
            )
        return {index: nearest_rank_p95(found) for index, found in items.items()}

    def idle_for(self, threshold: float, now: float) -> float | None:
        last = self._last_busy(threshold, now)
        if last is None:
            oldest = self._oldest_utilization()
            return None if oldest is None else max(0.0, now - oldest)
        return max(0.0, now - last)

    def _last_busy(self, threshold: float, now: float) -> float | None:
        end = bisect_right(self._ts, now)
        scanned, last = self._busy.get(threshold, (0, None))
        if end < scanned:  # a question about the past: scan back from `now`
            busy = (self._ts[i] for i in range(end - 1, -1, -1) if self._busy_at(i, threshold))
            return next(busy, None)
        for i in range(scanned, end):  # only samples since the last question can change it
            if self._busy_at(i, threshold):
                last = self._ts[i]
        self._busy[threshold] = (end, last)
        return last

    def _busy_at(self, i: int, threshold: float) -> bool:
        return any(
            gpu.utilization is not None and gpu.utilization > threshold for gpu in self._gpus[i]
        )

    def _oldest_utilization(self) -> float | None:
        for ts, gpus in zip(self._ts, self._gpus, strict=True):
            if any(gpu.utilization is not None for gpu in gpus):
                return ts
        return None

    def coverage(self, now: float) -> float:
        return 0.0 if not self._ts else max(0.0, now - self._ts[0])


__all__ = ["MemorySamples"]
