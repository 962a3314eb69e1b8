"""Prices in every payment currency the server takes, from the plan's reference prices.

The policy and its rails decide one price per rental kind in the reference currency. Each
other currency gets the gross price that nets the same after its fees:

    price_c = price_ref * (usd_ref / usd_c) * (1 - kept_ref) / (1 - kept_c)

where usd_x is USD per unit of x and kept_x the share of a gross price the market keeps of
that rental kind paid in x (the kind's fee plus x's surcharge, in percent). The result is
rounded to the nearest whole unit of c, then clamped into the rails converted the same way
(the floor rounded up, the ceiling rounded down), so no price on the wire is outside them.
The arithmetic is exact (fractions of the inputs as given), so the edges are too.

A currency whose rate is unknown (or when the reference's is) cannot be converted: its prices
are held where they are, so none moves down on a guess, and the reason says why. The other
currencies are converted as usual.

Pure: data in (prices, rates, fees, units), a CurrencyPlan out. Reasons are data, put into
words only where shown (`explain`, `words`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, TypeGuard

from ..facts import Unknown
from ..money import (
    BITCOIN,
    CLORE,
    CURRENCIES,
    CURRENCY_UNITS,
    USD_COIN,
    format_price,
    unit_of,
    unit_price,
)
from ._units import fmt_number
from .catalogue import unknown_words

__all__ = [
    "BITCOIN",
    "CLORE",
    "CURRENCIES",
    "CURRENCY_UNITS",
    "KINDS",
    "USD_COIN",
    "CurrencyPlan",
    "CurrencyPrice",
    "CurrencyReason",
    "convert",
    "factor",
    "unchanged",
    "unit_of",
]

KINDS = ("on_demand", "spot")

# Each reason and what its `why` holds:
#   reference (): the reference currency: the plan's own price
#   converted (reference price, usd per unit of the reference, usd per unit of this currency,
#       kept % of the reference, kept % of this currency): the conversion, before the rails
#   floor (edge, reference floor), ceiling (edge, reference ceiling): clamped to the rails
#       converted into this currency
#   rate_unknown () + unknown: held, the conversion needs a rate that is unknown
#   no_room (floor, ceiling): held, the rails converted leave no whole unit between them
ReasonName = Literal["reference", "converted", "floor", "ceiling", "rate_unknown", "no_room"]


@dataclass(frozen=True)
class CurrencyReason:
    """Why one currency's price is what it is, as data."""

    reason: ReasonName
    why: tuple[float, ...] = ()
    unknown: Unknown | None = None
    rate_of: str | None = None  # rate_unknown: whose rate (this currency's or the reference's)

    def words(self, currency: str, reference: str) -> str:
        why, decimals = self.why, unit_of(currency).decimals
        if self.reason == "reference":
            return "the reference currency: the plan's price"
        if self.reason == "converted":
            price, usd_ref, usd_c, kept_ref, kept_c = why
            return (
                f"converted from {_price(price, reference)} {reference} at "
                f"{fmt_number(usd_ref)} / {fmt_number(usd_c)} USD, nets the same after fees of "
                f"{fmt_number(kept_ref)}% / {fmt_number(kept_c)}%"
            )
        if self.reason in ("floor", "ceiling"):
            return (
                f"clamped to {self.reason} {_price(why[0], currency, decimals)} "
                f"(the rails' {_price(why[1], reference)} {reference} converted)"
            )
        if self.reason == "rate_unknown":
            whose = self.rate_of or currency
            unknown = self.unknown or Unknown("not_observed")
            said = unknown_words(unknown)
            if not unknown.reason.startswith("rate_"):
                said = f"{whose} rate {said}"
            return f"held: no conversion without the {whose} rate: {said}"
        return (
            f"held: the rails converted into {currency} leave no whole unit between "
            f"{_price(why[0], currency, decimals)} and {_price(why[1], currency, decimals)}"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "why": list(self.why)}
        if self.unknown is not None:
            out["unknown"] = {"reason": self.unknown.reason, "values": list(self.unknown.values)}
        if self.rate_of is not None:
            out["rate_of"] = self.rate_of
        return out


@dataclass(frozen=True)
class CurrencyPrice:
    """One currency's price of one rental kind: where it is, where it goes, and why."""

    currency: str
    kind: str
    current: float
    target: float
    reasons: tuple[CurrencyReason, ...]

    @property
    def changed(self) -> bool:
        return self.target != self.current

    @property
    def held(self) -> bool:
        """Held where it is: the conversion could not be made (or had no room)."""
        return any(r.reason in ("rate_unknown", "no_room") for r in self.reasons)

    def explain(self, reference: str) -> str:
        decimals = unit_of(self.currency).decimals
        now = _price(self.current, self.currency, decimals)
        if self.changed:
            head = f"{self.currency} {self.kind} {now} -> {_price(self.target, self.currency)}"
        else:
            head = f"{self.currency} {self.kind} {now} unchanged"
        why = "; ".join(r.words(self.currency, reference) for r in self.reasons)
        return f"{head}: {why}" if why else head

    def to_dict(self, reference: str) -> dict[str, Any]:
        return {
            "current": self.current,
            "target": self.target,
            "changed": self.changed,
            "reasons": [r.to_dict() for r in self.reasons],
            "words": [r.words(self.currency, reference) for r in self.reasons],
        }


@dataclass(frozen=True)
class CurrencyPlan:
    """Every managed currency's prices, by currency then rental kind."""

    reference: str
    prices: Mapping[str, Mapping[str, CurrencyPrice]]

    def target(self, currency: str, kind: str) -> float:
        return self.prices[currency][kind].target

    @property
    def changed(self) -> bool:
        return any(p.changed for kinds in self.prices.values() for p in kinds.values())

    def table(self, which: Literal["current", "target"]) -> dict[str, dict[str, float]]:
        """The prices before (`current`) or after (`target`), by currency then kind."""
        return {
            currency: {kind: getattr(p, which) for kind, p in kinds.items()}
            for currency, kinds in self.prices.items()
        }

    def explain(self) -> list[str]:
        """One line per currency and kind, the reference first."""
        return [p.explain(self.reference) for kinds in self.prices.values() for p in kinds.values()]

    def reasons(self) -> list[str]:
        """The lines of the prices that change, and of those held (why they did not follow),
        for the audit trail."""
        return [
            p.explain(self.reference)
            for kinds in self.prices.values()
            for p in kinds.values()
            if p.changed or p.held
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "prices": {
                currency: {kind: p.to_dict(self.reference) for kind, p in kinds.items()}
                for currency, kinds in self.prices.items()
            },
            "explain": self.explain(),
        }


def unchanged(reference: str, current: Mapping[str, Mapping[str, float]]) -> CurrencyPlan:
    """The prices as they are, when no write goes out."""
    prices = {
        currency: {
            kind: CurrencyPrice(currency, kind, kinds[kind], kinds[kind], ()) for kind in KINDS
        }
        for currency, kinds in current.items()
    }
    return CurrencyPlan(reference, prices)


def factor(
    currency: str,
    kind: str,
    *,
    reference: str,
    rates: Mapping[str, float | Unknown],
    kept: Mapping[str, Mapping[str, float]],
) -> Fraction | None:
    """What a reference price of `kind` is multiplied by to be `currency`'s gross price that
    nets the same, exactly; None when a rate it needs is unknown."""
    if currency == reference:
        return Fraction(1)
    usd_ref, usd_c = rates.get(reference), rates.get(currency)
    if not (_usable(usd_ref) and _usable(usd_c)):
        return None
    kept_ref, kept_c = kept[reference][kind], kept[currency][kind]
    return (
        Fraction(usd_ref) / Fraction(usd_c) * (100 - Fraction(kept_ref)) / (100 - Fraction(kept_c))
    )


def convert(
    target: Mapping[str, float],
    *,
    reference: str,
    currencies: Sequence[str],
    rates: Mapping[str, float | Unknown],
    kept: Mapping[str, Mapping[str, float]],
    decimals: Mapping[str, int],
    rails: Mapping[str, tuple[float, float]],
    current: Mapping[str, Mapping[str, float]],
) -> CurrencyPlan:
    """Each currency's price of each rental kind (KINDS) for the reference prices `target`.

    `rates`: USD per unit of each currency (a number, or Unknown with why); `kept`: per
    currency and kind, the percent the market keeps; `decimals`: each currency's unit
    (10**-decimals); `rails`: per kind, the (floor, ceiling) in the reference currency;
    `current`: each currency's prices now. `currencies` lists the managed currencies, the
    reference among them.
    """
    if reference not in currencies:
        raise ValueError(f"the reference currency {reference!r} is not among {list(currencies)}")
    prices: dict[str, dict[str, CurrencyPrice]] = {}
    for currency in currencies:
        prices[currency] = {
            kind: _one(
                currency,
                kind,
                target[kind],
                reference=reference,
                rates=rates,
                kept=kept,
                decimals=decimals[currency],
                rails=rails[kind],
                current=current[currency][kind],
            )
            for kind in KINDS
        }
    return CurrencyPlan(reference, prices)


def _one(
    currency: str,
    kind: str,
    price: float,
    *,
    reference: str,
    rates: Mapping[str, float | Unknown],
    kept: Mapping[str, Mapping[str, float]],
    decimals: int,
    rails: tuple[float, float],
    current: float,
) -> CurrencyPrice:
    def done(target: float, *reasons: CurrencyReason) -> CurrencyPrice:
        return CurrencyPrice(currency, kind, current, target, reasons)

    by = factor(currency, kind, reference=reference, rates=rates, kept=kept)
    if by is None:
        whose = currency if not _usable(rates.get(currency)) else reference
        rate = rates.get(whose)
        unknown = rate if isinstance(rate, Unknown) else Unknown("not_observed")
        return done(current, CurrencyReason("rate_unknown", (), unknown, whose))
    usd_ref, usd_c = rates.get(reference), rates.get(currency)
    if currency != reference and _usable(usd_ref) and _usable(usd_c):
        fees = (kept[reference][kind], kept[currency][kind])
        why = (price, float(usd_ref), float(usd_c), *fees)
        converted: tuple[CurrencyReason, ...] = (CurrencyReason("converted", why),)
    else:
        converted = (CurrencyReason("reference"),)
    scale = Fraction(10) ** decimals
    units = round(Fraction(price) * by * scale)  # the nearest unit, ties to even
    floor, ceiling = rails
    least = math.ceil(Fraction(floor) * by * scale)
    # Within the rails converted, and never above the currency's plausible maximum (an absurd
    # rate would otherwise convert to a price no float carries exactly).
    most = min(
        math.floor(Fraction(ceiling) * by * scale),
        math.floor(Fraction(unit_of(currency).max_price) * scale),
    )
    least = max(least, 1)  # never below one unit of the currency
    if least > most:
        edges = (unit_price(least, decimals), unit_price(most, decimals))
        return done(current, *converted, CurrencyReason("no_room", edges))
    if units < least:
        edge = unit_price(least, decimals)
        return done(edge, *converted, CurrencyReason("floor", (edge, floor)))
    if units > most:
        edge = unit_price(most, decimals)
        return done(edge, *converted, CurrencyReason("ceiling", (edge, ceiling)))
    return done(unit_price(units, decimals), *converted)


def _usable(rate: float | Unknown | None) -> TypeGuard[float]:
    """A rate the conversion can use: a positive finite number."""
    if rate is None or isinstance(rate, Unknown):
        return False
    return math.isfinite(rate) and rate > 0


def _price(value: float, currency: str, decimals: int | None = None) -> str:
    """A price in its currency's decimals (the one price form, per currency)."""
    places = unit_of(currency).decimals if decimals is None else decimals
    return format_price(value, places) if math.isfinite(value) else repr(value)
