"""The summary kept between runs: written whole and private, read strictly; a damaged file is
a message and reads as absent, never a crash."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from clore_host.market.peers import REASONS, OwnerVote, Selection
from clore_host.market.store import (
    MAX_BYTES,
    STORE_NAME,
    MarketStore,
    Stored,
    StoredMarket,
    StoredSpot,
    Tried,
)

SELECTION = Selection(
    (OwnerVote(1e-4, 5e-5, 0.5), OwnerVote(2e-4, None, None)), dict.fromkeys(REASONS, 1), 11
)
STORED = Stored(
    marketplace=StoredMarket(100.0, {"server": 1, "class": ["geforce rtx 4090", 1]}, SELECTION),
    spot=StoredSpot(101.0, 1, 2, 6e-5, 1, True, {"bitcoin": 97000.0, "odd": "abc"}),
    tried={
        "marketplace": Tried(100.0, {"server": 1}, None),
        "spot": Tried(101.0, 1, ("read_failed", "spot_marketplace", "HTTP status 503")),
    },
)


def test_what_is_saved_is_loaded(tmp_path: Path) -> None:
    store = MarketStore(tmp_path)
    assert store.load() == (Stored(), None)  # nothing yet: nothing to say
    store.save(STORED)
    assert store.load() == (STORED, None)
    assert stat.S_IMODE(os.stat(tmp_path / STORE_NAME).st_mode) == 0o600
    assert os.listdir(tmp_path) == [STORE_NAME]  # no temporary file left behind


def test_rates_are_kept_as_sent_even_nan(tmp_path: Path) -> None:
    store = MarketStore(tmp_path)
    rates = {"bitcoin": float("nan"), "x": [1, {"y": None}], "big": 10**30}
    spot = StoredSpot(1.0, 1, 0, None, 0, True, rates)
    store.save(Stored(spot=spot))
    loaded = store.load()[0].spot
    assert loaded is not None and loaded.rates["x"] == [1, {"y": None}]
    assert loaded.rates["big"] == 10**30 and loaded.rates["bitcoin"] != loaded.rates["bitcoin"]


def test_a_file_another_program_left_readable_becomes_private(tmp_path: Path) -> None:
    path = tmp_path / STORE_NAME
    path.write_text("{}")
    path.chmod(0o644)
    MarketStore(tmp_path).save(STORED)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def _valid(tmp_path: Path) -> dict[str, object]:
    """The file as saved from STORED."""
    MarketStore(tmp_path).save(STORED)
    doc: dict[str, object] = json.loads((tmp_path / STORE_NAME).read_text())
    return doc


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not JSON"),
        (b'{"version": 1, "marketpl', "not JSON"),
        (b"[]", "the file is not an object"),
        (b'{"version": 2}', "version is 2, not 1"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_damaged_file_is_a_message_and_reads_as_absent(
    tmp_path: Path, content: bytes, words: str
) -> None:
    (tmp_path / STORE_NAME).write_bytes(content)
    stored, problem = MarketStore(tmp_path).load()
    assert stored == Stored()
    assert (
        problem == f"market summary {tmp_path / STORE_NAME} is damaged ({words}); it is read again"
    )


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("marketplace", "owners"), {"a": 1}, "marketplace.owners is not a list"),
        (("marketplace", "owners", 0), [1e-4, None], "marketplace.owners[0] is not [on_demand"),
        (("marketplace", "owners", 0, 0), "1e-4", "marketplace.owners[0] is not a number"),
        (("marketplace", "owners", 0, 0), -1e-4, "holds a price that is not positive"),
        (("marketplace", "owners", 0, 2), 1.5, "holds a rented share outside 0..1"),
        (("marketplace", "owners", 0, 0), True, "marketplace.owners[0] is not a number"),
        (("marketplace", "dropped", "own"), -1, "marketplace.dropped.own is not a count"),
        (("marketplace", "listings"), 1.5, "marketplace.listings is not a count"),
        (("marketplace", "at"), None, "marketplace.at is not a number"),
        (("spot", "best_bid"), 0, "spot.best_bid is not positive"),
        (("spot", "rates_sent"), 1, "spot.rates_sent is not true or false"),
        (("tried", "spot", "failure"), ["x"], "tried.spot.failure is not [reason, what, line]"),
        (("tried", "spot"), 3, "tried.spot is not an object"),
    ],
)
def test_each_field_is_read_strictly(
    tmp_path: Path, path: tuple[str | int, ...], value: object, words: str
) -> None:
    doc = _valid(tmp_path)
    target: object = doc
    for part in path[:-1]:
        target = target[part]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    (tmp_path / STORE_NAME).write_text(json.dumps(doc))
    stored, problem = MarketStore(tmp_path).load()
    assert stored == Stored() and problem is not None and words in problem, problem


def test_dropped_must_name_every_reason(tmp_path: Path) -> None:
    doc = _valid(tmp_path)
    del doc["marketplace"]["dropped"]["outlier"]  # type: ignore[index]
    (tmp_path / STORE_NAME).write_text(json.dumps(doc))
    problem = MarketStore(tmp_path).load()[1]
    assert problem is not None and "does not name every reason" in problem


def test_an_oversized_file_is_not_read_whole(tmp_path: Path) -> None:
    (tmp_path / STORE_NAME).write_bytes(b" " * (MAX_BYTES + 10))
    problem = MarketStore(tmp_path).load()[1]
    assert problem is not None and f"larger than {MAX_BYTES} bytes" in problem


def test_an_unreadable_file_is_a_message(tmp_path: Path) -> None:
    (tmp_path / STORE_NAME).mkdir()
    stored, problem = MarketStore(tmp_path).load()
    assert stored == Stored() and problem is not None and "cannot be read" in problem


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MarketStore(tmp_path)
    store.save(STORED)

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        store.save(Stored())
    monkeypatch.undo()
    assert store.load() == (STORED, None)
    assert os.listdir(tmp_path) == [STORE_NAME]


def test_one_reader_at_a_time(tmp_path: Path) -> None:
    store = MarketStore(tmp_path)
    with store.reading() as first, MarketStore(tmp_path).reading() as second:
        assert (first, second) == ("held", "busy")
    with store.reading() as again:
        assert again == "held"
    with MarketStore(tmp_path / "missing").reading() as nowhere:
        assert nowhere == "unavailable"
