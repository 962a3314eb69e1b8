"""Parts for testing and trying clore-host out without an account, a GPU or real time.

It ships with the package because `clore-host emulate`, `clore-host demo` and the fake GPU
backend (`gpu.backend = "fake"`) run on it; the tests and benches use the same parts. Here:

- FakeClock: simulated time that the emulator, rate limiter, agent and fake GPUs share.
- FakeBackend, load_scenario: fake GPUs replaying a scenario file.

In their own modules, imported from there, so that a daemon on the fake backend loads none of
them: `emulator` (the CLORE.AI API on loopback, with scripted faults and a log of every
request), `rig` (Rig: one server's whole setup: emulator, config, token, policy, scenario,
state dir) and `demo` (the demo's simulated day).
"""

from .clock import FakeClock
from .fake_gpu import FakeBackend
from .scenario import Scenario, load_scenario, step_value

__all__ = ["FakeBackend", "FakeClock", "Scenario", "load_scenario", "step_value"]
