"""The `[market]` section: how often the market is read, and which listings are peers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .types import DAY, HOUR, Section, seconds

MINUTE = 60.0


class MarketSection(Section):
    # `marketplace` is megabytes: read it at most this often (daemon and one-shot runs share
    # the summary kept in the state directory).
    interval: Annotated[float, seconds(least=MINUTE, most=DAY)] = 15 * MINUTE
    # A summary older than this makes every market fact unknown.
    max_age: Annotated[float, seconds(least=MINUTE, most=7 * DAY)] = HOUR
    # "model_and_count": listings with this server's GPU model and count; "model": any count,
    # their per-GPU prices times this server's count.
    match: Literal["model_and_count", "model"] = "model_and_count"
    # Fewer distinct owners than this (after outliers are dropped): market facts unknown.
    min_peers: int = Field(default=5, ge=1, le=1000)
