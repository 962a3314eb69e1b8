"""The API token: where it comes from, and a wrapper that keeps it out of logs and reprs."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from ..outputs.logs import redact
from .errors import TokenError

CREDENTIAL_NAME = "clore-api-token"
TOKEN_ENV = "CLORE_API_TOKEN"


class Token:
    """Holds the secret; only `reveal()` gives it out (to build the `auth` header)."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def reveal(self) -> str:
        return self._secret

    def __repr__(self) -> str:
        return "Token(***)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the secret out; nothing in the agent needs it.
        raise TypeError("Token cannot be pickled")


def load_token(token_file: Path | None, environ: Mapping[str, str] = os.environ) -> Token:
    """The token from the systemd credential, else `token_file`, else $CLORE_API_TOKEN."""
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if creds:
        credential = Path(creds) / CREDENTIAL_NAME
        if credential.exists():
            return checked_token(_read_file(credential), f"systemd credential {credential}")
    if token_file is not None:
        return checked_token(_read_file(token_file), f"token file {token_file}")
    value = environ.get(TOKEN_ENV)
    if value is None:
        raise TokenError(
            "no API token: set api.token_file in the config, provide the systemd credential "
            f"{CREDENTIAL_NAME}, or set ${TOKEN_ENV}"
        )
    return checked_token(value, f"${TOKEN_ENV}")


MAX_TOKEN_BYTES = 64 * 1024  # a token is tens of characters


def check_token_file(path: Path) -> None:
    """What `load_token` would refuse in the token file at `path`, as far as its metadata
    tells (found, a regular file, private, not empty, not too large); raises TokenError in
    the same words. The file is not opened: `check` runs this without reading the secret."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TokenError(f"token file {path} not found") from None
    except OSError as exc:
        raise TokenError(f"token file {path}: cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL in the path
        raise TokenError(f"token file {path}: not a usable path") from None
    _check_file(path, info.st_mode)
    if info.st_size == 0:
        raise TokenError(f"the API token in token file {path} is empty")
    if info.st_size > MAX_TOKEN_BYTES:
        raise TokenError(f"token file {path} is too large to hold a token")


def _read_file(path: Path) -> str:
    """The text of a token file: a regular file, private to its owner, small.

    Its type is checked before it is opened (a FIFO would block the read until a writer came,
    a device might never end), then again on the open file, opened without blocking, with its
    permissions, in case the path changed in between.
    """
    check_token_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:  # gone since it was checked
        raise TokenError(f"token file {path} not found") from None
    except OSError as exc:
        raise TokenError(f"token file {path}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        _check_file(path, info.st_mode)
        raw = b""
        while len(raw) <= MAX_TOKEN_BYTES and (chunk := os.read(fd, MAX_TOKEN_BYTES + 1)):
            raw += chunk
    except OSError as exc:
        raise TokenError(f"token file {path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_TOKEN_BYTES:
        raise TokenError(f"token file {path} is too large to hold a token")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError(f"token file {path} is not UTF-8 text") from None


def _check_file(path: Path, mode: int) -> None:
    if stat.S_ISFIFO(mode):
        raise TokenError(f"token file {path} is a FIFO (named pipe), not a regular file")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise TokenError(f"token file {path} is a device, not a regular file")
    if not stat.S_ISREG(mode):
        raise TokenError(f"token file {path} is not a regular file")
    if mode & 0o077:
        raise TokenError(
            f"token file {path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def checked_token(raw: str, where: str) -> Token:
    """The token in `raw` (from `where`, for messages), checked, and masked in every log line
    from now on."""
    secret = raw.strip()
    if not secret:
        raise TokenError(f"the API token in {where} is empty")
    # It goes into an HTTP header: anything but printable ASCII without spaces is a mistake
    # (two tokens pasted, a stray quote-less line break) and would be rejected or mangled.
    if not all(33 <= ord(ch) <= 126 for ch in secret):
        raise TokenError(
            f"the API token in {where} contains spaces or characters that are not printable ASCII"
        )
    redact(secret)
    return Token(secret)
