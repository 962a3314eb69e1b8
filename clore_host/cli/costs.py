"""`clore-host costs`: what the rig costs a day, now and over the horizon, the floors per
rental kind, the power figure and the exchange rate, each with where it came from.

It reads the GPUs, the history and the config; the API is not called. The market's exchange
rates are the ones the agent last recorded (its `costs` observation), while younger than
`market.max_age`; else the config's fixed rates serve.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clock import Clock, SystemClock
from ..errors import EXIT_OK
from . import add_config_option, echo

if TYPE_CHECKING:
    from ..config import Config
    from ..costs import CostObservation
    from ..history import History
    from . import Commands

WIDTH = 100  # of a line of text output
LABEL = 11  # the widest label: "tariff now", "tariff 24h"


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "costs",
        help="what the rig costs a day, and the cost floors per rental kind",
        description="The rig's power figure, the electricity tariff, the exchange rate, the "
        "cost per day now and over the horizon, and the floor per rental kind that nets the "
        "cost after the host fees; each with where it came from. Reads the GPUs, the history "
        "and the config; does not call the API.",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    from ..config import load_config

    config = load_config(args.config)
    seen = observe(config, clock or SystemClock())
    if args.json:
        echo(json.dumps(to_json(config, seen), indent=2, sort_keys=True, allow_nan=False))
    else:
        echo(text(config, seen))
    return EXIT_OK


def observe(config: Config, clock: Clock) -> CostObservation:
    """This moment's costs: the GPUs read once, the history, the rates last recorded."""
    from ..costs import observe_costs
    from ..gpu import open_backend
    from ..history import History

    gpus = open_backend(
        config.gpu.backend,
        scenario=config.gpu.scenario,
        clock=clock,
        call_timeout=config.gpu.call_timeout,
    )
    try:
        readings = tuple(gpu.to_now() for gpu in gpus.read().gpus)
    finally:
        gpus.close()
    now = clock.now()
    with History.open(
        config.state.dir / "history.db",
        raw_retention=config.history.raw_retention,
        rollup_retention=config.history.rollup_retention,
        now=now,
    ) as history:
        rates, at = _recorded_rates(history, config, now)
        return observe_costs(config, history, readings, rates, at, now)


def _recorded_rates(history: History, config: Config, now: float) -> tuple[Any, float | None]:
    """The market's rates as the agent last recorded them, while fresh; (None, None) else."""
    from ..costs import COSTS_KIND

    recent = history.observations(COSTS_KIND, now - config.market.max_age, now)
    for _, record in reversed(recent):
        sent = record.get("fx_sent")
        if isinstance(sent, dict) and isinstance(sent.get("at"), (int, float)):
            return sent.get("rates"), float(sent["at"])
    return None, None


# -- JSON ---------------------------------------------------------------------------------------


def to_json(config: Config, seen: CostObservation) -> dict[str, Any]:
    """The documented --json shape: the cost record (README, "clore-host costs"; its
    `version` is the shape's), with the server's name and the warnings."""
    return {
        "server": config.server.name,
        **seen.record,
        "warnings": list(seen.warnings),
    }


# -- text ---------------------------------------------------------------------------------------


def text(config: Config, seen: CostObservation) -> str:
    """The costs as a person reads them: one line per figure, its value, where it came from."""
    from ..policy import format_price
    from ..policy._units import fmt_number as num
    from ..policy._units import format_duration

    record = seen.record
    listing = record["currency"]
    rows: list[tuple[str, str, str]] = []
    power = record["power"]
    rows.append(("power", *_power(power, num, format_duration)))
    if record["energy"] is not None:
        rows.append(("energy", f"{num(record['energy']['kwh_per_day'])} kWh/day", "at that power"))
    tariff = record["tariff"]
    horizon = "" if tariff is None else hours(tariff["horizon_s"])
    if tariff is None:
        rows.append(("tariff", "unknown", "costs.electricity not configured"))
    else:
        unit = f"{tariff['currency']}/kWh"
        rows.append(("tariff now", f"{num(tariff['now'])} {unit}", _tariff_source(config)))
        average = f"{num(tariff['average'])} {unit}"
        over = f"averaged over the next {horizon} (costs.horizon)"
        rows.append((f"tariff {horizon}", average, over))
        rows += _segments(tariff, num, unit, config.timezone)
    fixed = record["fixed"]
    if fixed is not None:
        rows.append(("fixed", f"{num(fixed['per_day'])} {fixed['currency']}/day", "costs.fixed"))
    for currency, rate in record["fx"].items():
        rows.append(("rate", *_rate(currency, rate, num, format_duration, record)))
    cost = record["cost"]
    if cost is None:
        why = _unknown_text(record["facts"]["cost.per_day"])
        rows.append(("cost", "unknown", why))
    else:
        now_cost, over = cost["now"], cost["horizon"]
        rows.append(
            (
                "cost now",
                format_price(now_cost["listing"]),
                f"{num(now_cost['usd'])} USD/day at the tariff now",
            )
        )
        rows.append(
            (
                "cost",
                format_price(over["listing"]),
                f"{num(over['usd'])} USD/day at the tariff over the next {horizon} (cost.per_day)",
            )
        )
    fees = record["fees"]
    surcharge = f"{fees['surcharge_currency']} surcharge (fees.surcharge)"
    floors = record["floors"]
    for kind in ("on_demand", "spot"):
        name = kind.replace("_", " ")
        value = f"{num(fees[kind])}% + {num(fees['surcharge'])}%"
        rows.append(("fees", value, f"{name} fee (fees.{kind}) + {surcharge}"))
    for kind in ("on_demand", "spot"):
        name, fact = kind.replace("_", " "), f"cost.floor.{kind}"
        if floors is None:
            why = _unknown_text(record["facts"][fact])
            rows.append(("floor", "unknown", f"{name} ({fact}): {why}"))
            continue
        kept = num(floors[kind]["kept_percent"])
        value = format_price(floors[kind]["price"])
        rows.append(("floor", value, f"{name}: nets the cost after fees of {kept}% ({fact})"))
    width = max(len(value) for _, value, _ in rows)
    lines = [f"Costs of {config.server.name}: per day for the whole server, prices in {listing}"]
    for label, value, source in rows:
        # The source wraps under itself, so a line stays within WIDTH.
        head = f"{label:<{LABEL}} {value:<{width}}  " if label or value else " " * LABEL
        wrapped = textwrap.wrap(source, WIDTH - len(head), break_on_hyphens=False) or [""]
        lines.append(head + wrapped[0])
        lines += [" " * len(head) + more for more in wrapped[1:]]
    lines.append("A policy's rails.cost_floor adds its margin to these floors.")
    lines += [f"warning: {w}" for w in seen.warnings]
    return "\n".join(lines)


def hours(seconds: float) -> str:
    """A horizon in hours, as a tariff is read: 24h, 6h, 1.5h."""
    return f"{seconds / 3600:g}h"


def _power(power: dict[str, Any], num: Any, duration: Any) -> tuple[str, str]:
    if "unknown" in power:
        return "unknown", _unknown_text(power)
    watts = f"{num(power['watts'])} W"
    if power["source"] == "measured":
        source = (
            f"measured: p95 of the GPUs' draw while rented, {num(power['gpus_w'])} W "
            f"({power['samples']} samples in {duration(power['window_s'])})"
        )
    else:
        source = f"the GPUs' power limits, {num(power['gpus_w'])} W"
        if power["asked"] == "measured":
            source += (
                f" (measured needs {power['need']} rented samples in "
                f"{duration(power['window_s'])}, has {power['samples']})"
            )
    if power["overhead_w"]:
        source += f" + overhead {num(power['overhead_w'])} W"
    if power["psu_efficiency"] is not None:
        source += f", / PSU efficiency {num(power['psu_efficiency'])}%"
    return watts, source + " (cost.power_w)"


def _tariff_source(config: Config) -> str:
    if config.costs.tariff:
        return f"costs.electricity and costs.tariff, {config.timezone} (tariff.now)"
    return "costs.electricity (tariff.now)"


def _segments(
    tariff: dict[str, Any], num: Any, unit: str, timezone: str
) -> list[tuple[str, str, str]]:
    """A row per price over the horizon (none for a flat price), in local time."""
    segments = tariff["segments"]
    if len(segments) < 2:
        return []
    zone = ZoneInfo(timezone)

    def hhmm(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%H:%M")

    rows = [
        ("", f"{num(s['price'])} {unit}", f"{hhmm(s['from'])}-{hhmm(s['to'])}") for s in segments
    ]
    label, value, first = rows[0]
    rows[0] = (label, value, f"{first} ({timezone})")
    return rows


def _rate(
    currency: str, rate: dict[str, Any], num: Any, duration: Any, record: dict[str, Any]
) -> tuple[str, str]:
    value = rate["usd"]
    if isinstance(value, dict):
        return "unknown", f"{_unknown_text(value)} ({rate['fact']})"
    if rate["source"] == "assumed":
        return f"{num(value)} USD", f"per {currency}: assumed, a USD coin ({rate['fact']})"
    if rate["source"] == "market":
        sent = record["fx_sent"] or {}
        age = record["at"] - sent["at"] if isinstance(sent.get("at"), (int, float)) else 0.0
        where = f"the market's currency_rates_in_usd, read {duration(age)} ago"
    else:
        where = f"fixed in the config, as of {rate['as_of']}"
    return f"{num(value)} USD", f"per {currency}: {where} ({rate['fact']})"


def _unknown_text(value: Any) -> str:
    from ..facts import Unknown
    from ..policy.catalogue import unknown_words

    if isinstance(value, dict) and isinstance(value.get("unknown"), str):
        return unknown_words(Unknown(value["unknown"], tuple(value.get("values", ()))))
    return "unknown"
