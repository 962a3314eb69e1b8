"""Durations as people write them ("90s", "5m", "7h12m", "2d") and as the agent prints them."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(value: object) -> float:
    """Seconds in `value`: a number (seconds) or a string such as "5m", "1h30m", "2d".

    Raises ValueError with the accepted forms when `value` is none of them, and for a
    negative or infinite duration. Config, policy and scenario files all read durations here.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError('expected a duration such as 30, "90s", "5m", "1h30m" or "2d"')
    if isinstance(value, (int, float)):
        try:
            return _finite(float(value))
        except OverflowError:  # an integer of hundreds of digits
            raise ValueError("a duration must be a finite number of seconds") from None
    text = value.strip().replace(" ", "")
    if not text:
        raise ValueError("empty duration")
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _finite(seconds)
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(
            f"{value!r} is not a duration: use seconds (30) or units s, m, h, d, w "
            '("90s", "5m", "1h30m", "2d")'
        )
    return _finite(total)  # a part of hundreds of digits reads as infinity


def _finite(seconds: float) -> float:
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """A short readable form: 45s, 12m, 7h12m, 3d4h."""
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"
