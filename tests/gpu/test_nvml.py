"""The NVML backend against a stand-in `pynvml` raising the real NVMLError classes."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pynvml
import pytest

from clore_host.gpu import (
    GpuBackendError,
    GpuBackendTimeout,
    GpuDriverNotLoaded,
    NvmlLibraryNotFound,
)
from clore_host.gpu.nvml import NvmlBackend

from .standin import MIB, Device, StandIn, blocking, healthy

TINY = 0.2


@pytest.fixture
def opened(clock):
    backends = []

    def open_(devices, **kwargs):
        module = StandIn(devices, **kwargs)
        backend = NvmlBackend.open(clock=clock, call_timeout=TINY, module=module)
        backends.append(backend)
        return backend, module

    yield open_
    for backend in backends:
        backend.close()


def test_reads_every_metric_in_the_agents_units(opened, clock):
    backend, _ = opened([healthy()])
    snap = backend.read()
    assert snap.driver_version == "550.54.15"
    assert snap.taken_at == clock.now()
    (gpu,) = snap.gpus
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.uuid == "GPU-5f3c0a4e-0000-4000-8000-000000000001"
    assert gpu.pci_bus_id == "00000000:01:00.0"  # bytes from ctypes, decoded
    assert (gpu.utilization, gpu.memory_utilization) == (87.0, 41.0)
    assert gpu.temperature == 71.0
    assert gpu.power == pytest.approx(312.5)  # mW -> W
    assert gpu.power_limit == pytest.approx(450.0)
    assert gpu.memory_used == pytest.approx(6144.0)  # bytes -> MiB
    assert gpu.memory_total == pytest.approx(24564.0)
    assert gpu.fans == (55.0, 61.0)
    assert (gpu.sm_clock, gpu.mem_clock) == (2520.0, 10501.0)
    assert gpu.pstate == 2
    assert gpu.throttle == {"hw_thermal", "sw_power_cap"}
    assert gpu.ecc_uncorrected == 3  # volatile uncorrected, not another counter
    assert gpu.pages_pending is True
    assert not gpu.lost and gpu.error is None
    now = gpu.to_now()
    assert now.fan == 61.0 and now.power == pytest.approx(312.5)


def test_unsupported_metrics_are_absent_not_errors(opened):
    bare = Device(
        {
            "nvmlDeviceGetName": "Tesla K80",
            "nvmlDeviceGetUtilizationRates": SimpleNamespace(gpu=12, memory=3),
            "nvmlDeviceGetPowerUsage": pynvml.NVMLError_NotSupported(),
            "nvmlDeviceGetNumFans": pynvml.NVMLError_NotSupported(),
            "nvmlDeviceGetFanSpeed": pynvml.NVMLError_NotSupported(),
            "nvmlDeviceGetPerformanceState": pynvml.NVML_PSTATE_UNKNOWN,
            "nvmlDeviceGetMemoryInfo": pynvml.NVMLError_NoPermission(),
        }
    )
    backend, _ = opened([bare])
    (gpu,) = backend.read().gpus
    assert gpu.name == "Tesla K80" and gpu.utilization == 12.0
    assert gpu.power is None and gpu.power_limit is None and gpu.temperature is None
    assert gpu.memory_used is None and gpu.memory_total is None
    assert gpu.fans == () and gpu.to_now().fan is None
    assert gpu.pstate is None
    assert gpu.throttle == frozenset()
    assert gpu.ecc_uncorrected is None and gpu.pages_pending is None
    assert not gpu.lost


@pytest.mark.parametrize("error", [pynvml.NVMLError_GpuIsLost, pynvml.NVMLError_ResetRequired])
def test_a_lost_gpu_is_isolated_and_the_others_keep_reporting(opened, error):
    lost = healthy(nvmlDeviceGetPowerUsage=error())  # fails part-way through its read
    backend, _ = opened([healthy(), lost, healthy()])
    gpus = backend.read().gpus
    assert [g.lost for g in gpus] == [False, True, False]
    assert gpus[1].error == str(error()) and gpus[1].utilization is None
    assert gpus[1].to_now().lost
    assert gpus[0].utilization == gpus[2].utilization == 87.0


@pytest.mark.parametrize(
    ("call", "field", "absent"),
    [
        ("nvmlDeviceGetFanSpeed_v2", "fans", ()),
        ("nvmlDeviceGetEnforcedPowerLimit", "power_limit", None),
        ("nvmlDeviceGetUUID", "uuid", None),
    ],
)
def test_unknown_error_from_one_call_leaves_that_metric_absent_not_the_gpu_lost(
    opened, caplog, call, field, absent
):
    # Healthy cards do this for good (nvidia-smi shows "[Unknown Error]" for a fan or a power
    # limit); reading the GPU as lost would delist the rig on every sample.
    backend, _ = opened([healthy(**{call: pynvml.NVMLError_Unknown()})])
    for _ in range(3):
        (gpu,) = backend.read().gpus
        assert not gpu.lost and gpu.error is None
        assert getattr(gpu, field) == absent
        assert gpu.utilization == 87.0 and gpu.temperature == 71.0
    warnings = [r.getMessage() for r in caplog.records if "Unknown Error" in r.getMessage()]
    assert len(warnings) == 1 and call in warnings[0]  # once, not on every read


class _Dead(Device):
    """A card that answers "Unknown Error" to every call (fallen off the bus)."""

    def __init__(self) -> None:
        super().__init__({})

    def answer(self, name, args):
        raise pynvml.NVMLError_Unknown()


def test_a_gpu_that_gives_unknown_error_to_every_call_is_lost(opened):
    backend, _ = opened([healthy(), _Dead()])
    gpus = backend.read().gpus
    assert [g.lost for g in gpus] == [False, True]
    assert gpus[1].error == "Unknown Error from every call"
    assert gpus[1].utilization is None


def test_a_gpu_without_a_handle_is_lost(opened):
    backend, _ = opened([healthy(handle=pynvml.NVMLError_GpuIsLost()), healthy()])
    gpus = backend.read().gpus
    assert gpus[0].lost and gpus[0].error == "GPU is lost"
    assert not gpus[1].lost and gpus[1].temperature == 71.0


def test_a_hung_call_is_bounded_and_then_fails_fast(opened):
    release = threading.Event()
    backend, _ = opened([healthy(nvmlDeviceGetTemperatureV=blocking(release))])
    try:
        started = time.monotonic()
        with pytest.raises(GpuBackendTimeout, match=r"GPU backend timed out after 0\.2s"):
            backend.read()
        assert time.monotonic() - started < TINY + 1.0
        started = time.monotonic()
        with pytest.raises(GpuBackendTimeout):
            backend.read()  # the driver is still stuck: no second hung thread
        assert time.monotonic() - started < TINY
    finally:
        release.set()


def test_temperature_falls_back_to_the_legacy_call_on_older_drivers(opened):
    legacy = {"nvmlDeviceGetTemperature": lambda sensor: 64 if sensor == 0 else -1}
    old_driver = healthy(nvmlDeviceGetTemperatureV=pynvml.NVMLError_FunctionNotFound(), **legacy)
    backend, _ = opened([old_driver])
    assert backend.read().gpus[0].temperature == 64.0
    # An nvidia-ml-py without the V call at all: the same.
    backend, _ = opened([healthy(**legacy)], missing=frozenset({"nvmlDeviceGetTemperatureV"}))
    assert backend.read().gpus[0].temperature == 64.0


def test_throttle_reasons_fall_back_to_the_older_call(opened):
    older = healthy(
        nvmlDeviceGetCurrentClocksEventReasons=pynvml.NVMLError_FunctionNotFound(),
        nvmlDeviceGetCurrentClocksThrottleReasons=pynvml.nvmlClocksThrottleReasonGpuIdle,
    )
    backend, _ = opened([older])
    assert backend.read().gpus[0].throttle == {"gpu_idle"}


def test_single_fan_cards_and_retired_pages_on_older_gpus(opened):
    older = healthy(
        nvmlDeviceGetNumFans=pynvml.NVMLError_FunctionNotFound(),
        nvmlDeviceGetFanSpeed=47,
        nvmlDeviceGetRemappedRows=pynvml.NVMLError_NotSupported(),
        nvmlDeviceGetRetiredPagesPendingStatus=pynvml.NVML_FEATURE_DISABLED,
    )
    backend, _ = opened([older])
    gpu = backend.read().gpus[0]
    assert gpu.fans == (47.0,)
    assert gpu.pages_pending is False


def test_nvml_is_initialised_once_per_process(clock):
    module = StandIn([healthy()])
    for _ in range(3):
        NvmlBackend.open(clock=clock, call_timeout=TINY, module=module).close()
    assert module.init_calls == 1


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (pynvml.NVMLError_LibraryNotFound(), NvmlLibraryNotFound, 'gpu.backend = "fake"'),
        (pynvml.NVMLError_DriverNotLoaded(), GpuDriverNotLoaded, "driver is not loaded"),
        (pynvml.NVMLError_NoPermission(), GpuBackendError, "Insufficient Permissions"),
    ],
)
def test_init_failures_become_clear_backend_errors(clock, error, expected, message):
    module = StandIn([])
    module.init_error = error
    with pytest.raises(expected, match=message):
        NvmlBackend.open(clock=clock, call_timeout=TINY, module=module)
    module.init_error = None  # a failed init is not remembered as done
    NvmlBackend.open(clock=clock, call_timeout=TINY, module=module).close()
    assert module.init_calls == 2


def test_a_driver_that_vanishes_after_init_fails_the_whole_read(opened):
    backend, module = opened([healthy()])
    module.nvmlDeviceGetCount = lambda: (_ for _ in ()).throw(pynvml.NVMLError_DriverNotLoaded())
    with pytest.raises(GpuDriverNotLoaded):
        backend.read()


def test_memory_is_reported_in_mib(opened):
    backend, _ = opened(
        [healthy(nvmlDeviceGetMemoryInfo=SimpleNamespace(used=MIB // 2, total=80 * 1024 * MIB))]
    )
    gpu = backend.read().gpus[0]
    assert gpu.memory_used == pytest.approx(0.5)
    assert gpu.memory_total == pytest.approx(81920.0)


def test_a_hung_init_reopened_again_and_again_leaves_one_stuck_thread(clock):
    # Found in review: each open used to start a new worker, each stuck in nvmlInit again.
    release = threading.Event()
    module = StandIn([healthy()])
    module.nvmlInit = blocking(release)  # type: ignore[method-assign]

    def stuck() -> int:
        return sum(1 for t in threading.enumerate() if t.name.startswith("clore-host-nvml"))

    before = stuck()
    try:
        for _ in range(10):
            with pytest.raises(GpuBackendTimeout):
                NvmlBackend.open(clock=clock, call_timeout=0.05, module=module)
        assert stuck() - before == 1
    finally:
        release.set()
