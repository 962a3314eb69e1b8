"""Exchange rates: the market's when sent and sane, else the fixed rate while fresh; every
fault makes the rate unknown with its reason, and the move check holds across runs."""

from __future__ import annotations

from typing import Any

import pytest

from clore_host.costs import FX_STATE, observe_costs
from clore_host.costs.fx import Accepted, check_sent, fmt_number, jsonable, resolve, sent_text
from clore_host.facts import Unknown
from clore_host.history import History
from clore_host.history.audit import FX_ACCEPTED

from .conftest import NOW, config, gpus, rig_config

FX = config(fx={"bitcoin_usd": 95000, "as_of": "2026-11-28"}).fx
NO_FIXED = config().fx
HOUR = 3600.0
DAY = 86400.0


def seen(sent: object, fx: Any = FX, last: Accepted | None = None, **kw: Any) -> Any:
    options = {"fresh": True, "at": NOW, "now": NOW, **kw}
    return resolve("bitcoin", sent, fx=fx, last=last, **options)


def rejected(text: str, why: str) -> Unknown:
    return Unknown("rate_rejected", ("bitcoin", text, why))


def test_a_sane_market_rate_is_used_and_accepted() -> None:
    rate = seen({"bitcoin": 96000.5, "CLORE-Blockchain": 0.02})
    assert (rate.value, rate.source, rate.sent) == (96000.5, "market", 96000.5)
    assert rate.accepted == Accepted(96000.5, NOW)
    # Integers are numbers too.
    assert seen({"bitcoin": 96000}).value == 96000.0


@pytest.mark.parametrize(
    ("sent", "text", "why"),
    [
        (0, "0", "not a positive number"),
        (-95000, "-95000", "not a positive number"),
        ("abc", "'abc'", "not a number"),
        ("95000", "'95000'", "not a number"),  # a number in a string is not read as one
        (True, "true", "not a number"),
        (None, "null", "not a number"),
        ([95000], "a list", "not a number"),
        (float("nan"), "nan", "not a finite number"),
        (float("inf"), "inf", "not a finite number"),
        (10**400, "an integer of 41+ digits", "not a finite number"),
        (95, "95", "outside the plausible range 100 to 10000000 USD (fx.plausible)"),
        (2e7, "20000000", "outside the plausible range 100 to 10000000 USD (fx.plausible)"),
    ],
)
def test_a_broken_market_rate_is_rejected_with_the_reason(
    sent: object, text: str, why: str
) -> None:
    rate = seen({"bitcoin": sent})
    # Rejected, and no fixed rate stands in for a market that answered nonsense.
    assert rate.value == rejected(text, why)
    assert rate.source == "market" and rate.accepted is None


def test_a_100x_jump_within_a_day_is_rejected_and_a_day_later_accepted() -> None:
    last = Accepted(95000.0, NOW - 2 * HOUR)
    rate = seen({"bitcoin": 9_500_000}, last=last)  # within fx.plausible: only the move says
    assert rate.value == rejected(
        "9500000", "9900% from 95000 accepted 2h before (fx.max_move 20%)"
    )
    assert seen({"bitcoin": 113_000}, last=last).value == 113_000.0  # +18.9 %
    assert isinstance(seen({"bitcoin": 115_000}, last=last).value, Unknown)  # +21 %
    assert isinstance(seen({"bitcoin": 75_000}, last=last).value, Unknown)  # -21 %
    # More than a day after the last accepted rate, the move check has nothing to compare.
    old = Accepted(95000.0, NOW - DAY - 1)
    assert seen({"bitcoin": 150_000}, last=old).value == 150_000.0


def test_rates_that_are_not_a_table_are_rejected() -> None:
    assert seen("abc").value == Unknown(
        "rate_rejected", ("bitcoin", "'abc'", "the rates sent are not a table")
    )
    assert seen([1, 2]).value == Unknown(
        "rate_rejected", ("bitcoin", "a list", "the rates sent are not a table")
    )
    assert seen({"bitcoin": 1e5, "BITCOIN": 2e5}).value == Unknown(
        "rate_rejected", ("bitcoin", "100000, 200000", "sent more than once")
    )


def test_absent_market_rates_leave_the_fixed_rate() -> None:
    for sent in (None, {}, {"CLORE-Blockchain": 0.02}, {7: "x"}):
        rate = seen(sent)
        assert (rate.value, rate.source, rate.as_of) == (95000.0, "config", "2026-11-28")
    # Old market rates are not used either.
    assert seen({"bitcoin": 96000}, fresh=False).value == 95000.0


def test_absent_rates_without_a_fixed_rate_are_unknown() -> None:
    rate = seen(None, fx=NO_FIXED)
    assert rate.value == Unknown(
        "rate_unknown", ("bitcoin", "the market sent none and the config has no fx.bitcoin_usd")
    )
    assert rate.source == "none"


def test_a_stale_fixed_rate_is_unknown() -> None:
    # as_of 2026-11-28 00:00 UTC, max_age 7 d: usable until 2026-12-05 00:00 UTC.
    until = NOW - 2.5 * DAY + 7 * DAY
    assert seen(None, now=until).value == 95000.0
    assert seen(None, now=until + 1).value == Unknown(
        "rate_unknown", ("bitcoin", "the fixed rate of 2026-11-28 is older than fx.max_age (7d)")
    )
    # A fixed rate dated ahead (a typo in the year, a clock far behind) is not used either.
    ahead = config(fx={"bitcoin_usd": 95000, "as_of": "2027-11-28"}).fx
    assert seen(None, fx=ahead).value == Unknown(
        "rate_unknown", ("bitcoin", "the fixed rate is dated 2027-11-28, ahead")
    )


def test_usd_needs_no_rate() -> None:
    rate = resolve("USD", {"USD": 0}, fresh=True, at=NOW, fx=FX, last=None, now=NOW)
    assert (rate.value, rate.source) == (1.0, "usd")


def test_a_usd_coin_is_one_usd_unless_a_rate_is_sent_or_configured() -> None:
    coin = "USD-Blockchain"

    def rate(sent: object, fx: Any = FX) -> Any:
        return resolve(coin, sent, fresh=True, at=NOW, fx=fx, last=None, now=NOW)

    assert (rate(None).value, rate(None).source) == (1.0, "assumed")
    assert rate({coin: 0.998}).value == 0.998  # the market's, when sent and sane
    # A rate sent and rejected stays unknown: the assumption never overrides the checks.
    assert rate({coin: -1}).value == Unknown(
        "rate_rejected", ("usd-blockchain", "-1", "not a positive number")
    )
    # A fixed rate in the config is the provider's word, stale or not.
    stale = config(fx={"usd-blockchain_usd": 1.0, "as_of": "2026-01-01"}).fx
    assert isinstance(rate(None, stale).value, Unknown)


def test_a_cost_currency_rate_comes_from_the_config_or_is_unknown() -> None:
    fx = config(fx={"bitcoin_usd": 95000, "eur_usd": 1.08, "as_of": "2026-11-28"}).fx
    rate = resolve("EUR", {"bitcoin": 95000}, fresh=True, at=NOW, fx=fx, last=None, now=NOW)
    assert (rate.currency, rate.value, rate.source) == ("eur", 1.08, "config")
    rate = resolve("GBP", None, fresh=True, at=NOW, fx=fx, last=None, now=NOW)
    assert rate.value == Unknown(
        "rate_unknown", ("gbp", "the market sent none and the config has no fx.gbp_usd")
    )
    # A market that sends it: checked against its own plausible range.
    sent = {"EUR": 11.0}
    rate = resolve("EUR", sent, fresh=True, at=NOW, fx=fx, last=None, now=NOW)
    assert rate.value == Unknown(
        "rate_rejected", ("eur", "11", "outside the plausible range 0.5 to 3 USD (fx.plausible)")
    )


def test_check_sent_and_texts() -> None:
    assert check_sent("bitcoin", 95000, plausible=None, last=None, max_move=20, at=NOW) == 95000
    assert sent_text("x" * 50) == repr("x" * 40 + "...")
    assert fmt_number(9900.000000000002) == "9900" and fmt_number(1e-5) == "0.00001"
    assert jsonable({"bitcoin": float("nan"), "b": [1], "c": 10**400, "d": "ok"}) == {
        "bitcoin": "nan",
        "b": "a list",
        "c": "an integer of 41+ digits",
        "d": "ok",
    }


# -- across runs: the last accepted rate is kept in the history ---------------------------------


def test_the_move_check_holds_across_runs(history: History) -> None:
    cfg = rig_config()
    first = observe_costs(cfg, history, gpus(), {"bitcoin": 95000}, NOW, NOW)
    assert first.facts["fx.bitcoin_usd"] == 95000.0
    assert history.get_state(FX_STATE) == {"bitcoin": {"rate": 95000.0, "at": NOW}}
    # The next run (a new process: only the history remembers) gets a 100x jump an hour on.
    later = NOW + HOUR
    jump = observe_costs(cfg, history, gpus(), {"bitcoin": 9_500_000}, later, later)
    why = jump.facts["fx.bitcoin_usd"]
    assert isinstance(why, Unknown) and why.reason == "rate_rejected"
    assert jump.facts["cost.floor.on_demand"] == why  # the cost floor is unknown with it
    assert jump.warnings == (
        "the bitcoin rate 9500000 is rejected: 9900% from 95000 accepted 1h before "
        "(fx.max_move 20%)",
    )
    # The rejected rate is not kept: the check still compares with 95000.
    assert history.get_state(FX_STATE) == {"bitcoin": {"rate": 95000.0, "at": NOW}}
    steady = observe_costs(cfg, history, gpus(), {"bitcoin": 97000}, later, later)
    assert steady.facts["fx.bitcoin_usd"] == 97000.0
    assert history.get_state(FX_STATE) == {"bitcoin": {"rate": 97000.0, "at": later}}


def test_the_state_key_is_the_one_the_history_checks() -> None:
    assert FX_STATE == FX_ACCEPTED


def test_an_old_rate_read_again_does_not_replace_a_newer_one(history: History) -> None:
    cfg = rig_config()
    observe_costs(cfg, history, gpus(), {"bitcoin": 96000}, NOW, NOW)
    observe_costs(cfg, history, gpus(), {"bitcoin": 95500}, NOW - 600, NOW)
    assert history.get_state(FX_STATE) == {"bitcoin": {"rate": 96000.0, "at": NOW}}
