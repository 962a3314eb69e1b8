"""Must show 4, a property: no currency's price on the wire is ever outside the policy's rails
converted into that currency (floor rounded up, ceiling rounded down), whatever the plan, the
rates, the fees and the prices the server holds. A price that is not converted (its rate
unknown) goes back exactly as read, as does every currency the agent does not manage.

The plans are the guard's own, on the policy property tests' cases; the bytes checked are
what the client sends (the request model through api/wire.py)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clore_host.agent.cycle import write_request
from clore_host.api.wire import encode_json
from clore_host.facts import Unknown
from clore_host.money import unit_of
from clore_host.observe.server import CurrentPrices
from clore_host.policy import make_plan
from clore_host.policy.currencies import convert

from ..policy.test_properties import Case, cases

CURRENCIES = ("bitcoin", "CLORE-Blockchain", "USD-Blockchain")
DECIMALS = {"bitcoin": 8, "CLORE-Blockchain": 8, "USD-Blockchain": 6}
# USD per unit, over fx.plausible's default ranges (and a little past them).
RATES = {
    "bitcoin": st.floats(50, 2e7),
    "CLORE-Blockchain": st.floats(1e-6, 200),
    "USD-Blockchain": st.floats(0.4, 2.5),
}
NUMBER = re.compile(rb'"([A-Za-z-]+)_(on_demand|spot)":([-0-9.eE+]+)')
KINDS = ("on_demand", "spot")


def prices(currency: str) -> st.SearchStrategy[float]:
    """A price the server may hold: whole units, or more decimals than the unit."""
    unit = 10.0 ** -DECIMALS[currency]
    return st.floats(unit, 1e6 if currency != "bitcoin" else 1000.0).filter(math.isfinite)


@st.composite
def setups(draw: st.DrawFn) -> dict[str, Any]:
    reference = draw(st.sampled_from(CURRENCIES))
    others = [c for c in CURRENCIES if c != reference]
    managed = [reference, *draw(st.lists(st.sampled_from(others), unique=True))]
    rates: dict[str, float | Unknown] = {}
    for currency in CURRENCIES:
        if draw(st.integers(0, 5)) == 0:
            rates[currency] = Unknown("rate_unknown", (currency, "none sent"))
        else:
            rates[currency] = draw(RATES[currency])
    kept = {
        c: {"on_demand": draw(st.floats(0, 40)), "spot": draw(st.floats(0, 40))} for c in CURRENCIES
    }
    current = {c: {k: draw(prices(c)) for k in KINDS} for c in managed}
    unmanaged = {c: {k: draw(prices(c)) for k in KINDS} for c in CURRENCIES if c not in managed}
    taken = tuple(c for c in CURRENCIES if c in managed or draw(st.booleans()))
    return {
        "reference": reference,
        "managed": managed,
        "rates": rates,
        "kept": kept,
        "current": current,
        "unmanaged": unmanaged,
        "taken": taken,
    }


def _exact(rate: float | Unknown) -> Fraction | None:
    return None if isinstance(rate, Unknown) else Fraction(rate)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=cases(), setup=setups())
def test_no_price_on_the_wire_is_outside_the_rails_converted(
    case: Case, setup: dict[str, Any]
) -> None:
    plan = make_plan(case.policy, case.facts, case.prior)
    assume(plan.changed)  # else nothing goes on the wire
    reference, rates, kept = setup["reference"], setup["rates"], setup["kept"]
    rails = {
        kind: (case.policy.rails.bounds(kind).floor, case.policy.rails.bounds(kind).ceiling)
        for kind in KINDS
    }
    current = dict(setup["current"])
    current[reference] = {"on_demand": plan.current.on_demand, "spot": plan.current.spot}
    plans = convert(
        {"on_demand": plan.target.on_demand, "spot": plan.target.spot},
        reference=reference,
        currencies=setup["managed"],
        rates=rates,
        kept=kept,
        decimals={c: DECIMALS[c] for c in setup["managed"]},
        rails=rails,
        current=current,
    )
    coins = CurrentPrices(current, setup["unmanaged"], setup["taken"])
    request, written = write_request("rig", plan.target, plans, coins)
    body = encode_json(request.body())
    numbers = {(c.decode(), k.decode()): v for c, k, v in NUMBER.findall(body)}
    assert {c for c, _ in numbers} == set(setup["managed"]) | set(setup["unmanaged"])
    for (currency, kind), text in numbers.items():
        wire = Fraction(Decimal(text.decode()))
        if currency in setup["unmanaged"]:
            assert text.decode() == f"{Decimal(repr(setup['unmanaged'][currency][kind])):f}"
            continue
        held = plans.prices[currency][kind].held
        usd_ref, usd_c = _exact(rates[reference]), _exact(rates[currency])
        if currency != reference and (usd_ref is None or usd_c is None):
            # No conversion: the price stays exactly as read (never down on a guess).
            assert held
            assert text.decode() == f"{Decimal(repr(current[currency][kind])):f}"
            continue
        if currency == reference:
            factor = Fraction(1)
        else:
            assert usd_ref is not None and usd_c is not None
            factor = (
                usd_ref
                / usd_c
                * (100 - Fraction(kept[reference][kind]))
                / (100 - Fraction(kept[currency][kind]))
            )
        scale = 10 ** DECIMALS[currency]
        floor = Fraction(math.ceil(Fraction(rails[kind][0]) * factor * scale), scale)
        ceiling = Fraction(math.floor(Fraction(rails[kind][1]) * factor * scale), scale)
        ceiling = min(ceiling, Fraction(unit_of(currency).max_price))  # a plausible price
        if held:  # the rails converted hold no whole unit: as read
            assert floor > ceiling or max(floor, Fraction(1, scale)) > ceiling
            continue
        assert floor <= wire <= ceiling, (currency, kind, text, float(floor), float(ceiling))
        assert wire >= Fraction(1, scale)
        assert (wire * scale).denominator == 1  # a whole unit of the currency
    # The reference's written prices are what the audit trail records.
    assert written.on_demand == plans.target(reference, "on_demand")
    assert written.spot == plans.target(reference, "spot")


def test_an_absurd_rate_never_converts_past_the_currencys_plausible_maximum() -> None:
    # Found by the property above on CI: bitcoin at 230,689 USD and CLORE at 0.000001 USD
    # convert 0.00032755 bitcoin to 75,562,181.95 CLORE, past what a float carries to 8
    # decimals (2**53 units): the floor's last unit was lost on the wire. Above CLORE's
    # plausible maximum (10**7 a day) no whole unit fits within the rails: held as read.
    kept = {c: {"on_demand": 0.0, "spot": 0.0} for c in ("bitcoin", "CLORE-Blockchain")}
    plan = convert(
        {"on_demand": 0.00032755, "spot": 0.00001},
        reference="bitcoin",
        currencies=("bitcoin", "CLORE-Blockchain"),
        rates={"bitcoin": 230689.0, "CLORE-Blockchain": 1e-06},
        kept=kept,
        decimals={"bitcoin": 8, "CLORE-Blockchain": 8},
        rails={"on_demand": (0.00032755, 0.00049132), "spot": (0.00001, 0.00001)},
        current={
            "bitcoin": {"on_demand": 1.0, "spot": 1.0},
            "CLORE-Blockchain": {"on_demand": 1.0, "spot": 1.0},
        },
    )
    clore = plan.prices["CLORE-Blockchain"]["on_demand"]
    assert clore.held and clore.target == 1.0
    assert clore.target <= unit_of("CLORE-Blockchain").max_price
    assert "no_room" in [r.reason for r in clore.reasons]
