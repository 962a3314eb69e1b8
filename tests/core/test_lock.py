from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent.lock import LockHeld, WriterLock
from clore_host.errors import EXIT_UNAVAILABLE, describe

from ..fds import fds_on

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


# -- a full disk, a read-only remount, an I/O error: nothing stays taken ----------------------

FAULTS = [errno.ENOSPC, errno.EROFS, errno.EIO]


def _failing(code: int) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize("code", FAULTS)
@pytest.mark.parametrize("seam", ["pwrite", "ftruncate"])
def test_a_failed_pid_write_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, seam: str
) -> None:
    # Found by the tester: the PID was written after flock, outside the error handling; a
    # short full-disk episode leaked the handle, and the daemon then reported "another
    # clore-host process is changing this server's settings" until it was restarted.
    (tmp_path / "writer-rig.lock").write_text("4194304")  # an earlier holder's PID
    lock = WriterLock(tmp_path, "rig")
    before = fds_on(lock.path)
    with monkeypatch.context() as patch:
        patch.setattr(os, seam, _failing(code))
        with pytest.raises(OSError) as info:
            lock.acquire()
    assert not lock.held
    assert fds_on(lock.path) == before  # no handle left open, so no flock held
    assert describe(info.value) == (
        EXIT_UNAVAILABLE,
        f"state directory unavailable ({lock.path}), nothing changed: {os.strerror(code)}",
    )
    # The fault gone, the same lock (the daemon's) and another process's take it at once.
    lock.acquire()
    assert lock.held and lock.path.read_text() == str(os.getpid())
    lock.release()
    taker = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        input="\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert taker.returncode == 0 and taker.stdout.strip() == "held"


@pytest.mark.parametrize("code", FAULTS)
def test_a_lock_file_that_cannot_be_opened_is_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    lock = WriterLock(tmp_path, "rig")
    monkeypatch.setattr(os, "open", _failing(code))
    with pytest.raises(OSError) as info:
        lock.acquire()
    assert describe(info.value)[0] == EXIT_UNAVAILABLE
    assert str(lock.path) in describe(info.value)[1]
    assert not lock.held


def test_a_failed_flock_closes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = WriterLock(tmp_path, "rig")
    before = fds_on(lock.path)
    monkeypatch.setattr(fcntl, "flock", _failing(errno.ENOLCK))
    with pytest.raises(OSError, match="No locks available"):
        lock.acquire()
    assert fds_on(lock.path) == before and not lock.held


def test_the_pid_replaces_a_longer_one_in_place(tmp_path: Path) -> None:
    path = tmp_path / "writer-rig.lock"
    path.write_text("99999999999")
    with WriterLock(tmp_path, "rig"):
        assert path.read_text() == str(os.getpid())


def test_release_never_raises_and_lets_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = WriterLock(tmp_path, "rig")
    lock.acquire()
    before = fds_on(lock.path)
    with monkeypatch.context() as patch:
        patch.setattr(fcntl, "flock", _failing(errno.EIO))
        lock.release()
    assert fds_on(lock.path) == before - 1 and not lock.held
    lock.release()  # twice: nothing to do
    with WriterLock(tmp_path, "rig"):
        pass
