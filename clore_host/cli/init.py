"""`clore-host init`: a starting config and token file, checked against the API first."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..api.token import TOKEN_ENV, checked_token
from ..errors import EXIT_OK, Failure, UsageError
from . import echo

if TYPE_CHECKING:
    from . import Commands


EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
INSTALLED_POLICIES = Path("/etc/clore-host/policies")


def register(commands: Commands) -> None:
    init = commands.add_parser(
        "init",
        help="write a starting config and token file, checked against the API",
        description="Check the API token and the server name against CLORE.AI, then write the "
        "config (and the token file, mode 0600). The token is read from --token-file, else "
        "$CLORE_API_TOKEN, else asked for.",
    )
    init.add_argument(
        "--config", metavar="PATH", help="where to write (default: /etc/clore-host/config.toml)"
    )
    init.add_argument("--server-name", metavar="N", help="your server's name on CLORE.AI")
    init.add_argument(
        "--token-file",
        metavar="F",
        help="the token file to use (or, with the token from elsewhere, to write); "
        "default: 'token' beside the config",
    )
    init.add_argument("--expected-gpus", type=int, metavar="N", help="GPUs in this rig")
    init.add_argument("--force", action="store_true", help="overwrite an existing config")
    init.set_defaults(func=run_init)


class CannotWrite(Failure):
    """The config or the token file could not be written (a full disk, a path under a file)."""


def run_init(args: argparse.Namespace) -> int:
    from ..api import CloreClient, load_token
    from ..config import api_base_url, config_path

    target = config_path(args.config)
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; use --force to overwrite it")
    token_file = Path(args.token_file) if args.token_file else target.parent / "token"
    if not args.token_file and token_file.exists() and not args.force:
        raise UsageError(
            f"{token_file} exists; name it with --token-file to use it, or --force to replace it"
        )
    if args.token_file and token_file.exists():
        token, write_token = load_token(token_file, environ={}), False
    else:
        token, write_token = checked_token(_ask_token(), "the token given"), True

    base_url = api_base_url()
    with CloreClient.connect(base_url, token) as client:
        names = [server.name for server in client.my_servers().servers or [] if server.name]
        name = _pick_server(args.server_name, names)
        client.server_config(name)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if write_token:
            _write_private(token_file, token.reveal() + "\n", force=args.force)
        _write_atomic(target, render_config(name, token_file, args.expected_gpus, base_url))
    except OSError as exc:
        raise CannotWrite(f"cannot write {exc.filename or target}: {exc.strerror}") from None
    echo(
        f"wrote {target} for server {name!r}" + (f" and {token_file} (0600)" if write_token else "")
    )
    echo(f"next: clore-host check --config {target} && clore-host plan --config {target}")
    return EXIT_OK


def _ask_token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token and sys.stdin.isatty():
        token = getpass.getpass("CLORE.AI API token (clore.ai > Account > API): ").strip()
    if not token:
        from ..api.errors import TokenError

        raise TokenError(
            f"no API token: pass --token-file F, set ${TOKEN_ENV}, or run on a terminal"
        )
    return token


def _pick_server(wanted: str | None, names: list[str]) -> str:
    listed = ", ".join(repr(n) for n in names) or "none"
    if wanted:
        if wanted not in names:
            raise UsageError(f"no server named {wanted!r} on this account (it has: {listed})")
        return wanted
    if len(names) == 1:
        return names[0]
    raise UsageError(f"name the server with --server-name (this account has: {listed})")


def render_config(name: str, token_file: Path, expected_gpus: int | None, base_url: str) -> str:
    """The shipped example config with this rig's answers filled in."""
    from ..config import DEFAULT_API_URL

    lines = []
    for line in EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "name" and "CHANGE-ME" in line:
            line = f"name = {_toml_str(name)}"
        elif key == "token_file":
            line = f"token_file = {_toml_str(str(token_file.resolve()))}"
        elif key == "expected_gpus" and expected_gpus is not None:
            line = f"expected_gpus = {expected_gpus}"
        elif (
            key == "path"
            and "/etc/clore-host/policies/" in line
            and not INSTALLED_POLICIES.is_dir()
        ):
            line = 'path = "default"   # the shipped default policy (a path to your own works too)'
        lines.append(line)
        if line.strip() == "[api]" and base_url != DEFAULT_API_URL:
            lines.append(f"base_url = {_toml_str(base_url)}")
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_private(path: Path, text: str, *, force: bool) -> None:
    """Create `path` readable by its owner alone; never widen an existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a crash leaves the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
