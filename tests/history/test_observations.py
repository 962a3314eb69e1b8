"""Observations: JSON records by kind and time, kept for the rollup retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clore_host.history import History, HistoryDamaged

from .factories import T0


def test_records_read_back_by_kind_and_time(history: History) -> None:
    history.record_observation(T0, "market", {"peers": 7})
    history.record_observation(T0 + 10, "costs", {"cost": {"per_day": 0.0001}})
    history.record_observation(T0 + 20, "market", {"peers": 8, "nested": [1, None, "x"]})
    assert history.observations("market", T0) == [
        (T0, {"peers": 7}),
        (T0 + 20, {"peers": 8, "nested": [1, None, "x"]}),
    ]
    assert history.observations("market", T0 + 1, T0 + 19) == []
    assert history.observations("market", T0, T0) == [(T0, {"peers": 7})]
    assert history.observations("costs", 0) == [(T0 + 10, {"cost": {"per_day": 0.0001}})]
    assert history.observations("facts", 0) == []


def test_what_json_cannot_hold_is_refused(history: History) -> None:
    with pytest.raises(ValueError):
        history.record_observation(T0, "costs", {"rate": float("nan")})
    with pytest.raises(ValueError, match="short name"):
        history.record_observation(T0, "", {})
    with pytest.raises(ValueError, match="finite time"):
        history.record_observation(float("inf"), "costs", {})
    with pytest.raises(ValueError, match="JSON object"):
        history.record_observation(T0, "costs", [1, 2])  # type: ignore[arg-type]
    assert history.observations("costs", 0) == []


def test_records_older_than_the_rollup_retention_are_pruned(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.db", raw_retention=3600, rollup_retention=7200) as history:
        history.record_observation(T0, "market", {"n": 1})
        history.record_observation(T0 + 3600, "costs", {"n": 2})
        history.record_observation(T0 + 7300, "market", {"n": 3})
        assert history.observations("market", 0) == [(T0 + 7300, {"n": 3})]
        assert history.observations("costs", 0) == [(T0 + 3600, {"n": 2})]


def test_forget_future_removes_records_stamped_ahead(history: History) -> None:
    history.record_observation(T0, "costs", {"n": 1})
    history.record_observation(T0 + 1000, "costs", {"n": 2})
    assert history.forget_future(T0 + 500) == 1
    assert history.observations("costs", 0) == [(T0, {"n": 1})]


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ("UPDATE observation SET record = 'not json'", "observation #1 is not JSON"),
        ("UPDATE observation SET record = '[1, 2]'", "observation #1 is not an object"),
        ("UPDATE observation SET record = x'01'", "observation #1 is not JSON text"),
        ("UPDATE observation SET ts = 'soon'", "observation #1: its time 'soon'"),
    ],
)
def test_a_record_that_does_not_parse_is_damage(tmp_path: Path, statement: str, words: str) -> None:
    path = tmp_path / "h.db"
    with History.open(path) as history:
        history.record_observation(T0, "costs", {"n": 1})
    with sqlite3.connect(path) as db:
        db.execute(statement)
    with History.open(path) as history, pytest.raises(HistoryDamaged, match=words):
        history.observations("costs", -1e300)
