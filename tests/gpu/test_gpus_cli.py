"""`clore-host gpus` with the fake backend, and its failures."""

from __future__ import annotations

import json

import pytest

from clore_host.cli import main
from clore_host.errors import EXIT_INVALID, EXIT_OK


def _config(tmp_path, gpu_section: str):
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\nname = "rig"\n[gpu]\n{gpu_section}\n')
    return str(path)


def test_table_lists_every_gpu_with_its_health(tmp_path, capsys):
    config = _config(tmp_path, 'backend = "fake"\nscenario = "gpu-lost"')
    assert main(["gpus", "--config", config]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "driver 550.54.15, 4 GPU(s)"
    assert out[1].split()[:3] == ["#", "name", "util%"]
    rows = out[2:]
    assert len(rows) == 4
    assert all(row.rstrip().endswith("ok") for row in rows)  # at t=0 nothing is lost yet
    assert "NVIDIA GeForce RTX 3090" in rows[2]


def test_json_output(tmp_path, capsys):
    config = _config(tmp_path, 'backend = "fake"\nscenario = "mixed-8gpu"')
    assert main(["gpus", "--json", "--config", config]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "fake" and len(data["gpus"]) == 8
    assert data["gpus"][5]["memory_utilization"] is None  # not supported on that card
    assert data["gpus"][5]["throttle"] == ["sw_power_cap"]
    assert data["gpus"][6]["fans"] == []


@pytest.mark.parametrize(
    ("gpu_section", "expected"),
    [
        ('backend = "fake"\nscenario = "no-such-scenario"', "file not found"),
        ('backend = "fake"', "needs `scenario`"),
        ('backend = "cuda"', "gpu.backend"),
    ],
)
def test_bad_gpu_settings_are_reported(tmp_path, capsys, gpu_section, expected):
    config = _config(tmp_path, gpu_section)
    code = main(["gpus", "--config", config])
    err = capsys.readouterr().err
    assert code != EXIT_OK
    assert expected in err and len(err.splitlines()) == 1


def test_a_named_config_that_is_missing_is_an_error(tmp_path, capsys):
    assert main(["gpus", "--config", str(tmp_path / "nope.toml")]) == EXIT_INVALID
    assert "file not found" in capsys.readouterr().err
