from __future__ import annotations

import os
from pathlib import Path

import pytest

from clore_host.config import (
    DEFAULT_CONFIG_PATH,
    api_base_url,
    config_path,
    load_config,
    load_policy,
    load_toml,
)
from clore_host.config.paths import api_url_problem, is_loopback, shipped_dir
from clore_host.issues import InputFileError, InvalidSetting

from ..fifo import within


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


# -- strict reading (the CLI cases are in tests/cli/test_check.py) -------------------------


def test_values_are_read_as_the_file_types_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nname = "rig"\nexpected_gpus = "3"\n'
        '[api]\nretries = "3"\nallow_insecure = "yes"\n',
    )
    with pytest.raises(InputFileError) as info:
        load_config(path)
    assert {i.location: i.message for i in info.value.issues} == {
        "server.expected_gpus": "Input should be a valid integer, not a string (in quotes)",
        "api.retries": "Input should be a valid integer, not a string (in quotes)",
        "api.allow_insecure": "Input should be a valid boolean, not a string (in quotes)",
    }


def test_well_typed_values_still_load(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[server]\nname = "rig"\nexpected_gpus = 3\n'
            '[api]\nretries = 0\nallow_insecure = true\ntimeout = 2\ntoken_file = "t"\n'
            "[agent]\njitter = 0\nsample_interval = 0.5\n",
        )
    )
    assert (config.server.expected_gpus, config.api.retries, config.api.allow_insecure) == (
        3,
        0,
        True,
    )
    assert (config.api.timeout, config.agent.jitter, config.agent.sample_interval) == (2, 0, 0.5)
    assert config.api.token_file == (tmp_path / "t").resolve()


def test_a_key_with_brackets_or_hyphens_is_located(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        load_config(write(tmp_path, '[server]\nname = "rig"\n"my-key" = 1\n"a[1]" = 2\n'))
    assert {i.location for i in info.value.issues} == {"server.my-key", "server.a[1]"}


# -- the API's address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.200.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("10.0.0.1", False),
        ("::", False),
        ("0.0.0.0", False),
        ("localhost.example.com", False),
        ("api.clore.ai", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("url", "allow_insecure", "problem"),
    [
        ("https://api.clore.ai/v1", False, None),
        ("http://127.0.0.1:5000/v1", False, None),
        ("http://api.clore.ai/v1", False, "clear text"),
        ("http://api.clore.ai/v1", True, None),
        ("ftp://api.clore.ai/v1", True, "not an http(s) URL"),
        ("https://api.clore.ai:0x50/v1", False, "not an http(s) URL"),
        ("https://api clore.ai/v1", False, "spaces or control characters"),
        ("https://api.clore.ai/v1\n", False, "spaces or control characters"),
        ("https://-bad-/v1", False, "names no valid host"),
    ],
)
def test_api_url_problems(url: str, allow_insecure: bool, problem: str | None) -> None:
    found = api_url_problem(url, allow_insecure=allow_insecure)
    assert found == problem if problem is None else (found is not None and problem in found)


def test_the_override_without_a_config_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLORE_API_URL", raising=False)
    assert api_base_url() == "https://api.clore.ai/v1"
    monkeypatch.setenv("CLORE_API_URL", "http://127.0.0.1:1/v1")
    assert api_base_url() == "http://127.0.0.1:1/v1"
    monkeypatch.setenv("CLORE_API_URL", "http://192.0.2.1/v1")
    with pytest.raises(InvalidSetting, match=r"\$CLORE_API_URL: .*clear text") as info:
        api_base_url()
    assert info.value.exit_code == 2
    assert api_base_url(allow_insecure=True) == "http://192.0.2.1/v1"


def test_an_insecure_override_is_located_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLORE_API_URL", "http://192.0.2.1/v1")
    with pytest.raises(InputFileError) as info:
        load_config(write(tmp_path, '[server]\nname = "rig"\n'))
    (issue,) = info.value.issues
    assert issue.location == "api.base_url" and issue.message.startswith("$CLORE_API_URL")


# -- files that are not regular files -------------------------------------------------------


def test_a_config_naming_a_fifo_policy_is_refused_when_the_policy_is_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "policy.toml")
    config = load_config(
        write(tmp_path, '[server]\nname = "rig"\n[policy]\npath = "policy.toml"\n')
    )
    exc = within(10, config.policy.path, lambda: load_policy(config.policy.path))
    assert isinstance(exc, InputFileError) and "is a FIFO" in exc.line()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused(device: str) -> None:
    with pytest.raises(InputFileError, match="is a device, not a regular file"):
        load_toml(device, "policy")


def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "config.toml").symlink_to(fifo)
    exc = within(10, fifo, lambda: load_config(tmp_path / "config.toml"))
    assert isinstance(exc, InputFileError) and "is a FIFO" in exc.line()


def test_a_file_too_large_to_be_a_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    with path.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: nothing is written
    with pytest.raises(InputFileError, match="is too large"):
        load_config(path)


def test_a_nul_in_a_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="NUL"):
        load_policy(str(tmp_path / "a\x00b"))
