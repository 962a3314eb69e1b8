"""What a person hits at once at a shell: output piped into a reader that stops early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clore_host.facts import Settings
from clore_host.history import History


def test_history_into_head_ends_quietly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\nname = "rig"\n[state]\ndir = "{state}"\n')
    before = Settings(0.0001, 0.00005, True, 72)
    after = Settings(0.00009, 0.000045, True, 72)
    with History.open(state / "history.db", now=1_000.0) as history:
        # Far more than a pipe holds (64 KiB), so the writer is still writing when head exits.
        for i in range(3000):
            change = history.record_change(1_000.0 + i, "rig", before, after, [f"reason {i}"])
            history.mark_change(change, "applied", 1_000.0 + i)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clore_host",
            "history",
            "--config",
            str(config),
            "--since",
            "1970-01-01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # what `head -1` reads, then it goes away
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert first.startswith(b"1970-01-01 ")
    assert err == b""


def test_a_reader_gone_before_the_first_line_leaves_the_exit_code_as_it_was(
    tmp_path: Path,
) -> None:
    from clore_host.testing.rig import Rig

    with Rig(tmp_path) as rig:
        spot = rig.emulator.server(rig.server)["spot_pricing"]
        rig.emulator.update_server(rig.server, spot_pricing={**spot, "bitcoin": 0.0})
        proc = subprocess.Popen(
            [sys.executable, "-m", "clore_host", "plan", "--config", str(rig.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=rig.env(),
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything is written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 4  # the blocked plan's code, not 0
        assert err.startswith("clore-host: inputs implausible, nothing changed: ")
        assert "Traceback" not in err
