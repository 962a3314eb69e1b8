"""`clore-host status` and `clore-host history` after a real change."""

from __future__ import annotations

import json

from ..rig import SERVER, Rig


def test_status_and_history_show_the_applied_change_and_its_reasons(rig: Rig) -> None:
    assert rig.cli("history").stdout.startswith("no changes applied")
    assert rig.cli("reprice").returncode == 0

    status = rig.cli("status")
    assert status.returncode == 0, status.stderr
    assert f"server      {SERVER} (not rented)" in status.stdout
    assert "on_demand=0.00011000 spot=0.00005500 availability=on mrl=72h" in status.stdout
    assert 'rule "test raise"' in status.stdout
    doc = json.loads(rig.cli("status", "--json").stdout)
    assert doc["settings"] == {
        "on_demand": 0.00011,
        "spot": 0.000055,
        "availability": True,
        "mrl": 72,
    }
    assert doc["last_change"]["after"]["on_demand"] == 0.00011
    assert doc["gpus"][0]["temperature"] == 35

    history = rig.cli("history", "--since", "1h")
    assert history.returncode == 0, history.stderr
    assert f"#1 {SERVER}" in history.stdout
    assert "on_demand 0.00010000 -> 0.00011000" in history.stdout
    (change,) = json.loads(rig.cli("history", "--json").stdout)
    assert change["before"]["on_demand"] == 0.0001 and change["after"]["on_demand"] == 0.00011
    assert any("test raise" in reason for reason in change["reasons"])
    assert rig.cli("history", "--since", "yesterday-ish").returncode == 2


def test_status_with_the_api_down_exits_4_with_one_line(rig: Rig) -> None:
    rig.emulator.stop()
    result = rig.cli("status")
    assert result.returncode == 4
    assert len(result.stderr.strip().splitlines()) == 1
    assert "API unavailable" in result.stderr


def test_check_validates_the_fake_backend_s_scenario(rig: Rig) -> None:
    assert rig.cli("check").returncode == 0
    (rig.root / "scenario.toml").write_text("[[gpu]]\nnonsense = 1\n")
    result = rig.cli("check")
    assert result.returncode == 2
    assert "scenario.toml" in result.stderr and "gpu[0].nonsense" in result.stderr


def test_a_server_the_account_does_not_have_is_invalid_input(rig: Rig) -> None:
    rig.write_config(server={"name": "not-my-rig"})
    result = rig.cli("plan")
    assert result.returncode == 2
    assert "refused the request as invalid" in result.stderr
