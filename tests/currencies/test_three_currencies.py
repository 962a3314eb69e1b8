"""Must show 1: end to end on the emulator with three currencies. One reference price (the
plan's, in bitcoin) becomes three gross prices that net the same after each currency's fees;
every field of the per-currency form is sent; currencies the agent does not manage are sent
back exactly as read; each price is a whole unit of its currency."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from clore_host.agent.cycle import WriteInDoubt
from clore_host.history import History

from .conftest import (
    ALL,
    BTC,
    CLORE,
    DECIMALS,
    PRICING,
    SPOT_PRICING,
    USD,
    CurrencyRig,
    factor,
    make_rig,
    net_usd,
)

KINDS = ("on_demand", "spot")
FORM_KEYS = {
    "name",
    "availability",
    "mrl",
    *(f"{c}_{k}" for c in ALL for k in KINDS),
    *(f"enabled-{c}" for c in ALL),
}


def test_one_reference_price_becomes_three_that_net_the_same(three: CurrencyRig) -> None:
    result = three.reconcile()
    assert result.outcome == "changed"
    assert (result.plan.target.on_demand, result.plan.target.spot) == (0.00011, 0.000055)
    body = three.last_body()
    # Every field of the per-currency form, and nothing of the seed's.
    assert set(body) == FORM_KEYS
    assert body["name"] == three.rig.server and body["mrl"] == 72
    assert body["availability"] is True
    assert all(body[f"enabled-{c}"] is True for c in ALL)
    numbers = three.last_numbers()
    reference = {"on_demand": Fraction("0.00011"), "spot": Fraction("0.000055")}
    for kind in KINDS:
        net = net_usd(reference[kind], BTC, kind)
        for currency in ALL:
            text = numbers[f"{currency}_{kind}"].decode()
            wire = Fraction(Decimal(text))
            # Fixed point, exactly the currency's decimals: a whole unit of it.
            whole, _, decimals = text.partition(".")
            assert whole.isdigit() and len(decimals) == DECIMALS[currency], text
            # Each price is the reference price converted, to the nearest unit...
            unit = Fraction(1, 10 ** DECIMALS[currency])
            exact = reference[kind] * factor(currency, kind)
            assert abs(wire - exact) <= unit / 2, (currency, kind, text)
            # ... so each nets what the reference nets, within half a unit after its fees.
            gap = abs(net_usd(wire, currency, kind) - net)
            assert gap <= net_usd(unit / 2, currency, kind), (currency, kind, float(gap))
    # The nets in plain figures: 0.00011 BTC on demand keeps 80% at 97000 USD = 8.536 USD.
    assert float(net_usd(reference["on_demand"], BTC, "on_demand")) == pytest.approx(8.536)
    clore = Fraction(Decimal(numbers[f"{CLORE}_on_demand"].decode()))
    assert float(clore) == pytest.approx(8.536 / 0.95 / 0.021, abs=1e-8)  # 427.8697 CLORE
    # The emulator stored what was sent, and reports it back.
    server = three.server()
    for currency in ALL:
        for kind, label in (("on_demand", "pricing"), ("spot", "spot_pricing")):
            assert server[label][currency] == float(numbers[f"{currency}_{kind}"])
    assert server["pricing"]["usd"] is None  # a currency of no form, left alone


def test_each_price_is_rounded_to_its_own_unit(three: CurrencyRig) -> None:
    three.reconcile()
    numbers = three.last_numbers()
    # The USD coin's price has more decimals exactly (0.00011 * 97000 = 10.67 on demand, and
    # 5.335 spot) but its unit is a millionth: 6 decimals, where bitcoin and CLORE have 8.
    assert numbers[f"{USD}_on_demand"] == b"10.670000"
    assert numbers[f"{USD}_spot"] == b"5.335000"
    assert numbers[f"{BTC}_on_demand"] == b"0.00011000"
    # CLORE: 8.536 / 0.95 / 0.021 = 427.869674185... rounds to 427.86967419 (8 decimals).
    assert numbers[f"{CLORE}_on_demand"] == b"427.86967419"
    spot = Fraction("0.000055") * factor(CLORE, "spot")
    wire = Fraction(Decimal(numbers[f"{CLORE}_spot"].decode()))
    assert wire == Fraction(round(spot * 10**8), 10**8)


def test_the_plan_says_each_currency_price_and_the_history_keeps_them(
    three: CurrencyRig,
) -> None:
    dry = three.reconcile(dry_run=True)
    assert three.recording.bodies == []
    lines = dry.currencies.explain()
    assert lines[0] == (
        "bitcoin on_demand 0.00010000 -> 0.00011000: the reference currency: the plan's price"
    )
    assert lines[2] == (
        "CLORE-Blockchain on_demand 400.00000000 -> 427.86967419: converted from 0.00011000 "
        "bitcoin at 97000 / 0.021 USD, nets the same after fees of 20% / 5%"
    )
    assert lines[4].startswith("USD-Blockchain on_demand 9.123457 -> 10.670000: converted")
    as_json = dry.to_dict()["currencies"]
    assert as_json["reference"] == BTC
    assert as_json["prices"][CLORE]["spot"]["target"] == float(lines[3].split()[4].rstrip(":"))
    reasons = as_json["prices"][CLORE]["on_demand"]["reasons"]
    assert reasons == [
        {"reason": "converted", "why": [0.00011, 97000.0, 0.021, 20.0, 5.0]},
    ]
    three.reconcile()
    with History.open(three.rig.root / "state" / "history.db") as history:
        (change,) = history.changes()
    assert any(r.startswith("CLORE-Blockchain on_demand 400.00000000 -> ") for r in change.reasons)
    assert change.after.on_demand == 0.00011  # the reference's settings, as before


def test_unmanaged_currencies_are_sent_back_exactly_as_read(tmp_path: Path) -> None:
    # Bitcoin and CLORE managed; the server also takes the USD coin, priced by hand with more
    # decimals than its unit: both its prices go back as they were read, digit for digit.
    made = make_rig(tmp_path, currencies=[BTC, CLORE])
    try:
        made.reconcile()
        numbers = made.last_numbers()
        assert numbers[f"{USD}_on_demand"] == b"9.1234567"
        assert numbers[f"{USD}_spot"] == b"4.5"
        body = made.last_body()
        assert set(body) == FORM_KEYS
        assert body[f"enabled-{USD}"] is True  # taken, as allowed_coins says
        server = made.server()
        assert server["pricing"][USD] == PRICING[USD]
        assert server["spot_pricing"][USD] == SPOT_PRICING[USD]
        assert numbers[f"{BTC}_on_demand"] == b"0.00011000"
        assert numbers[f"{CLORE}_on_demand"] == b"427.86967419"
    finally:
        made.rig.close()


def test_a_currency_the_server_does_not_take_stays_off_with_its_prices_as_read(
    tmp_path: Path,
) -> None:
    made = make_rig(tmp_path, currencies=[BTC, CLORE], allowed=[BTC, CLORE])
    try:
        made.reconcile()
        body = made.last_body()
        assert body[f"enabled-{USD}"] is False
        assert made.last_numbers()[f"{USD}_spot"] == b"4.5"
        assert made.server()["allowed_coins"] == [BTC, CLORE]
    finally:
        made.rig.close()


def test_a_reference_other_than_bitcoin(tmp_path: Path) -> None:
    # The policy decides in CLORE (its rails in CLORE); bitcoin is converted from it.
    policy = """
[[rule]]
name = "list price"
then.on_demand = { set = 420 }
then.spot = { set = 210 }
"""
    rails = {"on_demand": {"floor": 100, "ceiling": 900}, "spot": {"floor": 50, "ceiling": 600}}
    made = make_rig(tmp_path, currencies=[CLORE, BTC], policy=policy, rails=rails)
    try:
        result = made.reconcile()
        assert result.plan.target.on_demand == 420
        numbers = made.last_numbers()
        assert numbers[f"{CLORE}_on_demand"] == b"420.00000000"
        for kind, price in (("on_demand", 420), ("spot", 210)):
            exact = Fraction(price) * factor(BTC, kind, reference=CLORE)
            wire = Fraction(Decimal(numbers[f"{BTC}_{kind}"].decode()))
            assert wire == Fraction(round(exact * 10**8), 10**8)
            # Nets the same within half a satoshi (a satoshi is about a thousandth of a USD).
            gap = abs(net_usd(wire, BTC, kind) - net_usd(price, CLORE, kind))
            assert gap <= net_usd(Fraction(1, 2 * 10**8), BTC, kind)
        with History.open(made.rig.root / "state" / "history.db") as history:
            (change,) = history.changes()
        assert (change.after.on_demand, change.after.spot) == (420, 210)
    finally:
        made.rig.close()


def test_a_lost_answer_is_settled_at_the_reference_as_written(tmp_path: Path) -> None:
    # The USD coin as the policy's currency: its written prices are whole micro-dollars, and
    # the audit trail records those, so the next run finds the write applied.
    policy = """
[[rule]]
name = "list price"
then.on_demand = { set = 10.12345678 }
then.spot = { set = 5 }
"""
    rails = {"on_demand": {"floor": 1, "ceiling": 30}, "spot": {"floor": 1, "ceiling": 20}}
    made = make_rig(tmp_path, currencies=[USD, BTC], policy=policy, rails=rails)
    made.rig.emulator.faults.lose_answer(endpoint="set_server_settings")
    try:
        agent = made.agent()
        try:
            with pytest.raises(WriteInDoubt):
                agent.reconcile()
        finally:
            agent.close()
        assert made.last_numbers()[f"{USD}_on_demand"] == b"10.123457"
        made.clock.advance(60)
        result = made.reconcile()
        assert any("had been applied" in note for note in result.recovered), result.recovered
        assert result.outcome == "unchanged"
        with History.open(made.rig.root / "state" / "history.db") as history:
            (change,) = history.changes()
        assert change.after.on_demand == 10.123457
    finally:
        made.rig.close()
