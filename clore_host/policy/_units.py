"""Small parsers and formatters shared by the policy modules: percentages, durations, prices."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from ..duration import format_duration, parse_duration
from ..money import (
    MAX_PRICE,
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    UNIT,
    format_price,
    price_units,
    to_unit,
    unit_price,
)

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

SIGNIFICANT_DIGITS = 4  # of a metric or threshold in a plan line


def parse_percent(value: Any) -> float:
    """A percentage as written: "10%", "+5%", "-10%" or a plain number (already in percent)."""
    if isinstance(value, bool):
        raise ValueError('expected a percentage such as "10%" or 10')
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ValueError(
                "a percentage must be a finite number (this one is too large)"
            ) from None
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
