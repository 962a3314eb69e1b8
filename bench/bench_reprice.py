"""`clore-host reprice` wall time against the emulator, divided by the API floor.

At 1 request per second a read plus a write cannot take less than about 1 s, so the ratio
says how much the agent adds on top of the rate limit. Three figures, each the median of
5 runs that write a change to the emulator over loopback:
- the command: `clore-host reprice` as a timer starts it, a fresh Python process each time;
- the peer: a plain script with the same libraries (import httpx and pydantic, read, wait
  out the limit, write), the way one would write it by hand; the command sends its read before
  pydantic loads (see clore_host/early_read.py), so it can come in under the peer;
- the cycle: one reprice in a running agent (Agent.reconcile), as the daemon does it.
Target: a median ratio of 1.2 or less.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clore_host.agent import Agent
from clore_host.api.emulator import Emulator, default_state
from clore_host.config import load_config

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

# The peer: a read, the rate limit, a write; nothing else.
PEER = """
import sys, time
import httpx
from pydantic import BaseModel

class Answer(BaseModel):
    code: int

url, token = sys.argv[1], sys.argv[2]
with httpx.Client(verify=False) as client:
    read = client.request("GET", url + "/server_config", json={"server_name": "demo-rig"},
                          headers={"auth": token})
    Answer.model_validate(read.json())
    time.sleep(1.0)
    body = {"name": "demo-rig", "availability": True, "mrl": 72, "on_demand": 0.0001,
            "spot": 0.00005}
    Answer.model_validate(client.post(url + "/set_server_settings", json=body,
                                      headers={"auth": token}).json())
"""


def median_ratio(label: str, run: Callable[[], None], pause: Callable[[], None]) -> float:
    ratios = []
    for _ in range(RUNS):
        pause()
        began = time.perf_counter()
        run()
        ratios.append((time.perf_counter() - began) / FLOOR_S)
    median = statistics.median(ratios)
    print(
        f"{label:<40} median ratio {median:.3f}  (runs: "
        + " ".join(f"{r:.3f}" for r in ratios)
        + ")"
    )
    return median


def main() -> int:
    state = default_state()
    state["tokens"] = [TOKEN]
    with tempfile.TemporaryDirectory() as tmp, Emulator(state) as emulator:
        root = Path(tmp)
        token = root / "token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        (root / "policy.toml").write_text(POLICY)
        config_file = root / "config.toml"
        config_file.write_text(
            f'[server]\nname = "demo-rig"\n[api]\nbase_url = "{emulator.url}"\n'
            'token_file = "token"\n[gpu]\nbackend = "fake"\nscenario = "idle-rig"\n'
            '[policy]\npath = "policy.toml"\n[state]\ndir = "state"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}

        def writes() -> int:
            return len(emulator.requests.for_endpoint("set_server_settings"))

        def pause() -> None:
            time.sleep(FLOOR_S)  # each run starts with the rate limiter's slot free

        def command() -> None:
            before = writes()
            done = subprocess.run(
                [sys.executable, "-m", "clore_host", "reprice", "--config", str(config_file)],
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0 and writes() == before + 1, done.stderr

        def peer() -> None:
            before = writes()
            done = subprocess.run(
                [sys.executable, "-c", PEER, emulator.url, TOKEN],
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0 and writes() == before + 1, done.stderr

        agent = Agent.open(load_config(config_file))

        def cycle() -> None:
            assert agent.reconcile().outcome == "changed"

        try:
            ratio = median_ratio("clore-host reprice (fresh process)", command, pause)
            floor = median_ratio("peer: plain httpx+pydantic script", peer, pause)
            median_ratio("reprice cycle in a running agent", cycle, pause)
        finally:
            agent.close()
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"reprice command: {ratio:.3f} x the API floor (target <= {TARGET}) {verdict}; "
        f"{ratio / floor:.3f} x the plain-script peer"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
