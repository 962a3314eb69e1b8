"""Prices as the API takes them: whole units of the currency, written in fixed point.

Bitcoin's unit is one satoshi, 0.00000001 (the only currency set_server_settings' documented
form prices); the per-currency form's other currencies have their own (money.CURRENCY_UNITS).
A price is a Decimal, made by the request models (api/models.py) as a whole unit of its
currency with all its decimals (0.00011000), and goes on the wire as it is, never in exponent
notation: `json.dumps` would write 5e-05 or 7.290000000000001e-05.

The units themselves are clore_host.money's, which the policy rounds with too.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def encode_json(value: Any) -> bytes:
    """A request body as JSON: a Decimal (a price) in fixed point with at most PRICE_DECIMALS
    decimals, never a float in exponent notation; everything else as `json.dumps` writes it."""
    return _encode(value).encode("ascii")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        # As it is: a price the models made (a whole unit of its currency, its decimals all
        # written: 0.00011000) or one read and copied back (its digits as read).
        if not value.is_finite():
            raise ValueError("a request body cannot carry a number that is not finite")
        return f"{value:f}"
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
