"""The simulator's figures in words: a text table per market, and the README's markdown table.

Money is per day in the listing currency (format_price); each figure is the mean over seeds
with its 95 % interval as "+-" the half width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..duration import format_duration
from ..facts import SETTING_FIELDS
from ..money import format_price
from .backtest import Backtest, Decision
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
        "  (the price with the best mean net in a sweep over other seeds; see --json's sweep)",
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
        f"{'/'.join(str(s) for s in seeds)} seeds (mean +-95 % interval; the best static "
        "price picked by a sweep over other seeds); changes a day; hours below the cost floor.",
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


# --- backtest ------------------------------------------------------------------------------


def _when(ts: float, zone: str = "UTC") -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def backtest_text(result: Backtest, policy: str, ran: str) -> list[str]:
    """`clore-host backtest`: the two sides' figures, a day by day table of prices, and a
    listing of P's changes and of every decision where P differs from what the agent did."""
    days = result.days
    lines = [
        f"backtest of {policy} against {ran} (as recorded): {_when(result.since)} to "
        f"{_when(result.until)} UTC, {days:.1f} days, {len(result.decisions)} decisions",
        f"  decisions as recorded: {len(result.decisions) - len(result.differing)} of "
        f"{len(result.decisions)}",
        "",
    ]
    rows = [
        ("", "ran", policy),
        ("changes/day", f"{result.ran.changes / days:.1f}", f"{result.replay.changes / days:.1f}"),
        (
            "price changes/day",
            f"{result.ran.price_changes / days:.1f}",
            f"{result.replay.price_changes / days:.1f}",
        ),
        (
            "hours delisted",
            f"{result.ran.hours_delisted:.1f}",
            f"{result.replay.hours_delisted:.1f}",
        ),
        (
            "hours listed below cost floor",
            f"{result.ran.hours_below_floor:.1f}",
            f"{result.replay.hours_below_floor:.1f}",
        ),
        (
            "hours with cost floor unknown",
            f"{result.ran.hours_floor_unknown:.1f}",
            f"{result.replay.hours_floor_unknown:.1f}",
        ),
        (
            f"revenue of the {len(result.rentals)} rentals",
            format_price(result.ran.revenue),
            format_price(result.replay.revenue),
        ),
    ]
    lines += _table(rows)
    lines += [
        "  (revenue: the rentals as they happened, each at the price in force when it began)",
        "",
        "on-demand price by day (time-weighted mean; ran / " + policy + "):",
    ]
    for day, ran_mean, replay_mean in _daily_prices(result):
        lines.append(f"  {day}  {format_price(ran_mean)}  {format_price(replay_mean)}")
    listing = [d for d in result.decisions if not d.same or (d.plan.changed and d.landed)]
    lines += ["", f"{policy}'s changes and the decisions where it differs ({len(listing)}):"]
    for decision in listing:
        mark = "" if decision.same else " (differs)"
        lines.append(f"  {_when(decision.ts)}{mark}")
        plan_lines = decision.plan.reasons() if decision.plan.changed else _held(decision)
        lines += [f"    {policy}: {line}" for line in plan_lines]
        if not decision.landed and decision.plan.changed:
            lines.append(f"    {policy}: (not landed: the agent's same write did not either)")
        if not decision.same:
            ran_lines = list(decision.ran.reasons) if decision.ran is not None else ["no change"]
            lines += [f"    ran: {line}" for line in ran_lines]
    return lines


def _held(decision: Decision) -> list[str]:
    """Why P changed nothing where the agent wrote: its plan's lines for those fields (the
    rails that held them, the rules skipped, or no rule acting)."""
    ran = decision.ran
    if ran is None:
        return ["no change"]
    fields = [f for f in SETTING_FIELDS if getattr(ran.before, f) != getattr(ran.after, f)]
    return ["no change", *(decision.plan.fields[f].explain() for f in fields)]


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def _daily_prices(result: Backtest) -> list[tuple[str, float, float]]:
    """Each UTC day's time-weighted mean on-demand price, for each side."""
    out = []
    start = result.since - result.since % 86400
    day = start
    while day < result.until:
        end = day + 86400
        means = []
        for side in (result.ran, result.replay):
            total = weight = 0.0
            prices = side.prices
            for k, (ts, settings) in enumerate(prices):
                stop = prices[k + 1][0] if k + 1 < len(prices) else result.until
                span = min(stop, end) - max(ts, day)
                if span > 0:
                    total += settings.on_demand * span
                    weight += span
            means.append(total / weight if weight else float("nan"))
        if not any(math.isnan(m) for m in means):
            out.append((_when(day)[:10], means[0], means[1]))
        day = end
    return out


__all__ = ["backtest_text", "markdown", "text"]
