"""GPU backends: NVML on a real rig, or the fake one of clore_host.testing replaying a
scenario file (for tests, benches and the demo)."""

from __future__ import annotations

from pathlib import Path

from ..clock import Clock
from .base import (
    GpuBackend,
    GpuBackendError,
    GpuBackendTimeout,
    GpuDriverNotLoaded,
    GpuReading,
    GpuSnapshot,
    NoGpusListed,
    NvmlLibraryNotFound,
)

__all__ = [
    "GpuBackend",
    "GpuBackendError",
    "GpuBackendTimeout",
    "GpuDriverNotLoaded",
    "GpuReading",
    "GpuSnapshot",
    "NoGpusListed",
    "NvmlLibraryNotFound",
    "open_backend",
]


def open_backend(
    backend: str,
    *,
    scenario: Path | str | None,
    clock: Clock,
    call_timeout: float = 5.0,
) -> GpuBackend:
    """Open the configured backend: "nvml", or "fake" replaying `scenario` (a path or a
    shipped scenario's name such as "idle-rig"). Raises GpuBackendError, or InputFileError
    for a bad scenario file."""
    if backend == "nvml":
        from .nvml import NvmlBackend  # only this backend needs pynvml

        return NvmlBackend.open(clock=clock, call_timeout=call_timeout)
    if backend == "fake":
        # Imported only when asked for: the fake lives with the other testing parts.
        from ..testing import FakeBackend, load_scenario

        if scenario is None:
            raise GpuBackendError(
                'gpu.backend = "fake" needs gpu.scenario: a scenario file or a shipped name '
                'such as "idle-rig"'
            )
        return FakeBackend(load_scenario(scenario), clock, call_timeout=call_timeout)
    raise GpuBackendError(f'unknown GPU backend {backend!r}: use "nvml" or "fake"')
