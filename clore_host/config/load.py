"""Reading the files a person writes: TOML in, a validated Config or Policy out.

Every problem is reported with its file and its place in it (see clore_host.issues).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ..issues import InputFileError, Issue, issues_from_validation
from ..policy import Policy, parse_policy
from .model import Config
from .paths import (
    API_URL_ENV,
    DEFAULT_API_URL,
    api_url_problem,
    config_path,
    resolve_relative,
    resolve_shipped,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


MAX_INPUT_BYTES = 4 * 1024 * 1024  # a config, policy or scenario is a few kilobytes


def read_regular_file(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes.

    A FIFO, a device, a socket or a directory is refused before it is opened (a FIFO would
    block the read until a writer came; /dev/zero would never end), and checked again on the
    open file, which is opened without blocking, in case the path changed in between.
    Raises OSError (FileNotFoundError when absent) or ValueError saying what the path is.
    """
    if "\x00" in str(path):
        raise ValueError("has a NUL character in its name")
    _require_regular(os.stat(path).st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode)
        if info.st_size > limit:
            raise ValueError(f"is too large: {info.st_size} bytes, at most {limit}")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise ValueError(f"is too large: more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _require_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        what = "a directory"
    elif stat.S_ISFIFO(mode):
        what = "a FIFO (named pipe)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        what = "a device"
    else:
        what = "a socket or another special file"
    raise ValueError(f"is {what}, not a regular file")


def load_toml(path: str | Path, kind: str) -> dict[str, Any]:
    """Parse a TOML file, raising InputFileError that names the file and the line."""
    p = Path(path)
    try:
        raw = read_regular_file(p)
    except FileNotFoundError:
        raise InputFileError(kind, p, [Issue("", "file not found")]) from None
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise InputFileError(kind, p, [Issue("", f"cannot read: {reason}")]) from None
    except ValueError as exc:  # not a regular file, too large, a NUL in the path
        raise InputFileError(kind, p, [Issue("", str(exc))]) from None
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
    except ValueError as exc:
        # tomllib turns digits into an int with int(): past Python's limit (4300 digits) that
        # is a ValueError of its own, not a TOMLDecodeError.
        if "digits" not in str(exc):
            raise
        raise InputFileError(kind, p, [Issue("", "a number has too many digits to read")]) from None
    return data


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate the config; raises InputFileError naming every problem.

    The API's address is checked as it will be used: $CLORE_API_URL when set, else
    api.base_url (see paths.api_url_problem), with api.allow_insecure.
    """
    p = config_path(path)
    data = load_toml(p, "config")
    issues: list[Issue] = []
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        issues += issues_from_validation(exc)
    base_url, url_issue = _api_url(data)
    if url_issue is not None and all(i.location != url_issue.location for i in issues):
        issues.append(url_issue)
    if config is None or issues:
        raise InputFileError("config", p, issues)
    return _resolve_paths(config, p.parent, base_url)


def _api_url(data: Mapping[str, Any]) -> tuple[str, Issue | None]:
    """The API's address as it will be used, and what is wrong with it (None: nothing).

    Read from the raw file, so that a bad address is reported with the file's other problems.
    """
    api = data.get("api")
    api = api if isinstance(api, Mapping) else {}
    allow_insecure = api.get("allow_insecure") is True
    override = os.environ.get(API_URL_ENV)
    if override:
        url, where = override, f"${API_URL_ENV} (which overrides it): "
    else:
        url, where = api.get("base_url", DEFAULT_API_URL), ""
        if not isinstance(url, str):
            return DEFAULT_API_URL, None  # the model reports the type
    problem = api_url_problem(url, allow_insecure=allow_insecure)
    return url, (Issue("api.base_url", where + problem) if problem else None)


def _resolve_paths(config: Config, base: Path, base_url: str) -> Config:
    def rel(value: Path | None) -> Path | None:
        return None if value is None else resolve_relative(value, base)

    def rel_or_shipped(value: Path | None, kind: Literal["policies", "scenarios"]) -> Path | None:
        # A bare name ("default", "idle-rig") with no such file beside the config names a
        # shipped policy or scenario.
        return None if value is None else resolve_shipped(value, kind, base)

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


def load_policy(path: str | Path, params: Mapping[str, float] | None = None) -> Policy:
    """Read and validate a policy file, `params` (the config's [policy] params) overriding
    its own; raises InputFileError listing every problem."""
    return parse_policy(load_toml(path, "policy"), str(path), params)
