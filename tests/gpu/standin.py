"""A stand-in for the `pynvml` module: the real module's constants and error classes, with
devices whose answers each test scripts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024


class Device:
    """Answers by NVML function name: a value, an exception to raise, or a callable taking the
    call's arguments after the handle. A name without an answer is NotSupported."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def answer(self, name: str, args: tuple[Any, ...]) -> Any:
        if name not in self.answers:
            raise pynvml.NVMLError_NotSupported()
        value = self.answers[name]
        if isinstance(value, BaseException) or (
            isinstance(value, type) and issubclass(value, BaseException)
        ):
            raise value
        if callable(value):
            return value(*args)
        return value


class StandIn:
    def __init__(self, devices: list[Device], *, missing: frozenset[str] = frozenset()) -> None:
        for name in dir(pynvml):
            if name.startswith(("NVML", "nvmlClocks")):
                setattr(self, name, getattr(pynvml, name))
        self.devices = devices
        self.missing = missing  # functions this "version" of the library lacks
        self.init_calls = 0
        self.init_error: BaseException | None = None
        self.calls: list[str] = []

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Device:
        device = self.devices[index]
        handle_error = device.answers.get("handle")
        if handle_error is not None:
            raise handle_error
        return device

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name.startswith("nvmlDevice") or name in self.missing:
            raise AttributeError(name)

        def call(handle: Device, *args: Any) -> Any:
            self.calls.append(name)
            return handle.answer(name, args)

        call.__name__ = name
        return call


def healthy(**overrides: Any) -> Device:
    """An RTX 4090 at work, in NVML's own units."""
    answers: dict[str, Any] = {
        "nvmlDeviceGetUUID": "GPU-5f3c0a4e-0000-4000-8000-000000000001",
        "nvmlDeviceGetName": "NVIDIA GeForce RTX 4090",
        "nvmlDeviceGetPciInfo": SimpleNamespace(busId=b"00000000:01:00.0"),
        "nvmlDeviceGetUtilizationRates": SimpleNamespace(gpu=87, memory=41),
        "nvmlDeviceGetTemperatureV": 71,
        "nvmlDeviceGetPowerUsage": 312_500,  # mW
        "nvmlDeviceGetEnforcedPowerLimit": 450_000,  # mW
        "nvmlDeviceGetMemoryInfo": SimpleNamespace(used=6144 * MIB, total=24564 * MIB),
        "nvmlDeviceGetNumFans": 2,
        "nvmlDeviceGetFanSpeed_v2": lambda fan: (55, 61)[fan],
        "nvmlDeviceGetClockInfo": lambda kind: {
            pynvml.NVML_CLOCK_SM: 2520,
            pynvml.NVML_CLOCK_MEM: 10501,
        }[kind],
        "nvmlDeviceGetPerformanceState": 2,
        "nvmlDeviceGetCurrentClocksEventReasons": (
            pynvml.nvmlClocksEventReasonHwThermalSlowdown | pynvml.nvmlClocksEventReasonSwPowerCap
        ),
        "nvmlDeviceGetTotalEccErrors": lambda kind, counter: (
            3
            if (kind, counter)
            == (pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC)
            else 999
        ),
        "nvmlDeviceGetRemappedRows": (0, 1, 1, 0),  # corrected, uncorrected, pending, failure
    }
    answers.update(overrides)
    return Device(answers)


def blocking(release: threading.Event) -> Callable[..., Any]:
    """An answer that hangs like a stuck driver call until `release` is set."""

    def hang(*_args: Any) -> Any:
        release.wait()
        return 0

    return hang
