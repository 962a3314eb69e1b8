"""`clore-host check [--config C] [--policy P]`: validate the config and the policy.

Prints one OK line per file, or every problem with its place in the file; exit 0 or 2. Unlike
the other commands it goes on after a bad file, so one run lists the problems of all three.

It refuses what `run` would refuse: the config as every command loads it (load_config: strict
types, durations, the API's address with $CLORE_API_URL and api.allow_insecure), the metrics
address and webhook URL read by the very functions the daemon serves them with, and the token
file the config names, as `run` checks it before reading it (found, a regular file, private to
its owner, not empty, not too large), without reading it: `check` may run as a person who
cannot, and has no business with, the secret. Under systemd the token may come from a
credential instead: a config that names no token file has none checked.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config, config_path, load_config, load_policy, load_toml
from ..config.paths import resolve_relative, resolve_shipped
from ..errors import EXIT_INVALID, EXIT_OK, printable
from ..issues import InputFileError, Issue
from . import add_config_option, echo, fail

if TYPE_CHECKING:
    from . import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "check",
        help="validate the config and the policy, listing every error",
        description="Validate the config and the policy it names (or --policy). "
        "Exit 0 when both are valid, 2 otherwise.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--policy",
        metavar="P",
        help="policy file, or a shipped policy by name (default, idle-discount, ...); "
        "default: the config's policy.path",
    )
    parser.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    ok = True
    config: Config | None = None
    path = config_path(args.config)
    # Without --config and without a readable default config, --policy alone is checked.
    if args.config or path.exists() or not args.policy:
        try:
            config = load_config(path)
        except InputFileError as exc:
            ok = False
            fail(_with_outputs(exc, path).render(), EXIT_INVALID)
        else:
            problems = _outputs(config.metrics.listen, config.webhook.url)
            if config.api.token_file is not None:
                problem = token_file_problem(config.api.token_file)
                if problem is not None:
                    problems.append(Issue("api.token_file", problem))
            problem = proxy_problem()
            if problem is not None:
                problems.append(Issue("api.base_url", problem))
            if problems:
                ok = False
                fail(InputFileError("config", path, problems).render(), EXIT_INVALID)
        if ok and config is not None:
            echo(printable(f"OK config {path} (server {config.server.name!r})"))
    policy_file: Path | None = None
    params: dict[str, float] | None = None
    if args.policy:
        policy_file = resolve_shipped(args.policy, "policies")
    elif config is not None:
        # The config's policy, with the config's overrides of its params.
        policy_file, params = config.policy.path, config.policy.params
    if policy_file is not None:
        try:
            policy = load_policy(policy_file, params)
        except InputFileError as exc:
            ok = False
            fail(exc.render(), EXIT_INVALID)
        else:
            rules = len(policy.rules)
            echo(printable(f"OK policy {policy_file} ({rules} rules, digest {policy.digest()})"))
    if config is not None and config.gpu.backend == "fake" and config.gpu.scenario is not None:
        from ..testing import load_scenario

        try:
            scenario = load_scenario(config.gpu.scenario)
        except InputFileError as exc:
            ok = False
            fail(exc.render(), EXIT_INVALID)
        else:
            echo(printable(f"OK scenario {config.gpu.scenario} ({len(scenario.gpu)} GPUs)"))
    return EXIT_OK if ok else EXIT_INVALID


def _outputs(listen: object, url: object) -> list[Issue]:
    """The metrics address and the webhook URL, read as the daemon reads them when it starts
    (a value of another type is the model's to report)."""
    issues: list[Issue] = []
    if isinstance(listen, str):
        from ..outputs.metrics import parse_listen

        try:
            parse_listen(listen)
        except ValueError as exc:
            issues.append(Issue("metrics.listen", str(exc)))
    if isinstance(url, str):
        from ..outputs.webhook import parse_url

        try:
            parse_url(url)
        except ValueError as exc:
            issues.append(Issue("webhook.url", str(exc)))
    return issues


def proxy_problem() -> str | None:
    """Why `run` would refuse the proxy the environment names (HTTPS_PROXY and the like)."""
    from ..api.connection import environment_proxies
    from ..api.errors import BadProxy

    try:
        environment_proxies()
    except BadProxy as exc:
        return exc.line()
    return None


def token_file_problem(path: Path) -> str | None:
    """Why `run` would refuse the token file at `path`, in `run`'s words; None when it would
    read it. The file is not opened (api.token.check_token_file)."""
    from ..api.errors import TokenError
    from ..api.token import check_token_file

    try:
        check_token_file(path)
    except TokenError as exc:
        return exc.line()
    return None


def _with_outputs(exc: InputFileError, path: Path) -> InputFileError:
    """A config that did not load, with the outputs' problems too, so one run lists all."""
    if exc.issues and not exc.issues[0].location:
        return exc  # the file as a whole: not found, not TOML
    try:
        data = load_toml(path, "config")
    except InputFileError:
        return exc
    sections = [data.get(name) for name in ("metrics", "webhook", "api")]
    metrics, webhook, api = (s if isinstance(s, dict) else {} for s in sections)
    known = {issue.location for issue in exc.issues}
    found = _outputs(metrics.get("listen"), webhook.get("url"))
    token_file = api.get("token_file")
    if isinstance(token_file, str) and token_file.strip() and "\x00" not in token_file:
        problem = token_file_problem(resolve_relative(Path(token_file), path.parent))
        if problem is not None:
            found.append(Issue("api.token_file", problem))
    more = [issue for issue in found if issue.location not in known]
    return InputFileError("config", path, [*exc.issues, *more]) if more else exc
