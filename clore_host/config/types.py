"""Building blocks of the config's sections: the strict base model, durations, paths.

Shared by every section module (model, market, costs) so each reads values the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from ..duration import format_duration, parse_duration

HOUR = 3600.0
DAY = 86400.0


def seconds(*, least: float, most: float, why: str = "") -> Any:
    """A duration in the config, from `least` to `most` seconds (`why`: the reason for the
    least, said when a value is below it). A least of 0 allows 0."""

    def parse(value: object) -> float:
        try:
            parsed = parse_duration(value)
        except OverflowError:  # an integer too large for a float
            raise ValueError("a duration must be a finite number of seconds") from None
        if parsed < least:
            raise ValueError(f"must be at least {shown(least)}{why}")
        if parsed > most:
            raise ValueError(f"must be at most {format_duration(most)}")
        return parsed

    return BeforeValidator(parse)


def shown(duration: float) -> str:
    """A duration as the config's messages show it: "0.1s", "5m"."""
    return f"{duration:g}s" if duration < 1 else format_duration(duration)


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a path (a string)")
    if not value.strip():
        raise ValueError("an empty path")
    if "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return Path(value)


FilePath = Annotated[Path, BeforeValidator(_path)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
