"""The systemd units in systemd/: valid for systemd, hardened, and still fit for NVML and HTTPS.

`systemd-analyze verify` checks that every ExecStart= binary exists, and
/opt/clore-host/bin/clore-host exists only once the .deb is installed (tests/packaging verifies the
installed unit). So these tests verify copies of the units in a temporary directory, identical but
for that one path, rewritten to an executable stub at the same layout under the temporary
directory: what is checked is the units' syntax and directives, not whether the agent is installed.
The security rating reads the units as they are. Skipped where systemd-analyze is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("clore-host.service", "clore-host-reprice.service", "clore-host-reprice.timer")
SERVICES = ("clore-host.service", "clore-host-reprice.service")
AGENT = "/opt/clore-host/bin/clore-host"
MAX_EXPOSURE = 3.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _analyze(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def _directives(unit: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment in the unit, in order; keys may repeat."""
    section = ""
    found: list[tuple[str, str, str]] = []
    for line in (UNIT_DIR / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{unit}: not an assignment: {line!r}"
        found.append((section, key.strip(), value.strip()))
    return found


def _values(unit: str, key: str) -> list[str]:
    return [v for s, k, v in _directives(unit) if s == "Service" and k == key]


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units copied to a temporary directory, ExecStart= pointing at a stub of the agent."""
    root = tmp_path_factory.mktemp("units")
    stub = root / AGENT.lstrip("/")
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS:
        text = (UNIT_DIR / unit).read_text()
        rewritten = re.sub(rf"^(ExecStart=){re.escape(AGENT)} ", rf"\g<1>{stub} ", text, flags=re.M)
        # Only the ExecStart= lines may differ: the staged copy is otherwise the unit itself.
        assert rewritten.count(str(stub)) == text.count(AGENT)
        (root / unit).write_text(rewritten)
    return root


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_verify_prints_nothing(staged: Path, unit: str) -> None:
    result = _analyze("verify", f"./{unit}", cwd=staged)
    assert (result.stdout + result.stderr).strip() == "", result.stdout + result.stderr
    assert result.returncode == 0


@needs_analyze
def test_verify_catches_a_bad_directive(staged: Path, tmp_path: Path) -> None:
    # The check above is only worth something if verify speaks up about a broken unit.
    broken = tmp_path / "clore-host.service"
    text = (staged / "clore-host.service").read_text()
    broken.write_text(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    result = _analyze("verify", "./clore-host.service", cwd=tmp_path)
    assert "Unknown key 'ProtectSytem'" in result.stdout + result.stderr


def _exposure(unit: str) -> float:
    result = _analyze("security", "--offline=true", f"./{unit}", cwd=UNIT_DIR)
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure figure in: {result.stdout[-500:]}{result.stderr}"
    return float(match.group(1))


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_is_low(unit: str) -> None:
    assert _exposure(unit) <= MAX_EXPOSURE


def test_daemon_talks_to_systemd() -> None:
    unit = "clore-host.service"
    assert _values(unit, "Type") == ["notify"]
    assert _values(unit, "NotifyAccess") == ["main"]
    assert _values(unit, "ExecStart") == [f"{AGENT} run --config /etc/clore-host/config.toml"]
    assert _values(unit, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert _values(unit, "WatchdogSec")
    assert _values(unit, "Restart") == ["on-failure"]
    unit_section = {k: v for s, k, v in _directives(unit) if s == "Unit"}
    assert "nvidia-persistenced.service" in unit_section["After"].split()
    assert "network-online.target" in unit_section["Wants"].split()


@pytest.mark.parametrize("unit", SERVICES)
def test_hardening_leaves_nvml_and_https_working(unit: str) -> None:
    # The exposure test rewards ever tighter settings; these are the ones that would break NVML
    # (device nodes, /proc/driver/nvidia, ioctl) or the API client (Internet sockets).
    assert "yes" not in _values(unit, "PrivateDevices")
    assert "pid" not in _values(unit, "ProcSubset")
    assert "yes" not in _values(unit, "PrivateNetwork")
    assert not _values(unit, "IPAddressDeny")
    assert _values(unit, "DevicePolicy") == ["closed"]
    assert "char-nvidia-frontend rw" in _values(unit, "DeviceAllow")
    families = " ".join(_values(unit, "RestrictAddressFamilies")).split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert _values(unit, "SystemCallFilter")[0] == "@system-service"  # the allow list has ioctl
    assert _values(unit, "ProtectSystem") == ["strict"]
    assert _values(unit, "StateDirectory") == ["clore-host"]
    assert _values(unit, "LoadCredential") == ["clore-api-token:/etc/clore-host/token"]


def test_oneshot_is_hardened_like_the_daemon() -> None:
    # Everything after the service-specific head of [Service] is shared: no drift between them.
    def shared(unit: str) -> list[tuple[str, str]]:
        rows = [(k, v) for s, k, v in _directives(unit) if s == "Service"]
        start = next(i for i, (k, _) in enumerate(rows) if k == "DynamicUser")
        return rows[start:]

    assert shared("clore-host-reprice.service") == shared("clore-host.service")
    assert _values("clore-host-reprice.service", "Type") == ["oneshot"]
    assert _values("clore-host-reprice.service", "ExecStart") == [
        f"{AGENT} reprice --config /etc/clore-host/config.toml"
    ]


def test_timer_starts_the_oneshot_persistently() -> None:
    timer = {k: v for s, k, v in _directives("clore-host-reprice.timer") if s == "Timer"}
    assert timer.get("Unit", "clore-host-reprice.service") == "clore-host-reprice.service"
    assert timer["Persistent"] == "true"
    assert timer["OnCalendar"]
    assert timer["RandomizedDelaySec"]
