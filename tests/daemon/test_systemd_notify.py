"""`clore-host run` under a stand-in systemd: the test binds NOTIFY_SOCKET and reads what the
daemon tells it (fake GPUs, the emulator over loopback)."""

from __future__ import annotations

import signal

from clore_host.testing.emulator import Emulator

from ..rig import Rig
from .standin import Systemd, daemon_config, start_daemon, stop


def test_ready_watchdog_status_reload_and_stop(rig: Rig, systemd: Systemd) -> None:
    daemon_config(rig)
    proc = start_daemon(rig, systemd)
    try:
        systemd.wait_for(lambda m: "READY=1" in m)
        first = systemd.wait_for(lambda m: m.startswith("WATCHDOG=1"))
        later = systemd.drain(3.0)  # a reconcile with a write holds the loop ~1 s (rate limit)
        assert sum(m.startswith("WATCHDOG=1") for m in later) >= 3, later
        statuses = {
            line for m in [first, *later] for line in m.splitlines() if line.startswith("STATUS=")
        }
        assert len(statuses) >= 2, statuses  # it says what it is doing, cycle by cycle
        assert rig.writes(), "the daemon decided and wrote the policy's change"

        proc.send_signal(signal.SIGHUP)
        systemd.wait_for(lambda m: "RELOADING=1" in m)
        systemd.wait_for(lambda m: "READY=1" in m)
    finally:
        code, took = stop(proc)
    assert any("STOPPING=1" in m for _, m in systemd.messages[-50:]) or systemd.drain(0.5)
    assert code == 0 and took < 5


def test_an_invalid_policy_on_reload_keeps_the_old_one(rig: Rig, systemd: Systemd) -> None:
    daemon_config(rig)
    proc = start_daemon(rig, systemd)
    try:
        systemd.wait_for(lambda m: "READY=1" in m)
        (rig.root / "policy.toml").write_text("version = 1\nrules = 'nonsense'\n")
        proc.send_signal(signal.SIGHUP)
        systemd.wait_for(lambda m: "RELOADING=1" in m)
        ready = systemd.wait_for(lambda m: "READY=1" in m)
        assert "keeping the running config and policy" in ready and "policy.toml" in ready
        later = systemd.drain(2.5)
        assert any(m.startswith("WATCHDOG=1") for m in later)  # still running, still healthy
    finally:
        code, _ = stop(proc)
    assert code == 0


def test_a_hung_gpu_call_stops_the_watchdog_pings(rig: Rig, systemd: Systemd) -> None:
    scenario = rig.root / "scenario.toml"
    scenario.write_text(scenario.read_text() + '\n[[fault]]\nkind = "hang"\nat = "2s"\n')
    daemon_config(rig)
    proc = start_daemon(rig, systemd)
    try:
        systemd.wait_for(lambda m: "READY=1" in m)
        systemd.wait_for(lambda m: m.startswith("WATCHDOG=1"))
        systemd.wait_for(lambda m: "timed out" in m, timeout=10)
        after = systemd.drain(1.5)
        assert after, "the daemon keeps reporting its status"
        assert not any(m.startswith("WATCHDOG=1") for m in after)
        assert any("degraded" in m for m in after)
    finally:
        code, took = stop(proc)
    assert code == 0 and took < 5


def test_the_api_going_away_and_coming_back(rig: Rig, systemd: Systemd) -> None:
    daemon_config(rig)
    proc = start_daemon(rig, systemd)
    port = rig.emulator.port
    try:
        systemd.wait_for(lambda m: "READY=1" in m)
        systemd.wait_for(lambda m: "STATUS=healthy" in m)
        rig.emulator.stop()
        systemd.wait_for(lambda m: "STATUS=degraded" in m and "API unavailable" in m)
        assert proc.poll() is None
        with Emulator(rig.emulator.state(), port=port) as back:
            systemd.wait_for(lambda m: "STATUS=healthy" in m, timeout=20)
            assert back.requests.for_endpoint("server_config"), "it resumed deciding"
    finally:
        code, _ = stop(proc)
    assert code == 0
