"""The `[costs]`, `[fees]` and `[fx]` sections: what the rig costs, what the market keeps,
and the exchange rates that turn a power bill into the listing currency.

Percentages follow the policy's convention (policy._units.parse_percent): `"5%"` or `5` is
five percent, so `0.05` is a twentieth of a percent, not five. Money amounts are plain
numbers in their stated currency; currencies of costs are three-letter codes ("USD", "EUR").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..policy._errors import Loc, located
from ..policy._units import fmt_number, parse_percent
from ..policy.catalogue import WEEKDAYS
from .types import DAY, HOUR, Section, seconds

# The most a kWh or a day's fixed cost may plausibly be in any currency a bill is paid in:
# a larger number is a typo (a price in cents, a yearly sum), not a cost.
MAX_AMOUNT = 1_000_000.0

Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]


def percent(
    *, least: float, below: float | None = None, most: float | None = None, hint: str = ""
) -> Any:
    """A percentage in the config ("5%" or 5), at least `least`, and below `below` or at most
    `most`; `hint` follows the message for a value below `least`."""

    def parse(value: object) -> float:
        number = parse_percent(value)
        if number < least:
            raise ValueError(f"must be at least {fmt_number(least)}%{hint}")
        if below is not None and number >= below:
            raise ValueError(f"must be below {fmt_number(below)}%")
        if most is not None and number > most:
            raise ValueError(f"must be at most {fmt_number(most)}%")
        return number

    return BeforeValidator(parse)


_CODE = re.compile(r"[A-Za-z]{3}")


def _currency_code(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('expected a currency code such as "USD" (a string)')
    if not _CODE.fullmatch(value):
        raise ValueError(
            f'{value[:40]!r} is not a currency code: write its three letters, e.g. "USD" or "EUR"'
        )
    return value.upper()


Currency = Annotated[str, BeforeValidator(_currency_code)]


def rate_key(currency: str) -> str:
    """The name of `currency` in rates: `fx.<key>_usd` in the config, `fx.<key>_usd` facts, the
    keys of `fx.plausible`: "bitcoin" for bitcoin, "eur" for EUR."""
    return currency.lower()


# --- [costs] ---------------------------------------------------------------------------------


class Electricity(Section):
    """The price of a kWh outside any tariff window, and the currency of every kWh price."""

    price: Amount
    currency: Currency


class FixedCost(Section):
    """What the rig costs a day whatever it draws: internet, rent, wear."""

    per_day: Amount
    currency: Currency


def _weekdays(value: object) -> object:
    """Weekday names ("mon") or numbers (0 = Monday) -> numbers; others are left to report."""
    if not isinstance(value, list):
        return value
    out: list[object] = []
    for item in value:
        if isinstance(item, str) and item.strip().lower() in WEEKDAYS:
            out.append(WEEKDAYS.index(item.strip().lower()))
        elif isinstance(item, str):
            raise ValueError(f"{item[:20]!r} is not a weekday: use {', '.join(WEEKDAYS)} or 0-6")
        else:
            out.append(item)
    return out


class TariffWindow(Section):
    """A time-of-use price: `price` per kWh during `hours` (local, [start, end), wrapping past
    midnight when start > end: [22, 6] is 22:00 to 05:59) on `weekdays` (the weekday of the
    moment itself, local). Either may be left out: all day, every day."""

    hours: list[int] | None = None
    weekdays: (
        Annotated[list[Annotated[int, Field(ge=0, le=6)]], BeforeValidator(_weekdays)] | None
    ) = None
    price: Amount

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return value
        if len(value) != 2:
            raise ValueError("hours are [start, end], e.g. [17, 21] for 17:00 to 20:59")
        start, end = value
        if not 0 <= start <= 23:
            raise ValueError(f"the start hour {start} must be 0 to 23")
        if not 1 <= end <= 24:
            raise ValueError(f"the end hour {end} must be 1 to 24 (24: until midnight)")
        if start == end:
            raise ValueError("start and end are the same hour: leave `hours` out for all day")
        return value

    @field_validator("weekdays")
    @classmethod
    def _some_days(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not value:
            raise ValueError("an empty list of weekdays: leave `weekdays` out for every day")
        return value

    @model_validator(mode="after")
    def _limits_something(self) -> TariffWindow:
        if self.hours is None and self.weekdays is None:
            raise ValueError("a tariff window needs `hours`, `weekdays` or both")
        return self


PowerWindow = Annotated[float, seconds(least=HOUR, most=90 * DAY)]
Horizon = Annotated[float, seconds(least=HOUR, most=7 * DAY)]


class CostsSection(Section):
    # The price per kWh (outside the tariff's windows) and its currency. Without it the rig's
    # cost is not known: the cost facts are unknown ("costs.electricity not configured").
    electricity: Electricity | None = None
    # Time-of-use windows, first match wins; in the config's `timezone`, daylight saving
    # included. Prices in the electricity's currency.
    tariff: list[TariffWindow] = Field(default_factory=list)
    fixed: FixedCost | None = None
    # The host's own draw beside the GPUs (CPU, board, fans, disks), in W...
    overhead_w: float = Field(default=0.0, ge=0, le=100_000, allow_inf_nan=False)
    # ... and the power supply's efficiency: what the wall gives is the draw divided by it.
    # Below 50 % is a typo (0.92 is 0.92 %: write "92%").
    psu_efficiency: (
        Annotated[
            float, percent(least=50, most=100, hint=' (a plain number is percent: write "92%")')
        ]
        | None
    ) = None
    # "limit": the GPUs' power limits (the most a renter's job can draw); "measured": the 95th
    # percentile of their total draw while rented over `power_window` (the limit while the
    # history has too little of it).
    power: Literal["limit", "measured"] = "limit"
    power_window: PowerWindow = 7 * DAY
    # A rental is priced for a day and lasts at least 6 h: the tariff is averaged over the
    # coming `horizon`, so a rental started in the cheap hours still pays for the dear ones.
    horizon: Horizon = DAY

    @model_validator(mode="after")
    def _tariff_needs_electricity(self) -> CostsSection:
        if self.tariff and self.electricity is None:
            raise located(
                "CostsSection",
                [
                    (
                        ("tariff",),
                        "a tariff needs `electricity` (the price outside its windows and the "
                        "currency of its prices)",
                    )
                ],
                None,
            )
        return self

    def currencies(self) -> tuple[str, ...]:
        """The currencies costs are stated in (without repeats)."""
        found = [part.currency for part in (self.electricity, self.fixed) if part is not None]
        return tuple(dict.fromkeys(found))


# --- [fees] ----------------------------------------------------------------------------------

# CLORE.AI's host fees as its host-fee documentation gave them when checked (2026-11; see
# ../shared/clore-api-notes.md): 5 % of on-demand rentals, 1.25 % of spot rentals, and a 15 %
# hoster fee on rentals paid in BTC, USDT or USDC (none on CLORE). Holding or locking CLORE
# lowers them: a provider should confirm the current figures for the account and set them.
DEFAULT_ON_DEMAND_FEE = 5.0
DEFAULT_SPOT_FEE = 1.25
DEFAULT_SURCHARGE: dict[str, float] = {
    "bitcoin": 15.0,
    "USD-Blockchain": 15.0,
    "CLORE-Blockchain": 0.0,
}

Fee = Annotated[float, percent(least=0, below=100)]


class FeesSection(Section):
    """What the marketplace keeps of a rental: a fee per rental kind plus a surcharge per
    payment currency, both percentages of the gross price (they add up)."""

    on_demand: Fee = DEFAULT_ON_DEMAND_FEE
    spot: Fee = DEFAULT_SPOT_FEE
    # Per payment currency as the API names it; currencies left out keep their default.
    surcharge: dict[str, Fee] = DEFAULT_SURCHARGE

    @field_validator("surcharge")
    @classmethod
    def _over_defaults(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_SURCHARGE, **value}

    @model_validator(mode="after")
    def _something_left(self) -> FeesSection:
        problems: list[tuple[Loc, str]] = []
        worst = max(self.surcharge.values(), default=0.0)
        names = ", ".join(c for c, v in self.surcharge.items() if v == worst)
        for kind in ("on_demand", "spot"):
            fee = getattr(self, kind)
            if fee + worst >= 100:
                problems.append(
                    (
                        (kind,),
                        f"{fmt_number(fee)}% with the surcharge of {fmt_number(worst)}% "
                        f"({names}) leaves nothing of a rental: together they must stay "
                        "below 100%",
                    )
                )
        if problems:
            raise located("FeesSection", problems, None)
        return self

    def kept(self, kind: str, currency: str) -> float:
        """The share of a gross price (%) the market keeps of a `kind` rental paid in
        `currency`: the kind's fee plus the currency's surcharge (0 for one not listed)."""
        fee: float = getattr(self, kind)
        return fee + self.surcharge.get(currency, 0.0)


# --- [fx] ------------------------------------------------------------------------------------

# USD per unit, wide enough for years of history: a rate outside is a broken answer (a price
# in satoshi, a missing decimal point), not a market that moved.
DEFAULT_PLAUSIBLE: dict[str, tuple[float, float]] = {
    "bitcoin": (100.0, 10_000_000.0),
    "clore-blockchain": (0.00001, 100.0),
    "usd-blockchain": (0.5, 2.0),
    "eur": (0.5, 3.0),
    "gbp": (0.5, 4.0),
    "chf": (0.5, 3.0),
    "cad": (0.3, 2.0),
    "aud": (0.3, 2.0),
    "jpy": (0.002, 0.05),
    "cny": (0.05, 0.5),
    "inr": (0.005, 0.05),
    "czk": (0.02, 0.15),
    "pln": (0.1, 0.6),
    "sek": (0.05, 0.3),
    "nok": (0.05, 0.3),
    "dkk": (0.08, 0.4),
}

_RATE_KEY = re.compile(r"([a-z][a-z0-9-]*)_usd")
Rate = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False)]


def _a_date(value: object) -> object:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a date: write e.g. 2026-11-28") from None
    if hasattr(value, "hour"):  # a datetime: a date is what is meant
        raise ValueError("expected a date such as 2026-11-28, not a date and time")
    return value


def _a_range(value: object) -> object:
    if isinstance(value, list) and len(value) == 2:
        low, high = value
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            try:
                lo, hi = float(low), float(high)
            except OverflowError:
                raise ValueError("a number too large") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise ValueError(
                    "a plausible range is [low, high] with 0 < low < high, e.g. [100, 10000000]"
                )
            return (lo, hi)
    raise ValueError("a plausible range is [low, high] in USD, e.g. [100, 10000000]")


Range = Annotated[tuple[float, float], BeforeValidator(_a_range)]


class FxSection(Section):
    """Fixed exchange rates to USD (`bitcoin_usd = 95000`, `eur_usd = 1.08`) dated `as_of`,
    used when the market sends none; how old one may be; the sanity checks of every rate."""

    model_config = ConfigDict(extra="allow")  # merged over Section's: strict, frozen
    # Every key beyond the fields below is a rate `<currency>_usd` (see _rate_keys).
    __pydantic_extra__: dict[str, Rate] = Field(init=False)

    as_of: Annotated[date, BeforeValidator(_a_date)] | None = None
    # A fixed rate older than this (from the start of `as_of`, UTC) is unknown.
    max_age: Annotated[float, seconds(least=HOUR, most=365 * DAY)] = 7 * DAY
    # Per currency (as in the rate keys: "bitcoin", "eur"); merged over DEFAULT_PLAUSIBLE.
    plausible: dict[str, Range] = Field(default_factory=dict)
    # A rate further than this from the last one accepted within a day is rejected.
    max_move: Annotated[float, percent(least=0.1, most=1000)] = 20.0

    @model_validator(mode="before")
    @classmethod
    def _rate_keys(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        problems: list[tuple[Loc, str]] = []
        for key in data:
            if key in cls.model_fields:
                continue
            match = _RATE_KEY.fullmatch(str(key))
            if match is None:
                problems.append(
                    (
                        (str(key),),
                        "unknown key (not allowed here; a fixed rate is written "
                        "<currency>_usd, e.g. bitcoin_usd = 95000 or eur_usd = 1.08)",
                    )
                )
            elif match.group(1) == "usd":
                problems.append(((str(key),), "a dollar is always 1 USD: leave usd_usd out"))
        if problems:
            raise located("FxSection", problems, data)
        return data

    @model_validator(mode="after")
    def _rates_make_sense(self) -> FxSection:
        problems: list[tuple[Loc, str]] = []
        rates = self.rates()
        if rates and self.as_of is None:
            first = f"{next(iter(rates))}_usd"
            problems.append(((first,), "a fixed rate needs its date: as_of = 2026-11-28"))
        for currency, rate in rates.items():
            bounds = self.plausible_range(currency)
            if bounds is not None and not bounds[0] <= rate <= bounds[1]:
                problems.append(
                    (
                        (f"{currency}_usd",),
                        f"{fmt_number(rate)} is outside the plausible range "
                        f"{fmt_number(bounds[0])} to {fmt_number(bounds[1])} USD "
                        f"(fx.plausible.{currency})",
                    )
                )
        if problems:
            raise located("FxSection", problems, None)
        return self

    def rates(self) -> dict[str, float]:
        """The fixed rates, by currency key: {"bitcoin": 95000.0, "eur": 1.08}."""
        extra = self.model_extra or {}
        return {key.removesuffix("_usd"): float(value) for key, value in extra.items()}

    def plausible_range(self, currency: str) -> tuple[float, float] | None:
        """USD per unit a rate of `currency` (a rate key) must lie within; None: any."""
        return self.plausible.get(currency, DEFAULT_PLAUSIBLE.get(currency))
