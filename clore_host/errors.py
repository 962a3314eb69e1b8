"""One error model: every failure the program expects knows its exit code and its one line.

A domain error derives from `Failure` and states, as class attributes, the exit code of a
one-shot command that ends on it and the headline its line starts with. `describe()` is the
one place that turns any exception into (exit code, line); the CLI calls it once, in `main`,
and the daemon calls it to say why it is degraded. Anything else is a bug: exit 1, and its
traceback is logged (see cli.main and Daemon).
"""

from __future__ import annotations

import unicodedata
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
        detail = printable(str(self).strip())
        if not detail and not self.headline:
            detail = (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        if not self.headline:
            return detail
        return f"{self.headline}: {detail}" if detail else self.headline


# What a terminal or a log reader could act on rather than show: C0 and C1 controls (a line
# break, ESC starting a colour or a cursor move, CSI), line and paragraph separators, format
# characters (bidirectional overrides that reorder what is read), surrogates, private-use and
# unassigned code points. Joiners stay: emoji sequences are printable text.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_KEEP = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` safe to show on one line: every control or format character is written as a
    visible escape (a line break as `\\n`, ESC as `\\x1b`); printable Unicode stays as is.

    Text from the API, from a file or from the system can reach a person's terminal only
    through here (`Failure.line()` and `describe()`); applied twice, it changes nothing more.
    """
    if text.isprintable():  # the usual case: nothing to escape
        return text
    return "".join(_escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch == " " or ch in _KEEP or unicodedata.category(ch) not in _HIDDEN:
        return ch
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class UsageError(Failure):
    """A command-line argument the command cannot use (a bad --since, --port, --hours)."""

    exit_code = EXIT_INVALID


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line for any exception; EXIT_FAILURE marks a bug.

    The line is one line whatever the exception carries (see `printable`).
    """
    code, line = _describe(exc)
    return code, printable(line)


def _describe(exc: BaseException) -> tuple[int, str]:
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
