"""Raising several located problems at once from inside a pydantic validator.

Pydantic merges a ValidationError raised in a validator into the outer one, prefixing our
locations with the path to the model, so every problem keeps its place in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]


def located(title: str, problems: Sequence[tuple[Loc, str]], value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("policy", "{reason}", {"reason": message}),
                loc=loc,
                input=value,
            )
            for loc, message in problems
        ],
    )
