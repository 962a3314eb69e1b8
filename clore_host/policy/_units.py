"""Small parsers and formatters shared by the policy modules: percentages, durations, prices."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from ..duration import format_duration, parse_duration

__all__ = [
    "MAX_PRICE",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_HALF_EVEN",
    "UNIT",
    "fmt_number",
    "format_duration",
    "format_price",
    "format_time",
    "parse_duration",
    "parse_percent",
    "price_units",
    "to_unit",
    "unit_price",
]

PRICE_DECIMALS = 8  # bitcoin's smallest unit: 0.00000001
SIGNIFICANT_DIGITS = 4  # of a metric or threshold in a plan line
# No price per day for a whole server is plausible above this: rails beyond it are refused
# (observe.server refuses such a price from the API by the same figure).
MAX_PRICE = 1000.0
# A float within a thousandth of a unit of a whole unit is that unit (float noise: 0.0001 *
# 0.9 is 9.000000000000001e-05). The same rule as api/wire.py, which this package may not
# import.
_SNAP = Decimal("0.001")


def price_units(value: float, rounding: str = ROUND_HALF_EVEN) -> int:
    """`value` (finite) in whole units of the currency (satoshi): the nearest, or rounded
    down (ROUND_FLOOR) or up (ROUND_CEILING) when it is not within float noise of one."""
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


def parse_percent(value: Any) -> float:
    """A percentage as written: "10%", "+5%", "-10%" or a plain number (already in percent)."""
    if isinstance(value, bool):
        raise ValueError('expected a percentage such as "10%" or 10')
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        text = text.removesuffix("%")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f'{value!r} is not a percentage: write e.g. "10%", "+5%" or "-10%"'
            ) from None
    else:
        raise ValueError('expected a percentage such as "10%" or 10')
    if not math.isfinite(number):
        raise ValueError("a percentage must be a finite number")
    return number


def format_price(value: float) -> str:
    """A price in fixed decimals of the currency, never in exponent notation: 5e-05 is
    0.00005000. The one price form of every human output: plan lines, reasons, history,
    status, the demo and `api`."""
    return f"{value:.{PRICE_DECIMALS}f}"


def format_time(when: float) -> str:
    """A moment in UTC, as a person reads it in a message: 2026-01-02 03:04:05 UTC."""
    try:
        moment = datetime.fromtimestamp(when, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return fmt_number(when)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_number(value: float) -> str:
    """A metric or threshold as people write it: 3, 87.5, 0.25, 20480, 0.00001. Up to
    SIGNIFICANT_DIGITS significant digits (all of a number's whole digits), in fixed point,
    never in exponent notation; a whole number as an integer."""
    number = float(value)
    if not math.isfinite(number):
        return str(number)  # nan, inf, -inf
    if number.is_integer():
        return str(int(number))
    magnitude = math.floor(math.log10(abs(number)))
    decimals = max(0, SIGNIFICANT_DIGITS - 1 - magnitude)
    text = f"{number:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
