"""A full disk (or a read-only remount, or an I/O error) under the state directory never wedges
the agent: the daemon degrades while it lasts and resumes writing by itself once it is over,
without a restart; a one-shot run on a full disk exits 4 with one line.

Found by the tester: the writer lock's PID was written after `flock`, outside the error
handling, so a short full-disk episode leaked the lock's file handle; the daemon then reported
"another clore-host process is changing this server's settings" until restarted, and every
one-shot run exited 5.

Each case runs twice where it can: with faults injected at the file-write seam (always: the
lock and rate limiter files through `os`, SQLite through its connection), and on a real tmpfs
filled to the last block (only as root, where `mount -t tmpfs` works).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clore_host.agent import Agent
from clore_host.agent.daemon import Daemon
from clore_host.agent.lock import WriterLock
from clore_host.config import Config
from clore_host.history import History
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig, policy_text

from ..tmpfs import fill_up, tmpfs

RAISE = policy_text(
    """
[[rule]]
name = "raise"
then.on_demand = { set = 0.00011 }
"""
)
LOCKED = "another clore-host process"
FAULTS = {
    errno.ENOSPC: "database or disk is full",
    errno.EROFS: "attempt to write a readonly database",
    errno.EIO: "disk I/O error",
}


# -- the seams -----------------------------------------------------------------------------------


class FaultySqlite(sqlite3.Connection):
    """A connection whose writes fail as SQLite reports `fault`, while it is set."""

    fault: str | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.fault is not None and sql == "BEGIN IMMEDIATE":
            raise sqlite3.OperationalError(self.fault)
        return super().execute(sql, parameters)


class Seams:
    """Faults for the state directory's files: its lock and rate limiter files through `os`
    (their writes, and for a read-only remount their opening for writing), and the history
    through its SQLite connection: a full disk is the database's page limit, as SQLite meets
    it; a read-only remount and an I/O error are SQLite's own errors for them."""

    def __init__(self, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.state = state.resolve()
        self.code: int | None = None
        self.connections: list[FaultySqlite] = []
        real_open = os.open
        for name in ("write", "pwrite", "ftruncate", "truncate"):
            monkeypatch.setattr(os, name, self._by_fd(getattr(os, name)))

        def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if self.code == errno.EROFS and writing and self._ours(Path(os.fsdecode(path))):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", open_)

    def _ours(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.state)

    def _by_fd(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(target: Any, *args: Any) -> Any:
            if self.code is not None:
                where = target if isinstance(target, (str, Path)) else f"/proc/self/fd/{target}"
                if self._ours(Path(os.path.realpath(where))):
                    raise OSError(self.code, os.strerror(self.code))
            return real(target, *args)

        return call

    def connect(self, name: str) -> sqlite3.Connection:
        conn = sqlite3.connect(name, factory=FaultySqlite, check_same_thread=False)
        self.connections.append(conn)
        return conn

    def fail(self, code: int) -> None:
        self.code = code
        for conn in self.connections:
            if code == errno.ENOSPC:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {pages}")
            conn.fault = FAULTS[code]

    def heal(self) -> None:
        self.code = None
        for conn in self.connections:
            conn.execute("PRAGMA max_page_count = 1073741823")
            conn.fault = None


# -- driving the daemon --------------------------------------------------------------------------


def run_for(daemon: Daemon, clock: FakeClock, seconds: float) -> list[str]:
    """Step the daemon through `seconds` of its clock; the status line after each step."""
    lines = []
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(min(daemon.step(), end - clock.now()) + 0.001)
        lines.append(daemon.status_line())
    return lines


def opener(rig: Rig, seams: Seams | None) -> Callable[[Config], Agent]:
    """The daemon's agent, its history on the seams' connection when given."""

    def open_agent(config: Config) -> Agent:
        history = None
        if seams is not None:
            history = History.open(
                config.state.dir / "history.db",
                raw_retention=config.history.raw_retention,
                rollup_retention=config.history.rollup_retention,
                now=rig.clock.now(),
                connect=seams.connect,
            )
        return rig.agent(history=history)

    return open_agent


def recorded_after(rig: Rig, when: float) -> tuple[float, float]:
    """The last decision's time and the newest sample's, read from the file."""
    with sqlite3.connect(rig.root / "state" / "history.db") as db:
        decided = db.execute("SELECT MAX(ts) FROM decision").fetchone()[0]
        sampled = db.execute("SELECT MAX(ts) FROM raw").fetchone()[0]
    assert decided is not None and decided > when
    assert sampled is not None and sampled > when
    return decided, sampled


def the_episode(
    rig: Rig,
    clock: FakeClock,
    start: Callable[[], None],
    end: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
    seams: Seams | None = None,
) -> list[str]:
    """A daemon run: healthy; then `start()` (the disk fills) while a change is due; degraded
    and writing nothing while it lasts; `end()` (space again); healthy and writing, without a
    restart. The status lines while it lasted."""
    daemon = rig.daemon(open_agent=opener(rig, seams))
    try:
        with caplog.at_level(logging.INFO, logger="clore_host"):
            assert all(line.startswith("healthy") for line in run_for(daemon, clock, 120)[1:])
            agent = daemon.agent
            assert agent is not None and rig.writes() == []

            (rig.root / "policy.toml").write_text(RAISE)  # a change is now due
            start()
            daemon.reload()
            during = run_for(daemon, clock, 1800)
            assert rig.writes() == []  # nothing written while the state cannot be kept
            assert daemon.status_line().startswith("degraded")
            began_healing = clock.now()

            end()
            after = run_for(daemon, clock, 900)
            assert daemon.health.ok, daemon.status_line()
            assert after[-1].startswith("healthy")
            assert daemon.agent is agent  # the same agent, the same daemon: no restart
            assert len(rig.writes()) == 1 and rig.settings()[0] == 0.00011
            recorded_after(rig, began_healing)  # the history is written again
            with WriterLock(rig.root / "state", rig.server):  # and the lock is free
                pass
        assert LOCKED not in caplog.text
        assert not any(LOCKED in line for line in during + after)
        return during
    finally:
        daemon.close()


# -- the daemon ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(FAULTS), ids=[errno.errorcode[c] for c in FAULTS])
def test_the_daemon_recovers_from_a_fault_at_the_write_seam(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    code: int,
) -> None:
    clock = FakeClock()
    with Rig(tmp_path, clock=clock) as rig:
        seams = Seams(rig.root / "state", monkeypatch)
        during = the_episode(rig, clock, lambda: seams.fail(code), seams.heal, caplog, seams=seams)
    told = " ".join(during)
    assert os.strerror(code) in told  # the lock and the limiter: the state directory
    history_says = {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "cannot be written",
        errno.EIO: "disk I/O error",
    }[code]
    assert history_says in told  # the history, when a sample could not be stored


def test_the_daemon_recovers_once_a_full_tmpfs_has_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    state = tmp_path / "state"
    with tmpfs(state), Rig(tmp_path, clock=clock) as rig:

        def disk_fills() -> None:
            fill_up(state / "filler")

        def space_returns() -> None:
            (state / "filler").unlink()

        during = the_episode(rig, clock, disk_fills, space_returns, caplog)
    assert any("the disk is full" in line for line in during)


def test_a_lock_file_made_on_a_full_tmpfs_is_not_left_held(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The tester's case on a real filesystem: a lock file that must be made anew (a state
    # directory cleaned, say) while the disk is full gets no block for the PID.
    clock = FakeClock()
    state = tmp_path / "state"
    with tmpfs(state), Rig(tmp_path, clock=clock) as rig:
        lock = WriterLock(state, rig.server).path

        def disk_fills() -> None:
            lock.unlink()  # first: its block is then taken by the filler
            fill_up(state / "filler")

        def space_returns() -> None:
            (state / "filler").unlink()

        during = the_episode(rig, clock, disk_fills, space_returns, caplog)
    assert any(f"({lock})" in line and "No space left" in line for line in during), during


# -- a one-shot run ------------------------------------------------------------------------------

FULL_SEAM = """
import errno, os, sqlite3, sys
from clore_host.cli import main

STATE = os.path.realpath({state!r})
WHAT = {what!r}

def ours(target):
    where = target if isinstance(target, str) else f"/proc/self/fd/{{target}}"
    return os.path.realpath(where).startswith(STATE + os.sep)

def full(real):
    def call(target, *args):
        if ours(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(target, *args)
    return call

if WHAT == "files":
    for name in ("write", "pwrite", "ftruncate", "truncate"):
        setattr(os, name, full(getattr(os, name)))
else:
    real_connect = sqlite3.connect
    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 1")  # no room to grow: a full disk to SQLite
        return conn
    sqlite3.connect = connect

sys.exit(main(["reprice", "--config", {config!r}]))
"""


def reprice_on_a_full_seam(rig: Rig, what: str) -> subprocess.CompletedProcess[str]:
    script = FULL_SEAM.format(state=str(rig.root / "state"), what=what, config=str(rig.config))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=rig.env(),
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("clore-host: ")
    return lines[0]


@pytest.mark.parametrize(
    ("what", "says"),
    [
        ("files", "state directory unavailable ({lock}), nothing changed: No space left"),
        ("history", "history unavailable, nothing changed: history database {db}: the disk"),
    ],
)
def test_a_one_shot_run_on_a_full_disk_exits_4_with_one_line(
    tmp_path: Path, what: str, says: str
) -> None:
    with Rig(tmp_path, policy=RAISE) as rig:
        result = reprice_on_a_full_seam(rig, what)
        assert result.returncode == 4, result.stderr
        lock = WriterLock(rig.root / "state", rig.server).path
        assert says.format(lock=lock, db=rig.root / "state" / "history.db") in one_line(
            result.stderr
        )
        assert rig.writes() == []
        # Space again: the next run writes (nothing was left held).
        again = rig.cli("reprice")
        assert again.returncode == 0, again.stderr
        assert len(rig.writes()) == 1


def test_a_one_shot_run_on_a_full_tmpfs_exits_4_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with tmpfs(state), Rig(tmp_path, policy=RAISE) as rig:
        first = rig.cli("reprice", "--dry-run")  # the state directory in use before
        assert first.returncode == 0, first.stderr
        fill_up(state / "filler")
        result = rig.cli("reprice")
        assert result.returncode == 4, result.stderr
        line = one_line(result.stderr)
        assert "nothing changed" in line and ("disk is full" in line or "No space" in line)
        assert rig.writes() == []
        (state / "filler").unlink()
        again = rig.cli("reprice")
        assert again.returncode == 0, again.stderr
        assert len(rig.writes()) == 1


def test_a_one_shot_run_on_a_read_only_remount_exits_4_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with tmpfs(state), Rig(tmp_path, policy=RAISE) as rig:
        first = rig.cli("reprice", "--dry-run")
        assert first.returncode == 0, first.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        result = rig.cli("reprice")
        assert result.returncode == 4, result.stderr
        line = one_line(result.stderr)
        assert "nothing changed" in line and "Read-only file system" in line
        assert rig.writes() == []
        subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)
        again = rig.cli("reprice")
        assert again.returncode == 0, again.stderr
        assert len(rig.writes()) == 1
