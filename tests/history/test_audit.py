"""The audit trail: changes and the prior state they give the rails, decisions, agent state."""

from __future__ import annotations

import sqlite3

import pytest

from clore_host.facts import PriorState
from clore_host.history import MAX_DECISIONS, History, HistoryError

from .factories import T0, A


def test_audit_trail_and_prior_state(history):
    assert history.last_change() is None
    assert history.prior_state() == PriorState()
    price = history.record_change(T0, "rig", A, A._replace(spot=6.0), ["spot up"])
    history.mark_change(price, "applied", T0 + 2)
    hidden = history.record_change(T0 + 100, "rig", A, A._replace(availability=False), ["hot"])
    history.mark_change(hidden, "applied", T0 + 101)
    lost = history.record_change(T0 + 200, "rig", A, A._replace(on_demand=1.0), ["x"])
    history.mark_change(lost, "abandoned", T0 + 201)
    pending = history.record_change(T0 + 300, "rig", A, A._replace(mrl=24), ["mrl"])
    assert [c.id for c in history.changes()] == [price, hidden]
    assert [c.id for c in history.changes(since=T0 + 50)] == [hidden]
    assert [c.id for c in history.changes(status=None)] == [price, hidden, lost, pending]
    assert [c.id for c in history.pending_changes()] == [pending]
    last = history.last_change()
    assert last is not None and last.id == pending and last.status == "pending"
    assert last.before == A and last.after == A._replace(mrl=24) and last.reasons == ("mrl",)
    assert isinstance(last.after.availability, bool) and isinstance(last.after.mrl, int)
    # An abandoned change moved nothing; the last applied price change was `price`,
    # timed by when it was applied (T0 + 2), not when it was decided (T0).
    assert history.prior_state() == PriorState(
        last_price_change=T0 + 2, availability_since=T0 + 101
    )
    with pytest.raises(HistoryError, match="no change #999"):
        history.mark_change(999, "applied", T0)
    with pytest.raises(ValueError, match="unknown change status"):
        history.mark_change(price, "done", T0)


def test_prior_state_counts_only_the_named_server(history):
    change = history.record_change(T0, "rig-b", A, A._replace(on_demand=11.0), ("r",))
    history.mark_change(change, "applied", T0 + 1)
    assert history.prior_state("rig-a") == PriorState()
    assert history.prior_state("rig-b") == PriorState(last_price_change=T0 + 1)
    assert history.prior_state() == PriorState(last_price_change=T0 + 1)


def test_a_recreated_database_keeps_the_rails_counting(tmp_path):
    path = tmp_path / "history.db"
    with History.open(path, now=T0) as history:
        change = history.record_change(T0, "rig", A, A._replace(on_demand=0.2), ("r",))
        history.mark_change(change, "applied", T0)
        assert history.prior_state().last_price_change == T0
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"history.db{suffix}").unlink(missing_ok=True)
    with History.open(path, now=T0 + 50) as history:  # deleted, then recreated
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)
    with History.open(path, now=T0 + 99) as history:  # reopened: not recreated again
        assert history.prior_state() == PriorState(T0 + 50, T0 + 50)
    fresh = tmp_path / "fresh" / "history.db"
    with History.open(fresh, now=T0) as history:  # a first start has nothing to keep
        assert history.prior_state() == PriorState()


def test_decisions_are_bounded(tmp_path):
    with History.open(tmp_path / "history.db") as history:
        assert history.last_decision() is None
        for i in range(MAX_DECISIONS + 50):
            history.record_decision(T0 + i, {"i": i})
        assert history.last_decision() == (T0 + MAX_DECISIONS + 49, {"i": MAX_DECISIONS + 49})
    with sqlite3.connect(tmp_path / "history.db") as db:
        assert db.execute("SELECT COUNT(*) FROM decision").fetchone()[0] == MAX_DECISIONS


def test_state_values_round_trip_as_json(history):
    assert history.get_state("missing") is None
    history.set_state("k", [1, "two", {"three": 3.0}])
    history.set_state("k", {"replaced": True})
    assert history.get_state("k") == {"replaced": True}
