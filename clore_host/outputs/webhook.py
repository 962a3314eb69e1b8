"""The optional webhook: a JSON POST on applied changes and health events.

A webhook must never hold up or break a cycle. The POST runs in a daemon thread that the
caller waits for at most `timeout` seconds in total, whatever the receiver does (accept and
never answer, drip bytes, refuse); every failure is logged and reported as False.

The document (see the README, "Webhook"):
    {"kind": "change_applied" | "health", "server": NAME, "ts": ISO-8601 UTC, ...}
    change_applied: "rental_status", "before" and "after" settings, "changed" (field names),
                    "rules" (the names of the rules behind the change, from the plan's
                    structure), "reasons" (one line per changed field, in words); with
                    several currencies, "currencies": "reference", "before" and "after"
                    ({currency: {on_demand, spot}}) and "reasons" (in words)
    health:         "part" (e.g. "gpus"), "status" ("degraded" | "recovered"), "text"
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from ..clock import Clock, SystemClock

if TYPE_CHECKING:
    from ..agent import CycleResult

log = logging.getLogger(__name__)

RESERVED_KEYS = frozenset({"kind", "server", "ts"})
MAX_IN_FLIGHT = 4  # abandoned POSTs still running; past this, new events are dropped


def change_payload(result: CycleResult) -> dict[str, Any]:
    """The body of a "change_applied" event for a cycle that wrote new settings."""
    plan = result.plan
    payload: dict[str, Any] = {
        "rental_status": result.facts.rental_status,
        "before": plan.current._asdict(),
        "after": plan.target._asdict(),
        "changed": list(plan.changed_fields()),
        "rules": list(plan.rule_names(changed_only=True)),
        "reasons": list(plan.reasons()),
    }
    prices = result.currencies
    if prices is not None:  # several currencies: each one's prices, and why
        payload["currencies"] = {
            "reference": prices.reference,
            "before": prices.table("current"),
            "after": prices.table("target"),
            "reasons": prices.reasons(),
        }
    return payload


def health_payload(part: str, problem: str | None) -> dict[str, Any]:
    """The body of a "health" event: `problem` is the text, or None when the part recovered."""
    if problem is None:
        return {"part": part, "status": "recovered", "text": f"{part} recovered"}
    return {"part": part, "status": "degraded", "text": problem}


def _iso(when: float) -> str:
    stamp = datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def parse_url(url: str) -> httpx.URL:
    """The webhook's URL as it is sent to; ValueError when it is not an http(s) URL with a
    host. The daemon and `check` read webhook.url with this same function."""
    if not url.isprintable() or any(ch.isspace() for ch in url):
        raise ValueError(
            "webhook URL is not an http(s) URL: it contains spaces or control characters"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        parsed = httpx.URL()
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("webhook URL is not an http(s) URL with a host")
    if parsed.port is not None and not 0 < parsed.port <= 65535:
        raise ValueError("webhook URL is not an http(s) URL: its port is not 1 to 65535")
    return parsed


class Webhook:
    """POSTs events to one URL. Thread-safe; `close()` when done."""

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        *,
        server: str = "",
        clock: Clock | None = None,
    ) -> None:
        parsed = parse_url(url)
        if not timeout > 0:
            raise ValueError(f"webhook timeout must be positive, got {timeout!r}")
        self.url = url
        # Only scheme, host and port are logged: a webhook path often embeds a secret token.
        self.target = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        self.timeout = timeout
        self.server = server
        self._clock: Clock = clock or SystemClock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False
        )
        self._lock = threading.Lock()
        self._in_flight = 0

    def document(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        clash = RESERVED_KEYS.intersection(payload)
        if clash:
            raise ValueError(f"payload may not set {', '.join(sorted(clash))}")
        return {"kind": kind, "server": self.server, "ts": _iso(self._clock.now()), **payload}

    def send(self, kind: str, payload: dict[str, Any]) -> bool:
        """POST one event; True when the receiver answered 2xx within the timeout."""
        try:
            body = json.dumps(self.document(kind, payload), default=str).encode()
        except (TypeError, ValueError) as exc:
            log.error("webhook %s not sent: %s", kind, exc)
            return False
        with self._lock:
            if self._in_flight >= MAX_IN_FLIGHT:
                log.warning(
                    "webhook %s to %s dropped: %d earlier posts still unanswered",
                    kind,
                    self.target,
                    self._in_flight,
                )
                return False
            self._in_flight += 1
        outcome: list[str | None] = []  # the worker appends None (ok) or what went wrong
        worker = threading.Thread(
            target=self._post, args=(body, outcome), name="webhook", daemon=True
        )
        worker.start()
        worker.join(self.timeout)
        if not outcome:  # still running: abandon it; it ends with its own httpx timeouts
            log.warning(
                "webhook %s to %s: no answer within %gs, gave up", kind, self.target, self.timeout
            )
            return False
        if outcome[0] is not None:
            log.warning("webhook %s to %s failed: %s", kind, self.target, outcome[0])
            return False
        log.debug("webhook %s delivered to %s", kind, self.target)
        return True

    def _post(self, body: bytes, outcome: list[str | None]) -> None:
        try:
            response = self._client.post(
                self.url,
                content=body,
                headers={"content-type": "application/json", "user-agent": "clore-host"},
            )
            if response.is_success:
                outcome.append(None)
            else:
                outcome.append(f"HTTP {response.status_code}")
        except httpx.TimeoutException:
            outcome.append("timed out")
        except httpx.HTTPError as exc:
            # The text may quote the full URL, whose path can hold a token: keep the host only.
            detail = str(exc).replace(self.url, self.target) or type(exc).__name__
            outcome.append(detail)
        except Exception as exc:  # a worker thread must never die with a traceback
            outcome.append(f"unexpected {type(exc).__name__}")
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Webhook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
