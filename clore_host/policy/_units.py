"""Small parsers and formatters shared by the policy modules: percentages, durations, prices."""

from __future__ import annotations

import math
from typing import Any

from ..duration import format_duration, parse_duration

__all__ = [
    "fmt_number",
    "fmt_price",
    "format_duration",
    "format_price",
    "parse_duration",
    "parse_percent",
]

PRICE_DECIMALS = 8  # bitcoin's smallest unit: 0.00000001


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
    0.00005000. For every human output but the plan lines (see fmt_price)."""
    return f"{value:.{PRICE_DECIMALS}f}"


def fmt_price(value: float) -> str:
    """A price in a plan line: at least 6 decimals, more when they count (0.000040, 0.0000396,
    12.500000), never in exponent notation. The plan lines' documented form."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.12f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(6, '0')}"


def fmt_number(value: float) -> str:
    """A metric or threshold as people write it: 3, 87.5, 0.25."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"
