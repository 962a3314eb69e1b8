"""Bounding backend calls in real time, so a hung driver call cannot hang the agent.

Calls run one at a time on a single worker thread. A call that does not return within the
timeout raises GpuBackendTimeout; the worker stays stuck in it, and until it comes back every
further call fails at once instead of queueing behind it (or piling up threads).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from .base import GpuBackendError, GpuBackendTimeout

T = TypeVar("T")


class _Job(Generic[T]):
    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed back to the caller's thread
            self.error = exc
        finally:
            self.done.set()


class CallGuard:
    """Runs calls on a worker thread, each bounded by `timeout` seconds of real time."""

    def __init__(self, timeout: float, name: str = "clore-host-gpu") -> None:
        if timeout <= 0:
            raise ValueError("the call timeout must be positive")
        self.timeout = timeout
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._hung: _Job[Any] | None = None
        self._closed = False

    def call(self, fn: Callable[[], T]) -> T:
        if not self._lock.acquire(timeout=self.timeout):
            raise GpuBackendTimeout(self.timeout, " (another call is still waiting)")
        try:
            if self._closed:
                raise GpuBackendError("the GPU backend is closed")
            if self._hung is not None:
                if not self._hung.done.is_set():
                    raise GpuBackendTimeout(self.timeout, " (an earlier call is still hung)")
                self._hung = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            job: _Job[T] = _Job(fn)
            self._jobs.put(job)
            if not job.done.wait(self.timeout):
                self._hung = job
                raise GpuBackendTimeout(self.timeout)
        finally:
            self._lock.release()
        if job.error is not None:
            raise job.error
        return cast(T, job.result)  # set whenever error is None

    def close(self, wait: float = 0.0) -> None:
        """Stop the worker once it is free; wait up to `wait` seconds for it to end."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            if wait > 0:
                thread.join(wait)

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running (e.g. stuck in a hung call)."""
        return self._thread is not None and self._thread.is_alive()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.run()
