"""Backtest: what policy P would have done with what this rig's agent saw.

The agent records each reconcile's observation in history (policy.step's records, with the
memory it decided with). The backtest replays them in order through the same decision step,
with history's windows and idle time (the SQLite History is the Samples), and P's own
settings and memory in place of those the agent had:

- P's settings start as the first record's; each of P's changes lands, at the decision's time,
  except one the agent also made at that decision, which fares as the agent's did (landed when
  its write was applied, or not at all). So replaying the policy that ran reproduces its
  decisions, the rails' minimum interval and hold included.
- A change nobody in this history made (a price set by hand in the dashboard) shows up as the
  next record's settings differing from what the agent left: P's settings take it too.
- The counterfactual for money: the rentals happened as they did (from the records' rental
  status), each at the price P had in force when it began (its spot minimum for a spot rental).
  Rental starts and ends are known to a reconcile interval.
- The market and cost facts are as recorded (market.rank is the rank of the price the agent
  had, not P's).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_INVALID, Failure
from ..facts import RentalStatus, Settings
from ..policy import Plan, Policy
from ..policy.step import (
    Memory,
    Observation,
    RecordError,
    memory_from_record,
    observation_from_record,
    step,
)

if TYPE_CHECKING:
    from ..history import ChangeRecord, History

DAY = 86400.0
HOUR = 3600.0
KIND = "reconcile"  # the observations the agent records for each decision


class NothingToReplay(Failure):
    """History holds no reconcile records in the period asked for."""

    exit_code = EXIT_INVALID
    headline = "nothing to replay"


class RecordDamaged(Failure):
    """A recorded observation cannot be read back."""

    headline = "history damaged"


@dataclass(frozen=True)
class Decision:
    """One recorded decision replayed: P's plan beside what the agent did then."""

    ts: float
    plan: Plan  # P's plan (its `current` is P's settings then)
    ran: ChangeRecord | None  # the agent's change at this decision, if it made one
    landed: bool  # P's change (if any) took effect
    memory: Memory  # what P carried into this decision

    @property
    def same(self) -> bool:
        """P decided as the agent did: the same change, or no change on both sides."""
        if self.ran is None:
            return not self.plan.changed
        return self.plan.changed and self.plan.target == self.ran.after

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "same": self.same,
            "plan": {
                "current": self.plan.current._asdict(),
                "target": self.plan.target._asdict(),
                "changed": self.plan.changed,
                "landed": self.landed,
                "explain": self.plan.explain(),
            },
            "ran": None
            if self.ran is None
            else {
                "before": self.ran.before._asdict(),
                "after": self.ran.after._asdict(),
                "status": self.ran.status,
                "reasons": list(self.ran.reasons),
            },
        }


@dataclass(frozen=True)
class Rental:
    """A rental as the records saw it, with the price each side had when it began."""

    start: float
    end: float
    kind: RentalStatus
    ran_price: float
    replay_price: float


@dataclass(frozen=True)
class Side:
    """One side's figures over the period: the agent that ran, or P replayed."""

    changes: int  # writes that took effect
    price_changes: int
    hours_delisted: float
    hours_below_floor: float  # listed, on-demand below the recorded cost floor
    hours_floor_unknown: float  # listed while the cost floor was not known
    revenue: float  # the rentals as they happened, at this side's prices
    prices: tuple[tuple[float, Settings], ...]  # settings in force from each time on

    def to_dict(self, days: float) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "changes_per_day": self.changes / days,
            "price_changes_per_day": self.price_changes / days,
            "hours_delisted": self.hours_delisted,
            "hours_below_floor": self.hours_below_floor,
            "hours_floor_unknown": self.hours_floor_unknown,
            "revenue": self.revenue,
            "prices": [{"ts": ts, **s._asdict()} for ts, s in self.prices],
        }


@dataclass(frozen=True)
class Backtest:
    since: float
    until: float
    decisions: tuple[Decision, ...]
    ran: Side
    replay: Side
    rentals: tuple[Rental, ...] = field(default=())

    @property
    def days(self) -> float:
        return max(self.until - self.since, 1.0) / DAY

    @property
    def differing(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.same)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "days": self.days,
            "decisions": len(self.decisions),
            "same_decisions": len(self.decisions) - len(self.differing),
            "ran": self.ran.to_dict(self.days),
            "replay": self.replay.to_dict(self.days),
            "rentals": [
                {
                    "start": r.start,
                    "end": r.end,
                    "kind": r.kind,
                    "ran_price": r.ran_price,
                    "replay_price": r.replay_price,
                }
                for r in self.rentals
            ],
            "listing": [
                d.to_dict() for d in self.decisions if not d.same or (d.plan.changed and d.landed)
            ],
        }


def backtest(
    history: History, policy: Policy, server: str, *, since: float, until: float | None = None
) -> Backtest:
    """Replay the reconcile records of [since, until] through `policy`."""
    rows = history.observations(KIND, since, until)
    if not rows:
        raise NothingToReplay(
            "history holds no recorded reconcile in the period (the agent records one per "
            "decision; a rig's history from before that has none)"
        )
    records = [_read(ts, record) for ts, record in rows]
    first_obs, first_memory = records[0]
    changes = {c.ts: c for c in history.changes(since=since, status=None) if c.server == server}
    memory = first_memory or Memory()
    current = first_obs.current
    expected = first_obs.current  # what the agent's settings should be at the next record
    decisions: list[Decision] = []
    ran_track: list[tuple[float, Settings]] = []
    replay_track: list[tuple[float, Settings]] = []
    for obs, _ in records:
        if obs.current != expected:  # changed by someone else: P's settings take it too
            current = obs.current
        ran = changes.get(obs.now)
        mine = replace(obs, current=current)
        carried = memory
        plan, after = step(policy, mine, memory, history)
        agreed = ran is not None and plan.changed and plan.target == ran.after
        if agreed:
            assert ran is not None
            landed = ran.status == "applied"
            # The agent's write landed when it was applied (retries, the rate limit).
            after = memory.seeing(obs.rental_status, obs.now).after(plan, ran.status_ts)
        else:
            landed = plan.changed
        if plan.changed and landed:
            memory, current = after, plan.target
        else:
            memory = memory.seeing(obs.rental_status, obs.now)
        decisions.append(Decision(obs.now, plan, ran, landed, carried))
        expected = ran.after if ran is not None and ran.status == "applied" else obs.current
        ran_track.append((obs.now, expected))
        replay_track.append((obs.now, current))
    end = _end(records, until)
    observations = [obs for obs, _ in records]
    rentals = _rentals(observations, replay_track, end)
    ran_changes = [c for c in changes.values() if c.status == "applied"]
    ran_side = _side(
        observations,
        ran_track,
        end,
        len(ran_changes),
        sum(_price_changed(c.before, c.after) for c in ran_changes),
        sum(r.ran_price * (r.end - r.start) / DAY for r in rentals),
    )
    written = [d for d in decisions if d.plan.changed and d.landed]
    replay_side = _side(
        observations,
        replay_track,
        end,
        len(written),
        sum(_price_changed(d.plan.current, d.plan.target) for d in written),
        sum(r.replay_price * (r.end - r.start) / DAY for r in rentals),
    )
    return Backtest(records[0][0].now, end, tuple(decisions), ran_side, replay_side, rentals)


def _read(ts: float, record: dict[str, Any]) -> tuple[Observation, Memory | None]:
    try:
        return observation_from_record(record), memory_from_record(record)
    except RecordError as exc:
        raise RecordDamaged(f"the reconcile record at {ts!r}: {exc}") from None


def _end(records: Sequence[tuple[Observation, Memory | None]], until: float | None) -> float:
    """The end of the last record's interval: one usual interval on, within `until`."""
    times = [obs.now for obs, _ in records]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    step_ = statistics.median(gaps) if gaps else 0.0
    end = times[-1] + step_
    return min(end, until) if until is not None and until >= times[-1] else end


def _price_changed(before: Settings, after: Settings) -> bool:
    return before.on_demand != after.on_demand or before.spot != after.spot


def _rentals(
    observations: Sequence[Observation], replay: Sequence[tuple[float, Settings]], end: float
) -> tuple[Rental, ...]:
    """Each run of records in one rented status is a rental; its price is each side's
    settings in force when it was first seen (the price the renter found)."""
    out: list[Rental] = []
    start = 0
    for k in range(1, len(observations) + 1):
        same = k < len(observations) and (
            observations[k].rental_status == observations[start].rental_status
        )
        if same:
            continue
        status = observations[start].rental_status
        if status != "not_rented":
            stop = observations[k].now if k < len(observations) else end
            ran_settings = observations[start].current
            # P's settings in force when the renter came: those it left at the record before.
            replay_settings = replay[start - 1][1] if start else observations[start].current
            kind = status
            out.append(
                Rental(
                    observations[start].now,
                    stop,
                    kind,
                    _price(ran_settings, kind),
                    _price(replay_settings, kind),
                )
            )
        start = k
    return tuple(out)


def _price(settings: Settings, kind: RentalStatus) -> float:
    return settings.spot if kind == "spot" else settings.on_demand


def _side(
    observations: Sequence[Observation],
    track: Sequence[tuple[float, Settings]],
    end: float,
    changes: int,
    price_changes: int,
    revenue: float,
) -> Side:
    """Hours delisted and below the cost floor, each record's settings (after its decision)
    holding until the next record."""
    delisted = below = unknown = 0.0
    prices: list[tuple[float, Settings]] = []
    for k, (obs, (ts, settings)) in enumerate(zip(observations, track, strict=True)):
        stop = track[k + 1][0] if k + 1 < len(track) else end
        hours = max(0.0, stop - ts) / HOUR
        if not prices or prices[-1][1] != settings:
            prices.append((ts, settings))
        if not settings.availability:
            delisted += hours
            continue
        floor = obs.observed.get("cost.floor.on_demand")
        if isinstance(floor, float | int) and math.isfinite(floor):
            below += hours if settings.on_demand < floor else 0.0
        else:
            unknown += hours
    return Side(changes, price_changes, delisted, below, unknown, revenue, tuple(prices))


__all__ = [
    "KIND",
    "Backtest",
    "Decision",
    "NothingToReplay",
    "RecordDamaged",
    "Rental",
    "Side",
    "backtest",
]
