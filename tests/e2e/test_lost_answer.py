"""A one-shot write whose answer is lost: the line says it may have been applied (exit 4), and
the next run finds it applied, records it, and writes nothing again (issue 14, item 3) -- also
when the client retried the write and the retry was refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
from clore_host.testing import FakeClock
from clore_host.testing.emulator import FaultPlan

from ..rig import RAISE_POLICY, Rig

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

# What the retry of a write whose answer was lost is told. None of these says anything about
# the attempt before it, which the service carried out.
RETRY_TOLD: dict[str, Callable[[FaultPlan], None]] = {
    "429-retry-after-120": lambda f: f.too_many_requests(120, endpoint=E),
    "api-code-6": lambda f: f.api_code(6, "exceeded_max_step", endpoint=E),
    "api-code-2": lambda f: f.api_code(2, endpoint=E),
    "api-code-5": lambda f: f.api_code(5, endpoint=E, times=3),
    "http-404": lambda f: f.http_status(404, endpoint=E),
}


@pytest.mark.parametrize("told", RETRY_TOLD.values(), ids=RETRY_TOLD.keys())
@pytest.mark.parametrize("lost", [None, 502])
def test_a_lost_answer_then_a_refused_retry_says_the_write_may_have_landed(
    tmp_path: Path, told: Callable[[FaultPlan], None], lost: int | None
) -> None:
    clock = FakeClock()  # the client's backoff waits on it: nothing sleeps for real
    config = {"api": {"retries": 3, "timeout": 1}, "gpu": {"call_timeout": 0.5}}
    with Rig(tmp_path, clock=clock, policy=RAISE_POLICY, config=config) as rig:
        rig.emulator.faults.lose_answer(endpoint=E, status=lost)  # the write lands
        told(rig.emulator.faults)  # the retry is refused
        agent = rig.agent()
        try:
            with pytest.raises(WriteInDoubt) as info:
                agent.reconcile()
            code, line = describe(info.value)
            assert code == 4
            assert line.startswith("the write may have been applied; the next run checks: ")
            assert "nothing changed" not in line
            assert rig.settings() == AFTER  # it did land
            assert len(rig.writes()) >= 2  # and was retried
            with History.open(rig.root / "state" / "history.db") as history:
                assert [c.status for c in history.changes(status=None)] == ["pending"]

            clock.advance(120)
            again = agent.reconcile()
            assert again.outcome == "unchanged"
            assert any("had been applied" in note for note in again.recovered), again.recovered
            (settled,) = again.settled  # reported (webhook, metrics) like any change
            assert settled.change.after.on_demand == AFTER[0]
            with History.open(rig.root / "state" / "history.db") as history:
                assert [c.status for c in history.changes(status=None)] == ["applied"]
        finally:
            agent.close()


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


@pytest.mark.parametrize(
    "exc",
    [e for e, unknown in OUTCOMES if not unknown and not isinstance(e, LocalStateError)],
    ids=lambda e: type(e).__name__,
)
def test_any_failure_after_an_attempt_in_doubt_leaves_the_write_in_doubt(exc: CloreError) -> None:
    exc.earlier_attempt_in_doubt = True  # as the client marks it (tests/api/test_client.py)
    try:
        assert outcome_unknown(exc) is True
    finally:
        del exc.earlier_attempt_in_doubt  # OUTCOMES is shared: back to the class's False
    assert outcome_unknown(exc) is False


def test_the_doubt_is_exit_4_with_its_own_headline() -> None:
    code, line = describe(WriteInDoubt(f"{E}: no answer within 10 s"))
    assert code == 4
    assert line == (
        "the write may have been applied; the next run checks: "
        "set_server_settings: no answer within 10 s"
    )
