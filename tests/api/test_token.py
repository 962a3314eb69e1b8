from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from clore_host.api import Token, TokenError, load_token

from ..fifo import within


def _file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_credential_beats_file_and_env(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    _file(creds / "clore-api-token", "from-credential\n", 0o400)
    token_file = _file(tmp_path / "token", "from-file")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "CLORE_API_TOKEN": "from-env"}
    assert load_token(token_file, env).reveal() == "from-credential"


def test_file_beats_env_when_credential_absent(tmp_path: Path) -> None:
    token_file = _file(tmp_path / "token", "  from-file \n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "no-such-dir"), "CLORE_API_TOKEN": "from-env"}
    assert load_token(token_file, env).reveal() == "from-file"


def test_env_used_without_file() -> None:
    assert load_token(None, {"CLORE_API_TOKEN": " from-env\n"}).reveal() == "from-env"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    token_file = _file(tmp_path / "token", "abc", mode)
    with pytest.raises(TokenError) as info:
        load_token(token_file, {})
    assert f"chmod 600 {token_file}" in str(info.value)
    assert "abc" not in str(info.value)


def test_credential_readable_by_others_refused(tmp_path: Path) -> None:
    cred = _file(tmp_path / "clore-api-token", "abc", 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        load_token(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    cred.chmod(0o600)
    assert load_token(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}).reveal() == "abc"


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(TokenError, match=f"token file {missing} not found"):
        load_token(missing, {"CLORE_API_TOKEN": "from-env"})


def test_directory_is_not_a_token_file(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    with pytest.raises(TokenError, match="not a regular file"):
        load_token(tmp_path, {})


def test_nothing_configured_says_where_it_looked() -> None:
    with pytest.raises(TokenError) as info:
        load_token(None, {})
    message = str(info.value)
    assert "api.token_file" in message
    assert "clore-api-token" in message
    assert "CLORE_API_TOKEN" in message


@pytest.mark.parametrize("value", ["", "   \n"])
def test_empty_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(TokenError, match=r"\$CLORE_API_TOKEN is empty"):
        load_token(None, {"CLORE_API_TOKEN": value})
    with pytest.raises(TokenError, match=r"token file .* is empty"):
        load_token(_file(tmp_path / "t", value), {})


@pytest.mark.parametrize("value", ["two tokens", "tab\tinside", "caf\u00e9"])
def test_unprintable_or_spaced_refused_without_echo(value: str) -> None:
    with pytest.raises(TokenError, match="not printable ASCII") as info:
        load_token(None, {"CLORE_API_TOKEN": value})
    assert value not in str(info.value)


def test_token_hides_secret() -> None:
    token = Token("s3cr3t-value")
    assert repr(token) == str(token) == "Token(***)"
    assert "s3cr3t" not in f"{token} {token!r} {[token]}"
    assert token.reveal() == "s3cr3t-value"
    with pytest.raises(TypeError):
        pickle.dumps(token)


def test_a_token_file_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo, 0o600)
    exc = within(10, fifo, lambda: load_token(fifo, {}))
    assert isinstance(exc, TokenError)
    assert str(exc) == f"token file {fifo} is a FIFO (named pipe), not a regular file"


def test_a_credential_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "clore-api-token"
    os.mkfifo(fifo, 0o600)
    exc = within(10, fifo, lambda: load_token(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}))
    assert isinstance(exc, TokenError) and "is a FIFO" in str(exc)


def test_a_token_file_that_is_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "token"
    link.symlink_to("/dev/zero")  # the link is followed: the device is what would be read
    with pytest.raises(TokenError, match="is a device, not a regular file"):
        load_token(link, {})


def test_a_huge_token_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    token_file = _file(tmp_path / "token", "x" * (1 << 20))
    with pytest.raises(TokenError, match="too large") as info:
        load_token(token_file, {})
    assert "xxxx" not in str(info.value)
