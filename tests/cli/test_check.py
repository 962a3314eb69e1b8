"""`clore-host check` refuses everything `run` would refuse, each with its place in the file.

One case per kind of mistake, each through the command: exit 2, the file and the key named
(`config.toml: api.base_url: ...`), and no traceback. A config without the mistake passes, so
each case can fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clore_host.cli import main
from clore_host.config import load_config
from clore_host.issues import InputFileError
from clore_host.outputs.metrics import parse_listen
from clore_host.outputs.webhook import parse_url

# A valid config: the fake GPUs on a shipped scenario, the shipped default policy.
BASE = {
    "server": {"name": '"rig"'},
    "gpu": {"backend": '"fake"', "scenario": '"idle-rig"'},
    "policy": {"path": '"default"'},
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLORE_API_URL", raising=False)
    monkeypatch.setenv("CLORE_HOST_CONFIG", str(tmp_path / "absent.toml"))


def config_file(tmp_path: Path, section: str = "", key: str = "", value: str = "") -> Path:
    """BASE, with `[section] key = value` (TOML text) laid over it."""
    doc = {name: dict(keys) for name, keys in BASE.items()}
    if section:
        doc.setdefault(section, {})[key] = value
    lines: list[str] = []
    for name, keys in doc.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v}" for k, v in keys.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    value: str,
    *expected: str,
) -> str:
    """`check` on BASE with one value changed: exit 2, the place named, `expected` said."""
    path = config_file(tmp_path, section, key, value)
    code, out, err = check(path, capsys)
    assert code == 2, (out, err)
    assert f"{path}: {section}.{key}: " in err, err
    for text in expected:
        assert text in err, err
    assert "Traceback" not in err and "unexpected error" not in err
    assert "OK config" not in out
    return err


def test_the_base_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(config_file(tmp_path), capsys)
    assert (code, err) == (0, "")
    assert "OK config" in out and "OK policy" in out and "OK scenario" in out


# -- the API's address ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ['"ftp://api.clore.ai/v1"', '"api.clore.ai/v1"', '"https://"', '"not a url"', '"http://[::1"'],
)
def test_a_base_url_that_is_not_http_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    refused(tmp_path, capsys, "api", "base_url", url, "is not an http(s) URL")


def test_plain_http_to_another_host_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        tmp_path,
        capsys,
        "api",
        "base_url",
        '"http://api.clore.ai/v1"',
        "clear text",
        "api.allow_insecure = true",
    )
    path = config_file(tmp_path, "api", "base_url", '"http://api.clore.ai/v1"')
    path.write_text(path.read_text() + "allow_insecure = true\n")
    assert check(path, capsys)[0] == 0


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/v1", "http://127.1.2.3/v1", "http://localhost/v1", "http://[::1]:1/v1"],
)
def test_plain_http_to_this_machine_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    assert check(config_file(tmp_path, "api", "base_url", f'"{url}"'), capsys)[0] == 0


def test_clore_api_url_is_checked_as_the_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file(tmp_path)
    monkeypatch.setenv("CLORE_API_URL", "http://10.0.0.7/v1")
    code, _, err = check(path, capsys)
    assert code == 2
    assert f"{path}: api.base_url: $CLORE_API_URL" in err and "clear text" in err
    monkeypatch.setenv("CLORE_API_URL", "gopher://127.0.0.1/v1")
    assert "is not an http(s) URL" in check(path, capsys)[2]
    # The config's allow_insecure covers the override too.
    path.write_text(path.read_text() + "[api]\nallow_insecure = true\n")
    monkeypatch.setenv("CLORE_API_URL", "http://10.0.0.7/v1")
    assert check(path, capsys)[0] == 0


def test_every_command_refuses_the_address_as_check_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file(tmp_path, "api", "base_url", '"http://api.clore.ai/v1"')
    for command in (["plan"], ["api", "servers"], ["status"]):
        assert main([*command, "--config", str(path)]) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "api.base_url: " in err and "clear text" in err
    # Without a config, `api` takes $CLORE_API_URL and refuses it the same way.
    monkeypatch.setenv("CLORE_API_URL", "http://api.clore.ai/v1")
    monkeypatch.setenv("CLORE_API_TOKEN", "t0ken")
    assert main(["api", "servers"]) == 2
    assert "invalid setting: $CLORE_API_URL: " in capsys.readouterr().err


# -- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("api", "timeout"),
        ("gpu", "call_timeout"),
        ("webhook", "timeout"),
        ("agent", "sample_interval"),
        ("agent", "reconcile_interval"),
        ("agent", "backoff"),
        ("history", "raw_retention"),
    ],
)
@pytest.mark.parametrize("zero", ["0", '"0s"', "0.0"])
def test_a_zero_duration_that_makes_no_sense_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, zero: str
) -> None:
    refused(tmp_path, capsys, section, key, zero, "must be at least ")


# The least of each kind: positive is not enough (1e-300 s would spin the daemon, a timeout of
# a microsecond fails every call).
LEAST = [
    ("api", "timeout", "0.1s", "fails every call"),
    ("gpu", "call_timeout", "0.1s", "fails every call"),
    ("webhook", "timeout", "0.1s", "fails every call"),
    ("agent", "sample_interval", "0.1s", "spin the daemon"),
    ("agent", "backoff", "0.1s", "spin the daemon"),
    ("agent", "reconcile_interval", "1s", "spin the daemon"),
    ("history", "raw_retention", "1h", "answers no window"),
    ("history", "rollup_retention", "1h", "answers no window"),
]


@pytest.mark.parametrize(("section", "key", "least", "why"), LEAST)
@pytest.mark.parametrize("tiny", ["1e-300", "0.0001", '"0.001s"'])
def test_a_positive_duration_below_its_kinds_least_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    least: str,
    why: str,
    tiny: str,
) -> None:
    refused(tmp_path, capsys, section, key, tiny, f"must be at least {least}: ", why)


@pytest.mark.parametrize(("section", "key", "least", "why"), LEAST)
def test_a_duration_at_its_kinds_least_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, least: str, why: str
) -> None:
    path = config_file(tmp_path, section, key, f'"{least}"')
    if key == "rollup_retention":  # [history] is the last section: at least the raw one
        path.write_text(path.read_text() + f'raw_retention = "{least}"\n')
    code, _, err = check(path, capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("section", "key", "value", "said"),
    [
        ("api", "timeout", '"2h"', "at most 1h"),
        ("agent", "sample_interval", "1e300", "at most 1d"),
        ("api", "timeout", "-1", "cannot be negative"),
        ("gpu", "zero_gpus_grace", '"2y"', "is not a duration"),
    ],
)
def test_a_duration_out_of_range_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    value: str,
    said: str,
) -> None:
    refused(tmp_path, capsys, section, key, value, said)


def test_zero_grace_for_zero_gpus_is_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(config_file(tmp_path, "gpu", "zero_gpus_grace", "0"), capsys)[0] == 0


# -- the metrics address and the webhook URL ----------------------------------------------

BAD_LISTEN = [
    "nope",
    "9876",
    ":9876",
    "127.0.0.1",
    "127.0.0.1:x",
    "::1:9876",
    "127.0.0.1:70000",
    "127.0.0.1:\u0669\u0668",  # Arabic-Indic digits: not a port
    "bad host:80",
    "[not-v6]:80",
    "127.0.0.1:" + "9" * 5000,
]


@pytest.mark.parametrize("listen", BAD_LISTEN)
def test_a_bad_metrics_address_is_refused_as_run_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    with pytest.raises(ValueError):  # the daemon serves metrics through this
        parse_listen(listen)
    refused(tmp_path, capsys, "metrics", "listen", f'"{listen}"', 'is not "host:port"')


@pytest.mark.parametrize("listen", ["127.0.0.1:9876", "[::1]:9876", "localhost:0", "0.0.0.0:1"])
def test_a_good_metrics_address_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    assert check(config_file(tmp_path, "metrics", "listen", f'"{listen}"'), capsys)[0] == 0


BAD_WEBHOOKS = [
    "ftp://hooks.example/x",
    "hooks.example/x",
    "http://",
    "mailto:ops@example.com",
    "http://hooks example/x",
    "https://hooks.example:99999/x",
    "https://hooks.example/x\\u0007",
]


@pytest.mark.parametrize("url", BAD_WEBHOOKS)
def test_a_webhook_url_that_is_not_http_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    with pytest.raises(ValueError):  # the daemon's webhook reads its URL through this
        parse_url(url.replace("\\u0007", "\a"))
    refused(tmp_path, capsys, "webhook", "url", f'"{url}"', "is not an http(s) URL")


def test_a_good_webhook_url_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = '"https://hooks.example:8443/clore?key=abc"'
    assert check(config_file(tmp_path, "webhook", "url", url), capsys)[0] == 0


# -- numbers too large, and wrong types ---------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "digits"),
    [
        ("server", "expected_gpus", 5000),  # past Python's int limit: the TOML reader's error
        ("api", "retries", 400),
        ("api", "timeout", 400),  # too large for a float
        ("agent", "jitter", 400),
    ],
)
def test_an_integer_of_thousands_of_digits_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, digits: int
) -> None:
    path = config_file(tmp_path, section, key, "9" * digits)
    code, _, err = check(path, capsys)
    assert code == 2, err
    assert "Traceback" not in err and "unexpected error" not in err
    where = f"{path}: {section}.{key}: " if digits < 4300 else f"{path}: a number has too many"
    assert where in err, err


def test_an_integer_too_large_for_a_number_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not "a valid number, not an integer": an integer is a number; this one is too large.
    err = refused(tmp_path, capsys, "agent", "jitter", "9" * 400, "a number too large")
    assert "not an integer" not in err
    assert "an integer of 400 digits" in err


@pytest.mark.parametrize(
    ("line", "where", "said"),
    [
        (f"max_step = {'9' * 400}", "rails.max_step", "a percentage must be a finite number"),
        (f"deadband = {'9' * 400}", "rails.deadband", "a percentage must be a finite number"),
        (f"deadband = -{'9' * 400}", "rails.deadband", "a percentage must be a finite number"),
        (
            f"on_demand = {{ floor = 0.00005, ceiling = {'9' * 400} }}",
            "rails.on_demand.ceiling",
            "a number too large (an integer of 400 digits)",
        ),
    ],
)
def test_a_policy_number_too_large_for_a_float_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, where: str, said: str
) -> None:
    policy = tmp_path / "policy.toml"
    rails = "spot = { floor = 0.00002, ceiling = 0.0002 }"
    if not line.startswith("on_demand"):
        rails += "\non_demand = { floor = 0.00005, ceiling = 0.0003 }"
    policy.write_text(f"version = 1\n[rails]\n{rails}\n{line}\n")
    assert main(["check", "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert f"{policy}: {where}: {said}" in err, err
    assert "Traceback" not in err and "unexpected error" not in err


def test_a_policy_with_thousands_of_digits_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f"version = 1\nidle_threshold = {'9' * 5000}\n")
    assert main(["check", "--policy", str(policy)]) == 2
    assert f"{policy}: a number has too many digits" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "key", "value", "said"),
    [
        ("server", "expected_gpus", '"3"', "valid integer, not a string"),
        ("server", "expected_gpus", "3.0", "valid integer"),
        ("server", "name", "7", "valid string, not an integer"),
        ("api", "retries", '"3"', "valid integer, not a string"),
        ("api", "retries", "true", "valid integer, not true or false"),
        ("api", "allow_insecure", '"yes"', "valid boolean, not a string"),
        ("api", "allow_insecure", "1", "valid boolean, not an integer"),
        ("api", "timeout", "true", "expected a duration"),
        ("api", "token_file", "5", "expected a path"),
        ("api", "token_file", '""', "an empty path"),
        ("api", "base_url", "[1]", "valid string, not a list"),
        ("agent", "jitter", '"0.1"', "valid number, not a string"),
        ("gpu", "backend", "1", "'nvml' or 'fake'"),
        ("metrics", "listen", "9876", "valid string, not an integer"),
        ("policy", "path", "{ a = 1 }", "expected a path"),
        ("state", "dir", '"a\\u0000b"', "NUL"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    section: str,
    key: str,
    value: str,
    said: str,
) -> None:
    refused(tmp_path, capsys, section, key, value, said)


def test_a_wrong_top_level_type_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path)
    path.write_text("timezone = 0\n" + path.read_text())
    code, _, err = check(path, capsys)
    assert code == 2 and f"{path}: timezone: " in err


def test_one_run_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[server]\nname = "rig"\nexpected_gpus = "3"\n'
        '[api]\nbase_url = "http://api.clore.ai/v1"\ntimeout = 0\n'
        "[gpu]\ncall_timeout = 0\n"
        '[metrics]\nlisten = "nope"\n'
        '[webhook]\nurl = "ftp://x"\n'
    )
    code, _, err = check(path, capsys)
    assert code == 2
    assert "(6 errors)" in err
    for place in (
        "server.expected_gpus",
        "api.base_url",
        "api.timeout",
        "gpu.call_timeout",
        "metrics.listen",
        "webhook.url",
    ):
        assert f"{path}: {place}: " in err, place


def test_load_config_refuses_the_same(tmp_path: Path) -> None:
    """Every command loads the config through load_config: it refuses what check does."""
    with pytest.raises(InputFileError) as info:
        load_config(config_file(tmp_path, "gpu", "call_timeout", "0"))
    assert [issue.location for issue in info.value.issues] == ["gpu.call_timeout"]


def test_a_control_character_in_the_file_stays_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path)
    path.write_text(path.read_text() + '"bad\\u001b[31mkey\\nhere" = 1\n')
    code, _, err = check(path, capsys)
    assert code == 2
    assert "\x1b" not in err and "bad\\x1b[31mkey\\nhere" in err
    assert err.count("\n") == 1


# -- files that are not files -------------------------------------------------------------


def _check_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """`clore-host check ARGS` in a fresh process; a read that blocks fails by the timeout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    return subprocess.run(
        [sys.executable, "-m", "clore_host", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def test_a_config_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    result = _check_subprocess("--config", str(fifo))
    assert result.returncode == 2, result.stderr
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in result.stderr


def test_a_policy_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "policy.toml"
    os.mkfifo(fifo)
    config = config_file(tmp_path, "policy", "path", '"policy.toml"')
    result = _check_subprocess("--config", str(config))
    assert result.returncode == 2, result.stderr
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in result.stderr
    assert "OK config" in result.stdout


def test_a_policy_that_is_a_device_is_refused_at_once(tmp_path: Path) -> None:
    result = _check_subprocess("--config", str(tmp_path / "absent.toml"), "--policy", "/dev/zero")
    assert result.returncode == 2, result.stderr
    assert "/dev/zero: is a device, not a regular file" in result.stderr


def test_a_directory_is_not_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(tmp_path, capsys)
    assert code == 2 and f"{tmp_path}: is a directory, not a regular file" in err


# -- the token file -------------------------------------------------------------------------


def _token(tmp_path: Path, kind: str) -> Path:
    """A token file of one kind, at tmp_path/token."""
    token = tmp_path / "token"
    if kind == "fifo":
        os.mkfifo(token, 0o600)
    elif kind == "directory":
        token.mkdir(mode=0o700)
    elif kind != "missing":
        token.write_text("" if kind == "empty" else "a-token-123\n")
        token.chmod(0o644 if kind == "0644" else 0o640 if kind == "0640" else 0o600)
    return token


TOKEN_CASES = [
    ("0644", "is readable by group or others (mode 0644); run: chmod 600 "),
    ("0640", "is readable by group or others (mode 0640)"),
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("missing", "not found"),
    ("directory", "is not a regular file"),
    ("empty", "is empty"),
]


@pytest.mark.parametrize(("kind", "said"), TOKEN_CASES)
def test_a_token_file_run_refuses_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, said: str
) -> None:
    from clore_host.api.errors import TokenError
    from clore_host.api.token import load_token

    token = _token(tmp_path, kind)
    err = refused(tmp_path, capsys, "api", "token_file", '"token"', said)
    # As `run` says it: the very words load_token refuses the file with (exit 2).
    with pytest.raises(TokenError) as info:
        load_token(token, environ={})
    assert info.value.exit_code == 2
    assert f"config.toml: api.token_file: {info.value}" in err, err


def test_a_token_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    _token(tmp_path, "fifo")
    config = config_file(tmp_path, "api", "token_file", '"token"')
    result = _check_subprocess("--config", str(config))  # a read would block until the timeout
    assert result.returncode == 2, result.stderr
    assert "is a FIFO (named pipe), not a regular file" in result.stderr


def test_a_private_token_file_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _token(tmp_path, "0600")
    code, out, err = check(config_file(tmp_path, "api", "token_file", '"token"'), capsys)
    assert (code, err) == (0, "")
    assert "OK config" in out


def test_no_token_file_named_none_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under systemd the token is a credential the unit provides when it runs: nothing to check.
    monkeypatch.delenv("CLORE_API_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, _, err = check(config_file(tmp_path), capsys)
    assert (code, err) == (0, "")


def test_the_token_file_is_listed_with_the_configs_other_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token(tmp_path, "0644")
    path = config_file(tmp_path, "api", "token_file", '"token"')
    path.write_text(path.read_text() + '[metrics]\nlisten = "nope"\n')
    code, _, err = check(path, capsys)
    assert code == 2
    assert f"{path}: metrics.listen: " in err
    assert f"{path}: api.token_file: token file {token} is readable by group" in err


def test_the_token_file_is_listed_when_the_config_has_other_errors_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token(tmp_path, "fifo")
    path = config_file(tmp_path, "api", "token_file", '"token"')
    path.write_text(path.read_text() + "timeout = 0\n")  # [api] is the last section
    code, _, err = check(path, capsys)
    assert code == 2
    assert f"{path}: api.timeout: must be at least " in err
    assert f"{path}: api.token_file: token file {token} is a FIFO" in err


def test_a_proxy_run_would_refuse_is_a_check_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from clore_host.cli import main

    config = tmp_path / "config.toml"
    config.write_text('[server]\nname = "rig"\n[policy]\npath = "default"\n')
    monkeypatch.setenv("ALL_PROXY", "socks5://proxy.lan:1080")
    assert main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "api.base_url: ALL_PROXY names socks5://proxy.lan:1080" in err
    monkeypatch.delenv("ALL_PROXY")
    assert main(["check", "--config", str(config)]) == 0
