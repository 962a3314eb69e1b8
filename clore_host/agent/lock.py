"""One writer per server on a host: a lock file in the state directory.

The daemon and one-shot runs take the same lock before they decide and write, so two of them
never race on a server's settings. The lock is an flock: the kernel drops it when the holder
dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from types import TracebackType

from ..errors import EXIT_LOCKED, Failure


class LockHeld(Failure):
    """Another process holds the writer lock for this server."""

    exit_code = EXIT_LOCKED


class WriterLock:
    def __init__(self, state_dir: Path, server: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", server)
        self.path = state_dir / f"writer-{safe}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise LockHeld if another process has it."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"another clore-host process{holder} is changing this server's settings "
                f"(lock {self.path}); try again later"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
