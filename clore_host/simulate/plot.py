"""`simulate --plot FILE`: per policy, the on-demand price, the occupancy (share of the last
24 h rented) and the cumulative net revenue over the simulated days, for the first seed, with
the cost floor, and the best static price beside them. PNG or SVG by the file's suffix.

Through matplotlib, an optional extra (`pip install 'clore-host[plot]'`) so a rig's install
stays small. Each series carries an id (`gid`: price-NAME, occupancy-NAME, net-NAME,
cost-floor), which an SVG keeps as the id of its group, so a reader (or a test) finds them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .evaluate import Evaluation, Outcome

FORMATS = (".png", ".svg")


class PlotUnavailable(UsageError):
    """matplotlib, needed by --plot, is not installed."""

    headline = "--plot needs matplotlib, which is not installed"


def series_id(kind: str, name: str) -> str:
    """A series' id: kind and name, with anything but letters, digits, '-' and '_' as '-'."""
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def check_target(path: Path) -> None:
    """Refuse a file the plot cannot be written as, before the simulation runs."""
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"--plot {path}: the file must end in .png or .svg")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: no directory {path.parent}")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("install it with: pip install 'clore-host[plot]'") from None
    return plt


def draw(evaluation: Evaluation, path: Path) -> None:
    """Draw `evaluation`'s first seed to `path` (PNG or SVG)."""
    check_target(path)
    plt = _pyplot()
    market = evaluation.market
    floor = market.cost_floor[0]
    fig, (price_ax, occupancy_ax, net_ax) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    best = evaluation.best
    outcomes: list[tuple[str, Outcome]] = [("best static", best)]
    outcomes += [(o.name, o) for o in evaluation.policies]
    for label, outcome in outcomes:
        series = outcome.runs[0].series
        if series is None:
            continue
        style = {"linestyle": "--", "color": "grey"} if outcome is best else {}
        price_ax.step(
            series.hours,
            series.price,
            where="post",
            label=label,
            gid=series_id("price", label),
            **style,
        )
        occupancy_ax.plot(
            series.hours,
            [o * 100 for o in series.occupancy],
            label=label,
            gid=series_id("occupancy", label),
            **style,
        )
        net_ax.plot(series.hours, series.net, label=label, gid=series_id("net", label), **style)
    price_ax.axhline(floor, color="red", linewidth=1, label="cost floor", gid="cost-floor")
    price_ax.set_ylabel("on-demand price / day")
    occupancy_ax.set_ylabel("rented, last 24 h (%)")
    occupancy_ax.set_ylim(-2, 102)
    net_ax.set_ylabel("net revenue so far")
    net_ax.set_xlabel("day")
    price_ax.legend(loc="upper right", fontsize="small")
    price_ax.set_title(
        f"market {market.name}: seed {evaluation.seeds[0]}, {evaluation.days:g} days"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["FORMATS", "PlotUnavailable", "check_target", "draw", "series_id"]
