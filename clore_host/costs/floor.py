"""The cost floor: what the rig costs a day in the listing currency, and the gross price per
rental kind that nets it after the market's fees.

Cost per day = kWh a day at the power figure x the tariff's price (now, or averaged over the
horizon) + the fixed cost, each converted through USD into the listing currency. Prices are
rounded up to the currency's unit, so a floor never lets a price below the cost. The policy's
margin (`rails.cost_floor.margin`) is not in here: the guard adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..money import ROUND_CEILING, price_units, unit_price
from .fees import gross_for_net


@dataclass(frozen=True)
class DailyCost:
    """One day's cost, in each currency it is stated in and in the listing currency."""

    energy: float  # electricity, in the electricity's currency
    fixed: float  # the fixed cost, in its own currency
    usd: float  # both, in USD
    listing: float  # both, in the listing currency (exact, not rounded)


def kwh_per_day(watts: float) -> float:
    """Energy a day at a steady `watts`."""
    return watts * 24.0 / 1000.0


def daily_cost(
    watts: float,
    price_per_kwh: float,
    fixed_per_day: float,
    *,
    energy_usd: float,
    fixed_usd: float,
    listing_usd: float,
) -> DailyCost:
    """The cost of a day at `watts` and `price_per_kwh`, plus `fixed_per_day`; the rates are
    USD per unit of the electricity's currency, the fixed cost's and the listing currency."""
    energy = kwh_per_day(watts) * price_per_kwh
    usd = energy * energy_usd + fixed_per_day * fixed_usd
    return DailyCost(energy, fixed_per_day, usd, usd / listing_usd)


def round_up(price: float) -> float:
    """`price` rounded up to a whole unit of the currency (float noise aside)."""
    return unit_price(price_units(price, ROUND_CEILING))


def cost_floor(cost: float, kept_percent: float) -> float:
    """The least gross price, in whole units, that nets `cost` once the market keeps
    `kept_percent` of it."""
    return round_up(gross_for_net(cost, kept_percent))
