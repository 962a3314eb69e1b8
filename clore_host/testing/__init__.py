"""Parts for testing and trying clore-host out without an account, a GPU or real time.

It ships with the package because `clore-host emulate`, `clore-host demo` and the fake GPU
backend (`gpu.backend = "fake"`) run on it; the tests and benches use the same parts.

- Emulator: the CLORE.AI API on loopback, with scripted faults and a log of every request.
- FakeClock: simulated time that the emulator, rate limiter, agent and fake GPUs share.
- FakeBackend, load_scenario: fake GPUs replaying a scenario file.
- Rig: one server's whole setup (emulator, config, token, policy, scenario, state dir).
- run_demo, simulate_day: the demo's simulated day.
"""

from .clock import FakeClock
from .demo import TimelineEntry, run_demo, simulate_day
from .emulator import Emulator, FaultPlan, RequestLog, RequestRecord, default_state, load_state
from .fake_gpu import FakeBackend
from .rig import RAILS, SERVER, TOKEN, Rig, idle_scenario, policy_text
from .scenario import Scenario, load_scenario, step_value

__all__ = [
    "RAILS",
    "SERVER",
    "TOKEN",
    "Emulator",
    "FakeBackend",
    "FakeClock",
    "FaultPlan",
    "RequestLog",
    "RequestRecord",
    "Rig",
    "Scenario",
    "TimelineEntry",
    "default_state",
    "idle_scenario",
    "load_scenario",
    "load_state",
    "policy_text",
    "run_demo",
    "simulate_day",
    "step_value",
]
