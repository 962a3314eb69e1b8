"""`clore-host demo`: the agent's main job on a simulated day, with nothing real needed.

A rig (rig.py) serves the emulator's sample server on a free loopback port, the fake GPU
backend replays the demo scenario (idle for hours, then rented and busy, then the card
overheats), the emulator serves a seeded market for the default policy to price against, and
the policy decides. The agent, the emulator and the GPUs share one simulated clock that the
demo moves forward, so a day takes seconds and the run is reproducible.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..agent import Agent, CycleResult
from ..config.paths import shipped_dir
from ..duration import format_duration, parse_duration
from ..policy import format_price
from .clock import FakeClock
from .rig import Rig

DEMO_START = datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp()  # a Monday, 00:00 UTC

# When the simulated renter arrives and leaves (rental_status 2 = rented on demand).
RENTALS: tuple[tuple[str, int], ...] = (("10h", 2), ("16h", 0))


@dataclass(frozen=True)
class TimelineEntry:
    at: float  # seconds since the start of the simulated day
    result: CycleResult

    @property
    def rental_status(self) -> str:
        return self.result.facts.rental_status

    @property
    def utilization(self) -> float | None:
        gpus = self.result.facts.gpus
        return gpus[0].utilization if gpus else None

    @property
    def temperature(self) -> float | None:
        gpus = self.result.facts.gpus
        return gpus[0].temperature if gpus else None


# The seeded market the demo's server sees (testing.market): 3,000 servers, 216 owners of
# this class; policies that follow the market (default, market-follow) have peers to follow.
DEMO_MARKET = 15


def simulate_day(
    *,
    hours: float = 24,
    sample_every: str = "5m",
    reconcile_every: str = "10m",
    policy: str = "default",
) -> Iterator[TimelineEntry]:
    """Run the agent over a simulated day; yield one entry per reconcile."""
    clock = FakeClock(DEMO_START)
    sample_step = parse_duration(sample_every)
    reconcile_step = parse_duration(reconcile_every)
    rentals = sorted((parse_duration(at), status) for at, status in RENTALS)
    config = {
        "timezone": "UTC",
        "gpu": {"scenario": "demo"},
        "policy": {"path": shipped_dir("policies") / f"{policy}.toml"},
    }
    with (
        tempfile.TemporaryDirectory(prefix="clore-host-demo-") as tmp,
        Rig(Path(tmp), clock=clock, config=config, market=DEMO_MARKET) as rig,
    ):
        agent = rig.agent()
        try:
            yield from _drive(agent, rig, clock, hours, sample_step, reconcile_step, rentals)
        finally:
            agent.close()


def _drive(
    agent: Agent,
    rig: Rig,
    clock: FakeClock,
    hours: float,
    sample_step: float,
    reconcile_step: float,
    rentals: list[tuple[float, int]],
) -> Iterator[TimelineEntry]:
    elapsed = 0.0
    next_reconcile = 0.0
    while elapsed <= hours * 3600:
        clock.set(DEMO_START + elapsed)
        while rentals and rentals[0][0] <= elapsed:
            rig.emulator.set_rental_status(rig.server, rentals.pop(0)[1])
        if elapsed >= next_reconcile:
            result = agent.reconcile()
            yield TimelineEntry(at=elapsed, result=result)
            next_reconcile += reconcile_step
        else:
            agent.sample()
        elapsed += sample_step


def _clock_label(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours:02d}:{rest // 60:02d}"


def format_entry(entry: TimelineEntry) -> list[str]:
    """The entry's row, and a line for each change and each availability a rail held back."""
    plan = entry.result.plan
    target = plan.target
    util = "  -" if entry.utilization is None else f"{entry.utilization:3.0f}"
    temp = "  -" if entry.temperature is None else f"{entry.temperature:3.0f}"
    head = (
        f"{_clock_label(entry.at)}  {entry.rental_status:<10} {util}% {temp}C  "
        f"{format_price(target.on_demand)}  {format_price(target.spot)}  "
        f"{'on ' if target.availability else 'off'}  {target.mrl:>4}h  "
    )
    # Availability a rule wanted to flip but a rail held (a rental, the hold) is the policy
    # at work too; prices held by the minimum interval are not news.
    availability = plan.fields["availability"]
    held = [availability.explain()] if availability.rules and availability.clamps else []
    if entry.result.outcome == "changed":
        return [head + "CHANGED"] + [f"       {line}" for line in plan.reasons() + held]
    return [head + ("held" if held else "-")] + [f"       {line}" for line in held]


def _worth_a_row(entry: TimelineEntry, previous: TimelineEntry | None) -> bool:
    """Every change, every hour on the hour, and whenever the rental or the GPU turns."""
    if previous is None or entry.result.outcome == "changed" or entry.at % 3600 == 0:
        return True
    hot = (entry.temperature or 0) >= 80
    was_hot = (previous.temperature or 0) >= 80
    return entry.rental_status != previous.rental_status or hot != was_hot


def run_demo(
    write: Callable[[str], None] = print, *, policy: str = "default", hours: float = 24
) -> list[TimelineEntry]:
    """Print the timeline of a simulated day; return its entries."""
    write("clore-host demo: a simulated day on the built-in emulator with a fake GPU,")
    write("  in a seeded market of 3,000 servers (see `clore-host market` on `clore-host emulate`)")
    write("  00:00-10:00 idle; 10:00-16:00 rented on demand and busy; 16:00 idle again;")
    write("  18:00-20:00 a fan fails and the idle GPU overheats; then cool again")
    write("")
    write("time   rental     util  temp  on_demand   spot        avail  mrl  decision")
    entries: list[TimelineEntry] = []
    for entry in simulate_day(policy=policy, hours=hours):
        if _worth_a_row(entry, entries[-1] if entries else None):
            for line in format_entry(entry):
                write(line)
        entries.append(entry)
    changes = sum(1 for e in entries if e.result.outcome == "changed")
    span = format_duration(entries[-1].at) if entries else "0s"
    write("")
    write(
        f"{len(entries)} decisions over {span}, {changes} changes written; no token, GPU or "
        "network was needed."
    )
    return entries
