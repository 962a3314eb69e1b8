from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clore_host.agent.lock import LockHeld, WriterLock

HOLDER = """
import sys, time
from pathlib import Path
from clore_host.agent.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), "rig")
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_second_process_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=rf"pid {holder.pid}"):
            WriterLock(tmp_path, "rig").acquire()
        # Another server on the same host has its own lock.
        with WriterLock(tmp_path, "other-rig"):
            pass
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock, nothing stale is left
        holder.wait()
    with WriterLock(tmp_path, "rig") as lock:
        assert lock.path.exists()
