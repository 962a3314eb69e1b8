"""One writer per server on a host: a lock file in the state directory.

The daemon and one-shot runs take the same lock before they decide and write, so two of them
never race on a server's settings. The lock is an flock: the kernel drops it when the holder
dies, so a killed run never leaves a stale lock behind.

Whatever fails while taking the lock (a full disk, a read-only remount, an I/O error) releases
what was taken before the error leaves: a lock held by a leaked file handle would refuse every
later run of this very process ("another clore-host process...") long after the disk recovered.
Such a failure is an OSError naming the lock file: the state directory is unavailable (exit 4).
"""

from __future__ import annotations

import contextlib
import errno
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

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting; raise LockHeld if another process has it, OSError
        (naming the lock file) if the state directory cannot hold it; nothing stays taken."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._unavailable(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            _close(fd)
            raise LockHeld(
                f"another clore-host process{holder} is changing this server's settings "
                f"(lock {self.path}); try again later"
            ) from None
        except OSError as exc:
            _close(fd)
            raise self._unavailable(exc) from None
        except BaseException:
            _close(fd)
            raise
        try:
            _write_pid(fd)
        except OSError as exc:
            _unlock(fd)
            raise self._unavailable(exc) from None
        except BaseException:
            _unlock(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let the lock go; never raises (closing the file releases the flock in any case)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _unlock(fd)

    def _unavailable(self, exc: OSError) -> OSError:
        """The failure, naming the lock file, as the error model reports the state directory."""
        return OSError(exc.errno, exc.strerror or str(exc), str(self.path))

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


def _write_pid(fd: int) -> None:
    """Write the holder's PID for the message another process shows. In place, then cut to
    length: over an earlier PID this needs no new block, so it works on a full disk."""
    data = str(os.getpid()).encode()
    written = os.pwrite(fd, data, 0)
    if written != len(data):
        raise OSError(errno.EIO, "short write")
    os.ftruncate(fd, len(data))


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    _close(fd)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):  # the descriptor is released even when close reports
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
