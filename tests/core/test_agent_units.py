"""The agent's pure helpers: reading settings from server_config (refusing anything missing
or implausible), comparing settings at the currency's unit."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from clore_host.api import ServerConfig
from clore_host.errors import describe
from clore_host.facts import Settings
from clore_host.observe.server import (
    ServerDataError,
    current_settings,
    rental_status_of,
    same_settings,
)
from clore_host.policy import parse_policy

RAILS = parse_policy(
    {
        "version": 1,
        "rails": {
            "on_demand": {"floor": 0.00005, "ceiling": 0.0003},
            "spot": {"floor": 0.00002, "ceiling": 0.0002},
        },
    }
).rails


def config(**fields: object) -> ServerConfig:
    base: dict[str, object] = {
        "name": "rig",
        "pricing": {"bitcoin": 0.0001},
        "spot_pricing": {"bitcoin": 0.00005},
        "mrl": 72,
        "visibility": "public",
        "rental_status": 1,
    }
    base.update(fields)
    return ServerConfig.model_validate(base)


def test_current_settings_read_every_field() -> None:
    assert current_settings(config(), "bitcoin") == Settings(0.0001, 0.00005, True, 72)
    assert current_settings(config(visibility="hidden"), "bitcoin").availability is False
    assert rental_status_of(config()) == "spot"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"pricing": {"usd": 1}}, "pricing.bitcoin"),
        ({"spot_pricing": None}, "spot_pricing.bitcoin"),
        ({"visibility": None}, "availability/visibility"),
        ({"mrl": None}, "mrl"),
        (
            {"pricing": {"bitcoin": -1.0}},
            "pricing.bitcoin -1.00000000 is implausible: below one unit",
        ),
        ({"pricing": {"bitcoin": 0}}, "pricing.bitcoin 0.0 is implausible: below one unit"),
        ({"spot_pricing": {"bitcoin": 1e-300}}, "1e-300 is implausible: below one unit"),
        ({"spot_pricing": {"bitcoin": 0.000000009}}, "below one unit"),
        ({"pricing": {"bitcoin": 1e308}}, "1e+308 is implausible: above 1000"),
        ({"spot_pricing": {"bitcoin": 1001}}, "above 1000"),
        ({"mrl": 0}, "mrl 0 h is implausible: the API allows 6 to 3000 h"),
        ({"mrl": 5}, "mrl 5 h is implausible"),
        ({"mrl": 3001}, "mrl 3001 h is implausible"),
        ({"mrl": -1}, "mrl -1 h is implausible"),
        ({"mrl": 10**9}, "mrl 1000000000 h is implausible"),
        ({"mrl": 10**400}, "mrl 100000... (401 digits) h is implausible"),
        ({"availability": False}, 'availability false disagrees with visibility "public"'),
        (
            {"availability": True, "visibility": "hidden"},
            'availability true disagrees with visibility "hidden"',
        ),
        ({"visibility": "secret"}, 'visibility "secret" is implausible'),
        ({"visibility": "x\n\x1b[31m"}, 'visibility "x??[31m" is implausible'),
    ],
)
def test_a_missing_or_implausible_setting_is_refused_not_guessed(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(ServerDataError) as info:
        current_settings(config(**fields), "bitcoin")
    assert words in str(info.value)
    code, line = describe(info.value)
    assert code == 4 and "\n" not in line
    assert line.startswith("inputs implausible, nothing changed: server_config ")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        # Within 1000x of the rails: a price set by hand, which the rails bring back.
        ({"pricing": {"bitcoin": 0.00000005}}, None),
        ({"pricing": {"bitcoin": 0.3}}, None),
        ({"spot_pricing": {"bitcoin": 0.2}}, None),
        # Beyond: implausible.
        ({"pricing": {"bitcoin": 0.00000004}}, "below a thousandth of rails.on_demand.floor"),
        ({"pricing": {"bitcoin": 0.31}}, "above a thousand times rails.on_demand.ceiling"),
        ({"spot_pricing": {"bitcoin": 0.000000019}}, "rails.spot.floor 0.00002000"),
        ({"spot_pricing": {"bitcoin": 0.2001}}, "rails.spot.ceiling 0.00020000"),
    ],
)
def test_prices_far_outside_the_rails_are_implausible(
    fields: dict[str, object], words: str | None
) -> None:
    if words is None:
        current_settings(config(**fields), "bitcoin", RAILS)
        current_settings(config(**fields), "bitcoin")  # without rails: the hard limits only
        return
    with pytest.raises(ServerDataError, match=words):
        current_settings(config(**fields), "bitcoin", RAILS)
    current_settings(config(**fields), "bitcoin")  # plausible without rails


def test_availability_alone_or_visibility_alone_is_read() -> None:
    assert (
        current_settings(config(availability=False, visibility=None), "bitcoin").availability
        is False
    )
    assert current_settings(config(visibility="private"), "bitcoin").availability is False
    assert current_settings(config(availability=True), "bitcoin").availability is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("availability", "false"),
        ("availability", 0),
        ("availability", 1),
        ("visibility", True),
        ("rental_status", True),
        ("rental_status", "2"),
        ("rental_status", 0.0),
        ("mrl", "96"),
        ("mrl", True),
        ("mrl", 96.0),
        ("pricing", "0.0001"),
        ("spot_pricing", [0.00005]),
        ("name", 5),
        ("id", "1"),
        ("id", True),
    ],
)
def test_a_value_of_the_wrong_json_type_is_not_coerced(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        config(**{field: value})
    assert info.value.errors()[0]["loc"][0] == field


# The configured currency's price, of the wrong JSON type or size: refused by current_settings
# (the maps themselves hold any JSON values: see the next test).
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"pricing": {"bitcoin": "0.0001"}}, 'pricing.bitcoin is "0.0001", expected a number'),
        ({"pricing": {"bitcoin": True}}, "pricing.bitcoin is true, expected a number"),
        ({"spot_pricing": {"bitcoin": False}}, "spot_pricing.bitcoin is false, expected a"),
        ({"spot_pricing": {"bitcoin": None}}, "spot_pricing.bitcoin is null, expected a number"),
        ({"pricing": {"bitcoin": [0.0001]}}, "pricing.bitcoin is [0.0001], expected a number"),
        ({"pricing": {"bitcoin": {"v": 1}}}, 'pricing.bitcoin is {"v": 1}, expected a number'),
        (
            {"pricing": {"bitcoin": 10**400}},
            f"pricing.bitcoin is 1{'0' * 36}..., expected a number of a plausible size",
        ),
        ({"spot_pricing": {"bitcoin": math.inf}}, "spot_pricing.bitcoin inf is implausible"),
        ({"spot_pricing": {"bitcoin": math.nan}}, "spot_pricing.bitcoin nan is implausible"),
    ],
)
def test_the_configured_currencys_price_must_be_a_json_number(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(ServerDataError) as info:
        current_settings(config(**fields), "bitcoin")
    code, line = describe(info.value)
    assert code == 4
    assert line.startswith("inputs implausible, nothing changed: server_config ")
    assert words in line


# What the service sends for the currencies it has not implemented (the seed: USD "not
# implemented yet"): any JSON value, never read as a price, never a reason to refuse.
OTHER_CURRENCY: list[object] = [
    None,
    "0",
    "",
    0,
    -1,
    True,
    [],
    {"a": 1},
    1e308,
    10**400,
    "\x1b[31m",
]


@pytest.mark.parametrize("junk", OTHER_CURRENCY, ids=[repr(j)[:20] for j in OTHER_CURRENCY])
def test_another_currencys_price_is_never_read(junk: object) -> None:
    answer = config(
        pricing={"bitcoin": 0.0001, "usd": junk}, spot_pricing={"usd": junk, "bitcoin": 0.00005}
    )
    assert current_settings(answer, "bitcoin") == Settings(0.0001, 0.00005, True, 72)
    assert current_settings(answer, "bitcoin", RAILS) == Settings(0.0001, 0.00005, True, 72)
    # ... and in the other direction: pricing in usd reads only usd, whatever bitcoin holds.
    flipped = config(pricing={"bitcoin": junk, "usd": 2.5}, spot_pricing={"usd": 1.25})
    assert current_settings(flipped, "usd") == Settings(2.5, 1.25, True, 72)


@pytest.mark.parametrize("status", [None, 3, -1])
def test_an_unknown_rental_status_is_refused(status: object) -> None:
    with pytest.raises(ServerDataError, match="rental_status"):
        rental_status_of(config(rental_status=status))


def test_same_settings_compares_prices_at_the_currency_unit() -> None:
    a = Settings(0.000110000001, 0.000055, True, 72)
    assert same_settings(a, Settings(0.00011, 0.000055, True, 72))
    # As the write went out and as the service reports it: 7.290000000000001e-05 is 7290 sat.
    assert same_settings(
        Settings(0.0001 * 0.729, 0.00005, True, 72), Settings(0.0000729, 0.00005, True, 72)
    )
    # One satoshi apart is another price (the old millionth tolerance took 0.000110000099
    # for 0.00011, and a tenth of a satoshi for none).
    assert not same_settings(a, Settings(0.00011001, 0.000055, True, 72))
    assert not same_settings(a, Settings(0.000111, 0.000055, True, 72))
    assert not same_settings(a, Settings(0.00011, 0.000055, False, 72))
    assert not same_settings(a, Settings(0.00011, 0.000055, True, 73))


def test_a_state_directory_failure_is_unavailable_with_the_file_named() -> None:
    import errno

    from clore_host.errors import describe

    code, line = describe(OSError(errno.ENOSPC, "No space left on device", "/var/lib/x"))
    assert code == 4
    assert (
        line == "state directory unavailable (/var/lib/x), nothing changed: No space left on device"
    )
