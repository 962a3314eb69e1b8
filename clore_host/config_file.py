"""Where the config file is, its defaults, and how its paths and URL resolve.

Kept apart from config.py (the validated model) because these need no pydantic: a one-shot
run finds its server and the API with them before pydantic has loaded (see early_read.py).
"""

from __future__ import annotations

import os
from pathlib import Path

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


def resolve_relative(value: Path, base: Path) -> Path:
    """A path from the config file, taken relative to the file's own directory."""
    return value if value.is_absolute() else (base / value).resolve()
