"""What the agent refuses with several currencies: a config that names them wrongly (check
says so, with its place), a currency the server does not take or converts itself (exit 2, a
setting to change), and an answer missing a price or with a nonsense one (exit 4, as for
bitcoin). Nothing is written in any case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clore_host.config import load_config
from clore_host.errors import EXIT_INVALID, EXIT_UNAVAILABLE, describe
from clore_host.issues import InputFileError

from .conftest import ALL, BTC, CLORE, USD, CurrencyRig, make_rig


def _config(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\nname = "rig"\n{server}\n')
    return path


@pytest.mark.parametrize(
    ("server", "where", "says"),
    [
        ('currencies = ["bitcoin", "ETH"]', "server.currencies[1]", "'ETH' is not a currency"),
        ("currencies = []", "server.currencies", 'at least one currency, e.g. ["bitcoin"]'),
        (
            'currencies = ["bitcoin", "bitcoin"]',
            "server.currencies",
            "bitcoin listed more than once",
        ),
        (
            'currencies = ["bitcoin"]\nreference_currency = "CLORE-Blockchain"',
            "server.reference_currency",
            '"CLORE-Blockchain" is not among `currencies` (bitcoin)',
        ),
        (
            'currency = "CLORE-Blockchain"',
            "server.currency",
            'only "bitcoin" here',
        ),
        (
            'currency = "bitcoin"\ncurrencies = ["bitcoin"]',
            "server.currency",
            "give `currencies` only",
        ),
        ('currencies = "bitcoin"', "server.currencies", "valid list"),
    ],
)
def test_check_names_each_mistake_with_its_place(
    tmp_path: Path, server: str, where: str, says: str
) -> None:
    with pytest.raises(InputFileError) as info:
        load_config(_config(tmp_path, server))
    (issue,) = info.value.issues
    assert issue.location == where
    assert says in issue.message


def test_the_reference_is_the_first_currency_unless_named(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'currencies = ["CLORE-Blockchain", "bitcoin"]'))
    assert config.server.reference == CLORE and config.server.currency == CLORE
    assert not config.server.seed_form
    config = load_config(
        _config(tmp_path, f'currencies = ["{CLORE}", "{BTC}"]\nreference_currency = "{BTC}"')
    )
    assert config.server.reference == BTC
    assert load_config(_config(tmp_path, "")).server.seed_form


def _refused(made: CurrencyRig, code: int, *parts: str) -> str:
    agent = made.agent()
    try:
        with pytest.raises(Exception) as info:
            agent.reconcile()
    finally:
        agent.close()
    exit_code, line = describe(info.value)
    assert exit_code == code, line
    for part in parts:
        assert part in line, line
    assert made.recording.bodies == []
    return line


@pytest.fixture
def made(tmp_path: Path) -> Any:
    rig = make_rig(tmp_path, currencies=ALL)
    try:
        yield rig
    finally:
        rig.rig.close()


def test_a_currency_the_server_does_not_take_is_a_setting_to_change(made: CurrencyRig) -> None:
    made.rig.emulator.update_server(made.rig.server, allowed_coins=[BTC, CLORE])
    line = _refused(made, EXIT_INVALID, "invalid setting", "USD-Blockchain", "allowed_coins")
    assert line == (
        'invalid setting: server.currencies names USD-Blockchain, which server "demo-rig" does '
        'not take (its allowed_coins: "bitcoin", "CLORE-Blockchain"): enable it in the '
        "CLORE.AI dashboard, or leave it out of server.currencies"
    )


def test_a_currency_the_service_converts_itself_is_refused(made: CurrencyRig) -> None:
    made.rig.emulator.update_server(made.rig.server, autoprice={CLORE: "usd", BTC: False})
    _refused(made, EXIT_INVALID, "autoprice on for CLORE-Blockchain", "dashboard")


def test_the_cli_exits_2_on_it(made: CurrencyRig) -> None:
    made.rig.emulator.update_server(made.rig.server, allowed_coins=[BTC])
    result = made.rig.cli("plan")
    assert result.returncode == EXIT_INVALID, result.stderr
    assert "does not take" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"allowed_coins": None}, "server_config lacks allowed_coins"),
        ({"allowed_coins": "bitcoin"}, 'allowed_coins is "bitcoin", expected a list'),
        ({"autoprice": "usd"}, 'autoprice is "usd", expected an object'),
        (
            {"pricing": {BTC: 0.0001, USD: 9.0}},
            "server_config lacks pricing.CLORE-Blockchain; refusing to guess",
        ),
        (
            {"spot_pricing": {BTC: 0.00005, CLORE: "200", USD: 4.5}},
            'spot_pricing.CLORE-Blockchain is "200", expected a number',
        ),
        (
            {"pricing": {BTC: 0.0001, CLORE: 0, USD: 9.0}},
            "pricing.CLORE-Blockchain 0.0 is implausible: below one unit of the currency",
        ),
        (
            {"pricing": {BTC: 0.0001, CLORE: 400.0, USD: 1e9}},
            "pricing.USD-Blockchain 1000000000.0 is implausible: above 1e+07",
        ),
        (
            # 0.0003 BTC (the ceiling) is 1167 CLORE: 2 million CLORE is no price set by hand.
            {"pricing": {BTC: 0.0001, CLORE: 2_000_000.0, USD: 9.0}},
            "pricing.CLORE-Blockchain 2000000.00000000 is implausible: above a thousand times "
            "rails.on_demand.ceiling (in bitcoin, converted) 1166.91729323",
        ),
    ],
)
def test_an_answer_missing_or_with_a_nonsense_price_blocks(
    made: CurrencyRig, fields: dict[str, Any], says: str
) -> None:
    made.rig.emulator.update_server(made.rig.server, **fields)
    _refused(made, EXIT_UNAVAILABLE, "inputs implausible, nothing changed", says)


def test_a_taken_currency_not_managed_needs_its_prices(tmp_path: Path) -> None:
    made = make_rig(tmp_path, currencies=[BTC, CLORE])
    made.rig.emulator.update_server(made.rig.server, pricing={BTC: 0.0001, CLORE: 400.0})
    try:
        _refused(
            made,
            EXIT_UNAVAILABLE,
            "server_config lacks a price above 0 in pricing.USD-Blockchain, a currency the "
            "server takes",
        )
    finally:
        made.rig.close()


def test_a_dry_run_refuses_the_same(made: CurrencyRig) -> None:
    made.rig.emulator.update_server(made.rig.server, allowed_coins=[BTC])
    agent = made.agent()
    try:
        with pytest.raises(Exception) as info:
            agent.reconcile(dry_run=True)
    finally:
        agent.close()
    assert describe(info.value)[0] == EXIT_INVALID
