"""Where things are: the config file, the API, the state directory (defaults and the
environment's overrides), files named relative to the config, and the shipped policies and
scenarios (inside the installed package, or, in a source checkout, at the top of the
repository, where readers find them)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..issues import InvalidSetting

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


def api_base_url(configured: str = DEFAULT_API_URL, *, allow_insecure: bool = False) -> str:
    """$CLORE_API_URL overrides the file, so tests and operators can point a config elsewhere.

    The override is checked as api.base_url is (see `api_url_problem`); an unusable one raises
    InvalidSetting (exit 2). load_config checks both with the config's place in the message.
    """
    override = os.environ.get(API_URL_ENV)
    if not override:
        return configured
    problem = api_url_problem(override, allow_insecure=allow_insecure)
    if problem is not None:
        raise InvalidSetting(f"${API_URL_ENV}: {problem}")
    return override


# A host name (letters, digits, hyphens, underscores; dot-separated labels, a final dot allowed)
# or an IP address: what an HTTP client can connect to. No spaces, no control characters.
_HOST_NAME = re.compile(r"[^\W_][\w-]*(?:\.[\w-]+)*\.?")


def http_url_problem(url: str, example: str | None = None) -> str | None:
    """What makes `url` unusable as an http(s) address (None: usable): a scheme other than
    http or https, no host, a malformed host or port, spaces or control characters."""
    if not url.isprintable() or any(ch.isspace() for ch in url):
        return f"{url!r} is not an http(s) URL: it contains spaces or control characters"
    such_as = f' such as "{example}"' if example else ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        return f"{url!r} is not an http(s) URL{such_as}"
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL with a host{such_as}"
    if not (_HOST_NAME.fullmatch(host) or _is_ip(host)):
        return f"{url!r} names no valid host ({host!r})"
    return None


def api_url_problem(url: str, *, allow_insecure: bool = False) -> str | None:
    """`http_url_problem`, and plain http to a host that is not this machine: the token would
    cross the network in clear text, refused unless `allow_insecure`."""
    problem = http_url_problem(url, DEFAULT_API_URL)
    if problem is not None or allow_insecure:
        return problem
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        return (
            f"{url!r} is plain http to a host that is not this machine: the API token would "
            "cross the network in clear text; use https, or set api.allow_insecure = true"
        )
    return None


def is_loopback(host: str) -> bool:
    """`host` is this machine: localhost (RFC 6761) or a loopback address (127.0.0.0/8, ::1)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") aside
    except ValueError:
        return False
    return True


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
