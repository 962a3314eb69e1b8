"""On a machine without the NVIDIA driver: a clean error, and `clore-host gpus` exits 4."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from clore_host.errors import EXIT_UNAVAILABLE
from clore_host.gpu import NvmlLibraryNotFound, open_backend


def _driver_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(_driver_present(), reason="this machine has an NVIDIA driver")


def test_opening_the_real_nvml_backend_fails_cleanly(clock):
    with pytest.raises(NvmlLibraryNotFound) as info:
        open_backend("nvml", scenario=None, clock=clock, call_timeout=2.0)
    message = str(info.value)
    assert "NVML library not found" in message
    assert 'gpu.backend = "fake"' in message and "gpu.scenario" in message


def test_gpus_command_exits_4_with_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[server]\nname = "rig"\n[gpu]\nbackend = "nvml"\n')
    env = {**os.environ, "CLORE_HOST_CONFIG": str(config)}
    done = subprocess.run(
        [sys.executable, "-m", "clore_host", "gpus"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == EXIT_UNAVAILABLE
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "NVML library not found" in lines[0] and 'gpu.backend = "fake"' in lines[0]
