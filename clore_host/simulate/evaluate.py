"""Policies against the best static price, over seeds: the figures `clore-host simulate` shows.

For each seed every policy and every static price meets the same renters and peers (model.py
draws them from the seed alone), so the comparison is paired: the uplift's interval comes from
the per-seed differences. The best static price is the one of a sweep (a geometric grid from
sweep.low to sweep.high times the list price, refined between the best point's neighbours)
with the highest mean net revenue over other seeds (each seed + SWEEP_SEEDS): picked on the
seeds it is measured on, the noise it was picked for would flatter it.

Intervals are 95 % confidence intervals of the mean over seeds (Student's t).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..facts import Settings
from ..money import to_unit
from ..policy import Policy
from .market_file import MarketFile
from .model import DEFAULT_RECONCILE, RunResult, run

# Student's t, 97.5th percentile, by degrees of freedom 1..30; beyond, t ~ 1.96 + 2.37/df.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
REFINE = 8  # points tried between the best sweep point's neighbours
SWEEP_SEEDS = 10_000  # the sweep's seeds are the evaluation's plus this


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.37 / df


@dataclass(frozen=True)
class Stat:
    """A mean over seeds and its 95 % interval (both ends the mean with one seed)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        n = len(values)
        mean = math.fsum(values) / n
        if n < 2:
            return cls(mean, mean, mean)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        half = t975(n - 1) * sd / math.sqrt(n)
        return cls(mean, mean - half, mean + half)

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2

    def scaled(self, factor: float) -> Stat:
        ends = sorted((self.low * factor, self.high * factor))
        return Stat(self.mean * factor, ends[0], ends[1])

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


METRICS: dict[str, Callable[[RunResult], float]] = {
    "net_per_day": lambda r: r.net / r.days,
    "gross_per_day": lambda r: r.gross / r.days,
    "occupancy": lambda r: r.occupancy,
    "changes_per_day": lambda r: r.price_changes / r.days,
    "hours_below_floor": lambda r: r.hours_below_floor,
}


@dataclass(frozen=True)
class Outcome:
    """One policy (or a static price) over the seeds, in seed order."""

    name: str
    runs: tuple[RunResult, ...]
    static_price: float | None = None  # the on-demand price, for a static outcome

    def stat(self, metric: str) -> Stat:
        return Stat.of([METRICS[metric](r) for r in self.runs])

    def uplift(self, baseline: Outcome) -> Stat:
        """Net revenue against `baseline`, % of its mean, from the per-seed differences."""
        base = baseline.stat("net_per_day").mean
        diffs = [(r.net - b.net) / r.days for r, b in zip(self.runs, baseline.runs, strict=True)]
        return Stat.of(diffs).scaled(100 / abs(base)) if base else Stat(0.0, 0.0, 0.0)

    def to_dict(self, baseline: Outcome | None = None) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name}
        if self.static_price is not None:
            out["static_price"] = self.static_price
        out.update({m: self.stat(m).to_dict() for m in METRICS})
        if baseline is not None:
            out["uplift_percent"] = self.uplift(baseline).to_dict()
        return out


@dataclass(frozen=True)
class Evaluation:
    """Every policy and the best static price on one market."""

    market: MarketFile
    source: str
    days: float
    seeds: tuple[int, ...]
    reconcile: float
    best: Outcome
    policies: tuple[Outcome, ...]
    sweep: tuple[tuple[float, float], ...]  # (static price, mean net per day on the sweep's seeds)

    def to_dict(self) -> dict[str, object]:
        floor_on_demand, floor_spot = self.market.cost_floor
        return {
            "market": self.market.name,
            "source": self.source,
            "days": self.days,
            "seeds": list(self.seeds),
            "reconcile_seconds": self.reconcile,
            "cost_per_day": self.market.cost_per_day(self.market.busy_w),
            "cost_floor": {"on_demand": floor_on_demand, "spot": floor_spot},
            "best_static": self.best.to_dict(),
            "policies": [p.to_dict(self.best) for p in self.policies],
            "sweep": [{"price": p, "net_per_day": n} for p, n in self.sweep],
        }


def static_settings(market: MarketFile, price: float) -> Settings:
    """The server listed at `price` on demand (whole units), spot at its factor."""
    return Settings(
        to_unit(price), to_unit(price * market.server.spot_factor), True, market.server.mrl
    )


def static(
    market: MarketFile, price: float, seeds: Sequence[int], days: float, series: bool = False
) -> Outcome:
    settings = static_settings(market, price)
    runs = tuple(
        run(market, seed, days, settings, series=series and k == 0) for k, seed in enumerate(seeds)
    )
    return Outcome("best static price", runs, settings.on_demand)


def best_static(
    market: MarketFile, seeds: Sequence[int], days: float
) -> tuple[float, tuple[tuple[float, float], ...]]:
    """The static on-demand price with the highest mean net revenue, and the curve tried."""
    sweep = market.sweep
    base = market.server.list_price
    ratio = (sweep.high / sweep.low) ** (1 / (sweep.points - 1))
    grid = [base * sweep.low * ratio**k for k in range(sweep.points)]
    tried: dict[float, float] = {}

    def net(price: float) -> float:
        price = to_unit(price)
        if price not in tried:
            tried[price] = static(market, price, seeds, days).stat("net_per_day").mean
        return tried[price]

    values = [net(p) for p in grid]
    k = max(range(len(grid)), key=lambda i: (values[i], -i))
    low, high = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    for j in range(1, 2 * REFINE + 2):
        net(low + (high - low) * j / (2 * REFINE + 2))
    best = max(sorted(tried), key=lambda p: tried[p])
    return best, tuple(sorted(tried.items()))


def evaluate(
    market: MarketFile,
    policies: Mapping[str, Policy],
    *,
    seeds: Sequence[int],
    days: float,
    reconcile: float = DEFAULT_RECONCILE,
    source: str = "",
    series: bool = False,
) -> Evaluation:
    """Each policy over the seeds, and the best static price found by the sweep."""
    start = static_settings(market, market.server.list_price)
    price, curve = best_static(market, [SWEEP_SEEDS + seed for seed in seeds], days)
    outcomes = tuple(
        Outcome(
            name,
            tuple(
                run(
                    market, seed, days, start, policy, reconcile=reconcile, series=series and k == 0
                )
                for k, seed in enumerate(seeds)
            ),
        )
        for name, policy in policies.items()
    )
    return Evaluation(
        market,
        source,
        days,
        tuple(seeds),
        reconcile,
        static(market, price, seeds, days, series),
        outcomes,
        curve,
    )


__all__ = [
    "METRICS",
    "SWEEP_SEEDS",
    "Evaluation",
    "Outcome",
    "Stat",
    "best_static",
    "evaluate",
    "static",
    "static_settings",
    "t975",
]
