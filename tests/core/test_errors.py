"""The one error model: every error class maps to its exit code and its one line, in one place."""

from __future__ import annotations

import errno
import importlib
import pkgutil
from collections.abc import Callable

import pytest

import clore_host
from clore_host.errors import (
    EXIT_AUTH,
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_LOCKED,
    EXIT_UNAVAILABLE,
    Failure,
    describe,
    is_bug,
    printable,
)


def _all_failure_classes() -> set[type[Failure]]:
    """Every Failure subclass the package defines (its modules imported first)."""
    for info in pkgutil.walk_packages(clore_host.__path__, "clore_host."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    found: set[type[Failure]] = set()
    todo = [Failure]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("clore_host.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _cases() -> dict[str, tuple[Callable[[], Failure], int, str]]:
    """Class name -> (an instance, its exit code, its line)."""
    from clore_host.agent import UnrecordedChange
    from clore_host.agent.cycle import WriteInDoubt
    from clore_host.agent.daemon import OutputsUnusable
    from clore_host.agent.lock import LockHeld
    from clore_host.api import errors as api
    from clore_host.cli.init import CannotWrite
    from clore_host.cli.reprice import PlanBlocked
    from clore_host.errors import UsageError
    from clore_host.gpu.base import (
        GpuBackendError,
        GpuBackendTimeout,
        GpuDriverNotLoaded,
        NoGpusListed,
        NvmlLibraryNotFound,
    )
    from clore_host.history import HistoryDamaged, HistoryError
    from clore_host.issues import InputFileError, InvalidSetting, Issue
    from clore_host.observe.server import ServerDataError
    from clore_host.simulate.backtest import NothingToReplay, RecordDamaged
    from clore_host.simulate.plot import PlotUnavailable

    api_down = "API unavailable, nothing changed: "
    gpus_down = "GPUs unavailable, nothing changed: "
    return {
        "CloreError": (lambda: api.CloreError("x"), EXIT_UNAVAILABLE, api_down + "x"),
        "TokenError": (lambda: api.TokenError("no API token"), EXIT_INVALID, "no API token"),
        "BadProxy": (
            lambda: api.BadProxy(
                "ALL_PROXY names socks5://proxy.lan:1080: only http:// and https:// proxies "
                "are supported (unset it, or list the API's host in NO_PROXY)"
            ),
            EXIT_INVALID,
            "ALL_PROXY names socks5://proxy.lan:1080: only http:// and https:// proxies are "
            "supported (unset it, or list the API's host in NO_PROXY)",
        ),
        "BadBaseUrl": (
            lambda: api.BadBaseUrl("API base URL 'ftp://x' is not an http(s) URL"),
            EXIT_INVALID,
            "API base URL 'ftp://x' is not an http(s) URL",
        ),
        "LocalStateError": (
            lambda: api.LocalStateError("rate limiter file damaged"),
            EXIT_UNAVAILABLE,
            "state directory unavailable, nothing changed: rate limiter file damaged",
        ),
        "ApiError": (
            lambda: api.ApiError("wallets", 9),
            EXIT_UNAVAILABLE,
            api_down + "wallets: API code 9 (unknown code)",
        ),
        "DatabaseError": (
            lambda: api.DatabaseError("wallets", 1),
            EXIT_UNAVAILABLE,
            api_down + "wallets: API code 1 (database error)",
        ),
        "InvalidInput": (
            lambda: api.InvalidInput("server_config", 2, "unknown server name 'x'"),
            EXIT_INVALID,
            "the API refused the request as invalid, nothing changed: "
            "server_config: API code 2 (invalid input data: unknown server name 'x')",
        ),
        "AuthError": (
            lambda: api.AuthError("my_servers", 3),
            EXIT_AUTH,
            "authentication failed: my_servers: API code 3 (invalid API token)",
        ),
        "InvalidEndpoint": (
            lambda: api.InvalidEndpoint("nope", 4),
            EXIT_UNAVAILABLE,
            api_down + "nope: API code 4 (invalid endpoint)",
        ),
        "RateLimited": (
            lambda: api.RateLimited("wallets", 5),
            EXIT_UNAVAILABLE,
            api_down + "wallets: API code 5 (exceeded 1 request/second limit)",
        ),
        "NamedApiError": (
            lambda: api.NamedApiError("set_server_settings", 6, "exceeded_max_step"),
            EXIT_UNAVAILABLE,
            api_down + "set_server_settings: API code 6 (exceeded_max_step)",
        ),
        "TransportError": (
            lambda: api.TransportError("wallets", "broken"),
            EXIT_UNAVAILABLE,
            api_down + "wallets: broken",
        ),
        "HttpStatusError": (
            lambda: api.HttpStatusError("wallets", 502),
            EXIT_UNAVAILABLE,
            api_down + "wallets: HTTP status 502",
        ),
        "TooManyRequests": (
            lambda: api.TooManyRequests("wallets", 3.0),
            EXIT_UNAVAILABLE,
            api_down + "wallets: HTTP 429 too many requests, retry after 3 s",
        ),
        "ApiTimeout": (
            lambda: api.ApiTimeout("wallets", "no answer within 10s"),
            EXIT_UNAVAILABLE,
            api_down + "wallets: no answer within 10s",
        ),
        "ApiUnreachable": (
            lambda: api.ApiUnreachable("wallets", "connection refused"),
            EXIT_UNAVAILABLE,
            api_down + "wallets: connection refused",
        ),
        "MalformedResponse": (
            lambda: api.MalformedResponse("wallets", "not JSON"),
            EXIT_UNAVAILABLE,
            api_down + "wallets: not JSON",
        ),
        "ImplausibleResponse": (
            lambda: api.ImplausibleResponse("server_config", "availability is a string"),
            EXIT_UNAVAILABLE,
            "inputs implausible, nothing changed: server_config: availability is a string",
        ),
        "ServerDataError": (
            lambda: ServerDataError("server_config lacks mrl; refusing to guess"),
            EXIT_UNAVAILABLE,
            "inputs implausible, nothing changed: server_config lacks mrl; refusing to guess",
        ),
        "UnrecordedChange": (
            lambda: UnrecordedChange("settings written, but not yet recorded as applied"),
            EXIT_UNAVAILABLE,
            "settings written, but not yet recorded as applied",
        ),
        "WriteInDoubt": (
            lambda: WriteInDoubt("set_server_settings: no answer within 10s"),
            EXIT_UNAVAILABLE,
            "the write may have been applied; the next run checks: "
            "set_server_settings: no answer within 10s",
        ),
        "GpuBackendError": (lambda: GpuBackendError("x"), EXIT_UNAVAILABLE, gpus_down + "x"),
        "NoGpusListed": (
            lambda: NoGpusListed("the driver lists no GPU"),
            EXIT_UNAVAILABLE,
            gpus_down + "the driver lists no GPU",
        ),
        "NvmlLibraryNotFound": (
            lambda: NvmlLibraryNotFound("NVML library not found"),
            EXIT_UNAVAILABLE,
            gpus_down + "NVML library not found",
        ),
        "GpuDriverNotLoaded": (
            lambda: GpuDriverNotLoaded("driver not loaded"),
            EXIT_UNAVAILABLE,
            gpus_down + "driver not loaded",
        ),
        "GpuBackendTimeout": (
            lambda: GpuBackendTimeout(5.0),
            EXIT_UNAVAILABLE,
            gpus_down + "GPU backend timed out after 5s",
        ),
        "HistoryError": (
            lambda: HistoryError("database is locked"),
            EXIT_UNAVAILABLE,
            "history unavailable, nothing changed: database is locked",
        ),
        "HistoryDamaged": (
            lambda: HistoryDamaged("/var/lib/clore-host/history.db", "table samples is missing"),
            EXIT_UNAVAILABLE,
            "history damaged: move it aside: /var/lib/clore-host/history.db: "
            "table samples is missing; nothing changed",
        ),
        "NothingToReplay": (
            lambda: NothingToReplay("history holds no reconcile since 2026-11-01"),
            EXIT_INVALID,
            "nothing to replay: history holds no reconcile since 2026-11-01",
        ),
        "RecordDamaged": (
            lambda: RecordDamaged("reconcile at 2026-11-01 00:05:00Z: gpus[0].power: not a number"),
            EXIT_UNAVAILABLE,
            "history damaged: reconcile at 2026-11-01 00:05:00Z: gpus[0].power: not a number",
        ),
        "PlotUnavailable": (
            lambda: PlotUnavailable("pip install 'clore-host[plot]'"),
            EXIT_INVALID,
            "--plot needs matplotlib, which is not installed: pip install 'clore-host[plot]'",
        ),
        "LockHeld": (
            lambda: LockHeld("another clore-host process is changing this server's settings"),
            EXIT_LOCKED,
            "another clore-host process is changing this server's settings",
        ),
        "InputFileError": (
            lambda: InputFileError("policy", "p.toml", [Issue("rails", "required key is missing")]),
            EXIT_INVALID,
            "invalid policy: p.toml: rails: required key is missing",
        ),
        "InvalidSetting": (
            lambda: InvalidSetting("$CLORE_API_URL: 'ftp://x' is not an http(s) URL"),
            EXIT_INVALID,
            "invalid setting: $CLORE_API_URL: 'ftp://x' is not an http(s) URL",
        ),
        "UsageError": (
            lambda: UsageError("--since 'x': use a duration such as 24h or an ISO date"),
            EXIT_INVALID,
            "--since 'x': use a duration such as 24h or an ISO date",
        ),
        "CannotWrite": (
            lambda: CannotWrite("cannot write /etc/x: Permission denied"),
            EXIT_UNAVAILABLE,
            "cannot write /etc/x: Permission denied",
        ),
        "PlanBlocked": (
            lambda: PlanBlocked("current spot price 0.0 is not a positive number"),
            EXIT_UNAVAILABLE,
            "inputs implausible, nothing changed: current spot price 0.0 is not a positive number",
        ),
        "OutputsUnusable": (
            lambda: OutputsUnusable("cannot listen on 127.0.0.1:1: Permission denied"),
            EXIT_INVALID,
            "cannot listen on 127.0.0.1:1: Permission denied",
        ),
    }


def test_the_table_names_every_error_class_of_the_package() -> None:
    """A new error class must say here what it means to a person and to a script."""
    assert {cls.__name__ for cls in _all_failure_classes()} == set(_cases())


@pytest.mark.parametrize("name", sorted(_cases()))
def test_each_error_class_has_its_code_and_one_line(name: str) -> None:
    make, code, line = _cases()[name]
    exc = make()
    assert type(exc).__name__ == name
    assert describe(exc) == (code, line)
    assert "\n" not in line
    assert not is_bug(exc)


def test_an_os_error_is_the_state_directory_with_the_file_named() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/var/lib/x")
    assert describe(exc) == (
        EXIT_UNAVAILABLE,
        "state directory unavailable (/var/lib/x), nothing changed: No space left on device",
    )
    assert not is_bug(exc)


def test_anything_else_is_a_bug_exit_1() -> None:
    exc = ZeroDivisionError("division by zero")
    assert describe(exc) == (
        EXIT_FAILURE,
        "unexpected error, nothing changed: ZeroDivisionError: division by zero",
    )
    assert is_bug(exc)


def test_a_file_with_several_problems_is_still_one_line() -> None:
    from clore_host.issues import InputFileError, Issue

    exc = InputFileError("config", "c.toml", [Issue("a", "bad"), Issue("b", "worse")])
    assert exc.line() == "invalid config (2 errors): c.toml: a: bad; c.toml: b: worse"
    assert exc.render().count("\n") == 2  # `check` lists them a line each


def test_an_error_without_a_message_says_what_it_is() -> None:
    from clore_host.agent.lock import LockHeld
    from clore_host.history import HistoryError

    assert LockHeld().line() == "Another process holds the writer lock for this server."
    assert HistoryError().line() == "history unavailable, nothing changed"
    assert describe(LockHeld("a\nb")) == (EXIT_LOCKED, "a\\nb")


# -- one line means one line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("two\nlines", "two\\nlines"),
        ("cr\r\ttab", "cr\\r\\ttab"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("csi\x9b31m", "csi\\x9b31m"),  # the one-byte C1 form of ESC [
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("line\u2028sep\u2029par\x85nel", "line\\u2028sep\\u2029par\\x85nel"),
        ("\u202eevil", "\\u202eevil"),  # a bidirectional override reorders what is read
        ("café 価格 ✓ 🧑\u200d💻 nbsp\u00a0", "café 価格 ✓ 🧑\u200d💻 nbsp\u00a0"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_printable_escapes_controls_and_keeps_printable_unicode(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(shown) == shown  # applied twice, nothing more


def test_every_branch_of_describe_is_one_line() -> None:
    from clore_host.api.errors import NamedApiError

    api = NamedApiError("set_server_settings", 6, "bad\nthing \x1b[31mred")
    os_error = OSError(errno.EACCES, "Permission\ndenied", "/var/lib/a\nb")
    bug = ValueError("multi\nline \x1b]0;title\x07")
    for exc in (api, os_error, bug):
        line = describe(exc)[1]
        assert line.isprintable(), line
    assert describe(api)[1].endswith("API code 6 (bad\\nthing \\x1b[31mred)")
    assert "(/var/lib/a\\nb)" in describe(os_error)[1]
    assert describe(bug)[1].endswith("multi\\nline \\x1b]0;title\\x07")
