"""One rig for tests, benches and the demo: the emulator serving one server and, in a root
directory, the files the agent reads (a config pointing at the emulator, a 0600 token file, a
policy, a GPU scenario for the fake backend), with the state directory beside them.

    with Rig(tmp_path, clock=FakeClock(), policy=policy_text(RULE)) as rig:
        agent = rig.agent()
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..agent import Agent
from ..api import CloreClient, Token
from ..clock import Clock, SystemClock
from ..config import Config, load_config
from ..gpu import GpuBackend
from ..history import History
from ..policy import Policy
from .emulator import Emulator, default_state
from .market import marketplace_listings, spot_offers

if TYPE_CHECKING:  # the daemon (metrics, systemd) loads only for those who open one
    from ..agent.daemon import Daemon, Notifier

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SERVER = "demo-rig"  # the name of the emulator's sample server
TOKEN = "rig-secret-token-3f9c1a"

# The rails of every policy a rig is given as rules only: room for a test's rule to move the
# sample server's prices (0.0001 on demand, 0.00005 spot) by a step or two.
RAILS: dict[str, Any] = {
    "on_demand": {"floor": 0.00005, "ceiling": 0.0003},
    "spot": {"floor": 0.00002, "ceiling": 0.0002},
    "max_step": "20%",
    "min_interval": "30m",
    "deadband": "1%",
}


def policy_text(*rules: str, **rails: Any) -> str:
    """A policy: RAILS, with any key replaced by `rails`, then `rules` (TOML text)."""
    merged = {**RAILS, **rails}
    lines = ["version = 1", "[rails]", *(f"{k} = {toml_value(v)}" for k, v in merged.items())]
    return "\n".join([*lines, *(rule.strip() for rule in rules)]) + "\n"


def idle_scenario(gpus: int = 1) -> str:
    """A scenario of `gpus` idle, cool cards that never fail."""
    head = [
        'driver_version = "550.54.15"',
        "seed = 1",
        "[defaults]",
        'name = "NVIDIA GeForce RTX 4090"',
        "utilization = 1",
        "temperature = 35",
        "power = 20",
    ]
    return "\n".join(head + ["[[gpu]]"] * gpus) + "\n"


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value: Any) -> str:
    """`value` as TOML: strings, paths, booleans, numbers, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # nan and inf read back as TOML's nan and inf
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` laid on it section by section; a None value leaves a key out."""
    out = copy.deepcopy(base)
    for name, value in over.items():
        if value is None:
            out.pop(name, None)
        elif isinstance(value, Mapping):
            section = out.get(name)
            merged = {**(section if isinstance(section, dict) else {}), **value}
            out[name] = {k: copy.deepcopy(v) for k, v in merged.items() if v is not None}
        else:
            out[name] = copy.deepcopy(value)
    return out


class Rig:
    """An emulator (on `clock`, the system clock by default) and a config in `root`.

    The files are written at once: `root/token` (mode 0600), `root/policy.toml` (`policy`,
    default: RAILS and no rule), `root/scenario.toml` (`scenario`, default: `gpus` idle
    cards). `start()` (or `with`) starts the emulator and writes `root/config.toml` for it:
    the server, the token file, the fake GPU backend, the policy, and `root/state`, with
    `config` laid over it section by section. The emulator's account has `token` as its only
    token, its sample server `gpus` GPUs. With `market` (a seed) it serves a realistic market
    of a few thousand servers (testing.market), and spot offers on the sample server. The
    agent and daemon open on the rig's clock.
    """

    def __init__(
        self,
        root: Path,
        *,
        clock: Clock | None = None,
        token: str = TOKEN,
        policy: str | None = None,
        scenario: str | None = None,
        gpus: int = 1,
        config: Mapping[str, Any] | None = None,
        market: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.clock: Clock = clock or SystemClock()
        self.token = token
        self.config = self.root / "config.toml"
        account = default_state()
        account["tokens"] = [token]
        server = account["servers"][0]
        server["specs"]["gpu"] = f"{gpus}x NVIDIA GeForce RTX 4090"
        self.server: str = server["name"]
        self.emulator = Emulator(account, clock=self.clock)
        if market is not None:
            self.emulator.set_marketplace(
                marketplace_listings(market, own_owner=account["owner_id"]),
                {server["id"]: spot_offers(market, server["pricing"]["bitcoin"])},
            )
        self._config = _merge(
            {
                "server": {"name": self.server, "expected_gpus": gpus},
                "api": {"token_file": "token"},
                "gpu": {"backend": "fake", "scenario": "scenario.toml"},
                "policy": {"path": "policy.toml"},
                "state": {"dir": "state"},
            },
            config or {},
        )
        self.root.mkdir(parents=True, exist_ok=True)
        token_file = self.root / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        (self.root / "policy.toml").write_text(policy if policy is not None else policy_text())
        scenario = scenario if scenario is not None else idle_scenario(gpus)
        (self.root / "scenario.toml").write_text(scenario)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Rig:
        self.emulator.start()
        self.write_config()
        return self

    def close(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the config -----------------------------------------------------------------------

    def write_config(self, **sections: Any) -> None:
        """Write config.toml: the rig's config with `sections` laid over it (a None value
        leaves a key out). Top-level keys (e.g. timezone="UTC") may be given too."""
        doc = _merge(self._config, {"api": {"base_url": self.emulator.url}})
        doc = _merge(doc, sections)
        lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, Mapping)]
        for name, values in doc.items():
            if isinstance(values, Mapping):
                lines.append(f"[{name}]")
                lines += [f"{_key(k)} = {toml_value(v)}" for k, v in values.items()]
        self.config.write_text("\n".join(lines) + "\n")

    def load_config(self) -> Config:
        return load_config(self.config)

    # -- the agent, as the product opens it -----------------------------------------------

    def agent(
        self,
        *,
        policy: Policy | None = None,
        gpus: GpuBackend | None = None,
        history: History | None = None,
        on_response: Callable[[str, str], None] | None = None,
    ) -> Agent:
        """Agent.open on the rig's config and clock; parts passed in are used as they are.

        Its client talks to this rig's emulator with this rig's token, whatever
        $CLORE_API_URL or a systemd credential in the environment says: a demo or a test
        never sends the rig's token elsewhere.
        """
        config = self.load_config()
        client = CloreClient.connect(
            self.emulator.url,
            Token(self.token),
            state_dir=config.state.dir,
            clock=self.clock,
            timeout=config.api.timeout,
            retries=config.api.retries,
            on_response=on_response,
        )
        return Agent.open(
            config, clock=self.clock, policy=policy, client=client, gpus=gpus, history=history
        )

    def daemon(
        self,
        *,
        notifier: Notifier | None = None,
        open_agent: Callable[[Config], Agent] | None = None,
    ) -> Daemon:
        """The daemon on the rig's config and clock; `step()` it, or `run()` it."""
        from ..agent.daemon import Daemon

        return Daemon(self.config, clock=self.clock, notifier=notifier, open_agent=open_agent)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`clore-host ARGS --config CONFIG` in a fresh process, as a timer would run it."""
        return subprocess.run(
            self._command(args), capture_output=True, text=True, timeout=timeout, env=self.env()
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`clore-host ARGS --config CONFIG` started, its output piped."""
        return subprocess.Popen(
            self._command(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )

    def _command(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "clore_host", *args, "--config", str(self.config)]

    @staticmethod
    def env() -> dict[str, str]:
        """The environment a rig's commands run in."""
        # Nothing of the caller's own setup: no CLORE_* variables, not run by systemd, and no
        # proxy (the emulator is on loopback).
        return {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CLORE") and k != "NOTIFY_SOCKET" and k.lower() not in PROXY_VARS
        }

    # -- what reached the emulator --------------------------------------------------------

    def writes(self) -> list[Any]:
        """The bodies of every set_server_settings request, in arrival order."""
        return [r.body for r in self.emulator.requests.for_endpoint("set_server_settings")]

    def settings(self) -> tuple[Any, ...]:
        """The server's (on-demand price, spot price, availability, mrl) now."""
        server = self.emulator.server(self.server)
        return (
            server["pricing"]["bitcoin"],
            server["spot_pricing"]["bitcoin"],
            server["availability"],
            server["mrl"],
        )
