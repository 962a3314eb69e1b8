"""`clore-host api` and `clore-host emulate`."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clore_host.cli import main
from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator

from .conftest import OTHER_SECRET, SECRET, make_state

pytestmark = pytest.mark.timeout(60)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CLORE_") and k != "CREDENTIALS_DIRECTORY"
    }
    return {**env, **extra}


@pytest.fixture
def emulate(tmp_path: Path) -> Iterator[str]:
    """`clore-host emulate` as a subprocess; yields its URL, stops it with SIGTERM."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps(make_state()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clore_host", "emulate", "--port", "0", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)  # a guard, not a wait
        assert ready, "emulate printed no URL"
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        yield url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clore_host", *args],
        capture_output=True,
        text=True,
        env=_clean_env(**env),
        timeout=30,
    )


def test_api_config_against_emulate(emulate: str) -> None:
    ok = _cli("api", "config", "demo-rig", CLORE_API_URL=emulate, CLORE_API_TOKEN=SECRET)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert "name           demo-rig" in lines
    assert "on-demand      0.00010000 bitcoin/day, 0.00000000 usd/day" in lines
    assert "spot minimum   0.00005000 bitcoin/day, 0.00000000 usd/day" in lines
    assert "max rental     72 h" in lines
    assert "rental status  0 (not rented)" in lines

    wrong = _cli("api", "config", "demo-rig", CLORE_API_URL=emulate, CLORE_API_TOKEN=OTHER_SECRET)
    assert wrong.returncode == 3
    assert wrong.stdout == ""
    assert wrong.stderr.splitlines() == [
        "clore-host: authentication failed: server_config: API code 3 (invalid API token)"
    ]
    assert OTHER_SECRET not in wrong.stderr

    as_json = _cli(
        "api", "config", "demo-rig", "--json", CLORE_API_URL=emulate, CLORE_API_TOKEN=SECRET
    )
    assert as_json.returncode == 0, as_json.stderr
    config = json.loads(as_json.stdout)["config"]
    assert (config["name"], config["mrl"], config["availability"]) == ("demo-rig", 72, True)


# -- in process: exit codes, with a FakeClock so retries do not sleep -------------------------


@pytest.fixture
def fake_cli_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    """The emulator's clock; the command's own client waits in real time, as a person's does."""
    for name in ("CLORE_API_URL", "CLORE_API_TOKEN", "CLORE_HOST_CONFIG", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    return clock


def _one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_servers_listing(
    fake_cli_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(make_state(), clock=fake_cli_clock) as emu:
        monkeypatch.setenv("CLORE_API_URL", emu.url)
        monkeypatch.setenv("CLORE_API_TOKEN", SECRET)
        assert main(["api", "servers"]) == 0
        line = _one_line(capsys.readouterr().out)
        assert line.startswith("demo-rig  id 1  public  online  on-demand 0.00010000 bitcoin/day")
        fake_cli_clock.advance(1.0)  # the person types the next command
        assert main(["api", "servers", "--json"]) == 0
        servers = json.loads(capsys.readouterr().out)["servers"]
        assert [s["name"] for s in servers] == ["demo-rig"]
        assert "init_token" not in servers[0]


def test_unreachable_exits_4(
    fake_cli_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    with Emulator(make_state(), clock=fake_cli_clock) as emu:
        url = emu.url
    monkeypatch.setenv("CLORE_API_URL", url)
    monkeypatch.setenv("CLORE_API_TOKEN", SECRET)
    cfg = tmp_path / "config.toml"  # no retries: their backoff would wait in real time
    cfg.write_text('[server]\nname = "demo-rig"\n[api]\nretries = 0\n[state]\ndir = "state"\n')
    assert main(["--log-level", "error", "api", "config", "demo-rig", "--config", str(cfg)]) == 4
    assert _one_line(capsys.readouterr().err).startswith(
        "clore-host: API unavailable, nothing changed: server_config: cannot connect to"
    )


def test_missing_token_exits_2(
    fake_cli_clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["api", "servers"]) == 2
    assert "no API token" in _one_line(capsys.readouterr().err)


def test_config_file_is_used(
    fake_cli_clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text(SECRET + "\n")
    token.chmod(0o644)
    with Emulator(make_state(), clock=fake_cli_clock) as emu:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            f'[server]\nname = "demo-rig"\n[api]\nbase_url = "{emu.url}"\n'
            f'token_file = "token"\n[state]\ndir = "state"\n'
        )
        (tmp_path / "state").mkdir()
        assert main(["api", "config", "demo-rig", "--config", str(cfg)]) == 2
        assert f"chmod 600 {token}" in _one_line(capsys.readouterr().err)
        token.chmod(0o600)
        assert main(["api", "config", "demo-rig", "--config", str(cfg)]) == 0
        assert "demo-rig" in capsys.readouterr().out
        # The daemon's rate limiter in the state directory is shared.
        assert (tmp_path / "state" / "api-ratelimit").exists()
        assert len(emu.requests) == 1


def test_unknown_server_exits_1(
    fake_cli_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(make_state(), clock=fake_cli_clock) as emu:
        monkeypatch.setenv("CLORE_API_URL", emu.url)
        monkeypatch.setenv("CLORE_API_TOKEN", SECRET)
        assert main(["api", "config", "ghost"]) == 2  # invalid input, as the README says
    assert "unknown server name 'ghost'" in _one_line(capsys.readouterr().err)


def test_emulate_rejects_bad_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "state.json"
    bad.write_text("{}")
    assert main(["emulate", "--state", str(bad)]) == 2
    assert "tokens must be a list" in _one_line(capsys.readouterr().err)


# -- the token never printed, even from a successful answer ---------------------------------

ODD_SECRET = 'tok-"Quote\\Back7'  # JSON escapes it: "tok-\"Quote\\Back7"


@pytest.mark.parametrize("secret", [SECRET, ODD_SECRET])
@pytest.mark.parametrize(
    "args",
    [
        ("api", "config", "demo-rig", "--json"),
        ("api", "config", "demo-rig"),
        ("api", "servers", "--json"),
        ("api", "servers"),
    ],
)
def test_a_token_echoed_in_a_successful_answer_is_scrubbed(
    fake_cli_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret: str,
    args: tuple[str, ...],
) -> None:
    state = make_state()
    state["tokens"] = [secret]
    with Emulator(state, clock=fake_cli_clock) as emu:
        # The service echoes the token back: in the background job, the specs, even a name.
        emu.update_server(
            "demo-rig",
            background_job={"image": "x", "command": f"run --auth {secret}", secret: 1},
            specs={"gpu": f"1x {secret}", "notes": [secret]},
            visibility="public",
        )
        monkeypatch.setenv("CLORE_API_URL", emu.url)
        monkeypatch.setenv("CLORE_API_TOKEN", secret)
        assert main(list(args)) == 0
    out = capsys.readouterr().out
    escaped = json.dumps(secret)[1:-1]
    assert secret not in out and escaped not in out
    if args[1] == "config" and "--json" in args:
        config = json.loads(out)["config"]
        assert config["background_job"] == {"image": "x", "command": "run --auth ***", "***": 1}
        assert config["specs"]["notes"] == ["***"]
    elif args[1] == "config":
        assert "gpu            1x ***" in out.splitlines()
    elif "--json" in args:
        assert json.loads(out)["servers"][0]["specs"]["gpu"] == "1x ***"


# The service's strings in the text form: shown on their own line, never obeyed by the terminal
# (an ESC sequence that colours it or clears the screen, a line break that forges a row).
ESC_GPU = "1x RTX\x1b[31m 4090\nname           forged\r\x9b2J"
ESC_VISIBILITY = "\x1b]0;title\x07public"


@pytest.mark.parametrize("args", [("api", "config", "demo-rig"), ("api", "servers")])
def test_the_text_form_shows_the_services_strings_escaped(
    fake_cli_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
) -> None:
    state = make_state()
    server = state["servers"][0]
    server["specs"]["gpu"] = ESC_GPU
    server["visibility"] = ESC_VISIBILITY
    server["pricing"] = {"bitcoin": 0.0001, "usd\x1b[2J": None, "eur": "\x1b[5m1"}
    with Emulator(state, clock=fake_cli_clock) as emu:
        monkeypatch.setenv("CLORE_API_URL", emu.url)
        monkeypatch.setenv("CLORE_API_TOKEN", SECRET)
        assert main(list(args)) == 0
    out = capsys.readouterr().out
    assert not any(ch in out for ch in "\x1b\x07\x9b\r"), repr(out)
    lines = out.splitlines()
    prices = '0.00010000 bitcoin/day, null usd\\x1b[2J/day, "\\u001b[5m1" eur/day'
    if args[1] == "config":
        assert len(lines) == 9, lines
        assert "gpu            1x RTX\\x1b[31m 4090\\nname           forged\\r\\x9b2J" in lines
        assert "available      yes (visibility \\x1b]0;title\\x07public)" in lines
        assert f"on-demand      {prices}" in lines
    else:
        (line,) = lines
        assert line.startswith("demo-rig  id 1  \\x1b]0;title\\x07public  online  ")
        assert f"on-demand {prices}  spot min" in line
