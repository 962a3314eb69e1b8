"""One line means one line: whatever text an API answer, a file or the system carries, the
final stderr line of a command is one line, with control characters shown as visible escapes
(no line break, no terminal escape sequence) and printable Unicode kept."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from clore_host.api.errors import api_error
from clore_host.errors import describe, printable
from tests.rig import Rig

# What a hostile or broken API put in `error`: a line break, a colour, a title change, a
# carriage return that would overwrite the start of the line, a bidirectional override.
NASTY = "bad\nthing \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \rover \u202eevil café"
SHOWN = "bad\\nthing \\x1b[31mred\\x1b[0m \\x1b]0;pwned\\x07 \\rover \\u202eevil café"


def _one_escaped_line(stderr: str) -> str:
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    line = stderr[:-1]
    assert line.isprintable(), repr(line)
    assert "\x1b" not in line and "\r" not in line
    return line


def test_an_api_error_through_api_config_is_one_escaped_line(rig: Rig) -> None:
    rig.emulator.faults.api_code(6, NASTY, endpoint="server_config")
    result = rig.cli("api", "config", rig.server)
    assert result.returncode == 4, result.stderr
    line = _one_escaped_line(result.stderr)
    assert (
        line == f"clore-host: API unavailable, nothing changed: server_config: API code 6 ({SHOWN})"
    )


def test_an_invalid_input_error_through_plan_is_one_escaped_line(rig: Rig) -> None:
    rig.emulator.faults.api_code(2, NASTY, endpoint="server_config")
    result = rig.cli("plan")
    assert result.returncode == 2, result.stderr
    assert _one_escaped_line(result.stderr).endswith(f"(invalid input data: {SHOWN})")


def test_describe_escapes_an_api_error() -> None:
    code, line = describe(api_error("set_server_settings", 6, NASTY, {"note": "a\nb"}))
    assert code == 4
    assert line == (
        f"API unavailable, nothing changed: set_server_settings: API code 6 ({SHOWN}); note='a\\nb'"
    )


@given(st.text())
def test_printable_is_one_line_and_idempotent(text: str) -> None:
    shown = printable(text)
    for ch in shown:  # printable, a space (U+00A0 too) or a joiner inside an emoji
        assert ch.isprintable() or unicodedata.category(ch) == "Zs" or ch in "\u200c\u200d"
    assert printable(shown) == shown
    if text.isprintable():
        assert shown == text  # printable Unicode is kept as it is
