"""`clore-host check`: every error with its location, exit 0 or 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clore_host.cli import main

THREE_MISTAKES = """\
version = 1

[rails]
on_demand = { floor = 0.00006, ceiling = 0.0003 }
spot = { ceiling = 0.0002 }                       # mistake 1: no floor

[[rule]]
name = "idle"
when.all = [
  { fact = "rented", value = false },
  { metric = "gpu_util", window = "1h", op = "<", value = 10 },   # mistake 2: metric
]
then.on_demand = { scale = 0.9 }

[[rule]]
name = "night"
when = { fact = "hour", op = "between", value = [22, 25] }        # mistake 3: hour 25
then.on_demand = { scale = 0.95 }
"""
LOCATIONS = ("rails.spot.floor", "rule[0].when.all[1].metric", "rule[1].when.value")


@pytest.fixture(autouse=True)
def no_default_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLORE_HOST_CONFIG", str(tmp_path / "absent.toml"))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_three_mistakes_all_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, "bad.toml", THREE_MISTAKES)
    assert main(["check", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid policy (3 errors)" in err
    for location in LOCATIONS:
        assert f"{bad}: {location}: " in err
    assert "without price floors is refused" in err
    assert "unknown GPU metric 'gpu_util'" in err
    assert "an hour, 0 to 23" in err


ABSURD_RAILS = """\
version = 1

[rails]
on_demand = { floor = 1e308, ceiling = 1e308 }
spot = { floor = 0.000000001, ceiling = inf }
"""


def test_absurd_rails_are_refused_with_their_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "absurd.toml", ABSURD_RAILS)
    assert main(["check", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: rails.on_demand.floor: floor 1e+308 is absurd" in err
    assert f"{bad}: rails.on_demand.ceiling: ceiling 1e+308 is absurd" in err
    assert f"{bad}: rails.spot.floor: floor 1e-09 is below one unit of the currency" in err
    assert f"{bad}: rails.spot.ceiling: expected a finite number" in err


def test_three_mistakes_as_a_subprocess(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.toml", THREE_MISTAKES)
    env = {**os.environ, "CLORE_HOST_CONFIG": str(tmp_path / "absent.toml")}
    result = subprocess.run(
        [sys.executable, "-m", "clore_host", "check", "--policy", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    for location in LOCATIONS:
        assert location in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["default", "idle-discount", "time-of-use", "health-guard"])
def test_every_shipped_policy_passes(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--policy", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK policy ") and f"{name}.toml" in out


def test_config_and_its_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "p.toml", THREE_MISTAKES)
    config = _write(tmp_path, "c.toml", '[server]\nname = "rig"\n[policy]\npath = "p.toml"\n')
    assert main(["check", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert f"OK config {config} (server 'rig')" in captured.out
    assert "rule[1].when.value" in captured.err
    assert main(["check", "--config", str(config), "--policy", "default"]) == 0


def test_invalid_config_is_reported_with_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, "c.toml", '[server]\nname = ""\ncolour = 1\n')
    assert main(["check", "--config", str(config), "--policy", "default"]) == 2
    captured = capsys.readouterr()
    assert "server.name" in captured.err and "colour" in captured.err
    assert "OK policy" in captured.out


def test_nothing_to_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["check", "--config", str(tmp_path / "missing.toml"), "--policy", "default"]) == 2


def test_default_config_is_used_when_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, "c.toml", '[server]\nname = "rig"\n')
    monkeypatch.setenv("CLORE_HOST_CONFIG", str(config))
    assert main(["check", "--policy", "default"]) == 0
    assert "OK config" in capsys.readouterr().out
