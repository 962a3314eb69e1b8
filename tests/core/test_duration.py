from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clore_host.duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30),
        (45, 45),
        (1.5, 1.5),
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        (" 7h 12m ", 25920),
        ("0.5h", 1800),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    ["", "5x", "m5", "5m3", "-5", -1, "1h-2m", True, "inf", float("inf"), float("nan"), [1], None],
)
def test_parse_duration_rejects_other_forms_with_the_accepted_ones(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (300, "5m"),
        (25920, "7h12m"),
        (86400, "1d"),
        (97200, "1d3h"),
        (125, "2m5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_never_exceeds_the_original(seconds: int) -> None:
    # The short form drops small units, never adds time.
    assert parse_duration(format_duration(seconds)) <= seconds


def test_an_integer_too_large_for_a_float_is_a_clear_error() -> None:
    import pytest

    from clore_host.duration import parse_duration

    with pytest.raises(ValueError, match="finite number of seconds"):
        parse_duration(10**400)


@pytest.mark.parametrize("text", ["9" * 400 + "s", "1" + "0" * 400 + "m", "9" * 310 + "w2d"])
def test_a_duration_in_units_too_large_for_a_float_is_a_clear_error(text: str) -> None:
    # Each part reads as a float of infinity: the sum must not pass as a duration.
    with pytest.raises(ValueError, match="finite number of seconds"):
        parse_duration(text)
