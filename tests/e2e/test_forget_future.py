"""The way out of a clock that jumped ahead and came back (issue 14, item 10).

What the history recorded ahead of the clock blocks every write until that time passes; the
line says so and names `clore-host history --forget-future`, which a person runs knowingly:
it takes the writer lock (refused while another run holds it), removes what lies in the
future, and prints what it removed. Writes then resume.
"""

from __future__ import annotations

import time

from clore_host.agent.lock import WriterLock
from clore_host.facts import Settings
from clore_host.history import History

from ..rig import SERVER, Rig

DAY = 86400.0
NOW = Settings(on_demand=0.0001, spot=0.00005, availability=True, mrl=72)
EARLIER = NOW._replace(on_demand=0.00009)


def record_ahead(rig: Rig) -> None:
    """A change the agent recorded while the clock ran a day ahead."""
    (rig.root / "state").mkdir(exist_ok=True)
    with History.open(rig.root / "state" / "history.db") as history:
        history.record_change(
            time.time() + DAY, SERVER, EARLIER, NOW, ["on_demand raised ahead"], "applied"
        )


def test_the_block_names_the_way_out_and_forget_future_clears_it(rig: Rig) -> None:
    record_ahead(rig)
    blocked = rig.cli("reprice")
    assert blocked.returncode == 4, blocked.stderr
    (line,) = blocked.stderr.splitlines()
    assert line.startswith("clore-host: inputs implausible, nothing changed: ")
    assert "in the future" in line and "clore-host history --forget-future" in line
    assert rig.writes() == []

    forget = rig.cli("history", "--forget-future")
    assert forget.returncode == 0, forget.stderr
    lines = forget.stdout.splitlines()
    assert f"#1 {SERVER} (applied): on_demand raised ahead" in lines[0]
    assert lines[-2].startswith("removed 1 record(s) dated after ")
    assert lines[-1] == "the minimum interval and the availability hold count from now"
    with History.open(rig.root / "state" / "history.db") as history:
        assert history.changes(status=None) == []

    after = rig.cli("reprice")
    assert after.returncode == 0, after.stderr
    assert "blocked" not in after.stdout

    again = rig.cli("history", "--forget-future")
    assert again.returncode == 0
    assert again.stdout.startswith("nothing recorded after ")


def test_forget_future_refuses_while_another_run_holds_the_writer_lock(rig: Rig) -> None:
    record_ahead(rig)
    with WriterLock(rig.root / "state", SERVER):
        result = rig.cli("history", "--forget-future")
    assert result.returncode == 5
    (line,) = result.stderr.splitlines()
    assert "another clore-host process" in line
    assert result.stdout == ""
    with History.open(rig.root / "state" / "history.db") as history:
        assert len(history.changes(status=None)) == 1  # nothing removed
