"""Strict reading of the API, end to end: every field the agent reads from server_config, each
with values of the wrong JSON type and out of range, served by the emulator to `clore-host
reprice` run as a timer runs it. Each: exit 4, one line on stderr naming the field, no
traceback, and no write (a junk value is never coerced into one)."""

from __future__ import annotations

from typing import Any

import pytest

from clore_host.testing.rig import policy_text

from ..rig import SERVER, TOKEN, Rig

HEADLINE = "clore-host: inputs implausible, nothing changed: server_config"

# (case id, the server's fields as the emulator serves them, words the line must carry)
Case = tuple[str, dict[str, Any], str]
CASES: list[Case] = [
    # availability: a bool, or absent
    ("availability-string-false", {"availability": "false"}, 'availability is "false"'),
    ("availability-string-true", {"availability": "true"}, 'availability is "true"'),
    ("availability-0", {"availability": 0}, "availability is 0, expected true or false"),
    ("availability-1", {"availability": 1}, "availability is 1, expected true or false"),
    ("availability-float", {"availability": 0.0}, "availability is 0.0"),
    ("availability-list", {"availability": []}, "availability is []"),
    # the worst case seen: a rented, listed server switched off on availability "false"
    (
        "availability-string-while-rented",
        {"availability": "false", "rental_status": 2},
        'availability is "false"',
    ),
    # availability and visibility disagreeing
    ("availability-false-public", {"availability": False}, "disagrees with visibility"),
    (
        "availability-true-hidden",
        {"availability": True, "visibility": "hidden"},
        'availability true disagrees with visibility "hidden"',
    ),
    # visibility: one of three words
    ("visibility-bool", {"visibility": True}, "visibility is true, expected a string"),
    ("visibility-number", {"visibility": 1}, "visibility is 1, expected a string"),
    ("visibility-unknown", {"visibility": "everyone"}, 'visibility "everyone" is implausible'),
    # rental_status: 0, 1 or 2, an integer
    ("rental-status-true", {"rental_status": True}, "rental_status is true"),
    ("rental-status-string", {"rental_status": "2"}, 'rental_status is "2"'),
    ("rental-status-float", {"rental_status": 0.0}, "rental_status is 0.0"),
    ("rental-status-float-2", {"rental_status": 2.0}, "rental_status is 2.0"),
    ("rental-status-3", {"rental_status": 3}, "rental_status is 3, expected 0, 1 or 2"),
    ("rental-status-negative", {"rental_status": -1}, "rental_status is -1"),
    ("rental-status-null", {"rental_status": None}, "rental_status is null, expected 0, 1 or 2"),
    # prices: a JSON number, at least one satoshi, at most 1000, within 1000x of the rails
    ("price-string", {"pricing": {"bitcoin": "0.0001"}}, 'pricing.bitcoin is "0.0001"'),
    ("price-true", {"pricing": {"bitcoin": True}}, "pricing.bitcoin is true, expected a number"),
    ("price-false", {"spot_pricing": {"bitcoin": False}}, "spot_pricing.bitcoin is false"),
    ("price-null", {"pricing": {"bitcoin": None}}, "pricing.bitcoin is null"),
    ("price-list", {"spot_pricing": {"bitcoin": [0.00005]}}, "spot_pricing.bitcoin is [5e-05]"),
    ("prices-string", {"pricing": "0.0001"}, 'pricing is "0.0001", expected an object'),
    ("prices-list", {"spot_pricing": [0.00005]}, "spot_pricing is [5e-05], expected an object"),
    ("price-1e308", {"pricing": {"bitcoin": 1e308}}, "pricing.bitcoin 1e+308 is implausible"),
    ("price-1e-300", {"pricing": {"bitcoin": 1e-300}}, "pricing.bitcoin 1e-300 is implausible"),
    ("price-0", {"spot_pricing": {"bitcoin": 0}}, "spot_pricing.bitcoin 0.0 is implausible"),
    ("price-negative", {"pricing": {"bitcoin": -0.0001}}, "below one unit"),
    ("price-below-a-unit", {"spot_pricing": {"bitcoin": 0.000000009}}, "below one unit"),
    ("price-huge-integer", {"pricing": {"bitcoin": 10**400}}, "a number of a plausible size"),
    ("price-1001", {"pricing": {"bitcoin": 1001}}, "above 1000"),
    ("price-far-above-rails", {"pricing": {"bitcoin": 0.31}}, "a thousand times rails.on_demand"),
    ("price-far-below-rails", {"spot_pricing": {"bitcoin": 1.9e-8}}, "a thousandth of rails.spot"),
    ("price-missing", {"pricing": {"usd": 1}}, "lacks pricing.bitcoin"),
    # mrl: an integer number of hours, 6 to 3000
    ("mrl-string", {"mrl": "96"}, 'mrl is "96", expected a whole number'),
    ("mrl-true", {"mrl": True}, "mrl is true, expected a whole number"),
    ("mrl-float", {"mrl": 96.0}, "mrl is 96.0"),
    ("mrl-0", {"mrl": 0}, "mrl 0 h is implausible: the API allows 6 to 3000 h"),
    ("mrl-5", {"mrl": 5}, "mrl 5 h is implausible"),
    ("mrl-3001", {"mrl": 3001}, "mrl 3001 h is implausible"),
    ("mrl-negative", {"mrl": -1}, "mrl -1 h is implausible"),
    ("mrl-1e9", {"mrl": 10**9}, "mrl 1000000000 h is implausible"),
    ("mrl-null", {"mrl": None}, "lacks mrl"),
    # name and id
    ("name-number", {"name": 5}, "name is 5, expected a string"),
    ("id-string", {"id": "1"}, 'id is "1", expected a whole number'),
    ("id-true", {"id": True}, "id is true"),
    ("id-float", {"id": 1.5}, "id is 1.5"),
]


def _serve(rig: Rig, fields: dict[str, Any]) -> None:
    if "name" in fields:
        # The emulator finds servers by name: an answer under another name comes scripted.
        config = {**rig.emulator.server(SERVER), **fields}
        rig.emulator.faults.api_code(
            0, extra={"config": config, "creation_completed": True}, endpoint="server_config"
        )
    else:
        rig.emulator.update_server(SERVER, **fields)


def _refused(rig: Rig, words: str) -> str:
    result = rig.cli("reprice")
    assert result.returncode == 4, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(HEADLINE), line
    assert words in line, line
    assert "Traceback" not in result.stderr + result.stdout
    assert TOKEN not in result.stderr + result.stdout
    # Nothing written, and nothing asked but the one read (junk is not asked for again).
    assert rig.writes() == []
    assert [r.endpoint for r in rig.emulator.requests] == ["server_config"]
    return line


@pytest.mark.parametrize(("fields", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_implausible_answer_exits_4_with_one_line_and_writes_nothing(
    rig: Rig, fields: dict[str, Any], words: str
) -> None:
    _serve(rig, fields)
    _refused(rig, words)


def test_an_answer_about_another_server_is_refused(rig: Rig) -> None:
    _serve(rig, {"name": "someone-elses-rig"})
    line = _refused(rig, 'asked for server "demo-rig", the answer is for "someone-elses-rig"')
    assert line.startswith(HEADLINE)


# What the service may send for a currency it has not implemented (the seed: USD "not
# implemented yet"). Only bitcoin, the configured currency, is read as a price.
OTHER_CURRENCY: list[Any] = [None, "0", "", True, [], {"x": 1}, -1, 1e308, 10**400]


@pytest.mark.parametrize("junk", OTHER_CURRENCY, ids=[repr(j)[:16] for j in OTHER_CURRENCY])
def test_another_currencys_junk_price_is_not_read_and_the_write_goes_out(
    rig: Rig, junk: Any
) -> None:
    rig.emulator.update_server(
        SERVER,
        pricing={"bitcoin": 0.0001, "usd": junk},
        spot_pricing={"bitcoin": 0.00005, "usd": junk},
    )
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert len(rig.writes()) == 1


def test_a_fault_delisting_goes_out_whatever_another_currency_holds(rig: Rig) -> None:
    # The policy switches the server off on a fault; "usd": null must not keep it listed.
    (rig.root / "policy.toml").write_text(
        policy_text(
            """
[[rule]]
name = "off"
then.availability = false
"""
        )
    )
    rig.emulator.update_server(
        SERVER, pricing={"bitcoin": 0.0001, "usd": None}, spot_pricing={"bitcoin": 0.00005}
    )
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert rig.settings()[2] is False


def test_the_same_answer_with_plausible_values_is_written(rig: Rig) -> None:
    # The control: the rig's policy raises the price; with every value plausible it writes.
    rig.emulator.update_server(SERVER, availability=True, visibility="public", mrl=6)
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert len(rig.writes()) == 1


# -- exact prices on the wire -------------------------------------------------------------

NOISY_POLICY = policy_text(
    """
[[rule]]
name = "noisy"
then.on_demand = { set = 7.290000000000001e-05 }
then.spot = { relative_to = "on_demand", factor = 0.5 }
"""
)


def test_a_price_with_float_noise_goes_out_in_whole_units_and_an_interrupted_write_settles(
    rig: Rig,
) -> None:
    (rig.root / "policy.toml").write_text(NOISY_POLICY)
    rig.emulator.update_server(
        SERVER, pricing={"bitcoin": 0.00008}, spot_pricing={"bitcoin": 0.00004}
    )
    # The write lands; its answer is lost.
    rig.emulator.faults.lose_answer(endpoint="set_server_settings")
    assert rig.cli("reprice").returncode == 4
    # What the service read: exactly the whole units (json.loads("0.00007290") == 7.29e-05,
    # where the old body's 7.290000000000001e-05 was not).
    assert rig.writes() == [
        {"name": SERVER, "availability": True, "mrl": 72, "on_demand": 7.29e-05, "spot": 3.645e-05}
    ]
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert "from an interrupted run had been applied" in result.stdout
    assert len(rig.writes()) == 1  # not written again
