"""Must show 3: one currency's exchange rate unknown. Its prices do not move down (they are
held where they are, sent back as read), the other currencies are converted as usual, and the
plan says why, as data and in words."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from clore_host.history import History

from .conftest import ALL, BTC, CLORE, LOWER, PRICING, SPOT_PRICING, USD, factor, make_rig

MARKET_INTERVAL = 15 * 60  # market.interval: the rates are read at most this often


def _converted(numbers: dict[str, bytes], currency: str, kind: str, reference: Fraction) -> None:
    """The wire's price of `currency` is the reference price converted, to the nearest unit."""
    decimals = 6 if currency == USD else 8
    wire = Fraction(Decimal(numbers[f"{currency}_{kind}"].decode()))
    exact = reference * factor(currency, kind)
    assert wire == Fraction(round(exact * 10**decimals), 10**decimals), (currency, kind)


def test_a_currency_without_a_rate_is_held_the_others_move_down(tmp_path: Path) -> None:
    made = make_rig(tmp_path, currencies=ALL, policy=LOWER)
    # The market sends no CLORE rate, and the config has no fixed one.
    made.rig.emulator.currency_rates_in_usd = {BTC: 97000.0, USD: 1.0}
    try:
        result = made.reconcile()
        assert result.outcome == "changed"
        target = result.plan.target
        assert (target.on_demand, target.spot) == (0.00009, 0.000045)
        numbers = made.last_numbers()
        # CLORE: held where it was, exactly as read.
        assert numbers[f"{CLORE}_on_demand"] == b"400.0"
        assert numbers[f"{CLORE}_spot"] == b"200.0"
        assert made.server()["pricing"][CLORE] == PRICING[CLORE]
        assert made.server()["spot_pricing"][CLORE] == SPOT_PRICING[CLORE]
        # Bitcoin and the USD coin: down, converted as usual.
        assert numbers[f"{BTC}_on_demand"] == b"0.00009000"
        for kind, price in (("on_demand", "0.00009"), ("spot", "0.000045")):
            _converted(numbers, USD, kind, Fraction(price))
        assert float(numbers[f"{USD}_on_demand"]) < 9.1234567  # 8.73, down from PRICING
        # The plan says why, in words ...
        clore = [line for line in result.currencies.explain() if line.startswith(CLORE)]
        assert clore == [
            f"{CLORE} {kind} {price:.8f} unchanged: held: no conversion without the {CLORE} "
            f"rate: clore-blockchain rate unknown: the market sent none and the config has no "
            "fx.clore-blockchain_usd"
            for kind, price in (("on_demand", 400.0), ("spot", 200.0))
        ]
        # ... and as data.
        held = result.to_dict()["currencies"]["prices"][CLORE]["on_demand"]
        assert held["changed"] is False
        assert held["reasons"] == [
            {
                "reason": "rate_unknown",
                "why": [],
                "unknown": {
                    "reason": "rate_unknown",
                    "values": [
                        "clore-blockchain",
                        "the market sent none and the config has no fx.clore-blockchain_usd",
                    ],
                },
                "rate_of": CLORE,
            }
        ]
        # The audit trail keeps why it did not follow.
        with History.open(made.rig.root / "state" / "history.db") as history:
            (change,) = history.changes()
        assert any(
            r.startswith(f"{CLORE} on_demand 400.00000000 unchanged: held") for r in change.reasons
        )
    finally:
        made.rig.close()


def test_a_rejected_rate_holds_its_currency_until_a_sane_one_comes(tmp_path: Path) -> None:
    made = make_rig(tmp_path, currencies=ALL, policy=LOWER)
    try:
        made.reconcile()  # CLORE at 0.021 accepted (and written at it)
        first = made.last_numbers()
        made.clock.advance(31 * 60)  # past min_interval and market.interval
        # A 100x jump: rejected by fx.max_move, so CLORE's prices stay.
        made.rig.emulator.currency_rates_in_usd = {BTC: 97000.0, CLORE: 2.1, USD: 1.0}
        result = made.reconcile()
        numbers = made.last_numbers()
        assert numbers[f"{CLORE}_on_demand"] == first[f"{CLORE}_on_demand"]
        assert numbers[f"{CLORE}_spot"] == first[f"{CLORE}_spot"]
        # Bitcoin and the USD coin went down again, as the plan said.
        assert result.plan.target.on_demand == 0.000081
        _converted(numbers, USD, "on_demand", Fraction("0.000081"))
        line = next(x for x in result.currencies.explain() if x.startswith(f"{CLORE} on_demand"))
        assert "unchanged: held: no conversion without the CLORE-Blockchain rate" in line
        assert "clore-blockchain rate 2.1 rejected: 9900% from 0.021" in line
        # A sane rate again: CLORE follows the reference once more.
        made.clock.advance(31 * 60)
        made.rig.emulator.currency_rates_in_usd = {BTC: 97000.0, CLORE: 0.021, USD: 1.0}
        result = made.reconcile()
        _converted(made.last_numbers(), CLORE, "on_demand", Fraction(result.plan.target.on_demand))
    finally:
        made.rig.close()


def test_without_the_reference_rate_no_other_currency_moves(tmp_path: Path) -> None:
    made = make_rig(tmp_path, currencies=ALL, policy=LOWER)
    made.rig.emulator.currency_rates_in_usd = {CLORE: 0.021, USD: 1.0}
    try:
        result = made.reconcile()
        numbers = made.last_numbers()
        assert numbers[f"{BTC}_on_demand"] == b"0.00009000"  # the plan itself goes on
        assert numbers[f"{CLORE}_on_demand"] == b"400.0"
        assert numbers[f"{USD}_on_demand"] == b"9.1234567"
        lines = result.currencies.explain()
        assert all("no conversion without the bitcoin rate" in x for x in lines[2:]), lines
    finally:
        made.rig.close()


def test_the_usd_coin_is_taken_as_one_usd_when_no_rate_is_known(tmp_path: Path) -> None:
    # An assumption, documented: a stablecoin with no rate sent or configured is 1 USD. A
    # rejected one is not (it is unknown: held, as above).
    made = make_rig(tmp_path, currencies=[BTC, USD], policy=LOWER)
    made.rig.emulator.currency_rates_in_usd = {BTC: 97000.0}
    try:
        made.reconcile()
        _converted(made.last_numbers(), USD, "on_demand", Fraction("0.00009"))
    finally:
        made.rig.close()
