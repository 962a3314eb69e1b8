"""The webhook against loopback receivers: what it sends, and that it never holds the caller."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from clore_host.outputs.webhook import MAX_IN_FLIGHT, Webhook, change_payload, health_payload
from clore_host.policy import Policy, parse_policy
from clore_host.testing import FakeClock

from ..webhook_receiver import Receiver, serving
from .conftest import cycle_result, make_facts

TIMEOUT = 0.3
SLACK = 0.5  # scheduling allowance on a loaded 2-core machine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener completes TCP handshakes (the kernel's backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def dripping_port() -> Iterator[int]:
    """A receiver that accepts and sends its status line one byte at a time, forever."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.05)

    def serve() -> None:
        conns: list[socket.socket] = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conns.append(listener.accept()[0])
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.send(b"H")
        for conn in conns:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on exit: nothing listens there


def test_change_applied_document(receiver: Receiver, policy: Policy, clock: FakeClock) -> None:
    result = cycle_result(policy, make_facts(clock))
    assert result.outcome == "changed"
    with Webhook(receiver.url + "/hook", TIMEOUT, server="rig-01", clock=clock) as hook:
        assert hook.send("change_applied", change_payload(result)) is True

    [(path, headers, body)] = receiver.requests
    assert path == "/hook"
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    plan = result.plan
    assert doc == {
        "kind": "change_applied",
        "server": "rig-01",
        "ts": "2026-01-01T00:00:00Z",
        "rental_status": "not_rented",
        "before": plan.current._asdict(),
        "after": plan.target._asdict(),
        "changed": list(plan.changed_fields()),
        "rules": ["idle discount"],
        "reasons": plan.reasons(),
    }
    assert "on_demand" in doc["changed"] and doc["before"] != doc["after"]
    assert any('"idle discount"' in line for line in doc["reasons"])


def test_change_applied_names_the_rules_from_the_plan_not_its_words(
    receiver: Receiver, clock: FakeClock
) -> None:
    # Names the English would garble: quotes, parentheses, non-ASCII; a rule that acts
    # without changing anything is not behind the change.
    rules = [
        {"name": 'say "hi" (now)', "then": {"on_demand": {"scale": 0.95}}},
        {"name": 'Ölpreis "hoch"', "then": {"mrl": 48}},
        {"name": "no-op", "then": {"availability": True}},
    ]
    rails = {
        "on_demand": {"floor": 0.0001, "ceiling": 0.001},
        "spot": {"floor": 0.00005, "ceiling": 0.0005},
    }
    policy = parse_policy({"version": 1, "rails": rails, "rule": rules})
    result = cycle_result(policy, make_facts(clock))
    assert result.outcome == "changed"
    with Webhook(receiver.url, TIMEOUT, server="rig-01", clock=clock) as hook:
        assert hook.send("change_applied", change_payload(result)) is True
    [(_, _, body)] = receiver.requests
    doc = json.loads(body)
    assert doc["rules"] == ['say "hi" (now)', 'Ölpreis "hoch"']
    assert doc["changed"] == ["on_demand", "mrl"]
    assert doc["reasons"] == [
        'on_demand 0.00020000 -> 0.00019000: rule "say "hi" (now)" (always)',
        'mrl 72 -> 48: rule "Ölpreis "hoch"" (always)',
    ]


def test_health_documents(receiver: Receiver, clock: FakeClock) -> None:
    hook = Webhook(receiver.url, TIMEOUT, server="rig-01", clock=clock)
    assert hook.send("health", health_payload("gpus", "GPU 2 is lost"))
    clock.advance(90)
    assert hook.send("health", health_payload("gpus", None))
    hook.close()
    down, up = (json.loads(body) for _, _, body in receiver.requests)
    assert down == {
        "kind": "health",
        "server": "rig-01",
        "ts": "2026-01-01T00:00:00Z",
        "part": "gpus",
        "status": "degraded",
        "text": "GPU 2 is lost",
    }
    assert (up["status"], up["ts"]) == ("recovered", "2026-01-01T00:01:30Z")


@pytest.mark.parametrize("port_fixture", ["silent_port", "dripping_port"])
def test_a_receiver_that_never_answers_costs_at_most_the_timeout(
    port_fixture: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    port = request.getfixturevalue(port_fixture)
    hook = Webhook(f"http://127.0.0.1:{port}/x", TIMEOUT)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "clore_host.outputs.webhook"):
        assert hook.send("health", health_payload("gpus", "lost")) is False
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK
    assert f"no answer within {TIMEOUT:g}s" in caplog.text or "timed out" in caplog.text


def test_connection_refused_is_false_and_logged_without_the_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = Webhook(f"http://127.0.0.1:{refused_port()}/hooks/s3cr3t-t0ken", TIMEOUT)
    with caplog.at_level(logging.WARNING, "clore_host.outputs.webhook"):
        assert hook.send("health", health_payload("gpus", "lost")) is False
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "failed" in record.getMessage() and "127.0.0.1" in record.getMessage()
    assert "s3cr3t-t0ken" not in caplog.text


def test_an_error_status_is_false(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.status = 500
    with caplog.at_level(logging.WARNING, "clore_host.outputs.webhook"):
        assert Webhook(receiver.url, TIMEOUT).send("health", {"text": "x"}) is False
    assert "HTTP 500" in caplog.text
    assert len(receiver.requests) == 1  # no retry that would stretch the caller's wait


def test_a_bad_payload_is_refused_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    transport = httpx.MockTransport(lambda request: pytest.fail("nothing may be sent"))
    hook = Webhook("http://127.0.0.1:9/", TIMEOUT, transport)
    with caplog.at_level(logging.ERROR, "clore_host.outputs.webhook"):
        assert hook.send("health", {"kind": "spoofed"}) is False
    assert "may not set kind" in caplog.text


def test_hung_posts_pile_up_only_to_a_bound(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    def hang(request: httpx.Request) -> httpx.Response:
        entered.release()
        release.wait(10)
        return httpx.Response(204)

    hook = Webhook("http://127.0.0.1:9/", 0.05, httpx.MockTransport(hang))
    try:
        for _ in range(MAX_IN_FLIGHT):
            assert hook.send("health", {}) is False
        for _ in range(MAX_IN_FLIGHT):
            assert entered.acquire(timeout=5)
        with caplog.at_level(logging.WARNING, "clore_host.outputs.webhook"):
            assert hook.send("health", {}) is False
        assert "dropped" in caplog.text
        assert entered.acquire(blocking=False) is False  # the dropped one never started
    finally:
        release.set()


@pytest.mark.parametrize(
    ("url", "timeout", "message"),
    [
        ("ftp://example.invalid/x", 1.0, "not an http"),
        ("not a url", 1.0, "not an http"),
        ("http://127.0.0.1/", 0.0, "timeout must be positive"),
    ],
)
def test_bad_settings_are_refused(url: str, timeout: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Webhook(url, timeout)
