"""`clore-host reprice` wall time against the emulator, divided by the API floor.

At 1 request per second a read plus a write cannot take less than about 1 s, so the ratio
says how much the agent adds on top of the rate limit. Three figures, each the median of
5 runs that write a change to the emulator over loopback:
- the command: `clore-host reprice` as a timer starts it, a fresh Python process each time;
- the peer: a plain script with the same libraries (import httpx and pydantic, read, wait
  out the limit, write), the way one would write it by hand;
- the cycle: one reprice in a running agent (Agent.reconcile), as the daemon does it.
Target: a median ratio of 1.25 or less.

The package's bytecode is compiled first, as installing it does (pip and the .deb compile
every module): where PYTHONDONTWRITEBYTECODE is set, a source checkout would otherwise
compile every module again in each fresh process, which no rig does.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import clore_host
from clore_host.testing.rig import Rig, policy_text

FLOOR_S = 1.0
RUNS = 5
TARGET = 1.25
TOKEN = "bench-token"

# Every run is a change: down 5% from the list price, up 5% below it.
POLICY = policy_text(
    """
[[rule]]
name = "alternate"
when = { fact = "on_demand", op = ">=", value = 0.0001 }
then.on_demand = { scale = 0.95 }
stop = true
[[rule]]
name = "back up"
when = { fact = "on_demand", op = "<", value = 0.0001 }
then.on_demand = { scale = 1.05 }
""",
    min_interval=0,
)

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
    compileall.compile_dir(Path(clore_host.__file__).parent, quiet=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Rig(Path(tmp), token=TOKEN, policy=POLICY, config={"gpu": {"scenario": "idle-rig"}}) as rig,
    ):
        emulator = rig.emulator
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE")}

        def writes() -> int:
            return len(emulator.requests.for_endpoint("set_server_settings"))

        def pause() -> None:
            time.sleep(FLOOR_S)  # each run starts with the rate limiter's slot free

        def command() -> None:
            before = writes()
            done = rig.cli("reprice")
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

        agent = rig.agent()

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
