"""The simulator's figures in words: a text table per market, and the README's markdown table.

Money is per day in the listing currency (format_price); each figure is the mean over seeds
with its 95 % interval as "+-" the half width.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..duration import format_duration
from ..money import format_price
from .evaluate import Evaluation, Outcome, Stat


def _money(stat: Stat) -> str:
    return f"{format_price(stat.mean)} +-{format_price(stat.half)}"


def _share(stat: Stat) -> str:
    return f"{stat.mean * 100:.1f} % +-{stat.half * 100:.1f}"


def _number(stat: Stat, digits: int = 1) -> str:
    return f"{stat.mean:.{digits}f} +-{stat.half:.{digits}f}"


def _uplift(stat: Stat) -> str:
    return f"{stat.mean:+.1f} % +-{stat.half:.1f}"


def text(evaluation: Evaluation) -> list[str]:
    """The lines `clore-host simulate` prints for one market."""
    market = evaluation.market
    floor_on_demand, floor_spot = market.cost_floor
    seeds = len(evaluation.seeds)
    lines = [
        f"market {market.name} ({evaluation.source}): {evaluation.days:g} days x {seeds} "
        f"seeds, a decision every {format_duration(evaluation.reconcile)}",
        f"  cost {format_price(market.cost_per_day(market.busy_w))}/day at "
        f"{market.busy_w:g} W rented; cost floor {format_price(floor_on_demand)} on demand, "
        f"{format_price(floor_spot)} spot",
        "  per day, mean +-95 % interval over seeds; uplift: net against the best static price",
        "",
    ]
    header: tuple[str, ...] = (
        "policy",
        "net/day",
        "uplift",
        "gross/day",
        "occupancy",
        "changes/day",
        "h<floor",
    )
    rows = [header]
    best = evaluation.best
    rows.append(_row(f"static {format_price(best.static_price or 0.0)}", best, None))
    rows += [_row(o.name, o, best) for o in evaluation.policies]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _row(name: str, outcome: Outcome, best: Outcome | None) -> tuple[str, ...]:
    return (
        name,
        _money(outcome.stat("net_per_day")),
        "best static" if best is None else _uplift(outcome.uplift(best)),
        _money(outcome.stat("gross_per_day")),
        _share(outcome.stat("occupancy")),
        _number(outcome.stat("changes_per_day")),
        _number(outcome.stat("hours_below_floor")),
    )


def markdown(evaluations: Sequence[Evaluation]) -> list[str]:
    """The README's earnings table: a row per policy, a column per market. Each cell: net
    revenue against the best static price (uplift, +-95 % interval), price changes a day, hours
    below the cost floor; the first row, the best static price and its net revenue a day."""
    names = [e.market.name for e in evaluations]
    seeds = {len(e.seeds) for e in evaluations}
    days = {e.days for e in evaluations}
    lines = [
        f"Net revenue against the best static price, {'/'.join(f'{d:g}' for d in days)} days, "
        f"{'/'.join(str(s) for s in seeds)} seeds (mean +-95 % interval); "
        "changes a day; hours below the cost floor.",
        "",
        "| policy | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    cells = []
    for e in evaluations:
        best = e.best
        cells.append(
            f"{format_price(best.static_price or 0.0)}/day: net "
            f"{format_price(best.stat('net_per_day').mean)}/day"
        )
    lines.append("| best static price | " + " | ".join(cells) + " |")
    policy_names = list(dict.fromkeys(o.name for e in evaluations for o in e.policies))
    for name in policy_names:
        row = []
        for e in evaluations:
            outcome = next((o for o in e.policies if o.name == name), None)
            if outcome is None:
                row.append("-")
                continue
            row.append(
                f"{_uplift(outcome.uplift(e.best))}; "
                f"{outcome.stat('changes_per_day').mean:.1f}/day; "
                f"{outcome.stat('hours_below_floor').mean:.0f} h"
            )
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


__all__ = ["markdown", "text"]
