"""The Debian package, end to end: build, inspect, install, run, verify, remove, purge.

It installs into the machine's root file system, so it runs only where that is meant to happen
(a throwaway CI machine): as root, with dpkg-deb and apt-get, and CLORE_HOST_DEB_TEST=1 set. The
build downloads the dependencies' wheels from PyPI.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from clore_host import __version__
from clore_host.config import load_toml

REPO = Path(__file__).resolve().parents[2]
UNITS = ("clore-host.service", "clore-host-reprice.service", "clore-host-reprice.timer")
PYTHONS = ("3.10", "3.11", "3.12")
WANTS = "/etc/systemd/system/multi-user.target.wants/clore-host.service"


def _why_not() -> str | None:
    if os.environ.get("CLORE_HOST_DEB_TEST") != "1":
        return "installs a .deb into this machine: set CLORE_HOST_DEB_TEST=1 on a throwaway one"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to install the .deb"
    for tool in ("dpkg-deb", "apt-get", "dpkg-query"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


pytestmark = [
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
    pytest.mark.timeout(900),
]


def _run(
    *args: str | Path, ok: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env
    )
    if ok:
        assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


def _installed() -> bool:
    result = _run("dpkg-query", "-W", "-f=${Status}", "clore-host", ok=False)
    return result.returncode == 0 and "installed" in result.stdout.split()[-1:]


def _version() -> str:
    version = load_toml(REPO / "pyproject.toml", "pyproject")["project"]["version"]
    assert isinstance(version, str)
    return version


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The .deb, built once per test run: xdist workers share it through a lock."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one directory per run
    out = shared / "clore-host-deb"
    path = out / f"clore-host_{_version()}_all.deb"
    with open(shared / "clore-host-deb.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            printed = _run("bash", REPO / "packaging" / "build-deb.sh", out).stdout.split()
            assert Path(printed[-1]) == path
    return path


def _field(info: str, name: str) -> str:
    match = re.search(rf"^ {name}: (.*)$", info, flags=re.M)
    assert match, f"no {name} field in:\n{info}"
    return match.group(1)


def test_package_holds_what_the_rig_needs(deb: Path, tmp_path: Path) -> None:
    info = _run("dpkg-deb", "-I", deb).stdout
    assert _field(info, "Package") == "clore-host"
    assert _field(info, "Version") == _version() == __version__
    assert _field(info, "Architecture") == "all"
    depends = _field(info, "Depends")
    assert "python3 (>= 3.10)" in depends
    assert "python3-venv" in depends

    listing = _run("dpkg-deb", "-c", deb).stdout
    paths = {line.split()[-1].removeprefix(".") for line in listing.splitlines()}
    policies = sorted(p.name for p in (REPO / "policies").glob("*.toml"))
    assert policies, "policies/ ships nothing"
    expected = {
        "/etc/clore-host/config.toml",
        "/usr/share/doc/clore-host/copyright",
        "/usr/share/doc/clore-host/changelog.gz",
        *(f"/lib/systemd/system/{unit}" for unit in UNITS),
        *(f"/etc/clore-host/policies/{name}" for name in policies),
    }
    assert expected <= paths
    wheels = {Path(p).name for p in paths if p.startswith("/usr/share/clore-host/wheels/")}
    assert f"clore_host-{_version()}-py3-none-any.whl" in wheels
    for minor in ("310", "311", "312"):  # the one compiled dependency, per CPython
        assert any(w.startswith("pydantic_core-") and f"-cp{minor}-" in w for w in wheels)
    assert any(w.startswith("tomli-") for w in wheels)  # needed on 3.10 only

    assert int(_field(info, "Installed-Size")) > 0

    control = tmp_path / "DEBIAN"
    _run("dpkg-deb", "-e", deb, control)
    conffiles = set((control / "conffiles").read_text().split())
    assert conffiles == {p for p in expected if p.startswith("/etc/")}
    for script in ("preinst", "postinst", "prerm", "postrm"):
        assert os.access(control / script, os.X_OK)
        assert "@VERSION@" not in (control / script).read_text()


@pytest.mark.parametrize("minor", PYTHONS)
def test_shipped_wheels_install_offline(deb: Path, minor: str, tmp_path: Path) -> None:
    python = _find_python(minor)
    if python is None:
        pytest.skip(f"no python{minor} on this machine")
    _run("dpkg-deb", "-x", deb, tmp_path / "root")
    venv = tmp_path / "venv"
    _run(python, "-m", "venv", venv)
    wheels = tmp_path / "root" / "usr" / "share" / "clore-host" / "wheels"
    env_free = ("env", "-i", "PATH=/usr/bin:/bin", "PIP_CONFIG_FILE=/dev/null")
    _run(*env_free, venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index",
         "--find-links", wheels, f"clore-host=={_version()}")  # fmt: skip
    assert (
        _run(venv / "bin" / "clore-host", "--version").stdout.strip() == f"clore-host {__version__}"
    )


def _find_python(minor: str) -> str | None:
    """A working python3.X: on PATH, or one pyenv has (its shims fail for other versions)."""
    candidates = [shutil.which(f"python{minor}")]
    candidates += sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{minor}*/bin/python{minor}")
    )
    for python in candidates:
        if python and _run(python, "-c", "pass", ok=False).returncode == 0:
            return python
    return None


def test_lintian_finds_no_errors(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.skip("lintian is not installed")
    result = _run("lintian", "--tag-display-limit", "0", "--display-info", deb, ok=False)
    print(result.stdout)  # warnings and info, for the log
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert not errors, "\n".join(errors)


def test_install_run_remove_purge(deb: Path) -> None:
    if _installed():
        pytest.skip("clore-host is already installed here; this test would replace it")
    try:
        _install_and_use(deb)
        _remove_keeps_config()
        _purge_leaves_nothing()
    finally:
        if _run("dpkg-query", "-W", "clore-host", ok=False).returncode == 0:
            _run("apt-get", "purge", "-y", "clore-host", ok=False)


def _install_and_use(deb: Path) -> None:
    _run("apt-get", "install", "-y", "--no-install-recommends", deb)
    assert _installed()
    assert os.readlink("/usr/bin/clore-host") == "/opt/clore-host/bin/clore-host"
    home = re.search(r"^home = (.*)$", Path("/opt/clore-host/pyvenv.cfg").read_text(), re.M)
    assert home and home.group(1) in ("/usr/bin", "/bin")  # the distribution's python3
    config = Path("/etc/clore-host/config.toml")
    assert config.read_text() == (REPO / "clore_host" / "config.example.toml").read_text()

    version = _run("clore-host", "--version").stdout.strip()
    assert version == f"clore-host {__version__}"
    # A fresh install has no token yet (`init` writes it): check says so, as run would.
    fresh = _run("clore-host", "check", "--config", config, ok=False)
    assert fresh.returncode == 2
    assert "api.token_file: token file /etc/clore-host/token not found" in fresh.stderr
    Path("/etc/clore-host/token").write_text("not-a-real-token\n")
    os.chmod("/etc/clore-host/token", 0o600)
    _run("clore-host", "check", "--config", config)

    units = [f"/lib/systemd/system/{unit}" for unit in UNITS]
    if shutil.which("systemd-analyze"):
        result = _run("systemd-analyze", "verify", *units, ok=False)
        assert (result.stdout + result.stderr).strip() == "", result.stdout + result.stderr
        assert result.returncode == 0

    # What a configured, running rig has that the package must clean up on purge (the token
    # file is there already).
    private = Path("/var/lib/private/clore-host")
    private.mkdir(parents=True, exist_ok=True)
    (private / "history.db").write_bytes(b"")
    state = Path("/var/lib/clore-host")
    if not state.exists():
        state.symlink_to("private/clore-host")
    if shutil.which("systemctl"):  # works on the unit files, with or without a running systemd
        _run("systemctl", "enable", "clore-host.service")
        assert os.path.lexists(WANTS)


def _remove_keeps_config() -> None:
    _run("apt-get", "remove", "-y", "clore-host")
    for gone in (
        "/opt/clore-host",
        "/usr/bin/clore-host",
        "/lib/systemd/system/clore-host.service",
    ):
        assert not os.path.lexists(gone), f"{gone} is left after remove"
    assert not os.path.lexists(WANTS), "remove left the service enabled"
    assert Path("/etc/clore-host/config.toml").is_file()
    assert Path("/etc/clore-host/token").is_file()


def _purge_leaves_nothing() -> None:
    _run("apt-get", "purge", "-y", "clore-host")
    assert _run("dpkg-query", "-W", "clore-host", ok=False).returncode != 0
    leftovers = [
        "/opt/clore-host",
        "/usr/bin/clore-host",
        "/etc/clore-host",
        "/var/lib/clore-host",
        "/var/lib/private/clore-host",
        "/usr/share/clore-host",
        "/usr/share/doc/clore-host",
        *(f"/lib/systemd/system/{unit}" for unit in UNITS),
        *(f"/var/lib/systemd/deb-systemd-helper-enabled/{unit}.dsh-also" for unit in UNITS),
    ]
    left = [p for p in leftovers if os.path.lexists(p)]
    assert not left, f"left behind after purge: {left}"
