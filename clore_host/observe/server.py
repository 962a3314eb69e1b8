"""What `server_config` says about the four managed settings and the rental status.

The API answers in its own terms (rental status codes, prices per currency, availability and
visibility); this module turns them into the Facts' terms, and refuses to guess any of them.
The client has already refused values of the wrong JSON type (api.models), but for prices:
the service sends a map of prices by currency, holding currencies it has not implemented yet
(`"usd": null`, `"usd": "0"`), so only the configured currencies' are read, and here. Each
value must be plausible:

- a price: a JSON number (not a string, a bool or null), at least one unit of the currency
  (0.00000001 bitcoin), at most its plausible maximum (money.CURRENCY_UNITS; 1000 bitcoin),
  and, when the policy's rails are given, within RAILS_FACTOR times of them (at least a
  thousandth of the floor, at most a thousand times the ceiling; for a currency other than the
  policy's, of the rails converted into it); a price outside the rails but inside that margin
  is one set by hand, which the rails bring back in one write;
- mrl: the API's documented 6 to 3000 hours;
- availability and visibility, when both are sent, must say the same thing;
- rental_status: 0, 1 or 2.

With several currencies (the per-currency form, beyond the seed: current_prices), also
allowed_coins (the currencies the server takes), autoprice and the prices of the currencies
the agent does not manage, which it sends back as read.

Anything else is a ServerDataError (exit 4, one line, nothing written).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..api import ServerConfig
from ..api.errors import CloreError
from ..api.models import MRL_MAX as API_MRL_MAX
from ..api.models import MRL_MIN as API_MRL_MIN
from ..api.models import VISIBILITY_AVAILABLE
from ..facts import RentalStatus, Settings
from ..money import BITCOIN, CURRENCIES, CURRENCY_UNITS, CurrencyUnit, price_units

# The API's rental_status codes.
RENTAL_STATUS_BY_CODE: dict[int, RentalStatus] = {0: "not_rented", 1: "spot", 2: "on_demand"}
# Renters rent for 6 h to 3000 h: the API's documented limits, which the API client also
# keeps in what it sends (api.models.SetServerSettings).
MRL_MIN, MRL_MAX = API_MRL_MIN, API_MRL_MAX
SHOWN_MAX = 40  # characters of a value quoted from an answer
# A price more than this factor outside the rails is not one a person set by hand.
RAILS_FACTOR = 1000.0
BITCOIN_UNIT = CURRENCY_UNITS[BITCOIN]


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
    unit = CURRENCY_UNITS.get(currency, BITCOIN_UNIT)
    for field, label, price in (
        ("on_demand", "pricing", on_demand),
        ("spot", "spot_pricing", spot),
    ):
        bounds = rails.bounds(field) if rails is not None else None
        problem = price_problem(price, bounds, field, unit)
        if problem:
            raise ServerDataError(
                f"server_config {label}.{currency} {show_price(price, unit)} is implausible: "
                f"{problem}"
            )
    if not MRL_MIN <= config.mrl <= MRL_MAX:
        digits = str(config.mrl)
        shown = digits if len(digits) <= 12 else f"{digits[:6]}... ({len(digits)} digits)"
        raise ServerDataError(
            f"server_config mrl {shown} h is implausible: the API allows {MRL_MIN} to {MRL_MAX} h"
        )
    return Settings(on_demand=on_demand, spot=spot, availability=availability, mrl=config.mrl)


# -- the per-currency form (beyond the seed) ---------------------------------------------------

MAX_COINS = 16  # entries in allowed_coins; more is not a server's
KINDS = ("on_demand", "spot")
_MAPS = (("on_demand", "pricing"), ("spot", "spot_pricing"))


@dataclass(frozen=True)
class CurrentPrices:
    """What server_config says about the payment currencies, for the per-currency form.

    `managed`: each managed currency's prices by kind, read strictly (the reference's as
    current_settings reads them). `others`: the prices of the currencies the agent does not
    manage, exactly as read, to send back unchanged. `taken`: allowed_coins. `autoprice` and
    `usd_pricing`: as read when they are objects of the form public clients send (copied
    back), else None.
    """

    managed: Mapping[str, Mapping[str, float]]
    others: Mapping[str, Mapping[str, float]]
    taken: tuple[str, ...]
    autoprice: Mapping[str, Any] | None = None
    usd_pricing: Mapping[str, Any] | None = None


def current_prices(
    config: ServerConfig, currencies: Sequence[str], reference: str, rails: PriceRails | None
) -> CurrentPrices:
    """Every currency's prices as server_config reports them, for a server priced in
    `currencies` (the policy's in `reference`). Refuses to guess, as current_settings:

    - allowed_coins must be sent, a list of currency names, and autoprice, when sent, an
      object of currencies (ServerDataError); the caller has asked served_problem first
      whether the server takes every managed currency;
    - each managed currency's prices: JSON numbers, at least one unit of the currency and at
      most its plausible maximum (the reference's also within RAILS_FACTOR of the rails; the
      others' are checked against the rails converted, once the rates are known:
      converted_problem);
    - a currency the server takes but the agent does not manage must have both prices, JSON
      numbers above 0 (they are sent back as read: a write without them could zero them).
    """
    taken = _allowed_coins(config)
    autoprice = _autoprice(config)
    managed: dict[str, dict[str, float]] = {}
    for currency in currencies:
        if currency == reference:
            settings = current_settings(config, currency, rails)
            managed[currency] = {"on_demand": settings.on_demand, "spot": settings.spot}
        else:
            managed[currency] = _managed(config, currency)
    others: dict[str, dict[str, float]] = {}
    for currency in CURRENCIES:
        if currency in currencies:
            continue
        read = {kind: _price(getattr(config, label), label, currency) for kind, label in _MAPS}
        complete = all(v is not None and math.isfinite(v) and v > 0 for v in read.values())
        if complete:
            others[currency] = {k: v for k, v in read.items() if v is not None}
        elif currency in taken:
            lacking = ", ".join(
                f"{label}.{currency}" for kind, label in _MAPS if not _positive(read[kind])
            )
            raise ServerDataError(
                f"server_config lacks a price above 0 in {lacking}, a currency the server "
                "takes (allowed_coins): its prices are sent back as read, and there is none "
                "to send; refusing to guess"
            )
    usd = config.usd_pricing if _usd_pricing_form(config.usd_pricing) else None
    return CurrentPrices(managed, others, taken, _copied_autoprice(autoprice), usd)


def converted_problem(
    price: float, bounds: PriceBounds, field: str, currency: str, reference: str
) -> str | None:
    """Why a managed currency's current `price` is implausible against the rails converted
    into it (`bounds`), or None; see price_problem."""
    return price_problem(
        price, bounds, field, CURRENCY_UNITS[currency], f" (in {reference}, converted)"
    )


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _managed(config: ServerConfig, currency: str) -> dict[str, float]:
    """A managed currency's two prices, strictly: present, numbers, plausible in its unit."""
    read = {kind: _price(getattr(config, label), label, currency) for kind, label in _MAPS}
    lacking = [f"{label}.{currency}" for kind, label in _MAPS if read[kind] is None]
    if lacking:
        raise ServerDataError(f"server_config lacks {', '.join(lacking)}; refusing to guess")
    unit = CURRENCY_UNITS[currency]
    out: dict[str, float] = {}
    for kind, label in _MAPS:
        price = read[kind]
        assert price is not None
        problem = price_problem(price, None, kind, unit)
        if problem:
            raise ServerDataError(
                f"server_config {label}.{currency} {show_price(price, unit)} is implausible: "
                f"{problem}"
            )
        out[kind] = price
    return out


def _allowed_coins(config: ServerConfig) -> tuple[str, ...]:
    coins = config.allowed_coins
    if coins is None:
        raise ServerDataError(
            "server_config lacks allowed_coins (the currencies the server takes), which the "
            "per-currency form needs; refusing to guess"
        )
    if (
        not isinstance(coins, list)
        or len(coins) > MAX_COINS
        or not all(isinstance(c, str) and 0 < len(c) <= SHOWN_MAX for c in coins)
    ):
        raise ServerDataError(
            f"server_config allowed_coins is {_shown(coins)}, expected a list of currency names"
        )
    return tuple(dict.fromkeys(coins))


def served_problem(config: ServerConfig, currencies: Sequence[str]) -> str | None:
    """Why the agent cannot serve this server in `currencies`, or None: a currency it does
    not take (allowed_coins), or one whose price the service converts itself (autoprice
    on). A setting to change, not an implausible answer: the caller makes it exit 2.
    ServerDataError when allowed_coins or autoprice cannot be read."""
    taken = _allowed_coins(config)
    missing = [c for c in currencies if c not in taken]
    if missing:
        shown = ", ".join(_quoted(c) for c in taken) or "none"
        return (
            f"server.currencies names {', '.join(missing)}, which server "
            f"{_quoted(config.name)} does not take (its allowed_coins: {shown}): enable it in "
            "the CLORE.AI dashboard, or leave it out of server.currencies"
        )
    value = _autoprice(config) or {}
    on = [c for c in currencies if value.get(c) not in (None, False)]
    if on:
        return (
            f"server {_quoted(config.name)} has autoprice on for {', '.join(on)}: the service "
            "converts that price from USD itself, and the agent would fight it. Turn autoprice "
            "off for it in the CLORE.AI dashboard, or leave it out of server.currencies"
        )
    return None


def _autoprice(config: ServerConfig) -> dict[str, Any] | None:
    """autoprice as read: None when off or absent, else an object of currencies."""
    value = config.autoprice
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        raise ServerDataError(
            f"server_config autoprice is {_shown(value)}, expected an object of currencies "
            '({"bitcoin": false, ...})'
        )
    return value


def _copied_autoprice(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """autoprice to send back: as read when it is the public clients' {coin: "usd" | false}."""
    if value is None:
        return None
    shaped = all(isinstance(k, str) and (v is False or v == "usd") for k, v in value.items())
    return value if shaped else None


def _usd_pricing_form(value: object) -> bool:
    """Whether usd_pricing is the public clients' {coin: {on_demand, spot}} of numbers."""
    if not isinstance(value, dict) or not value:
        return False
    for prices in value.values():
        if not isinstance(prices, dict) or set(prices) != {"on_demand", "spot"}:
            return False
        for v in prices.values():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return False
    return True


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


def price_problem(
    price: float,
    bounds: PriceBounds | None,
    field: str,
    unit: CurrencyUnit = BITCOIN_UNIT,
    converted: str = "",
) -> str | None:
    """Why `price` (per day, whole server, in a currency of `unit`) is implausible, or None.
    `converted` names how `bounds` were made when they are the rails converted."""
    if not math.isfinite(price):
        return "not a finite number"
    if price < unit.unit:
        return f"below one unit of the currency ({show_price(unit.unit, unit)})"
    if price > unit.max_price:
        return f"above {unit.max_price:g}, more than any price per day can be"
    if bounds is not None:
        # (float noise aside: 0.00005 / 1000 is 5.000000000000001e-08)
        if price < bounds.floor / RAILS_FACTOR * (1 - 1e-9):
            return (
                f"below a thousandth of rails.{field}.floor{converted} "
                f"{show_price(bounds.floor, unit)} "
                "(a price that far outside the rails was not set by hand)"
            )
        if price > bounds.ceiling * RAILS_FACTOR * (1 + 1e-9):
            return (
                f"above a thousand times rails.{field}.ceiling{converted} "
                f"{show_price(bounds.ceiling, unit)} "
                "(a price that far outside the rails was not set by hand)"
            )
    return None


def show_price(price: float, unit: CurrencyUnit = BITCOIN_UNIT) -> str:
    """A price in a message: in fixed point when it is a plausible size, else as Python
    writes it (1e+308 is no use with 309 digits, nor 1e-300 as 0.00000000)."""
    if math.isfinite(price) and unit.unit <= abs(price) <= unit.max_price:
        return f"{price:.{unit.decimals}f}"
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
