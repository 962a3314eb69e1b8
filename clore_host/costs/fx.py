"""Exchange rates to USD: from the market when it sends them, else the config's fixed rates;
and the sanity checks every market rate passes before it is used.

A bad exchange-rate answer is the classic way host tools listed at nonsense prices, so a
market rate that is not a positive number, lies outside `fx.plausible`, or moved more than
`fx.max_move` from the last rate accepted within a day is rejected: the rate is unknown
(Unknown("rate_rejected", (currency, what was sent, why))), and no fixed rate stands in for a
market that answered nonsense. A market that sends no rate (or whose rates are older than
`market.max_age`) leaves the fixed rate, until `fx.max_age` after its `as_of` date.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timezone
from decimal import Decimal
from typing import Any, Literal

from ..config.costs import FxSection, rate_key
from ..duration import format_duration
from ..facts import Unknown
from ..money import USD_COIN

DAY = 86400.0
USD = "usd"
MAX_TEXT = 40  # of a sent value, in a reason


USD_COIN_KEY = rate_key(USD_COIN)  # the USD coins (USDT, USDC): 1 USD unless told


@dataclass(frozen=True)
class Accepted:
    """A market rate that passed the checks, and when the market gave it."""

    rate: float
    at: float


@dataclass(frozen=True)
class RateSeen:
    """One currency's rate to USD this cycle, and where it came from."""

    currency: str  # as a rate key: "bitcoin", "eur"
    value: float | Unknown  # USD per unit
    source: Literal["usd", "market", "config", "assumed", "none"]
    sent: Any = None  # what the market sent for it, JSON-able (None: nothing)
    as_of: str | None = None  # the fixed rate's date, when the config's rate is used
    accepted: Accepted | None = None  # a market rate accepted now: the next "last accepted"


def fmt_number(value: float, digits: int = 10) -> str:
    """A number in fixed point to `digits` significant digits, never in exponent notation:
    95000, 0.14, 10000000, 9900."""
    text = format(Decimal(f"{value:.{digits}g}"), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def sent_text(value: object) -> str:
    """A sent value, short, as a reason shows it: 0, -5, "abc", [1, 2]."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**40 else 41
        return str(value) if digits <= MAX_TEXT else f"an integer of {digits}+ digits"
    if isinstance(value, float):
        return fmt_number(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        short = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."
        return repr(short)
    if isinstance(value, list):
        return "a list"
    return "a table" if isinstance(value, Mapping) else f"a {type(value).__name__}"


def jsonable(value: object, depth: int = 0) -> Any:
    """What the market sent, as JSON keeps it: finite numbers and short strings as they are,
    anything else as its text (so a record can be written and read back)."""
    if value is None or isinstance(value, (bool, str)):
        return value[: 4 * MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, Mapping) and depth == 0:
        items = list(value.items())[:20]
        return {str(k)[:MAX_TEXT]: jsonable(v, depth + 1) for k, v in items}
    return sent_text(value)


def check_sent(
    currency: str,
    raw: object,
    *,
    plausible: tuple[float, float] | None,
    last: Accepted | None,
    max_move: float,
    at: float,
) -> float | Unknown:
    """A rate the market sent at `at`, or why it is rejected."""

    def rejected(why: str) -> Unknown:
        return Unknown("rate_rejected", (currency, sent_text(raw), why))

    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return rejected("not a number")
    try:
        value = float(raw)
    except OverflowError:
        return rejected("not a finite number")
    if not math.isfinite(value):
        return rejected("not a finite number")
    if value <= 0:
        return rejected("not a positive number")
    if plausible is not None and not plausible[0] <= value <= plausible[1]:
        low, high = (fmt_number(v) for v in plausible)
        return rejected(f"outside the plausible range {low} to {high} USD (fx.plausible)")
    # Within a day of the last accepted rate (either way: a clock set back counts too).
    if last is not None and abs(at - last.at) <= DAY:
        move = abs(value / last.rate - 1.0) * 100.0
        if move > max_move:
            return rejected(
                f"{fmt_number(move)}% from {fmt_number(last.rate)} accepted "
                f"{format_duration(abs(at - last.at))} before (fx.max_move {fmt_number(max_move)}%)"
            )
    return value


def as_of_time(fx: FxSection) -> float | None:
    """The start (UTC) of the fixed rates' `as_of` day."""
    if fx.as_of is None:
        return None
    return datetime.combine(fx.as_of, time(0), tzinfo=timezone.utc).timestamp()


def fixed_rate(currency: str, fx: FxSection, now: float) -> float | Unknown:
    """The config's fixed rate of `currency`, while it is not older than fx.max_age."""
    rate = fx.rates().get(currency)
    since = as_of_time(fx)
    if rate is None or since is None:
        return Unknown(
            "rate_unknown",
            (currency, f"the market sent none and the config has no fx.{currency}_usd"),
        )
    age = now - since
    if age > fx.max_age:
        return Unknown(
            "rate_unknown",
            (
                currency,
                f"the fixed rate of {fx.as_of} is older than fx.max_age "
                f"({format_duration(fx.max_age)})",
            ),
        )
    if age < -DAY:
        return Unknown("rate_unknown", (currency, f"the fixed rate is dated {fx.as_of}, ahead"))
    return rate


def resolve(
    currency: str,
    sent: object,
    *,
    fresh: bool,
    at: float,
    fx: FxSection,
    last: Accepted | None,
    now: float,
) -> RateSeen:
    """The rate of `currency` (any spelling: "bitcoin", "EUR") to USD this cycle.

    `sent` is the market's `currency_rates_in_usd` exactly as it came (None: not sent), read
    at `at`; `fresh` says whether it is recent enough to use (else the fixed rate serves).
    `last` is the last market rate accepted for the currency.
    """
    key = rate_key(currency)
    if key == USD:
        return RateSeen(key, 1.0, "usd")
    if sent is not None and fresh:
        if not isinstance(sent, Mapping):
            why = Unknown("rate_rejected", (key, sent_text(sent), "the rates sent are not a table"))
            return RateSeen(key, why, "market", jsonable(sent))
        found = [v for k, v in sent.items() if isinstance(k, str) and rate_key(k) == key]
        if len(found) > 1:
            texts = ", ".join(sent_text(v) for v in found)
            why = Unknown("rate_rejected", (key, texts, "sent more than once"))
            return RateSeen(key, why, "market", [jsonable(v, 1) for v in found])
        if found:
            value = check_sent(
                key,
                found[0],
                plausible=fx.plausible_range(key),
                last=last,
                max_move=fx.max_move,
                at=at,
            )
            accepted = None if isinstance(value, Unknown) else Accepted(value, at)
            return RateSeen(key, value, "market", jsonable(found[0], 1), accepted=accepted)
    value = fixed_rate(key, fx, now)
    if isinstance(value, Unknown) and key not in fx.rates():
        if key == USD_COIN_KEY:
            # A USD stablecoin with no rate sent or configured: 1 USD (an assumption, said in
            # the README). One the market sent and the checks rejected stays unknown above.
            return RateSeen(key, 1.0, "assumed")
        return RateSeen(key, value, "none")
    return RateSeen(key, value, "config", as_of=None if fx.as_of is None else str(fx.as_of))
