"""What every GPU backend returns, the protocol it follows, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import Failure
from ..facts import POWER_THROTTLE_REASONS, THERMAL_THROTTLE_REASONS, GpuNow

# Throttle (clock-event) reason names beyond those in clore_host.facts.
OTHER_THROTTLE_REASONS = frozenset(
    {"gpu_idle", "applications_clocks", "sync_boost", "display_clocks"}
)
THROTTLE_REASONS = THERMAL_THROTTLE_REASONS | POWER_THROTTLE_REASONS | OTHER_THROTTLE_REASONS

NO_LIBRARY_HINT = (
    "NVML library not found — is the NVIDIA driver installed? To try the agent without GPUs "
    'set `gpu.backend = "fake"` and `gpu.scenario` in the config'
)


@dataclass(frozen=True)
class GpuReading:
    """One GPU as a backend read it. A metric the card does not support is None.

    A lost GPU (fallen off the bus, needs a reset) has `lost=True`, `error` set and no metrics.
    """

    index: int
    uuid: str | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    utilization: float | None = None  # %
    memory_utilization: float | None = None  # %
    temperature: float | None = None  # C
    power: float | None = None  # W
    power_limit: float | None = None  # W (enforced)
    memory_used: float | None = None  # MiB
    memory_total: float | None = None  # MiB
    fans: tuple[float, ...] = ()  # % per fan; empty when the card reports none
    sm_clock: float | None = None  # MHz
    mem_clock: float | None = None  # MHz
    pstate: int | None = None  # 0 (fastest) ... 15
    throttle: frozenset[str] = frozenset()
    ecc_uncorrected: int | None = None  # volatile uncorrected ECC errors
    pages_pending: bool | None = None  # retired or remapped memory pages awaiting a reset
    lost: bool = False
    error: str | None = None  # the health event, e.g. "GPU is lost"

    def to_now(self) -> GpuNow:
        """The reading as the policy sees it (the fan is the highest of the card's fans)."""
        if self.lost:
            return GpuNow(index=self.index, lost=True)
        return GpuNow(
            index=self.index,
            utilization=self.utilization,
            memory_utilization=self.memory_utilization,
            temperature=self.temperature,
            power=self.power,
            power_limit=self.power_limit,
            memory_used=self.memory_used,
            fan=max(self.fans) if self.fans else None,
            sm_clock=self.sm_clock,
            mem_clock=self.mem_clock,
            throttle=self.throttle,
            ecc_uncorrected=self.ecc_uncorrected,
            pages_pending=self.pages_pending,
        )


@dataclass(frozen=True)
class GpuSnapshot:
    """All GPUs read at one moment."""

    taken_at: float
    driver_version: str | None
    gpus: tuple[GpuReading, ...]


class GpuBackend(Protocol):
    name: str

    def read(self) -> GpuSnapshot:
        """Read every GPU. Raises GpuBackendError when the backend as a whole cannot read."""
        ...

    def close(self) -> None: ...


class GpuBackendError(Failure):
    """The GPU backend cannot read at all (as opposed to one GPU being lost)."""

    headline = "GPUs unavailable, nothing changed"


class NvmlLibraryNotFound(GpuBackendError):
    def __init__(self, message: str = NO_LIBRARY_HINT) -> None:
        super().__init__(message)


class GpuDriverNotLoaded(GpuBackendError):
    def __init__(
        self, message: str = "the NVIDIA kernel driver is not loaded (NVML: Driver Not Loaded)"
    ) -> None:
        super().__init__(message)


class GpuBackendTimeout(GpuBackendError):
    def __init__(self, seconds: float, detail: str = "") -> None:
        super().__init__(f"GPU backend timed out after {seconds:g}s{detail}")


class NoGpusListed(GpuBackendError):
    """The driver answers but lists no GPU: a driver hiccup (during a reset or a reload), not
    every GPU missing, until it lasts `gpu.zero_gpus_grace` (see Agent)."""
