from __future__ import annotations

from pathlib import Path

import pytest

from clore_host.config import DEFAULT_CONFIG_PATH, config_path, load_config
from clore_host.config.paths import shipped_dir
from clore_host.issues import InputFileError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_minimal_config_gets_safe_defaults_and_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "scen.toml").write_text("")
    path = write(
        tmp_path,
        '[server]\nname = "rig"\n[gpu]\nbackend = "fake"\nscenario = "scen.toml"\n'
        '[state]\ndir = "state"\n[agent]\nreconcile_interval = "5m"\n',
    )
    config = load_config(path)
    assert config.server.currency == "bitcoin"
    assert config.agent.reconcile_interval == 300
    assert config.agent.sample_interval == 10
    assert config.gpu.scenario == (tmp_path / "scen.toml").resolve()
    assert config.state.dir == (tmp_path / "state").resolve()
    assert config.api.base_url == "https://api.clore.ai/v1"


def test_every_error_is_reported_with_its_location(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'timezone = "Mars/Olympus"\n[server]\nname = "rig"\nexpected_gpus = -1\nfoo = 1\n'
        '[agent]\nsample_interval = "often"\n[gpu]\nbackend = "amd"\n',
    )
    with pytest.raises(InputFileError) as info:
        load_config(path)
    locations = {issue.location for issue in info.value.issues}
    assert {
        "timezone",
        "server.expected_gpus",
        "server.foo",
        "agent.sample_interval",
        "gpu.backend",
    } <= locations
    text = info.value.render()
    assert str(path) in text and "unknown key" in text and "Mars/Olympus" in text


def test_missing_server_name_and_syntax_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"server: required key is missing"):
        load_config(write(tmp_path, "[api]\n"))
    with pytest.raises(InputFileError, match=r"TOML syntax error"):
        load_config(write(tmp_path, "[server\nname='x'"))
    with pytest.raises(InputFileError, match=r"file not found"):
        load_config(tmp_path / "absent.toml")


def test_only_bitcoin_pricing_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"server.currency"):
        load_config(write(tmp_path, '[server]\nname = "rig"\ncurrency = "CLORE-Blockchain"\n'))


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLORE_HOST_CONFIG", raising=False)
    assert config_path(None) == DEFAULT_CONFIG_PATH
    monkeypatch.setenv("CLORE_HOST_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(None) == tmp_path / "env.toml"
    assert config_path(tmp_path / "explicit.toml") == tmp_path / "explicit.toml"


def test_clore_api_url_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLORE_API_URL", "http://127.0.0.1:1/v1")
    config = load_config(write(tmp_path, '[server]\nname = "rig"\n'))
    assert config.api.base_url == "http://127.0.0.1:1/v1"


def test_bare_names_find_shipped_policies_and_scenarios(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text("")
    path = write(
        tmp_path,
        '[server]\nname = "rig"\n[gpu]\nscenario = "idle-rig"\n[policy]\npath = "mine.toml"\n',
    )
    config = load_config(path)
    assert config.gpu.scenario == shipped_dir("scenarios") / "idle-rig.toml"
    assert config.policy.path == (tmp_path / "mine.toml").resolve()  # the file beside it wins


def test_a_bare_name_that_is_neither_beside_the_config_nor_shipped_stays_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc, elsewhere = tmp_path / "etc", tmp_path / "cwd"
    etc.mkdir()
    elsewhere.mkdir()
    (elsewhere / "mine").write_text("")  # a file of that name in the working directory
    monkeypatch.chdir(elsewhere)
    config = load_config(write(etc, '[server]\nname = "rig"\n[policy]\npath = "mine"\n'))
    # Not the working directory's file: the config's own directory, where "not found" points.
    assert config.policy.path == (etc / "mine").resolve()


def test_the_fake_backend_needs_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"gpu: backend \"fake\" needs `scenario`"):
        load_config(write(tmp_path, '[server]\nname = "rig"\n[gpu]\nbackend = "fake"\n'))


def test_a_file_nested_too_deeply_is_an_input_error(tmp_path: Path) -> None:
    deep = "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n"
    with pytest.raises(InputFileError, match="nested too deeply"):
        load_config(write(tmp_path, deep))


def test_rollups_must_outlive_raw_samples(tmp_path: Path) -> None:
    text = '[server]\nname = "rig"\n[history]\nraw_retention = "2d"\nrollup_retention = "1h"\n'
    with pytest.raises(InputFileError, match="history: rollup_retention must be at least"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("value", ["inf", "nan", '"inf"'])
def test_an_endless_duration_is_refused_with_its_place(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputFileError, match=r"api\.timeout: .*finite"):
        load_config(write(tmp_path, f'[server]\nname = "rig"\n[api]\ntimeout = {value}\n'))
