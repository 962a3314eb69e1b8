"""A one-shot reprice's early read: sent first, taken over by the cycle, never a shortcut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent import Agent
from clore_host.config import load_config
from clore_host.early_read import Target, plain_target, send_early_read
from clore_host.lock import LockHeld, WriterLock
from clore_host.validation import load_toml

from ..rig import SERVER, Rig


def endpoints(rig: Rig) -> list[str]:
    return [r.endpoint for r in rig.emulator.requests.snapshot()]


CONFIG_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "the rig's own": {},
    "a duration string": {"api": {"timeout": "2m"}},
    "a fractional timeout": {"api": {"timeout": 2.5}},
    "absolute paths": {"api": {"token_file": "/etc/x/token"}, "state": {"dir": "/srv/state"}},
    "nested relative paths": {"api": {"token_file": "sub/../tok"}, "state": {"dir": "a/b"}},
}


@pytest.mark.parametrize("variant", CONFIG_VARIANTS, ids=list(CONFIG_VARIANTS))
@pytest.mark.parametrize("api_url_env", [None, "http://127.0.0.1:9/v1"])
def test_the_early_target_is_the_one_the_validated_config_names(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, variant: str, api_url_env: str | None
) -> None:
    if api_url_env is None:
        monkeypatch.delenv("CLORE_API_URL", raising=False)
    else:
        monkeypatch.setenv("CLORE_API_URL", api_url_env)
    rig.write_config(**CONFIG_VARIANTS[variant])
    early = plain_target(load_toml(rig.config, "config"), rig.config.parent)
    assert early == Target.of(load_config(rig.config))


def test_defaults_agree_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLORE_API_URL", raising=False)
    config = tmp_path / "config.toml"
    config.write_text('[server]\nname = "rig"\n')
    assert plain_target(load_toml(config, "config"), tmp_path) == Target.of(load_config(config))


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"server": {}},
        {"server": {"name": ""}},
        {"server": {"name": 7}},
        {"server": "rig"},
        {"server": {"name": "rig"}, "api": ["x"]},
        {"server": {"name": "rig"}, "api": {"base_url": 1}},
        {"server": {"name": "rig"}, "api": {"token_file": 3}},
        {"server": {"name": "rig"}, "api": {"timeout": True}},
        {"server": {"name": "rig"}, "api": {"timeout": [1]}},
        {"server": {"name": "rig"}, "api": {"timeout": "soon"}},
        {"server": {"name": "rig"}, "api": {"timeout": -1}},
        {"server": {"name": "rig"}, "state": {"dir": 5}},
        {"server": {"name": "rig"}, "state": {"dir": ""}},
    ],
)
def test_anything_unusual_means_no_early_target(raw: dict[str, Any], tmp_path: Path) -> None:
    assert plain_target(raw, tmp_path) is None


@pytest.mark.parametrize(
    "text", [None, "[server\nname = 'x'", '[server]\nname = "x"\n[api]\nbase_url = "ftp://x"\n']
)
def test_a_config_that_names_no_target_sends_nothing(rig: Rig, text: str | None) -> None:
    if text is None:
        rig.config.unlink()
    else:
        rig.config.write_text(text)
    assert send_early_read(rig.config) is None
    assert endpoints(rig) == []


def test_a_bad_token_sends_nothing_and_holds_no_lock(rig: Rig) -> None:
    (rig.root / "token").chmod(0o644)
    assert send_early_read(rig.config) is None
    assert endpoints(rig) == []
    WriterLock(rig.root / "state", SERVER).acquire()  # would raise LockHeld if left held


def test_the_early_read_holds_the_writer_lock_until_closed(rig: Rig) -> None:
    early = send_early_read(rig.config)
    assert early is not None and early.answer.outcome == "0"
    with pytest.raises(LockHeld):
        WriterLock(rig.root / "state", SERVER).acquire()
    early.close()
    with WriterLock(rig.root / "state", SERVER):
        pass


def test_no_early_read_while_another_writer_holds_the_lock(rig: Rig) -> None:
    with WriterLock(rig.root / "state", SERVER):
        assert send_early_read(rig.config) is None
    assert endpoints(rig) == []


def test_the_cycle_takes_over_the_early_read_instead_of_reading_again(rig: Rig) -> None:
    early = send_early_read(rig.config)
    agent = Agent.open(load_config(rig.config), early=early)
    try:
        assert agent.reconcile().outcome == "changed"
    finally:
        agent.close()
    assert endpoints(rig) == ["server_config", "set_server_settings"]


def test_an_early_read_sent_elsewhere_is_closed_and_the_cycle_reads_again(rig: Rig) -> None:
    early = send_early_read(rig.config)
    assert early is not None
    rig.write_config(api={"timeout": 3})  # the validated config no longer names that target
    agent = Agent.open(load_config(rig.config), early=early)
    try:
        # Its own lock: this raises LockHeld if the early read's lock was not released.
        assert agent.reconcile().outcome == "changed"
    finally:
        agent.close()
    assert endpoints(rig) == ["server_config", "server_config", "set_server_settings"]


def test_reaching_the_early_read_loads_no_pydantic(rig: Rig) -> None:
    code = (
        "import sys\n"
        "from clore_host.cli import reprice\n"
        "from clore_host.early_read import send_early_read\n"
        "early = send_early_read(sys.argv[1])\n"
        "print(early.answer.outcome, 'pydantic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(rig.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["0", "False"]


def test_reprice_sends_one_read_and_one_write_a_second_apart(rig: Rig) -> None:
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    read, write = rig.emulator.requests.snapshot()
    assert (read.endpoint, write.endpoint) == ("server_config", "set_server_settings")
    assert write.time - read.time >= 1.0


def test_a_failed_early_read_counts_as_the_first_attempt_and_is_retried(rig: Rig) -> None:
    rig.write_config(api={"retries": 1})
    rig.emulator.faults.http_status(503, endpoint="server_config")
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert endpoints(rig) == ["server_config", "server_config", "set_server_settings"]


def test_an_early_auth_failure_is_the_cycles_and_is_not_sent_twice(rig: Rig) -> None:
    rig.write_config(api={"retries": 2})
    (rig.root / "token").write_text("not-the-token")
    result = rig.cli("reprice")
    assert result.returncode == 3
    assert "authentication failed" in result.stderr
    assert endpoints(rig) == ["server_config"]


def test_an_unexpected_failure_gives_no_early_read_and_releases_the_lock(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("surprise")

    monkeypatch.setattr("clore_host.early_read.Connection.exchange", broken)
    assert send_early_read(rig.config) is None
    with WriterLock(rig.root / "state", SERVER):
        pass


def test_an_early_read_through_another_state_directory_still_keeps_the_spacing(
    rig: Rig,
) -> None:
    early = send_early_read(rig.config)
    assert early is not None
    # The cycle's rate limiter lives in another directory and never saw the early read; the
    # emulator refuses (code 5, and the rig allows no retry) a read sooner than 1 s after it.
    rig.write_config(state={"dir": "state2"})
    agent = Agent.open(load_config(rig.config), early=early)
    try:
        assert agent.reconcile().outcome == "changed"
    finally:
        agent.close()
    first, second, _ = rig.emulator.requests.snapshot()
    assert second.time - first.time >= 1.0
    assert [r.code for r in rig.emulator.requests.snapshot()] == [0, 0, 0]


def test_an_invalid_config_naming_a_valid_target_exits_2_and_writes_nothing(rig: Rig) -> None:
    rig.write_config(agent={"sample_interval": "often"})
    result = rig.cli("reprice")
    assert result.returncode == 2
    assert "agent.sample_interval" in result.stderr
    assert endpoints(rig) == ["server_config"]
    assert rig.settings() == (0.0001, 0.00005, True, 72)


def test_the_config_named_by_the_environment_gets_an_early_read_too(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLORE_HOST_CONFIG", str(rig.config))
    early = send_early_read(None)
    assert early is not None and early.target.server == SERVER
    early.close()
    assert endpoints(rig) == ["server_config"]
