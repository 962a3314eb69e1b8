"""Money: a price is a whole number of its currency's smallest unit.

Bitcoin's unit is one satoshi, 0.00000001 (the only currency set_server_settings' documented
form prices, and the policy's: its rails and targets are whole satoshis). The policy rounds
its targets with these rules, the API's wire form writes them (api/wire.py), settling compares
at the unit (observe/server.py), and every human output prints prices with `format_price`.

The other payment currencies the live service takes (beyond the seed) have their own units,
in CURRENCY_UNITS; each function takes `decimals` for them and defaults to bitcoin's.
Standard library only: every part may import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

__all__ = [
    "BITCOIN",
    "CLORE",
    "CURRENCIES",
    "CURRENCY_UNITS",
    "MAX_PRICE",
    "PRICE_DECIMALS",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_HALF_EVEN",
    "UNIT",
    "USD_COIN",
    "CurrencyUnit",
    "format_price",
    "price_text",
    "price_units",
    "to_unit",
    "unit_of",
    "unit_price",
]

PRICE_DECIMALS = 8  # bitcoin's smallest unit: 0.00000001
# No price per day for a whole server is plausible above this: rails beyond it are refused,
# and so is such a price from the API.
MAX_PRICE = 1000.0
# A float within a thousandth of a unit of a whole unit is that unit: 0.0001 * 0.9 is
# 9.000000000000001e-05, float noise, not a price a hundred-millionth of a unit higher.
_SNAP = Decimal("0.001")


@dataclass(frozen=True)
class CurrencyUnit:
    """A payment currency's smallest unit (10**-decimals) and the most a day's price for a
    whole server can plausibly be in it (a larger one is a broken answer, not a price)."""

    decimals: int
    max_price: float

    @property
    def unit(self) -> float:
        return unit_price(1, self.decimals)


# The payment currencies as the live service names them (see ../shared/clore-api-notes.md).
BITCOIN = "bitcoin"
CLORE = "CLORE-Blockchain"
USD_COIN = "USD-Blockchain"
CURRENCIES = (BITCOIN, CLORE, USD_COIN)
# Each currency's smallest unit on its own chain. Assumed, not documented by the service: only
# bitcoin's 8 decimals appear in the seed. CLORE is a Ravencoin-derived chain (8 decimals, as
# bitcoin); the USD coins (USDT, USDC) have 6. The maxima are far beyond any day's price of a
# server, and keep every whole unit exact in a float (under 2**53 units: about 9e7 at 8
# decimals), as prices travel as floats between the decision and the wire.
CURRENCY_UNITS: dict[str, CurrencyUnit] = {
    BITCOIN: CurrencyUnit(PRICE_DECIMALS, MAX_PRICE),
    CLORE: CurrencyUnit(8, 10_000_000.0),
    USD_COIN: CurrencyUnit(6, 10_000_000.0),
}


def unit_of(currency: str) -> CurrencyUnit:
    """`currency`'s unit; KeyError names the currencies known."""
    try:
        return CURRENCY_UNITS[currency]
    except KeyError:
        known = ", ".join(CURRENCIES)
        raise KeyError(f"no unit known for currency {currency!r} (known: {known})") from None


def price_units(
    value: float, rounding: str = ROUND_HALF_EVEN, decimals: int = PRICE_DECIMALS
) -> int:
    """`value` (finite) in whole units of the currency (10**-decimals): the nearest, or
    rounded down (ROUND_FLOOR) or up (ROUND_CEILING) when it is not within float noise of a
    whole unit."""
    if not math.isfinite(value):
        raise ValueError(f"a price must be a finite number, not {value!r}")
    exact = Decimal(value).scaleb(decimals)
    nearest = exact.to_integral_value(ROUND_HALF_EVEN)
    if abs(exact - nearest) <= _SNAP:
        return int(nearest)
    return int(exact.to_integral_value(rounding))


def unit_price(units: int, decimals: int = PRICE_DECIMALS) -> float:
    """The float of `units` whole units: exactly what JSON's 0.00011000 reads back as."""
    return float(Decimal(units).scaleb(-decimals))


def to_unit(value: float, decimals: int = PRICE_DECIMALS) -> float:
    """`value` rounded to the nearest whole unit of the currency."""
    return unit_price(price_units(value, decimals=decimals), decimals)


UNIT = unit_price(1)  # 0.00000001


def price_text(value: float | Decimal, decimals: int = PRICE_DECIMALS) -> str:
    """The wire form of a price: its nearest whole unit in fixed point, e.g. 0.00011000."""
    units = price_units(float(value), decimals=decimals)
    return f"{Decimal(units).scaleb(-decimals):.{decimals}f}"


def format_price(value: float, decimals: int = PRICE_DECIMALS) -> str:
    """A price in fixed decimals of the currency, never in exponent notation: 5e-05 is
    0.00005000. The one price form of every human output: plan lines, reasons, history,
    status, the demo and `api`."""
    return f"{value:.{decimals}f}"
