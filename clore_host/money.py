"""Money: a price is a whole number of its currency's smallest unit.

Bitcoin's unit is one satoshi, 0.00000001 (the only currency set_server_settings' documented
form prices). The policy rounds its targets with these rules, the API's wire form writes them
(api/wire.py), settling compares at the unit (observe/server.py), and every human output
prints prices with `format_price`. Standard library only: every part may import it.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

__all__ = [
    "MAX_PRICE",
    "PRICE_DECIMALS",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_HALF_EVEN",
    "UNIT",
    "format_price",
    "price_text",
    "price_units",
    "to_unit",
    "unit_price",
]

PRICE_DECIMALS = 8  # bitcoin's smallest unit: 0.00000001
# No price per day for a whole server is plausible above this: rails beyond it are refused,
# and so is such a price from the API.
MAX_PRICE = 1000.0
# A float within a thousandth of a unit of a whole unit is that unit: 0.0001 * 0.9 is
# 9.000000000000001e-05, float noise, not a price a hundred-millionth of a unit higher.
_SNAP = Decimal("0.001")


def price_units(value: float, rounding: str = ROUND_HALF_EVEN) -> int:
    """`value` (finite) in whole units of the currency: the nearest, or rounded down
    (ROUND_FLOOR) or up (ROUND_CEILING) when it is not within float noise of a whole unit."""
    if not math.isfinite(value):
        raise ValueError(f"a price must be a finite number, not {value!r}")
    exact = Decimal(value).scaleb(PRICE_DECIMALS)
    nearest = exact.to_integral_value(ROUND_HALF_EVEN)
    if abs(exact - nearest) <= _SNAP:
        return int(nearest)
    return int(exact.to_integral_value(rounding))


def unit_price(units: int) -> float:
    """The float of `units` whole units: exactly what JSON's 0.00011000 reads back as."""
    return float(Decimal(units).scaleb(-PRICE_DECIMALS))


def to_unit(value: float) -> float:
    """`value` rounded to the nearest whole unit of the currency."""
    return unit_price(price_units(value))


UNIT = unit_price(1)  # 0.00000001


def price_text(value: float | Decimal) -> str:
    """The wire form of a price: its nearest whole unit in fixed point, e.g. 0.00011000."""
    units = price_units(float(value))
    return f"{Decimal(units).scaleb(-PRICE_DECIMALS):.{PRICE_DECIMALS}f}"


def format_price(value: float) -> str:
    """A price in fixed decimals of the currency, never in exponent notation: 5e-05 is
    0.00005000. The one price form of every human output: plan lines, reasons, history,
    status, the demo and `api`."""
    return f"{value:.{PRICE_DECIMALS}f}"
