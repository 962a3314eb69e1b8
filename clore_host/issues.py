"""Problems in input files, located: every error names the file, the place in it (e.g.
`rule[2].when.all[0].metric`) and what is allowed there. Each problem is one line: what the
file holds is shown escaped (see errors.printable).

Config, policy and scenario files all report through here. Pure: it reads no file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EXIT_INVALID, Failure, printable

if TYPE_CHECKING:  # only its type
    from pydantic import ValidationError


@dataclass(frozen=True)
class Issue:
    """One problem in an input file."""

    location: str  # "" for the file as a whole
    message: str

    def render(self, file: str) -> str:
        where = f"{file}: {self.location}" if self.location else file
        return printable(f"{where}: {self.message}")


class InputFileError(Failure):
    """An input file (config, policy, scenario) is missing, unreadable or invalid."""

    exit_code = EXIT_INVALID

    def __init__(self, kind: str, file: str | Path, issues: Sequence[Issue]) -> None:
        self.kind = kind
        self.file = str(file)
        self.issues = tuple(issues)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [issue.render(self.file) for issue in self.issues]
        if len(lines) == 1:
            return f"invalid {self.kind}: {lines[0]}"
        return f"invalid {self.kind} ({len(lines)} errors):\n  " + "\n  ".join(lines)

    def line(self) -> str:
        """All the problems on one line (`render()` lists them a line each, as `check` does)."""
        lines = [issue.render(self.file) for issue in self.issues]
        if len(lines) == 1:
            return f"invalid {self.kind}: {lines[0]}"
        return f"invalid {self.kind} ({len(lines)} errors): " + "; ".join(lines)


class InvalidSetting(Failure):
    """A setting from outside any file (an environment variable) cannot be used."""

    exit_code = EXIT_INVALID
    headline = "invalid setting"


def format_location(loc: Sequence[str | int]) -> str:
    """`("rule", 2, "when", "all", 0, "metric")` -> `rule[2].when.all[0].metric`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# How pydantic names a union member or a validator in a location: `function-after[f(), int]`,
# `nullable[...]`, `lax-or-strict[...]`. A key of the file ("my-key", "a[1]") is not one.
_UNION_TAG = re.compile(
    r"(?:[a-z]+-[a-z-]+|nullable|literal|list|dict|tuple|set|frozenset|union|chain|model)\[.*\]",
    re.DOTALL,
)


def issues_from_validation(exc: ValidationError) -> list[Issue]:
    """Located issues from a pydantic ValidationError.

    Pydantic inserts union-member tags into locations (e.g. `function-after[...]`); they mean
    nothing to the person editing the file, so they are dropped.
    """
    issues: list[Issue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        parts: list[str | int] = []
        for part in err["loc"]:
            if isinstance(part, str) and _UNION_TAG.fullmatch(part):
                continue
            parts.append(part)
        message = _message(err)
        key = (format_location(parts), message)
        if key not in seen:
            seen.add(key)
            issues.append(Issue(*key))
    return issues


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (not allowed here)"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    value = err.get("input")
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        # A strict float takes an integer, unless no float can hold it: not a wrong type.
        return f"a number too large ({_digits(value)})"
    if kind.endswith("_type") and "input" in err:
        # Strict types: say what the file holds instead ("3" is a string, not an integer).
        msg = f"{msg}, not {_toml_type(err['input'])}"
    # pydantic prefixes messages from our own validators with "Value error, ".
    return msg.removeprefix("Value error, ")


def _digits(value: int) -> str:
    """How long an integer is, in words (str() refuses one past Python's digit limit)."""
    try:
        return f"an integer of {len(str(abs(value)))} digits"
    except ValueError:
        return "an integer of thousands of digits"


def _toml_type(value: object) -> str:
    """What a TOML value is, in the file's terms."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "a string (in quotes)"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time" if type(value).__module__ == "datetime" else type(value).__name__
