"""The fake backend: traces, every fault kind, determinism, shipped scenarios."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from clore_host.config.paths import shipped_dir
from clore_host.duration import parse_duration
from clore_host.gpu import (
    GpuBackendTimeout,
    GpuDriverNotLoaded,
    NvmlLibraryNotFound,
    open_backend,
)
from clore_host.issues import InputFileError
from clore_host.testing import FakeBackend, Scenario, load_scenario

TINY = 0.2
SHIPPED = sorted(shipped_dir("scenarios").glob("*.toml"))


def scenario(text: str, tmp_path: Path) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


TWO_GPUS = """
seed = 5
[defaults]
utilization = { steps = [[0, 10], ["1h", 90]] }
temperature = { ramp = { from = 40, to = 80, start = "1h", end = "2h" } }
power = { noise = { base = 200, amplitude = 20 } }
fan = 50
fans = 2
[[gpu]]
[[gpu]]
"""


@pytest.fixture
def backends():
    opened: list[FakeBackend] = []

    def make(s: Scenario, clock, **kwargs) -> FakeBackend:
        backend = FakeBackend(s, clock, call_timeout=kwargs.pop("call_timeout", TINY), **kwargs)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


def at(backend: FakeBackend, clock, when: str | float):
    clock.set(backend.start + parse_duration(when))
    return backend.read()


def test_traces_follow_the_scenario(tmp_path, clock, backends):
    b = backends(scenario(TWO_GPUS + "\n[[fault]]\nkind = 'hang'\nat = '99h'", tmp_path), clock)
    assert at(b, clock, 0).gpus[0].utilization == 10
    assert at(b, clock, "59m").gpus[0].utilization == 10
    assert at(b, clock, "1h").gpus[0].utilization == 90
    assert at(b, clock, "1h30m").gpus[0].temperature == 60  # half-way up the ramp
    assert at(b, clock, "5h").gpus[0].temperature == 80  # holds after the end
    powers = {at(b, clock, f"{i}m").gpus[1].power for i in range(60)}
    assert len(powers) > 10 and all(p is not None and 180 <= p <= 220 for p in powers)
    assert at(b, clock, 0).gpus[1].fans == (50.0, 50.0)


def test_same_scenario_seed_and_clock_give_identical_readings(tmp_path, clock, backends):
    s = scenario(TWO_GPUS, tmp_path)
    first, second = backends(s, clock), backends(s, clock)
    at(first, clock, "7m")  # read history must not matter
    at(first, clock, "3h")
    assert at(first, clock, "42m") == at(second, clock, "42m")
    other_seed = backends(s.model_copy(update={"seed": 6}), clock)
    assert at(other_seed, clock, "42m").gpus[0].power != at(first, clock, "42m").gpus[0].power


def test_gpu_lost_fault_affects_only_that_gpu_while_active(tmp_path, clock, backends):
    s = scenario(
        TWO_GPUS + "[[fault]]\nkind = 'gpu_lost'\ngpu = 1\nat = '1h'\nuntil = '2h'\n", tmp_path
    )
    b = backends(s, clock)
    assert not at(b, clock, "59m").gpus[1].lost
    during = at(b, clock, "1h")
    assert during.gpus[1].lost and during.gpus[1].error == "GPU is lost"
    assert during.gpus[1].utilization is None
    assert not during.gpus[0].lost and during.gpus[0].utilization == 90
    assert not at(b, clock, "2h").gpus[1].lost


@pytest.mark.parametrize(
    ("kind", "error"),
    [("library_not_found", NvmlLibraryNotFound), ("driver_not_loaded", GpuDriverNotLoaded)],
)
def test_backend_faults_raise_while_active(tmp_path, clock, backends, kind, error):
    s = scenario(TWO_GPUS + f"[[fault]]\nkind = '{kind}'\nat = '10m'\nuntil = '20m'\n", tmp_path)
    b = backends(s, clock)
    assert len(at(b, clock, "9m").gpus) == 2
    with pytest.raises(error):
        at(b, clock, "10m")
    assert len(at(b, clock, "20m").gpus) == 2
    with pytest.raises(error):  # active when opened: opening fails, as with NVML
        FakeBackend(s, clock, start=clock.now() - parse_duration("15m"))


def test_metric_not_supported_removes_one_metric_of_one_gpu(tmp_path, clock, backends):
    faults = "".join(
        f"[[fault]]\nkind = 'metric_not_supported'\ngpu = 0\nmetric = '{m}'\n"
        for m in ("temperature", "fan")
    )
    b = backends(scenario(TWO_GPUS + faults, tmp_path), clock)
    gpu0, gpu1 = at(b, clock, "1h30m").gpus
    assert gpu0.temperature is None and gpu0.fans == ()
    assert gpu0.utilization == 90 and gpu0.power is not None
    assert gpu1.temperature == 60 and gpu1.fans == (50.0, 50.0)


def test_hang_is_bounded_fails_fast_and_ends(tmp_path, clock, backends):
    s = scenario(TWO_GPUS + "[[fault]]\nkind = 'hang'\nat = '1h'\nuntil = '2h'\n", tmp_path)
    b = backends(s, clock)
    at(b, clock, "59m")
    started = time.monotonic()
    with pytest.raises(GpuBackendTimeout, match=r"timed out after 0\.2s"):
        at(b, clock, "1h")
    assert time.monotonic() - started < TINY + 1.0
    started = time.monotonic()
    with pytest.raises(GpuBackendTimeout, match="still hung"):
        b.read()
    assert time.monotonic() - started < TINY
    clock.set(b.start + parse_duration("2h"))  # the hang is over: the stuck call returns
    deadline = time.monotonic() + 2.0
    while True:
        try:
            assert len(b.read().gpus) == 2
            break
        except GpuBackendTimeout:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_closing_ends_a_hang_without_leaking_its_thread(tmp_path, clock):
    s = scenario(TWO_GPUS + "[[fault]]\nkind = 'hang'\n", tmp_path)
    b = FakeBackend(s, clock, call_timeout=TINY)
    with pytest.raises(GpuBackendTimeout):
        b.read()
    stuck = [t for t in threading.enumerate() if t.name == "clore-host-fake-gpu"]
    assert stuck
    b.close()
    for thread in stuck:
        thread.join(2.0)
        assert not thread.is_alive()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load_and_read(path, clock, backends):
    b = backends(load_scenario(path), clock)
    for when in ("0", "1h", "12h", "30h"):
        snapshot = at(b, clock, when)
        assert snapshot.gpus and all(g.lost or g.utilization is not None for g in snapshot.gpus)


def test_the_shipped_set_is_complete():
    names = {p.stem for p in SHIPPED}
    assert {"idle-rig", "rented-busy", "overheat", "gpu-lost", "mixed-8gpu", "demo"} <= names


def test_demo_scenario_tells_its_day(clock):
    b = open_backend("fake", scenario="demo", clock=clock, call_timeout=TINY)
    assert isinstance(b, FakeBackend)
    try:
        hours = (*range(10), 16, 17, 21, 23)
        idle = [at(b, clock, f"{h}h").gpus[0] for h in hours]
        assert all(g.utilization is not None and g.utilization <= 3 for g in idle)
        busy = [at(b, clock, f"{h}h").gpus[0] for h in (10, 12, 15)]
        assert all(g.utilization is not None and g.utilization >= 90 for g in busy)
        assert all(g.temperature is not None and g.temperature < 90 for g in busy + idle)
        hot = [at(b, clock, f"18h{m}m").gpus[0] for m in range(0, 120, 7)]
        assert all(g.temperature is not None and g.temperature > 90 for g in hot)
        assert all("hw_thermal" in g.throttle for g in hot)
        assert all(g.utilization is not None and g.utilization <= 3 for g in hot)
    finally:
        b.close()


def test_shipped_names_and_paths_both_open(clock):
    by_path = open_backend("fake", scenario=shipped_dir("scenarios") / "idle-rig.toml", clock=clock)
    by_name = open_backend("fake", scenario="idle-rig", clock=clock)
    try:
        assert by_path.read() == by_name.read()
    finally:
        for b in (by_path, by_name):
            b.close()


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (
            "[[gpu]]\nutilization = { steps = [[0, 1]], constant = 5 }",
            "gpu[0].utilization",
            "exactly one of",
        ),
        (
            '[[gpu]]\ntemperature = { steps = [["2h", 1], ["1h", 2]] }',
            "gpu[0].temperature",
            "increasing order",
        ),
        (
            '[[gpu]]\nthrottle = [[0, ["too_hot"]]]',
            "gpu[0].throttle[0][1][0]",
            "unknown throttle reason",
        ),
        (
            '[[gpu]]\npower = { ramp = { from = 1, to = 2, start = "soon", end = 5 } }',
            "gpu[0].power.ramp.start",
            "not a duration",
        ),
        ("[[gpu]]\nwatts = 5", "gpu[0].watts", "unknown key"),
        ("[[gpu]]\n[[fault]]\nkind = 'gpu_lost'\ngpu = 3", "", "has 1 GPU(s)"),
        (
            "[[gpu]]\n[[fault]]\nkind = 'metric_not_supported'\ngpu = 0\nmetric = 'x'",
            "fault[0]",
            "`metric` must be one of",
        ),
        (
            "[[gpu]]\n[[fault]]\nkind = 'hang'\nat = '2h'\nuntil = '1h'",
            "fault[0]",
            "until must be after at",
        ),
        ("[[gpu]]\n[[fault]]\nkind = 'melt'", "fault[0].kind", "gpu_lost"),
        ("seed = 1", "gpu", "required key is missing"),
    ],
)
def test_invalid_scenarios_are_reported_with_their_location(tmp_path, text, location, message):
    with pytest.raises(InputFileError) as info:
        scenario(text, tmp_path)
    rendered = info.value.render()
    assert str(tmp_path / "s.toml") in rendered
    assert message in rendered
    assert any(i.location == location for i in info.value.issues), rendered
