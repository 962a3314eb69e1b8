"""`clore-host reprice` wall time against the emulator, divided by the API floor.

At 1 request per second a read plus a write cannot take less than about 1 s, so the ratio
says how much the agent adds on top of the rate limit. Each run is the real command line
(a fresh process, as a timer starts it) writing a change to the emulator over loopback.
Target: a median ratio of 1.2 or less over 5 runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clore_host.api import Emulator, default_state

FLOOR_S = 1.0
RUNS = 5
TARGET = 1.2
TOKEN = "bench-token"

POLICY = """
version = 1
[rails]
on_demand = { floor = 0.00001, ceiling = 0.01 }
spot = { floor = 0.000005, ceiling = 0.01 }
max_step = "50%"
min_interval = 0
deadband = "0.1%"
[[rule]]
name = "alternate"
when = { fact = "on_demand", op = ">=", value = 0.0001 }
then.on_demand = { scale = 0.95 }
stop = true
[[rule]]
name = "back up"
when = { fact = "on_demand", op = "<", value = 0.0001 }
then.on_demand = { scale = 1.05 }
"""


def main() -> int:
    state = default_state()
    state["tokens"] = [TOKEN]
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, Emulator(state) as emulator:
        root = Path(tmp)
        token = root / "token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        (root / "policy.toml").write_text(POLICY)
        (root / "config.toml").write_text(
            f'[server]\nname = "demo-rig"\n[api]\nbase_url = "{emulator.url}"\n'
            'token_file = "token"\n[gpu]\nbackend = "fake"\nscenario = "idle-rig"\n'
            '[policy]\npath = "policy.toml"\n[state]\ndir = "state"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}
        for run in range(RUNS):
            time.sleep(FLOOR_S)  # start each run with the rate limiter's slot free
            writes = len(emulator.requests.for_endpoint("set_server_settings"))
            seen = len(emulator.requests)
            began_at = time.time()
            began = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "clore_host",
                    "reprice",
                    "--config",
                    str(root / "config.toml"),
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            took = time.perf_counter() - began
            if result.returncode != 0:
                print(result.stdout, result.stderr)
                return 1
            assert len(emulator.requests.for_endpoint("set_server_settings")) == writes + 1
            read, write = emulator.requests.snapshot()[seen:]
            ratios.append(took / FLOOR_S)
            print(
                f"run {run + 1}: {took:.3f} s (ratio {took / FLOOR_S:.3f}): "
                f"start to read {read.time - began_at:.3f} s, read to write "
                f"{write.time - read.time:.3f} s, write to exit "
                f"{began_at + took - write.time:.3f} s"
            )
    median = statistics.median(ratios)
    verdict = "PASS" if median <= TARGET else "FAIL"
    print(f"reprice: median ratio to the API floor {median:.3f} (target <= {TARGET}) {verdict}")
    return 0 if median <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
