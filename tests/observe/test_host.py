"""Host facts through psutil: real values where the host has them, None where it fails."""

from __future__ import annotations

import psutil
import pytest

from clore_host.observe.host import read_host


def test_reads_the_host(tmp_path):
    host = read_host(tmp_path)
    assert host.mem_percent is not None and 0 <= host.mem_percent <= 100
    assert host.disk_free_mib is not None
    assert host.disk_free_mib == pytest.approx(
        psutil.disk_usage(str(tmp_path)).free / 2**20, rel=0.05
    )
    assert host.uptime_s is not None and host.uptime_s > 0
    assert host.load1 is not None and host.load1 >= 0
    assert host.cpu_percent is not None and 0 <= host.cpu_percent <= 100


def test_a_state_dir_that_does_not_exist_yet_uses_its_parent(tmp_path):
    assert read_host(tmp_path / "not" / "yet").disk_free_mib is not None


def test_a_failing_metric_is_none_and_the_others_still_read(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "getloadavg", broken)
    monkeypatch.setattr(psutil, "disk_usage", lambda path: (_ for _ in ()).throw(OSError(5, "EIO")))
    host = read_host(tmp_path)
    assert host.load1 is None and host.disk_free_mib is None
    assert host.mem_percent is not None and host.uptime_s is not None
