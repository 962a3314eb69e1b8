"""The power figure the cost is computed at: the GPUs' power limits, or their measured draw
while rented, plus the host's overhead, at the wall.

"limit" (the default) is the most a renter's job can make the GPUs draw: a floor computed
from it never lets a rental run at a loss. "measured" is the 95th percentile of the GPUs'
total draw over the rented samples of the power window: closer to the bill, and the limit
stands in while the history holds too little of it. Which one was used is part of the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..facts import GpuNow, Unknown

if TYPE_CHECKING:  # a type only: the history loads when the agent first opens it
    from ..history import PowerDraw

HOUR = 3600.0
MAX_GPU_W = 10_000.0  # no card draws more: a larger limit is a misreading


@dataclass(frozen=True)
class PowerFigure:
    watts: float  # at the wall: what the electricity bill counts
    asked: Literal["limit", "measured"]  # costs.power
    source: Literal["limit", "measured"]  # what was used: the limit when too few samples
    gpus_w: float  # the GPUs' part: their limits summed, or the p95 of their total draw
    overhead_w: float
    psu_efficiency: float | None  # percent; None: the draw is what the wall gives
    limit_w: float | None  # the GPUs' power limits summed; None: unknown
    measured_w: float | None  # the p95 of the rented draw; None: not asked, or too few
    samples: int  # rented samples with every GPU's draw found in the window
    need: int  # rented samples "measured" needs

    @property
    def fell_back(self) -> bool:
        """The limit stands in for a measured figure (too few rented samples)."""
        return self.asked != self.source


def needed_samples(sample_interval: float) -> int:
    """Rented samples a measured figure needs: an hour of them."""
    return max(1, math.ceil(HOUR / sample_interval))


def limit_w(gpus: Sequence[GpuNow]) -> float | Unknown:
    """The GPUs' power limits summed; Unknown("power_unknown", (why,)) when one is not known."""
    if not gpus:
        return Unknown("power_unknown", ("no GPU was read",))
    for gpu in gpus:
        if gpu.lost:
            return Unknown("power_unknown", (f"GPU {gpu.index} is lost",))
        limit = gpu.power_limit
        if limit is None or not math.isfinite(limit) or limit <= 0:
            return Unknown("power_unknown", (f"GPU {gpu.index} reports no power limit",))
        if limit > MAX_GPU_W:
            return Unknown(
                "power_unknown", (f"GPU {gpu.index} reports an implausible limit of {limit:g} W",)
            )
    return math.fsum(gpu.power_limit or 0.0 for gpu in gpus)


def weighted_p95(draws: Sequence[PowerDraw]) -> float:
    """The nearest-rank 95th percentile of the draws, each counted `weight` times."""
    ordered = sorted(draws, key=lambda d: d.watts)
    total = sum(d.weight for d in ordered)
    seen = 0
    for draw in ordered:
        seen += draw.weight
        if seen * 100 >= total * 95:
            return draw.watts
    raise ValueError("no draws")


def at_the_wall(gpus_w: float, overhead_w: float, psu_efficiency: float | None) -> float:
    """What the wall gives for `gpus_w` plus the host's `overhead_w` through a power supply
    of `psu_efficiency` percent."""
    drawn = gpus_w + overhead_w
    return drawn if psu_efficiency is None else drawn * 100.0 / psu_efficiency


def power_figure(
    mode: Literal["limit", "measured"],
    gpus: Sequence[GpuNow],
    draws: Sequence[PowerDraw],
    *,
    need: int,
    overhead_w: float = 0.0,
    psu_efficiency: float | None = None,
) -> PowerFigure | Unknown:
    """The power figure: `mode` as configured, from the GPUs read now (their limits) and the
    rented draws in the power window (`need` of them at least, each with every GPU read now)."""
    limit = limit_w(gpus)
    known_limit = None if isinstance(limit, Unknown) else limit
    full = [
        d
        for d in draws
        if d.gpus >= len(gpus) and math.isfinite(d.watts) and 0 <= d.watts <= MAX_GPU_W * d.gpus
    ]
    found = sum(d.weight for d in full)
    if mode == "measured" and found >= need and full:
        measured = weighted_p95(full)
        return PowerFigure(
            at_the_wall(measured, overhead_w, psu_efficiency),
            "measured",
            "measured",
            measured,
            overhead_w,
            psu_efficiency,
            known_limit,
            measured,
            found,
            need,
        )
    if isinstance(limit, Unknown):
        return limit
    return PowerFigure(
        at_the_wall(limit, overhead_w, psu_efficiency),
        mode,
        "limit",
        limit,
        overhead_w,
        psu_efficiency,
        limit,
        None,
        found,
        need,
    )
