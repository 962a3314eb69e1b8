"""The NVML backend (nvidia-ml-py). The only module that imports `pynvml`.

Every NVML call goes through a CallGuard, so a hung driver call becomes GpuBackendTimeout.
A metric a card does not support is None. A GPU that is lost (GpuIsLost, ResetRequired,
GpuNotFound, no handle, or "Unknown Error" from every call) becomes a reading with `lost=True`;
the other GPUs keep reporting. "Unknown Error" from some calls only leaves those metrics None:
healthy cards give it for one metric for good (a fan, a power limit), and a rig must not be
delisted for that.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..clock import Clock
from .base import (
    GpuBackendError,
    GpuDriverNotLoaded,
    GpuReading,
    GpuSnapshot,
    NvmlLibraryNotFound,
)
from .timeout import CallGuard

log = logging.getLogger(__name__)

# Clock-event reason bits (nvmlClocksEventReason*), by the names policies use.
THROTTLE_BITS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal",
    0x040: "hw_thermal",
    0x080: "hw_power_brake",
    0x100: "display_clocks",
}
_LOST_ERRORS = ("NVMLError_GpuIsLost", "NVMLError_ResetRequired")
_LOST_ERRORS_OPTIONAL = ("NVMLError_GpuNotFound",)  # newer nvidia-ml-py only
# Errors after which the legacy variant of a call is worth trying.
_TRY_LEGACY = ("NVMLError_FunctionNotFound", "NVMLError_ArgumentVersionMismatch")
_MIB = 1024 * 1024
_PSTATE_UNKNOWN = 32

# NVML is initialised once per process (per module object, so tests can inject stand-ins).
_init_lock = threading.Lock()
_initialised: set[object] = set()  # module objects, which hash by identity
# One call guard per NVML module for the whole process, too: a driver call that hangs keeps
# its worker thread, and a backend opened again must find that thread busy (and fail fast)
# rather than start another one that hangs as well.
_guard_lock = threading.Lock()
_guards: dict[object, CallGuard] = {}


def _guard_for(module: object, call_timeout: float) -> CallGuard:
    with _guard_lock:
        guard = _guards.get(module)
        if guard is None:
            guard = _guards[module] = CallGuard(call_timeout, name="clore-host-nvml")
        guard.timeout = call_timeout
        return guard


class _Lost(Exception):
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _TryLegacy(Exception):
    pass


class NvmlBackend:
    """Reads the GPUs through NVML."""

    name = "nvml"

    def __init__(self, module: Any, clock: Clock, guard: CallGuard) -> None:
        self._nvml = module
        self._clock = clock
        self._guard = guard
        self._lost_types: tuple[type[BaseException], ...] = tuple(
            getattr(module, n) for n in _LOST_ERRORS + _LOST_ERRORS_OPTIONAL if hasattr(module, n)
        )
        self._legacy_types = tuple(getattr(module, n) for n in _TRY_LEGACY if hasattr(module, n))
        self._unknown_type: type[BaseException] = module.NVMLError_Unknown
        # Of the GPU being read: calls the card answered, and calls that gave "Unknown Error".
        self._answered = 0
        self._unknown: list[str] = []
        self._reported: set[tuple[int, str]] = set()  # (GPU, call) already logged
        self._legacy_only: set[str] = set()  # newer calls this driver lacks: not tried again
        self._driver: str | None = None  # fixed while NVML stays initialised

    @classmethod
    def open(
        cls, *, clock: Clock, call_timeout: float = 5.0, module: ModuleType | Any | None = None
    ) -> NvmlBackend:
        """Initialise NVML (once per process). `module` replaces `pynvml`, for tests."""
        if module is None:
            try:
                import pynvml
            except ImportError:
                raise GpuBackendError(
                    "the nvidia-ml-py package (pynvml) is not installed"
                ) from None
            module = pynvml
        backend = cls(module, clock, _guard_for(module, call_timeout))
        backend._init()
        return backend

    def _init(self) -> None:
        with _init_lock:
            if self._nvml in _initialised:
                return
            try:
                self._guard.call(self._nvml.nvmlInit)
            except self._nvml.NVMLError as exc:
                raise self._backend_error(exc) from None
            _initialised.add(self._nvml)

    def read(self) -> GpuSnapshot:
        taken_at = self._clock.now()
        if self._driver is None:
            with contextlib.suppress(_Lost):
                self._driver = _text(self._metric("nvmlSystemGetDriverVersion"))
        try:
            count = int(self._call(self._nvml.nvmlDeviceGetCount))
        except self._nvml.NVMLError as exc:
            raise self._backend_error(exc) from None
        gpus = tuple(self._read_gpu(index) for index in range(count))
        return GpuSnapshot(taken_at=taken_at, driver_version=self._driver, gpus=gpus)

    def close(self) -> None:
        # NVML stays initialised and its call guard stays: both are per process, and a hung
        # call must still be known to the next backend opened.
        pass

    # -- one GPU ------------------------------------------------------------------------------

    def _read_gpu(self, index: int) -> GpuReading:
        nvml = self._nvml
        try:
            handle = self._call(nvml.nvmlDeviceGetHandleByIndex, index)
        except nvml.NVMLError as exc:
            # Without a handle nothing about this GPU can be read: it is lost to us.
            return GpuReading(index=index, lost=True, error=str(exc))
        self._answered, self._unknown = 0, []
        try:
            reading = self._read_handle(index, handle)
        except _Lost as lost:
            log.warning("GPU %d: %s", index, lost.error)
            return GpuReading(index=index, lost=True, error=str(lost.error))
        if self._unknown and not self._answered:
            log.warning("GPU %d: Unknown Error from every call", index)
            return GpuReading(index=index, lost=True, error="Unknown Error from every call")
        for name in self._unknown:
            if (index, name) not in self._reported:  # once: some cards give it on every read
                self._reported.add((index, name))
                log.warning("GPU %d: %s gives Unknown Error; read as unsupported", index, name)
        return reading

    def _read_handle(self, index: int, handle: object) -> GpuReading:
        nvml, metric = self._nvml, self._metric
        util = metric("nvmlDeviceGetUtilizationRates", handle)
        memory = metric("nvmlDeviceGetMemoryInfo", handle)
        pstate = metric("nvmlDeviceGetPerformanceState", handle)
        return GpuReading(
            index=index,
            uuid=_text(metric("nvmlDeviceGetUUID", handle)),
            name=_text(metric("nvmlDeviceGetName", handle)),
            pci_bus_id=_text(getattr(metric("nvmlDeviceGetPciInfo", handle), "busId", None)),
            utilization=_scaled(getattr(util, "gpu", None)),
            memory_utilization=_scaled(getattr(util, "memory", None)),
            temperature=_scaled(self._temperature(handle)),
            power=_scaled(metric("nvmlDeviceGetPowerUsage", handle), 1000),  # mW
            power_limit=_scaled(metric("nvmlDeviceGetEnforcedPowerLimit", handle), 1000),  # mW
            memory_used=_scaled(getattr(memory, "used", None), _MIB),  # bytes
            memory_total=_scaled(getattr(memory, "total", None), _MIB),  # bytes
            fans=self._fans(handle),
            sm_clock=_scaled(metric("nvmlDeviceGetClockInfo", handle, nvml.NVML_CLOCK_SM)),
            mem_clock=_scaled(metric("nvmlDeviceGetClockInfo", handle, nvml.NVML_CLOCK_MEM)),
            pstate=None if pstate is None or pstate == _PSTATE_UNKNOWN else int(pstate),
            throttle=self._throttle(handle),
            ecc_uncorrected=self._ecc(handle),
            pages_pending=self._pages_pending(handle),
        )

    def _temperature(self, handle: object) -> Any:
        sensor = self._nvml.NVML_TEMPERATURE_GPU
        try:
            return self._metric("nvmlDeviceGetTemperatureV", handle, sensor, legacy=True)
        except _TryLegacy:
            return self._metric("nvmlDeviceGetTemperature", handle, sensor)

    def _fans(self, handle: object) -> tuple[float, ...]:
        count = self._metric("nvmlDeviceGetNumFans", handle)
        if count is None:  # older drivers: one fan reading for the card
            speed = self._metric("nvmlDeviceGetFanSpeed", handle)
            return () if speed is None else (float(speed),)
        speeds = [self._metric("nvmlDeviceGetFanSpeed_v2", handle, fan) for fan in range(count)]
        return tuple(float(s) for s in speeds if s is not None)

    def _throttle(self, handle: object) -> frozenset[str]:
        try:
            mask = self._metric("nvmlDeviceGetCurrentClocksEventReasons", handle, legacy=True)
        except _TryLegacy:
            mask = self._metric("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        if mask is None:
            return frozenset()
        return frozenset(name for bit, name in THROTTLE_BITS.items() if int(mask) & bit)

    def _ecc(self, handle: object) -> int | None:
        nvml = self._nvml
        count = self._metric(
            "nvmlDeviceGetTotalEccErrors",
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_VOLATILE_ECC,  # since the driver loaded: what is wrong now
        )
        return None if count is None else int(count)

    def _pages_pending(self, handle: object) -> bool | None:
        rows = self._metric("nvmlDeviceGetRemappedRows", handle)  # Ampere and newer
        if rows is not None:
            _corrected, _uncorrected, pending, failure = rows
            return bool(pending) or bool(failure)
        retired = self._metric("nvmlDeviceGetRetiredPagesPendingStatus", handle)
        return None if retired is None else retired == self._nvml.NVML_FEATURE_ENABLED

    # -- calls --------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._guard.call(functools.partial(fn, *args) if args else fn)

    def _metric(self, name: str, *args: Any, legacy: bool = False) -> Any:
        """The named call's value; None when the card or the library does not support it.

        A lost-GPU error raises _Lost. With `legacy`, a missing call or one the driver is too
        old for raises _TryLegacy, so the caller can try the older variant.
        """
        fn = None if name in self._legacy_only else getattr(self._nvml, name, None)
        if fn is None:
            if legacy:
                raise _TryLegacy
            return None
        try:
            value = self._call(fn, *args)
        except self._nvml.NVMLError as exc:
            if isinstance(exc, self._lost_types):
                raise _Lost(exc) from None
            if isinstance(exc, self._unknown_type):
                self._unknown.append(name)
                return None
            if legacy and isinstance(exc, self._legacy_types):
                self._legacy_only.add(name)
                raise _TryLegacy from None
            log.debug("%s: %s", name, exc)
            self._answered += 1  # "not supported", say: the card is there to say it
            return None
        self._answered += 1
        return value

    def _backend_error(self, exc: Exception) -> GpuBackendError:
        nvml = self._nvml
        if isinstance(exc, nvml.NVMLError_LibraryNotFound):
            return NvmlLibraryNotFound()
        if isinstance(exc, nvml.NVMLError_DriverNotLoaded):
            return GpuDriverNotLoaded()
        return GpuBackendError(f"NVML failed: {exc}")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _scaled(value: Any, divisor: float = 1) -> float | None:
    return None if value is None else float(value) / divisor
