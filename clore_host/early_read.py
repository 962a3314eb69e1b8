"""A one-shot run's first request, sent before the rest of the agent has loaded.

A `reprice` started by a timer needs about 0.2 s to load pydantic, the policy and the rest of
the agent, and then must wait out the API's 1 s rate limit between its read and its write.
Sending the server_config read first and loading everything else during that wait makes the
run take little more than the rate limit itself.

The early read is the cycle's own first attempt at its read, only sent sooner:
- it goes where the config file plainly says (server, URL, token, state directory), found
  without validating the rest; if anything there is unusual, no early read is made;
- the writer lock is taken before it and held until the cycle ends, so its answer cannot go
  stale while the agent loads;
- the agent uses the answer only if the validated config names the same server, URL, token
  file, state directory and timeout; otherwise it closes it and reads again;
- what it answered, an error included, is met where the cycle would have met it: after the
  config and the policy have validated, with the same retries after it.
So nothing is written before everything has validated, as without it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api.connection import Answer, Connection, Request, server_config_request
from .api.ratelimit import MIN_INTERVAL
from .api.token import load_token
from .config_file import (
    DEFAULT_API_TIMEOUT,
    DEFAULT_API_URL,
    DEFAULT_STATE_DIR,
    api_base_url,
    config_path,
    resolve_relative,
)
from .duration import parse_duration
from .lock import WriterLock
from .validation import load_toml

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where a server's reads go, as far as the early read cares."""

    server: str
    base_url: str
    token_file: Path | None
    state_dir: Path
    timeout: float

    @classmethod
    def of(cls, config: Config) -> Target:
        return cls(
            server=config.server.name,
            base_url=config.api.base_url,
            token_file=config.api.token_file,
            state_dir=config.state.dir,
            timeout=config.api.timeout,
        )


@dataclass
class EarlyRead:
    """A read sent early, its answer, and the lock and connection it holds for the cycle."""

    target: Target
    lock: WriterLock
    connection: Connection
    request: Request
    answer: Answer
    answered_at: float  # by the connection's clock

    def close(self) -> None:
        """Release what it holds, when no agent takes it over. Closing twice is harmless."""
        try:
            self.connection.close()
        finally:
            self.lock.release()

    def abandon(self) -> None:
        """Close it, then wait until a new read keeps the API's spacing after this one.

        The cycle's own read may go through another state directory's rate limiter, which
        never saw this request.
        """
        self.close()
        clock = self.connection.clock
        clock.sleep(max(0.0, self.answered_at + MIN_INTERVAL - clock.now()))


def send_early_read(config: str | Path | None) -> EarlyRead | None:
    """Send the server_config read for the config at `config` (as --config names it).

    None when the file does not plainly say where to read, when another writer holds the
    lock, or when anything else stands in the way: the cycle then reads as usual and meets
    the same problem there, with its own clear message.
    """
    try:
        return _send(config_path(config))
    except Exception as exc:  # a head start must never fail a run the cycle could do itself
        log.debug("no early read: %s", type(exc).__name__)
        return None


def _send(path: Path) -> EarlyRead | None:
    # A file that does not load, or a lock another writer holds, raises: no early read.
    target = plain_target(load_toml(path, "config"), path.parent)
    if target is None:
        return None
    with contextlib.ExitStack() as undo:  # releases what was taken if a step fails
        lock = WriterLock(target.state_dir, target.server)
        lock.acquire()
        undo.callback(lock.release)
        token = load_token(target.token_file)
        connection = Connection(
            target.base_url, token, state_dir=target.state_dir, timeout=target.timeout
        )
        undo.callback(connection.close)
        request = server_config_request(target.server)
        answer = connection.exchange(request)
        answered_at = connection.clock.now()
        undo.pop_all()
    log.debug("early read of %s: %s", target.server, answer.outcome)
    return EarlyRead(target, lock, connection, request, answer, answered_at)


def plain_target(raw: dict[str, Any], base: Path) -> Target | None:
    """The Target a raw config file names, if it names it plainly; None for anything unusual.

    It need not catch every invalid config (the full validation does, before anything is
    written); a mismatch with the validated config only costs the early read.
    """
    server, api, state = (raw.get(key, {}) for key in ("server", "api", "state"))
    if not all(isinstance(section, dict) for section in (server, api, state)):
        return None
    name = server.get("name")
    base_url = api.get("base_url", DEFAULT_API_URL)
    token_file = api.get("token_file")
    state_dir = state.get("dir", str(DEFAULT_STATE_DIR))
    timeout = api.get("timeout", DEFAULT_API_TIMEOUT)
    if not (isinstance(name, str) and name and isinstance(base_url, str)):
        return None
    if not (isinstance(state_dir, str) and state_dir and isinstance(token_file, (str, type(None)))):
        return None
    try:
        seconds = parse_duration(timeout)
    except ValueError:
        return None
    return Target(
        server=name,
        base_url=api_base_url(base_url),
        token_file=None if token_file is None else resolve_relative(Path(token_file), base),
        state_dir=resolve_relative(Path(state_dir), base),
        timeout=seconds,
    )
