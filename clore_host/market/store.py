"""The market summary kept in the state directory between runs (`market.json`).

The daemon and one-shot runs share it: a summary read within `market.interval` is not read
again, whichever process read it. It holds what the statistics are computed from (the owners'
votes and the counts of listings left out, not the listings), the spot summary with the
exchange rates as sent, each with its time, and when each read was last tried (and how it
failed), so a failing read is not retried before the interval either.

Written atomically (a temporary file, fsync, rename; mode 0600). A file that is not what this
module writes is reported in words and read as absent: the next read replaces it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .peers import REASONS, OwnerVote, Selection

STORE_NAME = "market.json"
LOCK_NAME = "market.lock"
VERSION = 1
MAX_BYTES = 4 * 1024 * 1024  # a summary is kilobytes: a larger file is not ours


class StoreDamaged(ValueError):
    """The summary file is not what this module writes."""


@dataclass(frozen=True)
class Tried:
    """The last read of an endpoint: when, for what (`key`), and how it failed (None: it did
    not): (reason, what, one line), reason being "read_failed" or "unreadable"."""

    at: float
    key: Any
    failure: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class StoredMarket:
    at: float  # when the marketplace answer was read
    key: Any  # the class, match, currency and server it was selected for
    selection: Selection


@dataclass(frozen=True)
class StoredSpot:
    at: float
    key: Any  # the server id
    offers: int
    best_bid: float | None
    unreadable: int
    rates_sent: bool
    rates: Any  # market.currency_rates_in_usd as sent


@dataclass(frozen=True)
class Stored:
    marketplace: StoredMarket | None = None
    spot: StoredSpot | None = None
    tried: dict[str, Tried] = field(default_factory=dict)


class MarketStore:
    """market.json in `state_dir`, and the lock a process holds while it reads the market."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / STORE_NAME

    def load(self) -> tuple[Stored, str | None]:
        """What is stored (empty if nothing is), and what is wrong with the file if it is
        damaged, in words (then it is read as empty)."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return Stored(), None
        except OSError as exc:
            return Stored(), f"market summary {self.path} cannot be read: {exc.strerror or exc}"
        try:
            if len(raw) > MAX_BYTES:
                raise StoreDamaged(f"larger than {MAX_BYTES} bytes")
            return _decode(raw), None
        except StoreDamaged as exc:
            return Stored(), f"market summary {self.path} is damaged ({exc}); it is read again"

    def save(self, stored: Stored) -> None:
        """Replace the file with `stored`, atomically (OSError when it cannot)."""
        # NaN is allowed for the rates, kept as sent (this module's own numbers are finite).
        data = json.dumps(_encode(stored), separators=(",", ":")).encode()
        tmp = self.path.with_name(f".{STORE_NAME}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                os.fchmod(fd, 0o600)  # O_TRUNC of a leftover keeps its mode
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename survives a crash once the dir is synced
            dir_fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def reading(self) -> Iterator[str]:
        """Hold the market lock while this process reads the API. Yields "held"; "busy"
        (waiting for nothing) when another process holds it: this run then reads nothing and
        uses what is stored; "unavailable" when the lock file cannot be opened (a read-only
        state directory): reading goes on, unshared."""
        try:
            fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            yield "unavailable"
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                yield "busy"
                return
            yield "held"
        finally:
            os.close(fd)  # releases the lock


# -- the file's form ------------------------------------------------------------------------


def _encode(stored: Stored) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": VERSION, "marketplace": None, "spot": None, "tried": {}}
    if stored.marketplace is not None:
        m = stored.marketplace
        doc["marketplace"] = {
            "at": m.at,
            "key": m.key,
            "owners": [[o.on_demand, o.spot, o.rented] for o in m.selection.owners],
            "dropped": dict(m.selection.dropped),
            "listings": m.selection.listings,
        }
    if stored.spot is not None:
        s = stored.spot
        doc["spot"] = {
            "at": s.at,
            "key": s.key,
            "offers": s.offers,
            "best_bid": s.best_bid,
            "unreadable": s.unreadable,
            "rates_sent": s.rates_sent,
            "rates": s.rates,
        }
    for name, tried in stored.tried.items():
        failure = list(tried.failure) if tried.failure is not None else None
        doc["tried"][name] = {"at": tried.at, "key": tried.key, "failure": failure}
    return doc


def _decode(raw: bytes) -> Stored:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise StoreDamaged("not JSON") from None
    obj = _object(doc, "the file")
    if obj.get("version") != VERSION:
        raise StoreDamaged(f"version is {obj.get('version')!r}, not {VERSION}")
    market = obj.get("marketplace")
    spot = obj.get("spot")
    tried = _object(obj.get("tried"), "tried")
    return Stored(
        marketplace=None if market is None else _market(_object(market, "marketplace")),
        spot=None if spot is None else _spot(_object(spot, "spot")),
        tried={name: _tried(_object(t, f"tried.{name}"), name) for name, t in tried.items()},
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StoreDamaged(f"{where} is not an object")
    return value


def _number(value: Any, where: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StoreDamaged(f"{where} is not a number")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreDamaged(f"{where} is not a count")
    return value


def _time(value: Any, where: str) -> float:
    at = _number(value, where)
    assert at is not None
    return at


def _market(obj: dict[str, Any]) -> StoredMarket:
    owners = obj.get("owners")
    if not isinstance(owners, list):
        raise StoreDamaged("marketplace.owners is not a list")
    votes = []
    for i, owner in enumerate(owners):
        where = f"marketplace.owners[{i}]"
        if not isinstance(owner, list) or len(owner) != 3:
            raise StoreDamaged(f"{where} is not [on_demand, spot, rented]")
        on_demand = _number(owner[0], where)
        assert on_demand is not None
        spot = _number(owner[1], where, optional=True)
        rented = _number(owner[2], where, optional=True)
        if on_demand <= 0 or (spot is not None and spot <= 0):
            raise StoreDamaged(f"{where} holds a price that is not positive")
        if rented is not None and not 0 <= rented <= 1:
            raise StoreDamaged(f"{where} holds a rented share outside 0..1")
        votes.append(OwnerVote(on_demand, spot, rented))
    dropped = _object(obj.get("dropped"), "marketplace.dropped")
    if set(dropped) != set(REASONS):
        raise StoreDamaged("marketplace.dropped does not name every reason")
    counts = {r: _count(dropped[r], f"marketplace.dropped.{r}") for r in REASONS}
    selection = Selection(tuple(votes), counts, _count(obj.get("listings"), "marketplace.listings"))
    return StoredMarket(_time(obj.get("at"), "marketplace.at"), obj.get("key"), selection)


def _spot(obj: dict[str, Any]) -> StoredSpot:
    best = _number(obj.get("best_bid"), "spot.best_bid", optional=True)
    if best is not None and best <= 0:
        raise StoreDamaged("spot.best_bid is not positive")
    sent = obj.get("rates_sent")
    if not isinstance(sent, bool):
        raise StoreDamaged("spot.rates_sent is not true or false")
    return StoredSpot(
        at=_time(obj.get("at"), "spot.at"),
        key=obj.get("key"),
        offers=_count(obj.get("offers"), "spot.offers"),
        best_bid=best,
        unreadable=_count(obj.get("unreadable"), "spot.unreadable"),
        rates_sent=sent,
        rates=obj.get("rates"),
    )


def _tried(obj: dict[str, Any], name: str) -> Tried:
    failure = obj.get("failure")
    if failure is not None and (
        not isinstance(failure, list)
        or len(failure) != 3
        or not all(isinstance(part, str) for part in failure)
    ):
        raise StoreDamaged(f"tried.{name}.failure is not [reason, what, line]")
    return Tried(
        _time(obj.get("at"), f"tried.{name}.at"),
        obj.get("key"),
        None if failure is None else (failure[0], failure[1], failure[2]),
    )
