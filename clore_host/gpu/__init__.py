"""GPU backends: NVML on a real rig, or a fake one replaying a scenario file."""

from __future__ import annotations

from pathlib import Path

from ..clock import Clock
from ..shipped import shipped_dir
from .base import (
    GpuBackend,
    GpuBackendError,
    GpuBackendTimeout,
    GpuDriverNotLoaded,
    GpuReading,
    GpuSnapshot,
    NvmlLibraryNotFound,
)

__all__ = [
    "GpuBackend",
    "GpuBackendError",
    "GpuBackendTimeout",
    "GpuDriverNotLoaded",
    "GpuReading",
    "GpuSnapshot",
    "NvmlLibraryNotFound",
    "open_backend",
    "scenario_path",
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
        from .fake import FakeBackend
        from .scenario import load_scenario

        if scenario is None:
            raise GpuBackendError(
                'gpu.backend = "fake" needs gpu.scenario: a scenario file or a shipped name '
                'such as "idle-rig"'
            )
        return FakeBackend(load_scenario(scenario_path(scenario)), clock, call_timeout=call_timeout)
    raise GpuBackendError(f'unknown GPU backend {backend!r}: use "nvml" or "fake"')


def scenario_path(value: Path | str) -> Path:
    """Where a scenario is: the path as given if it exists, else a shipped scenario by name.

    A config resolves `gpu.scenario = "demo"` against its own directory; when nothing is
    there, the shipped scenario of that name is meant.
    """
    path = Path(value)
    if path.exists():
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    shipped = shipped_dir("scenarios") / name
    return shipped if shipped.is_file() else path
