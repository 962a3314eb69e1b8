"""Two processes sharing a state directory stay within 1 request/second, by the real clock.

The one test here that runs on real time (about 5 s): the limiter's cross-process lock can
only be shown with real processes and a real clock.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from clore_host.clock import SystemClock
from clore_host.testing.emulator import Emulator

from .conftest import SECRET, make_state

DURATION = 5.0

# The token travels in the environment, never on a command line.
HAMMER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from clore_host.api import CloreClient, Token
    from clore_host.clock import SystemClock

    url, state_dir, duration = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    token = Token(os.environ["TEST_CLORE_TOKEN"])
    sent = 0
    with CloreClient.connect(url, token, state_dir=state_dir, clock=SystemClock(), retries=0) as c:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            c.wallets()
            sent += 1
    print(sent)
    """
)


def test_two_processes_share_one_slot(tmp_path: Path) -> None:
    env = {**os.environ, "TEST_CLORE_TOKEN": SECRET}
    with Emulator(make_state(), clock=SystemClock()) as emu:
        argv = [sys.executable, "-c", HAMMER, emu.url, str(tmp_path), str(DURATION)]
        procs = [
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=DURATION + 20) for p in procs]
        records = emu.requests.snapshot()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    sent = [int(out) for out, _ in outputs]
    assert all(n >= 2 for n in sent), sent  # both really competed for the slot
    assert sum(sent) == len(records)
    assert all(r.code == 0 for r in records)  # the emulator's own 1/s check rejected none
    times = sorted(r.time for r in records)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0, gaps
