"""Prices as the API takes them: whole units of the currency, written in fixed point.

Bitcoin's unit is one satoshi, 0.00000001 (the only currency set_server_settings' documented
form prices). A price goes on the wire as a decimal with at most PRICE_DECIMALS decimals and
never in exponent notation: `json.dumps` would write 5e-05 or 7.290000000000001e-05.

Standard library only; the policy package rounds with the same rule (policy/_units.py), since
it may not import the API.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

PRICE_DECIMALS = 8
UNIT = Decimal(1).scaleb(-PRICE_DECIMALS)  # 0.00000001
# A float within a thousandth of a unit of a whole unit is that unit: 0.0001 * 0.9 is
# 9.000000000000001e-05, float noise, not a price a hundred-millionth of a unit higher.
_SNAP = Decimal("0.001")

Rounding = str  # ROUND_HALF_EVEN (nearest), ROUND_FLOOR (down) or ROUND_CEILING (up)
__all__ = [
    "PRICE_DECIMALS",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_HALF_EVEN",
    "UNIT",
    "encode_json",
    "price_text",
    "price_units",
    "unit_price",
]


def price_units(value: float, rounding: Rounding = ROUND_HALF_EVEN) -> int:
    """`value` (finite) in whole units of the currency: the nearest, or rounded down or up
    when it is not within float noise of a whole unit."""
    if not math.isfinite(value):
        raise ValueError(f"a price must be a finite number, not {value!r}")
    exact = Decimal(value).scaleb(PRICE_DECIMALS)
    nearest = exact.to_integral_value(ROUND_HALF_EVEN)
    if abs(exact - nearest) <= _SNAP:
        return int(nearest)
    return int(exact.to_integral_value(rounding))


def unit_price(units: int) -> float:
    """The float nearest `units` whole units: what `json.loads` reads from its wire text."""
    return float(Decimal(units).scaleb(-PRICE_DECIMALS))


def price_text(value: float | Decimal) -> str:
    """The wire form of a price: its nearest whole unit in fixed point, e.g. 0.00011000."""
    units = price_units(float(value))
    return f"{Decimal(units).scaleb(-PRICE_DECIMALS):.{PRICE_DECIMALS}f}"


def encode_json(value: Any) -> bytes:
    """A request body as JSON: a Decimal (a price) in fixed point with at most PRICE_DECIMALS
    decimals, never a float in exponent notation; everything else as `json.dumps` writes it."""
    return _encode(value).encode("ascii")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return price_text(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a request body cannot carry a number that is not finite")
        return f"{Decimal(repr(value)):f}"  # its shortest digits, in fixed point
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"no JSON for {type(value).__name__}")
