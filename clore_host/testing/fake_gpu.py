"""The fake GPU backend: replays a scenario file on the injected clock.

Scenario time is `clock.now() - start`. Faults behave as their NVML counterparts do in the NVML
backend: library/driver faults raise, a lost GPU is a lost reading, an unsupported metric is
None, and a hang blocks the read until the call guard gives up on it.
"""

from __future__ import annotations

import threading

from ..clock import Clock
from ..gpu.base import GpuDriverNotLoaded, GpuSnapshot, NvmlLibraryNotFound
from ..gpu.timeout import CallGuard
from .scenario import Scenario

_HANG_POLL = 0.02  # real seconds between checks whether a hang has ended


class FakeBackend:
    name = "fake"

    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        start: float | None = None,
        *,
        call_timeout: float = 5.0,
    ) -> None:
        self.scenario = scenario
        self._clock = clock
        self.start = clock.now() if start is None else start
        self._guard = CallGuard(call_timeout, name="clore-host-fake-gpu")
        self._closed = threading.Event()
        self._raise_backend_faults(clock.now() - self.start)  # as opening NVML would

    def read(self) -> GpuSnapshot:
        return self._guard.call(self._read)

    def close(self) -> None:
        self._closed.set()  # ends a hung read
        self._guard.close(wait=1.0)

    def _read(self) -> GpuSnapshot:
        now = self._clock.now()
        t = now - self.start
        hangs = self.scenario.faults_at(t, "hang")
        if hangs:
            self._hang(
                max((f.until for f in hangs), key=lambda u: float("inf") if u is None else u)
            )
        self._raise_backend_faults(t)
        return GpuSnapshot(
            taken_at=now,
            driver_version=self.scenario.driver_version,
            gpus=self.scenario.readings_at(t),
        )

    def _hang(self, until: float | None) -> None:
        """Block until the backend is closed or scenario time reaches `until`."""
        while not self._closed.wait(_HANG_POLL):
            if until is not None and self._clock.now() - self.start >= until:
                return

    def _raise_backend_faults(self, t: float) -> None:
        if self.scenario.faults_at(t, "library_not_found"):
            raise NvmlLibraryNotFound()
        if self.scenario.faults_at(t, "driver_not_loaded"):
            raise GpuDriverNotLoaded()
