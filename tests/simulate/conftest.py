"""Market files for the simulator tests: a shipped one with changes laid over it."""

from __future__ import annotations

import copy
import sys
from typing import Any

from clore_host.simulate.market_file import MarketFile, parse_market, resolve_market

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def market_data(name: str = "steady") -> dict[str, Any]:
    with open(resolve_market(name), "rb") as f:
        return tomllib.load(f)


def market(name: str = "steady", **changes: dict[str, Any]) -> MarketFile:
    """A shipped market with each section's keys in `changes` replaced."""
    data = copy.deepcopy(market_data(name))
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    return parse_market(data, f"<{name} with changes>")
