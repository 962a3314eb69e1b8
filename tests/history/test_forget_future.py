"""History.forget_future: the way out after a clock that jumped ahead and came back.

What was stamped ahead (a change, a decision, the rental status's start, samples, rollups, a
recreation time) would block writes ("in the future") until that time passed. forget_future
removes it and says how many records went; a removed change (it may have landed, at a real time
no later than now) still holds the rails from now, as after a lost database.
"""

from __future__ import annotations

import math
import sqlite3

import pytest

from clore_host.facts import GpuNow, PriorState, WindowKey
from clore_host.history import History

from .factories import T0, A, fill

# The clock jumped six hours ahead (within the raw retention: a jump past it prunes the real
# samples before anyone can forget anything), then came back to the right time.
AHEAD = T0 + 6 * 3600
NOW = T0 + 3600
AVG = WindowKey("utilization", "avg", 1800)


def count(history: History, table: str) -> int:
    with sqlite3.connect(history.path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_what_the_clock_stamped_ahead_is_removed_and_counted(tmp_path):
    with History.open(tmp_path / "history.db", now=T0) as history:
        # An hour of real time first: a change, a decision, samples of two GPUs every 10 s.
        fill(history, T0, 300)
        real = history.record_change(T0, "rig", A, A._replace(on_demand=11.0), ["up"])
        history.mark_change(real, "applied", T0 + 1)
        history.record_decision(T0 + 1, {"changed": True})
        window_before = history.window(AVG, NOW)
        # Then two minutes with the clock ahead.
        fill(history, AHEAD, 12)
        ahead = history.record_change(AHEAD, "rig", A, A._replace(spot=6.0), ["spot"])
        history.mark_change(ahead, "applied", AHEAD + 1)
        pending = history.record_change(AHEAD + 2, "rig", A, A._replace(mrl=24), ["mrl"])
        history.record_decision(AHEAD, {"changed": True})
        history.record_decision(AHEAD + 10, {"changed": False})
        history.set_state("rental_status", {"status": "rented", "since": AHEAD})
        prior = history.prior_state()
        assert prior.last_price_change == AHEAD + 1  # the guard: "in the future"
        rollups = count(history, "rollup_utilization")

        removed = history.forget_future(NOW)

        # 2 changes, 2 decisions, the rental status, 24 readings (12 samples of 2 GPUs), and
        # the first future minute's rollups of utilization and temperature, one per GPU (the
        # second minute is still open, so not rolled up yet).
        assert rollups - count(history, "rollup_utilization") == 2
        assert removed == 2 + 2 + 1 + 24 + 2 * 2
        assert [c.id for c in history.changes(status=None)] == [real]
        assert pending not in [c.id for c in history.pending_changes()]
        assert history.last_decision() == (T0 + 1, {"changed": True})
        assert history.get_state("rental_status") is None  # seen afresh at the next cycle
        # The removed change may have landed (the clock was wrong, not the write): the rails
        # count from now, not from a year ahead and not from never.
        assert history.prior_state() == PriorState(NOW, NOW)
        assert history.coverage(NOW) == 3600
        assert history.window(AVG, NOW) == window_before
        with sqlite3.connect(history.path) as db:
            (rolled,) = db.execute("SELECT value FROM meta WHERE key = 'rolled_until'").fetchone()
        assert float(rolled) <= NOW
        # Recording goes on and rolls up as before the jump: a busy minute now is seen.
        for i in range(12):
            history.record_sample(NOW + i * 10, [GpuNow(index=0, utilization=100.0)])
        assert history.window(WindowKey("utilization", "max", 600), NOW + 110) == {0: 100.0}
        assert history.idle_for(50, NOW + 110) == 0


def test_nothing_ahead_removes_nothing_and_holds_nothing(tmp_path):
    with History.open(tmp_path / "history.db", now=T0) as history:
        fill(history, T0, 30)
        change = history.record_change(T0, "rig", A, A._replace(on_demand=11.0), ["up"])
        history.mark_change(change, "applied", T0 + 1)
        history.set_state("rental_status", {"status": "rented", "since": T0})
        assert history.forget_future(NOW) == 0
        assert history.prior_state() == PriorState(T0 + 1, None)
        assert history.get_state("rental_status") == {"status": "rented", "since": T0}
        assert count(history, "raw") == 60


def test_samples_alone_ahead_remove_no_hold(tmp_path):
    with History.open(tmp_path / "history.db", now=T0) as history:
        fill(history, T0, 30)
        fill(history, AHEAD, 30)
        # 60 readings; four future minutes rolled up, of two metrics and two GPUs.
        assert history.forget_future(NOW) == 60 + 4 * 2 * 2
        assert history.prior_state() == PriorState()
        assert history.coverage(NOW) == NOW - T0


def test_a_recreation_stamped_ahead_is_brought_back_to_now(tmp_path):
    path = tmp_path / "history.db"
    History.open(path, now=T0).close()
    path.unlink()
    with History.open(path, now=AHEAD) as history:  # recreated while the clock was ahead
        assert history.prior_state() == PriorState(AHEAD, AHEAD)
        assert history.forget_future(NOW) == 1
        assert history.prior_state() == PriorState(NOW, NOW)
        assert history.forget_future(NOW + 5) == 0  # the hold itself is not ahead


def test_the_hold_never_moves_an_earlier_change_later_than_now(tmp_path):
    with History.open(tmp_path / "history.db", now=T0) as history:
        late = history.record_change(NOW - 10, "rig", A, A._replace(availability=False), ["x"])
        history.mark_change(late, "applied", NOW - 5)
        ahead = history.record_change(AHEAD, "rig", A, A._replace(spot=6.0), ["spot"])
        history.mark_change(ahead, "applied", AHEAD)
        assert history.forget_future(NOW) == 1
        assert history.prior_state() == PriorState(NOW, NOW)


def test_another_process_sees_what_was_forgotten(tmp_path):
    # The CLI forgets while the daemon keeps the file open: the daemon reads the file.
    path = tmp_path / "history.db"
    with History.open(path, now=T0) as daemon:
        fill(daemon, T0, 30)
        fill(daemon, AHEAD, 30)
        with History.open(path) as person:
            assert person.forget_future(NOW) > 0
        assert daemon.coverage(NOW) == NOW - T0
        daemon.record_sample(NOW, [GpuNow(index=0, utilization=99.0)])
        daemon.record_sample(NOW + 60, [GpuNow(index=0, utilization=99.0)])
        assert daemon.idle_for(50, NOW + 60) == 0


@pytest.mark.parametrize("when", [math.nan, math.inf, -math.inf])
def test_a_time_that_is_not_finite_is_refused(tmp_path, when):
    with History.open(tmp_path / "history.db") as history, pytest.raises(ValueError):
        history.forget_future(when)
