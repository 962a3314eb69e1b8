"""`clore-host reprice` end to end: the CLI as a subprocess, the emulator, fake GPUs."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from clore_host.history import History

from ..rig import SERVER, STEADY_POLICY, TOKEN, Rig


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    return lines[0]


def test_a_policy_change_is_applied_with_all_five_fields(rig: Rig) -> None:
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout and 'rule "test raise"' in result.stdout
    assert rig.writes() == [
        {"name": SERVER, "availability": True, "mrl": 72, "on_demand": 0.00011, "spot": 0.000055}
    ]
    assert rig.settings() == (0.00011, 0.000055, True, 72)
    with History.open(rig.root / "state" / "history.db") as history:
        (change,) = history.changes()
    assert change.after.on_demand == 0.00011
    assert any("test raise" in reason for reason in change.reasons)


def test_nothing_to_change_sends_no_write(rig: Rig) -> None:
    (rig.root / "policy.toml").write_text(STEADY_POLICY)
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert "no change" in result.stdout
    assert rig.writes() == []
    assert [r.endpoint for r in rig.emulator.requests] == ["server_config"]


def test_dry_run_and_plan_send_no_write(rig: Rig) -> None:
    for args in (("reprice", "--dry-run"), ("plan",), ("plan", "--json")):
        result = rig.cli(*args)
        assert result.returncode == 0, result.stderr
        # The plan line's price form, or the JSON number.
        assert "0.00011000" in result.stdout or "0.00011" in result.stdout
    assert json.loads(result.stdout)["plan"]["changed"] is True
    assert rig.writes() == []
    assert rig.settings() == (0.0001, 0.00005, True, 72)


API_FAULTS = [
    ("http_status", {"status": 500}, 4, "HTTP status 500"),
    ("too_many_requests", {"retry_after": 1.0}, 4, "429"),
    ("malformed", {}, 4, "not JSON"),
    ("drop", {}, 4, "connection"),
    ("slow", {"delay": 1.5}, 4, "no answer"),
    ("api_code", {"code": 1}, 4, "database"),
    ("api_code", {"code": 2}, 2, "invalid"),
    ("api_code", {"code": 3}, 3, "authentication failed"),
    ("api_code", {"code": 4}, 4, "endpoint"),
    ("api_code", {"code": 5}, 4, "request/second"),
    ("api_code", {"code": 6, "error": "server_busy"}, 4, "server_busy"),
]


# Failed writes whose outcome is unknown: no answer, a 5xx, an answer not from the API, or the
# service's own database failing mid-request.
WRITE_IN_DOUBT = {
    ("http_status", None),
    ("malformed", None),
    ("drop", None),
    ("slow", None),
    ("api_code", 1),
}


@pytest.mark.parametrize(
    ("fault", "kwargs", "code", "words"), API_FAULTS, ids=[f"{f}-{k}" for f, k, _, _ in API_FAULTS]
)
@pytest.mark.parametrize("endpoint", ["server_config", "set_server_settings"])
def test_each_api_failure_changes_nothing_with_the_documented_code(
    rig: Rig, fault: str, kwargs: dict[str, object], code: int, words: str, endpoint: str
) -> None:
    getattr(rig.emulator.faults, fault)(endpoint=endpoint, **kwargs)
    before = rig.settings()
    result = rig.cli("reprice")
    assert result.returncode == code, result.stderr
    line = one_line(result.stderr)
    assert words.lower() in line.lower()
    if endpoint == "set_server_settings" and (fault, kwargs.get("code")) in WRITE_IN_DOUBT:
        # Sent, and no answer that refuses it: it may have landed, and the line says so.
        assert line.startswith("clore-host: the write may have been applied; the next run checks")
        assert "nothing changed" not in line
    else:
        assert "nothing changed" in line or code == 3
    assert TOKEN not in result.stderr + result.stdout
    if not (fault == "slow" and endpoint == "set_server_settings"):
        assert rig.settings() == before  # a slow write may still land: settled next run


def test_a_wrong_token_exits_3(rig: Rig) -> None:
    (rig.root / "token").write_text("not-the-token")
    result = rig.cli("reprice")
    assert result.returncode == 3
    assert "authentication failed" in one_line(result.stderr)
    assert rig.writes() == []


def test_a_token_file_readable_by_others_is_refused(rig: Rig) -> None:
    (rig.root / "token").chmod(0o644)
    result = rig.cli("reprice")
    assert result.returncode == 2
    assert "chmod 600" in one_line(result.stderr)
    assert len(rig.emulator.requests) == 0


def test_an_invalid_policy_exits_2_and_writes_nothing(rig: Rig) -> None:
    (rig.root / "policy.toml").write_text("version = 1\n[rails]\nmax_step = 'lots'\n")
    result = rig.cli("reprice")
    assert result.returncode == 2
    assert "policy.toml" in result.stderr
    assert len(rig.emulator.requests) == 0


def test_plan_with_an_invalid_policy_contacts_nobody(rig: Rig) -> None:
    (rig.root / "policy.toml").write_text("version = 1\n[rails]\nmax_step = 'lots'\n")
    result = rig.cli("plan")
    assert result.returncode == 2
    assert "policy.toml" in result.stderr
    assert len(rig.emulator.requests) == 0


GPU_FAULTS = ["library_not_found", "driver_not_loaded", "hang"]


@pytest.mark.parametrize("kind", GPU_FAULTS)
def test_each_gpu_fault_changes_nothing_and_exits_4(rig: Rig, kind: str) -> None:
    scenario = rig.root / "scenario.toml"
    scenario.write_text(scenario.read_text() + f'\n[[fault]]\nkind = "{kind}"\nat = 0\n')
    result = rig.cli("reprice")
    assert result.returncode == 4, result.stderr
    assert "GPUs unavailable, nothing changed" in one_line(result.stderr)
    assert rig.writes() == []
    assert rig.settings() == (0.0001, 0.00005, True, 72)


def test_a_lost_gpu_is_a_fact_the_policy_acts_on_not_a_failure(rig: Rig) -> None:
    scenario = rig.root / "scenario.toml"
    scenario.write_text(scenario.read_text() + '\n[[fault]]\nkind = "gpu_lost"\ngpu = 0\nat = 0\n')
    (rig.root / "policy.toml").write_text(
        STEADY_POLICY + '\n[[rule]]\nname = "fault"\nwhen = { fact = "gpu_lost" }\n'
        "then.availability = false\neven_if_rented = true\n"
    )
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert rig.writes() == [
        {"name": SERVER, "availability": False, "mrl": 72, "on_demand": 0.0001, "spot": 0.00005}
    ]


def test_another_writer_holding_the_lock_exits_5(rig: Rig) -> None:
    from clore_host.agent.lock import WriterLock

    with WriterLock(rig.root / "state", SERVER):
        result = rig.cli("reprice")
    assert result.returncode == 5
    assert "another clore-host process" in one_line(result.stderr)
    assert len(rig.emulator.requests) == 0


def test_killed_mid_write_leaves_no_partial_write_and_the_next_run_converges(rig: Rig) -> None:
    # The write reaches the emulator, whose answer is held back; the run is SIGKILLed while
    # it waits, so it never records the change as done.
    rig.emulator.faults.slow(5.0, endpoint="set_server_settings")
    proc = rig.popen("reprice")
    deadline = time.monotonic() + 20
    while not rig.emulator.requests.for_endpoint("set_server_settings"):
        assert time.monotonic() < deadline, "the write never arrived"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Either all five fields landed or none did: a write is one request.
    assert rig.settings() in {(0.0001, 0.00005, True, 72), (0.00011, 0.000055, True, 72)}
    with History.open(rig.root / "state" / "history.db") as history:
        assert [c.status for c in history.pending_changes()] == ["pending"]
        assert history.changes() == []
    time.sleep(0)  # the emulator finishes the held answer on its own thread
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert "interrupted run" in result.stdout
    assert rig.settings() == (0.00011, 0.000055, True, 72)
    with History.open(rig.root / "state" / "history.db") as history:
        assert history.pending_changes() == []
        applied = history.changes()
    assert len(applied) == 1 and applied[0].after.on_demand == 0.00011


def test_killed_before_the_write_lands_the_next_run_writes_once(rig: Rig, tmp_path: Path) -> None:
    # The connection is dropped on the write: the server never applied it.
    rig.emulator.faults.drop(endpoint="set_server_settings")
    assert rig.cli("reprice").returncode == 4
    assert rig.settings() == (0.0001, 0.00005, True, 72)
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert "never reached the server" in result.stdout
    assert rig.settings() == (0.00011, 0.000055, True, 72)
    with History.open(rig.root / "state" / "history.db") as history:
        statuses = sorted(c.status for c in history.changes(status=None))
    assert statuses == ["abandoned", "applied"]


def test_implausible_settings_from_the_api_exit_4_and_write_nothing(rig: Rig) -> None:
    rig.emulator.update_server(SERVER, spot_pricing={"bitcoin": 0.0, "usd": 0})
    result = rig.cli("reprice")
    assert result.returncode == 4, result.stderr
    assert "inputs implausible, nothing changed" in one_line(result.stderr)
    assert rig.writes() == []


def test_a_write_that_cannot_be_recorded_says_so_and_the_next_run_records_it(rig: Rig) -> None:
    from clore_host.agent import Agent
    from clore_host.config import load_config
    from clore_host.errors import describe
    from clore_host.history import HistoryError

    agent = Agent.open(load_config(rig.config))
    try:

        def broken(*args: object) -> None:
            raise HistoryError("history database is full")

        agent.history.mark_change = broken  # type: ignore[method-assign,assignment]
        with pytest.raises(Exception) as info:
            agent.reconcile()
    finally:
        agent.close()
    code, line = describe(info.value)
    assert code == 4 and line.startswith("settings written, but not yet recorded as applied")
    assert rig.settings() == (0.00011, 0.000055, True, 72)
    result = rig.cli("reprice")
    assert result.returncode == 0 and "had been applied" in result.stdout


def _endpoints(rig: Rig) -> list[str]:
    return [r.endpoint for r in rig.emulator.requests.snapshot()]


def test_reprice_sends_one_read_and_one_write_a_second_apart(rig: Rig) -> None:
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    read, write = rig.emulator.requests.snapshot()
    assert (read.endpoint, write.endpoint) == ("server_config", "set_server_settings")
    assert write.time - read.time >= 1.0


def test_a_failed_first_read_is_retried(rig: Rig) -> None:
    rig.write_config(api={"retries": 1})
    rig.emulator.faults.http_status(503, endpoint="server_config")
    result = rig.cli("reprice")
    assert result.returncode == 0, result.stderr
    assert _endpoints(rig) == ["server_config", "server_config", "set_server_settings"]


def test_an_auth_failure_is_not_sent_twice(rig: Rig) -> None:
    rig.write_config(api={"retries": 2})
    (rig.root / "token").write_text("not-the-token")
    result = rig.cli("reprice")
    assert result.returncode == 3
    assert "authentication failed" in result.stderr
    assert _endpoints(rig) == ["server_config"]
