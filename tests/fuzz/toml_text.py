"""Hypothesis strategies for TOML input files: random text, and random structured documents
rendered to TOML (biased toward the real keys, so validation is reached, not just parsing)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

# Printable ASCII: json.dumps renders it as a valid TOML basic string.
WORDS = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
DURATIONS = st.sampled_from(["30", "5m", "1h30m", "2d", "-1s", "0", "", "abc", "1.5h", "10 m"])
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.00005, 1e300, 3000, 3001]),
)
SCALARS = st.one_of(st.booleans(), NUMBERS, WORDS, DURATIONS)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(WORDS, inner, max_size=3)),
    max_leaves=6,
)


def table(keys: Sequence[str], values: st.SearchStrategy[Any] = VALUES) -> st.SearchStrategy[Any]:
    """A table whose keys are mostly the known ones, sometimes unknown; or not a table."""
    known = st.dictionaries(st.sampled_from([*keys, "bogus"]), values, max_size=len(keys) + 1)
    return st.one_of(known, known, known, VALUES)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + " }"
    return "[" + ", ".join(value(x) for x in v) + "]"


def render(doc: Mapping[str, Any]) -> str:
    """A document as TOML: top-level scalars first, then tables and arrays of tables."""
    lines = [f"{json.dumps(k)} = {value(v)}" for k, v in doc.items() if not _nested(v)]
    for key, v in doc.items():
        if isinstance(v, Mapping):
            lines.append(f"[{json.dumps(key)}]")
            lines += [f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()]
        elif _nested(v):
            for item in v:
                lines.append(f"[[{json.dumps(key)}]]")
                lines += [f"{json.dumps(str(k))} = {value(x)}" for k, x in item.items()]
    return "\n".join(lines) + "\n"


def _nested(v: Any) -> bool:
    if isinstance(v, Mapping):
        return True
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


# Random text: TOML-ish lines (keys, tables, values, junk), and raw bytes.
_LINE = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", st.from_regex(r"[a-z_.]{1,12}", fullmatch=True), WORDS),
    st.builds(lambda k: f"[{k}]", st.from_regex(r"[a-z_.\[\]]{0,10}", fullmatch=True)),
    WORDS,
)
TEXT = st.lists(_LINE, max_size=8).map("\n".join)
RAW = st.binary(max_size=200)
