"""Where the shipped policies and scenarios are: inside the installed package, or, in a
source checkout, at the top of the repository (where readers find them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

_PACKAGE = Path(__file__).resolve().parent


def resolve_relative(value: Path, base: Path) -> Path:
    """A path from an input file, taken relative to the file's own directory."""
    return value if value.is_absolute() else (base / value).resolve()


def shipped_dir(kind: Literal["policies", "scenarios"]) -> Path:
    installed = _PACKAGE / kind
    return installed if installed.is_dir() else _PACKAGE.parent / kind


def resolve_shipped(
    value: str | Path, kind: Literal["policies", "scenarios"], base: Path | None = None
) -> Path:
    """A path as given if it exists, else a shipped file by name ("idle-rig" or "idle-rig.toml").

    With `base` (a config file's directory), a relative path is taken relative to it.
    """
    path = Path(value)
    local = path if base is None else resolve_relative(path, base)
    if local.exists() or path.is_absolute() or len(path.parts) > 1:
        return local
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    candidate = shipped_dir(kind) / name
    return candidate if candidate.exists() else local
