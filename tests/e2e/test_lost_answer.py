"""A one-shot write whose answer is lost: the line says it may have been applied (exit 4), and
the next run finds it applied, records it, and writes nothing again (issue 14, item 3)."""

from __future__ import annotations

import pytest

from clore_host.agent.cycle import WriteInDoubt, outcome_unknown
from clore_host.api import (
    ApiTimeout,
    ApiUnreachable,
    AuthError,
    CloreError,
    DatabaseError,
    HttpStatusError,
    InvalidInput,
    LocalStateError,
    MalformedResponse,
    NamedApiError,
    RateLimited,
    TooManyRequests,
)
from clore_host.errors import describe
from clore_host.history import History

from ..rig import Rig

AFTER = (0.00011, 0.000055, True, 72)


@pytest.mark.parametrize("status", [None, 502])
def test_the_line_says_the_write_may_have_landed_and_the_next_run_records_it(
    rig: Rig, status: int | None
) -> None:
    rig.emulator.faults.lose_answer(endpoint="set_server_settings", status=status)
    result = rig.cli("reprice")
    assert result.returncode == 4, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("clore-host: the write may have been applied; the next run checks: ")
    assert "set_server_settings" in line and "nothing changed" not in line
    assert rig.settings() == AFTER  # it did land
    with History.open(rig.root / "state" / "history.db") as history:
        assert [c.status for c in history.changes(status=None)] == ["pending"]

    again = rig.cli("reprice")
    assert again.returncode == 0, again.stderr
    assert "change #1 from an interrupted run had been applied" in again.stdout
    assert "no change: nothing written" in again.stdout
    assert len(rig.writes()) == 1  # not written twice
    with History.open(rig.root / "state" / "history.db") as history:
        (change,) = history.changes(status=None)
    assert change.status == "applied" and change.after.on_demand == 0.00011


def test_a_refused_write_still_says_nothing_changed(rig: Rig) -> None:
    rig.emulator.faults.api_code(6, "exceeded_max_step", endpoint="set_server_settings")
    result = rig.cli("reprice")
    assert result.returncode == 4
    (line,) = result.stderr.splitlines()
    assert line.startswith("clore-host: API unavailable, nothing changed: ")
    assert "may have been applied" not in line


E = "set_server_settings"
OUTCOMES: list[tuple[CloreError, bool]] = [
    (ApiTimeout(E, "no answer within 10 s"), True),
    (ApiUnreachable(E, "connection closed without an answer"), True),
    (ApiUnreachable(E, "cannot connect to http://127.0.0.1:1"), True),  # an earlier try may have
    (HttpStatusError(E, 500), True),
    (HttpStatusError(E, 502), True),
    (MalformedResponse(E, "response is not JSON"), True),
    (DatabaseError(E, 1), True),
    (HttpStatusError(E, 404), False),
    (TooManyRequests(E, 1.0), False),
    (RateLimited(E, 5), False),
    (InvalidInput(E, 2, "bad mrl"), False),
    (AuthError(E, 3), False),
    (NamedApiError(E, 6, "exceeded_max_step"), False),
    (LocalStateError("rate limiter state unusable"), False),
]


@pytest.mark.parametrize(
    ("exc", "unknown"),
    OUTCOMES,
    ids=[f"{type(e).__name__}-{i}" for i, (e, _) in enumerate(OUTCOMES)],
)
def test_which_failed_writes_may_have_landed(exc: CloreError, unknown: bool) -> None:
    assert outcome_unknown(exc) is unknown


def test_the_doubt_is_exit_4_with_its_own_headline() -> None:
    code, line = describe(WriteInDoubt(f"{E}: no answer within 10 s"))
    assert code == 4
    assert line == (
        "the write may have been applied; the next run checks: "
        "set_server_settings: no answer within 10 s"
    )
