"""The agent's pure helpers: reading settings from server_config, comparing settings."""

from __future__ import annotations

import math

import pytest

from clore_host.api import ServerConfig
from clore_host.facts import Settings
from clore_host.observe.server import (
    ServerDataError,
    current_settings,
    rental_status_of,
    same_settings,
)


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
        ({"pricing": {"bitcoin": -1.0}}, "implausible"),
        ({"spot_pricing": {"bitcoin": math.inf}}, "implausible"),
    ],
)
def test_a_missing_or_implausible_setting_is_refused_not_guessed(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(ServerDataError, match=words):
        current_settings(config(**fields), "bitcoin")


@pytest.mark.parametrize("status", [None, 3, -1])
def test_an_unknown_rental_status_is_refused(status: object) -> None:
    with pytest.raises(ServerDataError, match="rental_status"):
        rental_status_of(config(rental_status=status))


def test_same_settings_tolerates_rounding_of_prices_only() -> None:
    a = Settings(0.000110000001, 0.000055, True, 72)
    assert same_settings(a, Settings(0.00011, 0.000055, True, 72))
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
