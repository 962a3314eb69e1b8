"""How many of this process's file descriptors are open on a file.

Counting only the file under test, not every descriptor: other threads of the test process
(a server finishing a connection) open and close their own at any moment.
"""

from __future__ import annotations

import os
from pathlib import Path


def fds_on(path: Path) -> int:
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:  # closed while listing
            continue
    return count
