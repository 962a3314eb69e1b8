"""One error model: every failure the program expects knows its exit code and its one line.

A domain error derives from `Failure` and states, as class attributes, the exit code of a
one-shot command that ends on it and the headline its line starts with. `describe()` is the
one place that turns any exception into (exit code, line); the CLI calls it once, in `main`,
and the daemon calls it to say why it is degraded. Anything else is a bug: exit 1, and its
traceback is logged (see cli.main and Daemon).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected error (a bug)
EXIT_INVALID = 2  # config, policy or other input invalid
EXIT_AUTH = 3  # the API refused the token
EXIT_UNAVAILABLE = 4  # API, GPUs or state dir unavailable or implausible; nothing changed
EXIT_LOCKED = 5  # another writer holds the lock


class Failure(Exception):
    """An expected failure: its exit code and its one line are part of its class."""

    exit_code: ClassVar[int] = EXIT_UNAVAILABLE
    headline: ClassVar[str] = ""  # e.g. "GPUs unavailable, nothing changed"

    def line(self) -> str:
        """What a person reads, on one line: the headline, then the details.

        Without either (an error raised with no message), the class's own first docstring
        line says what happened.
        """
        detail = " ".join(str(self).split())
        if not detail and not self.headline:
            detail = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        if not self.headline:
            return detail
        return f"{self.headline}: {detail}" if detail else self.headline


class UsageError(Failure):
    """A command-line argument the command cannot use (a bad --since, --port, --hours)."""

    exit_code = EXIT_INVALID


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line for any exception; EXIT_FAILURE marks a bug."""
    if isinstance(exc, Failure):
        return exc.exit_code, exc.line()
    if isinstance(exc, OSError):  # the state directory: a full disk, lost permissions
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc)
        return EXIT_UNAVAILABLE, f"state directory unavailable{where}, nothing changed: {reason}"
    return EXIT_FAILURE, f"unexpected error, nothing changed: {type(exc).__name__}: {exc}"


def is_bug(exc: BaseException) -> bool:
    """True for an exception no part of the program expects: log its traceback."""
    return describe(exc)[0] == EXIT_FAILURE
