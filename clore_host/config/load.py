"""Reading the files a person writes: TOML in, a validated Config or Policy out.

Every problem is reported with its file and its place in it (see clore_host.issues).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ..issues import InputFileError, Issue, issues_from_validation
from ..policy import Policy, parse_policy
from .model import Config
from .paths import api_base_url, config_path, resolve_relative, resolve_shipped

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def load_toml(path: str | Path, kind: str) -> dict[str, Any]:
    """Parse a TOML file, raising InputFileError that names the file and the line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputFileError(kind, p, [Issue("", "file not found")]) from None
    except OSError as exc:
        raise InputFileError(kind, p, [Issue("", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(kind, p, [Issue("", "not UTF-8 text")]) from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(kind, p, [Issue("", f"TOML syntax error: {exc}")]) from None
    except RecursionError:
        raise InputFileError(kind, p, [Issue("", "nested too deeply to read")]) from None
    return data


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate the config; raises InputFileError naming every problem."""
    p = config_path(path)
    data = load_toml(p, "config")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise InputFileError("config", p, issues_from_validation(exc)) from None
    return _resolve_paths(config, p.parent)


def _resolve_paths(config: Config, base: Path) -> Config:
    def rel(value: Path | None) -> Path | None:
        return None if value is None else resolve_relative(value, base)

    def rel_or_shipped(value: Path | None, kind: Literal["policies", "scenarios"]) -> Path | None:
        # A bare name ("default", "idle-rig") with no such file beside the config names a
        # shipped policy or scenario.
        return None if value is None else resolve_shipped(value, kind, base)

    base_url = api_base_url(config.api.base_url)
    return config.model_copy(
        update={
            "api": config.api.model_copy(
                update={"token_file": rel(config.api.token_file), "base_url": base_url}
            ),
            "gpu": config.gpu.model_copy(
                update={"scenario": rel_or_shipped(config.gpu.scenario, "scenarios")}
            ),
            "policy": config.policy.model_copy(
                update={"path": rel_or_shipped(config.policy.path, "policies")}
            ),
            "state": config.state.model_copy(update={"dir": rel(config.state.dir)}),
        }
    )


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raises InputFileError listing every problem."""
    return parse_policy(load_toml(path, "policy"), str(path))
