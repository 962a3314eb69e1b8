"""`clore-host init` against the emulator over loopback."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.cli import main
from clore_host.config import load_config
from clore_host.testing.emulator import Emulator, default_state

TOKEN = "init-secret-7c1d"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    state = default_state()
    state["tokens"] = [TOKEN]
    with Emulator(state) as emulator:
        monkeypatch.setenv("CLORE_API_URL", emulator.url)
        monkeypatch.setenv("CLORE_API_TOKEN", TOKEN)
        yield emulator


def test_init_writes_a_config_that_loads_and_a_private_token_file(
    api: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "etc" / "config.toml"
    code = main(["init", "--config", str(target), "--expected-gpus", "2"])
    assert code == 0, capsys.readouterr().err
    config = load_config(target)
    assert config.server.name == "demo-rig"  # the account's only server
    assert config.server.expected_gpus == 2
    assert config.api.base_url == api.url
    token_file = tmp_path / "etc" / "token"
    assert config.api.token_file == token_file.resolve()
    assert token_file.read_text().strip() == TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    assert main(["check", "--config", str(target)]) == 0


def test_init_refuses_to_overwrite_without_force(
    api: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    target.write_text("# mine\n")
    assert main(["init", "--config", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text() == "# mine\n"
    assert main(["init", "--config", str(target), "--force"]) == 0
    assert load_config(target).server.name == "demo-rig"


def test_an_unknown_server_name_lists_the_account_s_servers_and_writes_nothing(
    api: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target), "--server-name", "Rig-9"]) == 2
    err = capsys.readouterr().err
    assert "no server named 'Rig-9'" in err and "'demo-rig'" in err
    assert not target.exists() and not (tmp_path / "token").exists()


def test_a_refused_token_exits_3_and_writes_nothing(
    api: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLORE_API_TOKEN", "wrong-token")
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target)]) == 3
    err = capsys.readouterr().err
    assert "authentication failed" in err and "wrong-token" not in err
    assert not target.exists() and not (tmp_path / "token").exists()


def test_an_existing_token_file_is_used_and_kept(
    api: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLORE_API_TOKEN")
    token_file = tmp_path / "secret"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target), "--token-file", str(token_file)]) == 0
    assert load_config(target).api.token_file == token_file.resolve()
    assert token_file.read_text() == TOKEN
    token_file.chmod(0o644)  # now readable by others: refused, with the fix named
    assert main(["init", "--config", str(target), "--token-file", str(token_file), "--force"]) == 2


def test_an_existing_token_file_beside_the_config_is_not_overwritten(
    api: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text("old-token\n")
    assert main(["init", "--config", str(tmp_path / "config.toml")]) == 2
    assert "--token-file" in capsys.readouterr().err
    assert (tmp_path / "token").read_text() == "old-token\n"
    assert not (tmp_path / "config.toml").exists()


def test_a_config_path_under_a_file_is_one_clear_line(
    api: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("")
    assert main(["init", "--config", str(tmp_path / "afile" / "config.toml")]) == 4
    err = capsys.readouterr().err
    assert err.startswith("clore-host: cannot write") and len(err.strip().splitlines()) == 1


def test_a_mangled_token_is_refused_before_anything_is_sent(
    api: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLORE_API_TOKEN", f"{TOKEN} {TOKEN}")  # two tokens pasted
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target)]) == 2
    assert "not printable ASCII" in capsys.readouterr().err
    assert len(api.requests) == 0 and not target.exists()
