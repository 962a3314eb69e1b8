"""Where things are: the config file, the API, the state directory (defaults and the
environment's overrides), files named relative to the config, and the shipped policies and
scenarios (inside the installed package, or, in a source checkout, at the top of the
repository, where readers find them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

DEFAULT_CONFIG_PATH = Path("/etc/clore-host/config.toml")
DEFAULT_API_URL = "https://api.clore.ai/v1"
DEFAULT_API_TIMEOUT = 10.0
DEFAULT_STATE_DIR = Path("/var/lib/clore-host")
CONFIG_ENV = "CLORE_HOST_CONFIG"
API_URL_ENV = "CLORE_API_URL"


def config_path(explicit: str | Path | None = None) -> Path:
    """Where the config is: the explicit path, else $CLORE_HOST_CONFIG, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def api_base_url(configured: str = DEFAULT_API_URL) -> str:
    """$CLORE_API_URL overrides the file, so tests and operators can point a config elsewhere."""
    return os.environ.get(API_URL_ENV) or configured


_PACKAGE = Path(__file__).resolve().parent.parent  # clore_host/


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
