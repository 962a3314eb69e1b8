"""Logging: one line per event, `key=value` or JSON, suited to journald.

Under systemd (JOURNAL_STREAM or INVOCATION_ID set) lines carry no timestamp of their own,
since the journal adds one; when stderr is the journal they also start with a `<N>` syslog
priority, which journald strips and keeps as the entry's level (`journalctl -p warning`).
Structured fields travel in `extra={"fields": {...}}` or through `event()`. No value can
split a record: newlines and quotes are escaped in text, and JSON escapes them itself.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TextIO

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("auto", "text", "json")
REDACTED = "[redacted]"
# Keys the formatter writes itself; a field with one of these names gets a trailing "_".
RESERVED = frozenset({"ts", "level", "logger", "msg", "event", "exc", "stack"})

# sd-daemon(3) priorities: journald reads these from the start of each stderr line.
_SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
_BARE = re.compile(r"[A-Za-z0-9_.,:/@+%~^-]+")  # values printed without quotes
_BAD_KEY = re.compile(r"[^A-Za-z0-9_.-]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}

_handler: logging.Handler | None = None  # the one setup_logging installed
_secrets: SecretFilter | None = None


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def is_journal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal's (systemd.exec(5): compare device and inode)."""
    env = os.environ if environ is None else environ
    journal = env.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor (a buffer, say)
        return False
    return journal == f"{st.st_dev}:{st.st_ino}"


# -- values ------------------------------------------------------------------------------


def _plain(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def quote(value: object) -> str:
    """A value as it appears after `key=`: bare when safe, else quoted with escapes."""
    text = _plain(value)
    if _BARE.fullmatch(text):
        return text
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")  # control characters would garble the line
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    key = _BAD_KEY.sub("_", name) or "_"
    return key + "_" if key in RESERVED else key


def _json_value(value: object) -> object:
    """JSON-safe: NaN/inf as strings (bare NaN is not JSON), unknown objects as str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_value(v) for v in value]
    return str(value)


# -- formatters ----------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> Mapping[str, object]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _exception(record: logging.LogRecord, formatter: logging.Formatter) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or None


class _Base(logging.Formatter):
    def __init__(self, *, timestamps: bool, priority_prefix: bool = False) -> None:
        super().__init__()
        self.timestamps = timestamps
        self.priority_prefix = priority_prefix

    def _ts(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _prefix(self, record: logging.LogRecord) -> str:
        if not self.priority_prefix:
            return ""
        level = max((lv for lv in _SYSLOG_PRIORITY if lv <= record.levelno), default=logging.DEBUG)
        return f"<{_SYSLOG_PRIORITY[level]}>"

    def _pairs(self, record: logging.LogRecord) -> list[tuple[str, object]]:
        """The record as ordered (key, value) pairs, the same for both formats."""
        pairs: list[tuple[str, object]] = []
        if self.timestamps:
            pairs.append(("ts", self._ts(record)))
        pairs.append(("level", record.levelname.lower()))
        pairs.append(("logger", record.name))
        name = getattr(record, "event", None)
        if isinstance(name, str):
            pairs.append(("event", name))
        else:
            pairs.append(("msg", record.getMessage()))
        pairs.extend((_key(str(k)), v) for k, v in _fields(record).items())
        exc = _exception(record, self)
        if exc:
            pairs.append(("exc", exc))
        if record.stack_info:
            pairs.append(("stack", record.stack_info))
        return pairs


class KeyValueFormatter(_Base):
    """`level=info logger=clore_host.agent msg="applied change #3" rule=idle` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body = " ".join(f"{k}={quote(v)}" for k, v in self._pairs(record))
        return self._prefix(record) + body


class JsonFormatter(_Base):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {k: _json_value(v) for k, v in self._pairs(record)}
        return self._prefix(record) + json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


# -- secrets -----------------------------------------------------------------------------


class SecretFilter(logging.Filter):
    """Replaces every secret in a record's message, fields and traceback with [redacted].

    Belt and braces: the token is never logged on purpose, but an exception text or a
    library's debug line might carry it. Put it on a handler so it sees every record.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if not secret:
            return  # an empty "secret" would match everywhere
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret containing another is scrubbed whole.
                self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _scrub_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        text = str(value)
        clean = self.scrub(text)
        return value if clean == text else clean

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: logging would report it; still scrub what is there
            message = f"{record.msg} {record.args!r}"
        record.msg = self.scrub(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = {k: self._scrub_value(v) for k, v in fields.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
            record.exc_info = None  # the formatter must use the scrubbed text
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


# -- setup -------------------------------------------------------------------------------


def make_formatter(
    fmt: str = "auto",
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> logging.Formatter:
    """The formatter for `fmt`, adapted to systemd when `environ` says it runs under it."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    options = {
        "timestamps": not under_systemd(environ),
        "priority_prefix": is_journal(stream or sys.stderr, environ),
    }
    return JsonFormatter(**options) if fmt == "json" else KeyValueFormatter(**options)


def parse_level(level: str) -> int:
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}: expected one of {', '.join(LEVELS)}"
        ) from None


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`), one line each; replaces an earlier setup."""
    global _handler
    levelno = parse_level(level)
    stream = stream or sys.stderr
    formatter = make_formatter(fmt, stream=stream)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_secret_filter())
    root.addHandler(handler)
    root.setLevel(levelno)
    _handler = handler
    # httpx logs every request at INFO; that is the API client's job to report, not theirs.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(levelno, logging.WARNING))


def redact(secret: str) -> None:
    """Scrub `secret` from every record that setup_logging's handler writes from now on."""
    _secret_filter().add(secret)


def _secret_filter() -> SecretFilter:
    """The one filter every handler shares, made on first use."""
    global _secrets
    if _secrets is None:
        _secrets = SecretFilter()
    return _secrets


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log `event=name key=value ...` with structured fields."""
    logger.log(level, name, extra={"event": name, "fields": fields})
