"""The rental status's transitions and the GPUs' power draw while rented."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clore_host.facts import GpuNow
from clore_host.history import History, HistoryDamaged, PowerDraw

from .factories import T0


def power(history: History, ts: float, *watts: float | None) -> None:
    history.record_sample(ts, [GpuNow(index=i, power=w) for i, w in enumerate(watts)])


def test_only_a_change_of_status_makes_a_row(history: History) -> None:
    history.record_rental_status(T0, "not_rented")
    history.record_rental_status(T0 + 300, "not_rented")
    history.record_rental_status(T0 + 600, "spot")
    history.record_rental_status(T0 + 900, "spot")
    history.record_rental_status(T0 + 1200, "not_rented")
    assert history.rental_transitions(T0, T0 + 2000) == [
        (T0, "not_rented"),
        (T0 + 600, "spot"),
        (T0 + 1200, "not_rented"),
    ]
    # The status in force at the start of the span comes first, stamped when it began.
    assert history.rental_transitions(T0 + 700, T0 + 800) == [(T0 + 600, "spot")]


def test_an_unknown_status_or_time_is_refused(history: History) -> None:
    with pytest.raises(ValueError, match="unknown rental status"):
        history.record_rental_status(T0, "rented")
    with pytest.raises(ValueError, match="finite time"):
        history.record_rental_status(float("nan"), "spot")


def test_rented_power_sums_the_gpus_of_each_rented_sample(history: History) -> None:
    history.record_rental_status(T0, "not_rented")
    for i in range(6):  # every 10 s: 20 W a card while not rented
        power(history, T0 + i * 10, 20.0, 22.0)
    history.record_rental_status(T0 + 60, "on_demand")
    for i in range(6, 12):  # 300 W a card while rented
        power(history, T0 + i * 10, 300.0, 310.0 + i)
    history.record_rental_status(T0 + 120, "not_rented")
    power(history, T0 + 120, 25.0, 25.0)
    draws = history.rented_power(T0, T0 + 200)
    assert draws == [PowerDraw(T0 + i * 10, 610.0 + i, 2, 1) for i in range(6, 12)]
    # A span that ends inside the rental, and one that starts in it.
    assert [d.ts for d in history.rented_power(T0, T0 + 75)] == [T0 + 60, T0 + 70]
    assert [d.ts for d in history.rented_power(T0 + 105, T0 + 300)] == [T0 + 110]


def test_a_sample_without_some_gpus_power_says_how_many_reported(history: History) -> None:
    history.record_rental_status(T0, "spot")
    power(history, T0 + 10, 300.0, None)
    history.record_sample(T0 + 20, [GpuNow(index=0, power=300.0), GpuNow(index=1, lost=True)])
    assert history.rented_power(T0, T0 + 30) == [
        PowerDraw(T0 + 10, 300.0, 1, 1),
        PowerDraw(T0 + 20, 300.0, 1, 1),
    ]


def test_nothing_is_rented_before_the_first_status_or_without_one(history: History) -> None:
    power(history, T0, 300.0)
    assert history.rented_power(T0 - 100, T0 + 100) == []
    history.record_rental_status(T0 + 50, "spot")
    power(history, T0 + 60, 300.0)
    assert [d.ts for d in history.rented_power(T0 - 100, T0 + 100)] == [T0 + 60]


def test_minutes_whose_samples_were_pruned_come_from_the_rollups(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.db", raw_retention=3600, rollup_retention=86400) as history:
        history.record_rental_status(T0, "spot")
        # Two hours of samples every 10 s: the card draws 100 W, then 400 W in the sixth
        # sample of each minute.
        for i in range(720):
            watts = 400.0 if i % 6 == 5 else 100.0
            power(history, T0 + i * 10, watts, 50.0)
        now = T0 + 7190
        draws = history.rented_power(T0, now)
    raw_from = min(d.ts for d in draws if d.weight == 1)
    pruned = [d for d in draws if d.weight != 1]
    assert pruned and all(d.ts < raw_from for d in pruned)
    # A pruned minute: the GPUs' per-minute p95s summed (400 + 50), weighted by its samples.
    assert {(d.watts, d.gpus, d.weight) for d in pruned} == {(450.0, 2, 6)}
    assert all(d.ts % 60 == 0 for d in pruned)
    # Every minute of the two hours is there once, from one table or the other.
    minutes = {d.ts // 60 for d in draws}
    assert len(minutes) == 120
    assert sum(d.weight for d in draws) == 720


def test_statuses_are_kept_for_the_rollup_retention_and_the_one_in_force_stays(
    tmp_path: Path,
) -> None:
    with History.open(tmp_path / "h.db", raw_retention=3600, rollup_retention=7200) as history:
        history.record_rental_status(T0, "spot")
        history.record_rental_status(T0 + 100, "not_rented")
        history.record_rental_status(T0 + 200, "on_demand")
        history.record_rental_status(T0 + 10_000, "not_rented")
        # T0 and T0 + 100 are past the retention; T0 + 200 still says what held at the cut.
        assert history.rental_transitions(0, T0 + 20_000) == [
            (T0 + 200, "on_demand"),
            (T0 + 10_000, "not_rented"),
        ]


def test_forget_future_removes_statuses_recorded_ahead(history: History) -> None:
    history.record_rental_status(T0, "spot")
    history.record_rental_status(T0 + 1000, "not_rented")
    assert history.forget_future(T0 + 500) == 1
    assert history.rental_transitions(T0, T0 + 2000) == [(T0, "spot")]


def test_a_status_that_is_not_one_clore_host_writes_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History.open(path) as history:
        history.record_rental_status(T0, "spot")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE rental SET status = 'busy'")
    with History.open(path) as history, pytest.raises(HistoryDamaged, match="rental status 'busy'"):
        history.rented_power(T0, T0 + 10)
