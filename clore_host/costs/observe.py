"""One observation of the costs: the power figure, the tariff, the exchange rates and the cost
floors of this cycle, as facts for the policy and as a record of where each number came from.

The arithmetic lives in power, tariff, fx, fees and floor; this module reads the history (the
rented power draw, the last accepted exchange rates) and writes the newly accepted rates back.
It never raises for bad data: a fact it cannot compute is Unknown, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.costs import rate_key
from ..duration import format_duration
from ..facts import GpuNow, Observed, Unknown
from .floor import DailyCost, cost_floor, daily_cost, kwh_per_day, round_up
from .fx import DAY, USD, Accepted, RateSeen, as_of_time, fmt_number, jsonable, resolve
from .power import PowerFigure, needed_samples, power_figure
from .tariff import Segment, Tariff, weighted_average

if TYPE_CHECKING:
    from ..config import Config
    from ..history import History

# The observation kind the agent records CostObservation.record under, and the state key
# of the last market rate accepted per currency ({"bitcoin": {"rate": r, "at": t}}).
COSTS_KIND = "costs"
FX_STATE = "fx_accepted"
RECORD_VERSION = 1
KINDS = ("on_demand", "spot")
# A fixed rate that expires within this long is worth a warning.
EXPIRY_WARNING = DAY


@dataclass(frozen=True)
class CostObservation:
    """This cycle's cost facts and their breakdown."""

    # cost.per_day, cost.floor.on_demand, cost.floor.spot, cost.power_w, tariff.now, and
    # fx.<currency>_usd for each currency in play (the listing currency's, the costs').
    facts: Mapping[str, Observed]
    record: dict[str, Any]  # JSON-able: every number and where it came from
    warnings: tuple[str, ...] = ()


def fx_fact(currency: str) -> str:
    """The fact name of a currency's rate to USD: fx.bitcoin_usd, fx.eur_usd."""
    return f"fx.{rate_key(currency).replace('-', '_')}_usd"


def observe_rates(
    config: Config,
    history: History,
    rates_in_usd: Mapping[str, object] | None,
    rates_at: float | None,
    now: float,
) -> tuple[dict[str, Observed], tuple[str, ...]]:
    """The `fx.<currency>_usd` facts of every currency in play, with the same checks and the
    same kept rates as observe_costs (which includes them), and the warnings: for a server
    taking several currencies whose policy reads no cost fact."""
    rates, _ = _observe_rates(config, history, rates_in_usd, rates_at, now)
    facts: dict[str, Observed] = {
        fx_fact(key): seen.value for key, seen in rates.items() if key != USD
    }
    return facts, tuple(_rate_warnings(rates, config, now))


def observe_costs(
    config: Config,
    history: History,
    gpus: Sequence[GpuNow],
    rates_in_usd: Mapping[str, object] | None,
    rates_at: float | None,
    now: float,
) -> CostObservation:
    """The cost facts at `now`, from the config, the GPUs read now, the history and the
    market's `currency_rates_in_usd` exactly as sent (None: not sent), read at `rates_at`
    (None: now). Market rates older than `market.max_age` are not used."""
    costs = config.costs
    listing = config.server.currency
    draws = history.rented_power(now - costs.power_window, now) if costs.power == "measured" else []
    power = power_figure(
        costs.power,
        gpus,
        draws,
        need=needed_samples(config.agent.sample_interval),
        overhead_w=costs.overhead_w,
        psu_efficiency=costs.psu_efficiency,
    )
    rates, fresh = _observe_rates(config, history, rates_in_usd, rates_at, now)
    warnings = _rate_warnings(rates, config, now)

    facts: dict[str, Observed] = {
        "cost.power_w": power if isinstance(power, Unknown) else power.watts
    }
    facts.update({fx_fact(key): seen.value for key, seen in rates.items() if key != USD})
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "at": now,
        "currency": listing,
        "power": _power_record(power, costs.power_window),
        "fx": {key: _rate_record(seen) for key, seen in rates.items() if key != USD},
        "fx_sent": _sent_record(rates_in_usd, rates_at, fresh),
        "fees": {
            "on_demand": config.fees.on_demand,
            "spot": config.fees.spot,
            "surcharge": config.fees.surcharge.get(listing, 0.0),
            "surcharge_currency": listing,
        },
        "tariff": None,
        "energy": None,
        "fixed": None,
        "cost": None,
        "floors": None,
    }
    _cost_facts(config, power, rates, now, facts, record)
    record["facts"] = _facts_record(facts)
    return CostObservation(facts, record, tuple(warnings))


def _observe_rates(
    config: Config,
    history: History,
    sent: Mapping[str, object] | None,
    sent_at: float | None,
    now: float,
) -> tuple[dict[str, RateSeen], bool]:
    """The rate of each currency in play (the server's, the costs'), and whether the
    market's rates were fresh enough to use; keeps the rates accepted now."""
    at = now if sent_at is None or not math.isfinite(sent_at) else sent_at
    fresh = abs(now - at) <= config.market.max_age
    last = _last_accepted(history)
    currencies = (*config.server.currencies, *config.costs.currencies())
    rates = {
        key: resolve(key, sent, fresh=fresh, at=at, fx=config.fx, last=last.get(key), now=now)
        for key in dict.fromkeys(rate_key(c) for c in currencies)
    }
    _keep_accepted(history, last, rates)
    return rates, fresh


def _cost_facts(
    config: Config,
    power: PowerFigure | Unknown,
    rates: Mapping[str, RateSeen],
    now: float,
    facts: dict[str, Observed],
    record: dict[str, Any],
) -> None:
    """tariff.now, cost.per_day and the floors into `facts`, their breakdown into `record`."""
    costs, listing = config.costs, config.server.currency
    names = ("cost.per_day", *(f"cost.floor.{k}" for k in KINDS))
    tariff = Tariff.from_config(costs, config.timezone)
    if tariff is None:
        absent = Unknown("not_configured", ("costs.electricity",))
        facts.update(dict.fromkeys(("tariff.now", *names), absent))
        return
    price_now = tariff.price_at(now)
    segments = tariff.segments(now, costs.horizon)
    average = weighted_average(segments)
    facts["tariff.now"] = price_now
    record["tariff"] = {
        "currency": tariff.currency,
        "timezone": tariff.timezone,
        "now": price_now,
        "average": average,
        "horizon_s": costs.horizon,
        "segments": [_segment_record(s) for s in segments],
    }
    fixed = costs.fixed
    if fixed is not None:
        record["fixed"] = {"per_day": fixed.per_day, "currency": fixed.currency}
    if not isinstance(power, Unknown):
        record["energy"] = {"kwh_per_day": kwh_per_day(power.watts)}

    needed = [listing, tariff.currency, *([] if fixed is None else [fixed.currency])]
    missing = _first_unknown(power, [rates[rate_key(c)].value for c in needed])
    if missing is not None:
        facts.update(dict.fromkeys(names, missing))
        return
    assert isinstance(power, PowerFigure)
    usd = {c: _known(rates[rate_key(c)].value) for c in needed}

    def cost_at(price_per_kwh: float) -> DailyCost:
        return daily_cost(
            power.watts,
            price_per_kwh,
            0.0 if fixed is None else fixed.per_day,
            energy_usd=usd[tariff.currency],
            fixed_usd=1.0 if fixed is None else usd[fixed.currency],
            listing_usd=usd[listing],
        )

    cost_now, cost_horizon = cost_at(price_now), cost_at(average)
    facts["cost.per_day"] = round_up(cost_horizon.listing)
    record["cost"] = {"now": _cost_record(cost_now), "horizon": _cost_record(cost_horizon)}
    record["floors"] = {}
    for kind in KINDS:
        kept = config.fees.kept(kind, listing)
        floor = cost_floor(cost_horizon.listing, kept)
        facts[f"cost.floor.{kind}"] = floor
        record["floors"][kind] = {"price": floor, "kept_percent": kept}


# -- the last accepted rates, kept between runs -----------------------------------------------


def _last_accepted(history: History) -> dict[str, Accepted]:
    """The last market rate accepted per currency (the history checks the shape)."""
    kept = history.get_state(FX_STATE)
    if not isinstance(kept, dict):
        return {}
    return {key: Accepted(float(v["rate"]), float(v["at"])) for key, v in kept.items()}


def _keep_accepted(
    history: History, last: dict[str, Accepted], rates: Mapping[str, RateSeen]
) -> None:
    """Store the rates accepted now that are newer than those kept."""
    merged = dict(last)
    for key, seen in rates.items():
        new = seen.accepted
        if new is not None and (key not in merged or new.at >= merged[key].at):
            merged[key] = new
    if merged != last:
        history.set_state(
            FX_STATE, {key: {"rate": a.rate, "at": a.at} for key, a in sorted(merged.items())}
        )


def _rate_warnings(rates: Mapping[str, RateSeen], config: Config, now: float) -> list[str]:
    """Rates rejected, and fixed rates about to expire, in words for the log."""
    out: list[str] = []
    since = as_of_time(config.fx)
    for key, seen in rates.items():
        value = seen.value
        if isinstance(value, Unknown) and value.reason == "rate_rejected":
            out.append(f"the {key} rate {value.values[1]} is rejected: {value.values[2]}")
        if seen.source == "config" and isinstance(value, float) and since is not None:
            left = since + config.fx.max_age - now
            if left <= EXPIRY_WARNING:
                out.append(
                    f"the fixed {key} rate ({fmt_number(value)} USD, as of {config.fx.as_of}) "
                    f"expires in {format_duration(max(0.0, left))}: update fx.as_of"
                )
    return out


# -- the record --------------------------------------------------------------------------------


def _known(value: float | Unknown) -> float:
    assert not isinstance(value, Unknown)
    return value


def _first_unknown(power: PowerFigure | Unknown, rates: list[float | Unknown]) -> Unknown | None:
    for value in (power, *rates):
        if isinstance(value, Unknown):
            return value
    return None


def unknown_record(value: Unknown) -> dict[str, Any]:
    return {"unknown": value.reason, "values": list(value.values)}


def _observed_record(value: Observed) -> Any:
    return unknown_record(value) if isinstance(value, Unknown) else value


def _facts_record(facts: Mapping[str, Observed]) -> dict[str, Any]:
    return {name: _observed_record(value) for name, value in sorted(facts.items())}


def _power_record(power: PowerFigure | Unknown, window: float) -> dict[str, Any]:
    if isinstance(power, Unknown):
        return unknown_record(power)
    return {
        "watts": power.watts,
        "asked": power.asked,
        "source": power.source,
        "gpus_w": power.gpus_w,
        "overhead_w": power.overhead_w,
        "psu_efficiency": power.psu_efficiency,
        "limit_w": power.limit_w,
        "measured_w": power.measured_w,
        "window_s": window,
        "samples": power.samples,
        "need": power.need,
    }


def _rate_record(seen: RateSeen) -> dict[str, Any]:
    return {
        "fact": fx_fact(seen.currency),
        "usd": _observed_record(seen.value),
        "source": seen.source,
        "sent": seen.sent,
        "as_of": seen.as_of,
    }


def _sent_record(sent: object, at: float | None, fresh: bool) -> dict[str, Any] | None:
    if sent is None:
        return None
    finite_at = at if at is not None and math.isfinite(at) else None
    return {"rates": jsonable(sent), "at": finite_at, "fresh": fresh}


def _segment_record(segment: Segment) -> dict[str, float]:
    return {"from": segment.start, "to": segment.end, "price": segment.price}


def _cost_record(cost: DailyCost) -> dict[str, float]:
    return {
        "energy": cost.energy,
        "fixed": cost.fixed,
        "usd": cost.usd,
        "listing_exact": cost.listing,
        "listing": round_up(cost.listing),
    }
