"""What `server_config` says about the four managed settings and the rental status.

The API answers in its own terms (rental status codes, prices per currency, availability and
visibility); this module turns them into the Facts' terms, and refuses to guess any of them.
The client has already refused values of the wrong JSON type (api.models), but for prices:
the service sends a map of prices by currency, holding currencies it has not implemented yet
(`"usd": null`, `"usd": "0"`), so only the configured currency's is read, and here. Each value
must be plausible:

- a price: a JSON number (not a string, a bool or null), at least one unit of the currency
  (0.00000001 bitcoin), at most MAX_PRICE, and, when the policy's rails are given, within
  RAILS_FACTOR times of them (at least a thousandth of the floor, at most a thousand times the
  ceiling); a price outside the rails but inside that margin is one set by hand, which the
  rails bring back in one write;
- mrl: the API's documented 6 to 3000 hours;
- availability and visibility, when both are sent, must say the same thing;
- rental_status: 0, 1 or 2.

Anything else is a ServerDataError (exit 4, one line, nothing written).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Protocol

from ..api import ServerConfig
from ..api.errors import CloreError
from ..api.models import MRL_MAX as API_MRL_MAX
from ..api.models import MRL_MIN as API_MRL_MIN
from ..api.models import VISIBILITY_AVAILABLE
from ..facts import RentalStatus, Settings
from ..money import MAX_PRICE, PRICE_DECIMALS, UNIT, price_units

# The API's rental_status codes.
RENTAL_STATUS_BY_CODE: dict[int, RentalStatus] = {0: "not_rented", 1: "spot", 2: "on_demand"}
# Renters rent for 6 h to 3000 h: the API's documented limits, which the API client also
# keeps in what it sends (api.models.SetServerSettings).
MRL_MIN, MRL_MAX = API_MRL_MIN, API_MRL_MAX
SHOWN_MAX = 40  # characters of a value quoted from an answer
# A price more than this factor outside the rails is not one a person set by hand.
RAILS_FACTOR = 1000.0


class ServerDataError(CloreError):
    """server_config answered, but without a value the agent needs (or with a nonsense one)."""

    headline = "inputs implausible, nothing changed"


class PriceBounds(Protocol):
    """A price's floor and ceiling (policy.schema.PriceBounds; observe does not import it)."""

    @property
    def floor(self) -> float: ...

    @property
    def ceiling(self) -> float: ...


class PriceRails(Protocol):
    """The policy's rails as far as plausibility goes (policy.schema.Rails)."""

    def bounds(self, field: str) -> PriceBounds: ...


def current_settings(
    config: ServerConfig, currency: str, rails: PriceRails | None = None
) -> Settings:
    """The four managed settings as server_config reports them; refuses to guess any, and
    refuses any that is implausible (see the module's docstring)."""
    missing: list[str] = []
    # Only this currency's prices are read: the others are never taken for prices.
    on_demand = _price(config.pricing, "pricing", currency)
    spot = _price(config.spot_pricing, "spot_pricing", currency)
    availability = _availability(config)
    if on_demand is None:
        missing.append(f"pricing.{currency}")
    if spot is None:
        missing.append(f"spot_pricing.{currency}")
    if availability is None:
        missing.append("availability/visibility")
    if config.mrl is None:
        missing.append("mrl")
    if missing:
        raise ServerDataError(f"server_config lacks {', '.join(missing)}; refusing to guess")
    assert on_demand is not None and spot is not None and availability is not None
    assert config.mrl is not None
    for field, label, price in (
        ("on_demand", "pricing", on_demand),
        ("spot", "spot_pricing", spot),
    ):
        problem = price_problem(price, rails.bounds(field) if rails is not None else None, field)
        if problem:
            raise ServerDataError(
                f"server_config {label}.{currency} {show_price(price)} is implausible: {problem}"
            )
    if not MRL_MIN <= config.mrl <= MRL_MAX:
        digits = str(config.mrl)
        shown = digits if len(digits) <= 12 else f"{digits[:6]}... ({len(digits)} digits)"
        raise ServerDataError(
            f"server_config mrl {shown} h is implausible: the API allows {MRL_MIN} to {MRL_MAX} h"
        )
    return Settings(on_demand=on_demand, spot=spot, availability=availability, mrl=config.mrl)


def _price(prices: Mapping[str, Any] | None, label: str, currency: str) -> float | None:
    """`currency`'s price in one of server_config's maps (`label`): None when it has none;
    ServerDataError when it is not a JSON number (a string, a bool, null, a list), or is one
    no float holds (10**400)."""
    if prices is None or currency not in prices:
        return None
    value = prices[currency]
    where = f"server_config {label}.{currency}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ServerDataError(f"{where} is {_shown(value)}, expected a number")
    try:
        return float(value)
    except OverflowError:
        raise ServerDataError(
            f"{where} is {_shown(value)}, expected a number of a plausible size"
        ) from None


def _shown(value: object) -> str:
    """A value from an answer as one short line of JSON."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):  # an integer of more digits than Python will write
        text = "a number too long to show"
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."


def _availability(config: ServerConfig) -> bool | None:
    """Whether the server is listed; ServerDataError when availability and visibility
    disagree or visibility is a word the API does not use."""
    if config.visibility is not None and config.visibility not in VISIBILITY_AVAILABLE:
        raise ServerDataError(
            f"server_config visibility {_quoted(config.visibility)} is implausible: "
            "expected public, hidden or private"
        )
    listed = VISIBILITY_AVAILABLE.get(config.visibility) if config.visibility else None
    if config.availability is not None and listed is not None and config.availability != listed:
        said = "true" if config.availability else "false"
        raise ServerDataError(
            f"server_config availability {said} disagrees with visibility "
            f"{_quoted(config.visibility)}; refusing to guess whether the server is listed"
        )
    return config.is_available()


def price_problem(price: float, bounds: PriceBounds | None, field: str) -> str | None:
    """Why `price` (per day, whole server) is implausible, or None."""
    if not math.isfinite(price):
        return "not a finite number"
    if price < UNIT:
        return f"below one unit of the currency ({UNIT:.{PRICE_DECIMALS}f})"
    if price > MAX_PRICE:
        return f"above {MAX_PRICE:g}, more than any price per day can be"
    if bounds is not None:
        # (float noise aside: 0.00005 / 1000 is 5.000000000000001e-08)
        if price < bounds.floor / RAILS_FACTOR * (1 - 1e-9):
            return (
                f"below a thousandth of rails.{field}.floor {show_price(bounds.floor)} "
                "(a price that far outside the rails was not set by hand)"
            )
        if price > bounds.ceiling * RAILS_FACTOR * (1 + 1e-9):
            return (
                f"above a thousand times rails.{field}.ceiling {show_price(bounds.ceiling)} "
                "(a price that far outside the rails was not set by hand)"
            )
    return None


def show_price(price: float) -> str:
    """A price in a message: in fixed point when it is a plausible size, else as Python
    writes it (1e+308 is no use with 309 digits, nor 1e-300 as 0.00000000)."""
    if math.isfinite(price) and UNIT <= abs(price) <= MAX_PRICE:
        return f"{price:.{PRICE_DECIMALS}f}"
    return repr(float(price))


def _quoted(text: str | None) -> str:
    shown = (text or "")[:40]
    return '"' + "".join(ch if ch.isprintable() else "?" for ch in shown) + '"'


def same_settings(a: Settings, b: Settings) -> bool:
    """Equal, comparing prices at the currency's unit (what went on the wire, and what the
    service stores)."""
    return (
        a.availability == b.availability
        and a.mrl == b.mrl
        and _same_price(a.on_demand, b.on_demand)
        and _same_price(a.spot, b.spot)
    )


def _same_price(a: float, b: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return price_units(a) == price_units(b)


def rental_status_of(config: ServerConfig) -> RentalStatus:
    status = RENTAL_STATUS_BY_CODE.get(config.rental_status)  # type: ignore[arg-type]
    if status is None:
        shown = "null" if config.rental_status is None else str(config.rental_status)[:12]
        raise ServerDataError(f"server_config rental_status is {shown}, expected 0, 1 or 2")
    return status
