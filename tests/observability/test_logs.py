"""Log lines: key=value and JSON, escaping, journald conventions, secret scrubbing."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator

import pytest

from clore_host.outputs import logs
from clore_host.outputs.logs import (
    JsonFormatter,
    KeyValueFormatter,
    SecretFilter,
    event,
    make_formatter,
    quote,
    setup_logging,
)

TS = re.compile(r"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
KV = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|[^ "]+)(?: |$)')


def parse_kv(line: str) -> dict[str, str]:
    """Split a key=value line back into its pairs, undoing the quoting."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        m = KV.match(line, pos)
        assert m, f"unparsable at {pos}: {line[pos:]!r}"
        key, raw = m.groups()
        if raw.startswith('"'):
            raw = json.loads(raw)  # the escapes used are a subset of JSON's
        out[key] = raw
        pos = m.end()
    return out


def record(
    msg: str = "hello", *args: object, level: int = logging.INFO, **extra: object
) -> logging.LogRecord:
    rec = logging.LogRecord("clore_host.agent", level, __file__, 1, msg, args or None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A buffer for setup_logging's handler; the root logger restored afterwards."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    monkeypatch.setattr(logs, "_handler", None)
    monkeypatch.setattr(logs, "_secrets", None)
    yield buffer
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])


def test_key_value_line() -> None:
    line = KeyValueFormatter(timestamps=False).format(
        record("applied change #%d to %s", 3, "rig-01", fields={"rule": "idle discount", "n": 2})
    )
    assert line == (
        'level=info logger=clore_host.agent msg="applied change #3 to rig-01" '
        'rule="idle discount" n=2'
    )


def test_timestamps_are_iso_utc() -> None:
    line = KeyValueFormatter(timestamps=True).format(record())
    assert TS.match(line), line


@pytest.mark.parametrize(
    "text",
    [
        "two words",
        'a "quoted" word',
        "line one\nline two\r\n",
        "back\\slash\tand tab",
        "key=value",
        "",
        "bell\x07 and nul\x00 and \u2028 separator",
        "ünïcödé ok",
    ],
)
def test_values_survive_escaping_on_one_line(text: str) -> None:
    line = KeyValueFormatter(timestamps=False).format(record(text, fields={"v": text}))
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    pairs = parse_kv(line)
    assert pairs["msg"] == text and pairs["v"] == text


def test_plain_values_stay_bare() -> None:
    assert quote("rig-01") == "rig-01"
    assert quote(0.00018) == "0.00018"
    assert quote(True) == "true"
    assert quote(None) == "null"
    assert quote(float("nan")) == "nan"


def test_event_helper_and_reserved_keys(stream: io.StringIO) -> None:
    setup_logging("info", "text", stream)
    event(logging.getLogger("clore_host.agent.daemon"), "reconciled", outcome="unchanged", msg="x")
    line = stream.getvalue()
    assert line.count("\n") == 1
    pairs = parse_kv(line.strip().split(" ", 1)[1] if line.startswith("ts=") else line.strip())
    assert pairs["event"] == "reconciled"
    assert pairs["outcome"] == "unchanged"
    assert pairs["msg_"] == "x"  # a field cannot pose as the message
    assert "msg" not in pairs


def test_json_lines(stream: io.StringIO) -> None:
    setup_logging("debug", "json", stream)
    log = logging.getLogger("clore_host.test")
    log.debug("one\ntwo", extra={"fields": {"price": 0.0002, "gpus": (0, 1), "bad": float("inf")}})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "debug" and first["logger"] == "clore_host.test"
    assert first["msg"] == "one\ntwo"
    assert (first["price"], first["gpus"], first["bad"]) == (0.0002, [0, 1], "inf")
    assert second["level"] == "error" and "RuntimeError: boom" in second["exc"]


@pytest.mark.parametrize("variable", ["JOURNAL_STREAM", "INVOCATION_ID"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_timestamp_under_systemd(variable: str, fmt: str) -> None:
    formatter = make_formatter(fmt, environ={variable: "8:12345"})
    line = formatter.format(record())
    assert "ts" not in (json.loads(line) if fmt == "json" else parse_kv(line))
    outside = make_formatter(fmt, environ={}).format(record())
    assert "ts" in (json.loads(outside) if fmt == "json" else parse_kv(outside))


def test_syslog_priority_prefix_when_stderr_is_the_journal(tmp_path) -> None:
    with open(tmp_path / "journal", "w") as fake_journal:
        st = os.fstat(fake_journal.fileno())
        journal = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        formatter = make_formatter("text", environ=journal, stream=fake_journal)
        other = make_formatter("text", environ={"JOURNAL_STREAM": "1:2"}, stream=fake_journal)
    assert formatter.format(record(level=logging.WARNING)).startswith("<4>level=warning ")
    assert formatter.format(record(level=logging.ERROR)).startswith("<3>")
    assert formatter.format(record(level=logging.DEBUG)).startswith("<7>")
    assert other.format(record()).startswith("level=info")


def test_secrets_are_scrubbed_everywhere(stream: io.StringIO) -> None:
    setup_logging("info", "text", stream)
    logs.redact("tok-123456")
    log = logging.getLogger("clore_host.api")
    log.info("auth header %s", "Bearer tok-123456", extra={"fields": {"url": "x?k=tok-123456"}})
    try:
        raise ValueError("bad token tok-123456")
    except ValueError:
        log.exception("request failed")
    event(log, "sent", detail=["tok-123456"])
    out = stream.getvalue()
    assert "tok-123456" not in out
    lines = out.splitlines()
    assert len(lines) == 3 and all("[redacted]" in line for line in lines)
    assert 'url="x?k=[redacted]"' in lines[0]


def test_secret_filter_keeps_innocent_records() -> None:
    scrub = SecretFilter(["longer-secret", "secret", ""])
    rec = record("a longer-secret and a secret", fields={"n": 3, "ok": "fine"})
    assert scrub.filter(rec) is True
    assert rec.getMessage() == "a [redacted] and a [redacted]"
    assert rec.__dict__["fields"] == {"n": 3, "ok": "fine"}
    rec = record("%s %s", "only one arg")  # a broken call is still scrubbed, never raises
    assert SecretFilter(["one arg"]).filter(rec)
    assert rec.getMessage() == "%s %s ('only [redacted]',)"


def test_levels_filter(stream: io.StringIO) -> None:
    setup_logging("warning", "text", stream)
    log = logging.getLogger("clore_host.x")
    log.info("quiet")
    log.warning("loud")
    assert [parse_kv(line)["msg"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_setup_twice_keeps_one_handler(stream: io.StringIO) -> None:
    setup_logging("info", "text", stream)
    setup_logging("info", "json", stream)
    logging.getLogger("clore_host.x").info("once")
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["msg"] == "once"


@pytest.mark.parametrize(
    ("level", "fmt", "message"),
    [("loud", "text", "unknown log level 'loud'"), ("info", "xml", "unknown log format 'xml'")],
)
def test_bad_settings_are_named(level: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        setup_logging(level, fmt)


def test_json_formatter_is_one_line_per_record() -> None:
    line = JsonFormatter(timestamps=False).format(record("a\nb", fields={"k": "x\ny"}))
    assert "\n" not in line and json.loads(line)["k"] == "x\ny"


def test_a_loaded_token_is_scrubbed_from_log_lines(stream: io.StringIO, tmp_path) -> None:
    from clore_host.api.token import load_token

    setup_logging("info", "text", stream)
    secret = "tok-loaded-98765"
    token_file = tmp_path / "token"
    token_file.write_text(secret)
    token_file.chmod(0o600)
    load_token(token_file, environ={})
    logging.getLogger("clore_host.test").warning("sent %s", secret)
    assert secret not in stream.getvalue() and "[redacted]" in stream.getvalue()
