"""Host facts through psutil. A metric that cannot be read is None, never an exception."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from ..facts import HostNow

log = logging.getLogger(__name__)
_MIB = 1024 * 1024


def read_host(state_dir: Path) -> HostNow:
    """CPU % (since the previous call; no waiting), 1-minute load, memory %, free MiB on the
    state directory's filesystem, and uptime in seconds."""
    return HostNow(
        cpu_percent=_safe("cpu_percent", lambda: psutil.cpu_percent(interval=None)),
        load1=_safe("load1", lambda: psutil.getloadavg()[0]),
        mem_percent=_safe("mem_percent", lambda: psutil.virtual_memory().percent),
        disk_free_mib=_safe(
            "disk_free_mib", lambda: psutil.disk_usage(str(_existing(state_dir))).free / _MIB
        ),
        uptime_s=_safe("uptime_s", lambda: time.time() - psutil.boot_time()),
    )


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (the state directory may not exist yet)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _safe(name: str, read: Callable[[], float]) -> float | None:
    try:
        return float(read())
    except (OSError, psutil.Error, AttributeError, RuntimeError, ValueError) as exc:
        log.debug("host metric %s unavailable: %s", name, exc)
        return None
