"""The agent's config file (TOML), validated.

Looked up as `--config PATH`, else `$CLORE_HOST_CONFIG`, else /etc/clore-host/config.toml.
Relative paths inside the file are resolved against the file's own directory, and
`$CLORE_API_URL` overrides the API's address, so tests and operators can point a config
elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .duration import parse_duration
from .shipped import resolve_relative, resolve_shipped
from .validation import InputFileError, issues_from_validation, load_toml

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


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Section):
    name: str = Field(min_length=1)
    currency: Literal["bitcoin"] = (
        "bitcoin"  # the only currency set_server_settings' documented form prices
    )
    expected_gpus: int = Field(default=1, ge=0, le=64)


class ApiSection(_Section):
    base_url: str = DEFAULT_API_URL
    token_file: Path | None = None
    timeout: Duration = DEFAULT_API_TIMEOUT
    retries: int = Field(default=3, ge=0, le=10)


class GpuSection(_Section):
    backend: Literal["nvml", "fake"] = "nvml"
    scenario: Path | None = None
    call_timeout: Duration = 5.0

    @model_validator(mode="after")
    def _fake_needs_a_scenario(self) -> GpuSection:
        if self.backend == "fake" and self.scenario is None:
            raise ValueError(
                'backend "fake" needs `scenario`: a scenario file, or a shipped one by name '
                '("idle-rig", "rented-busy", "overheat", "gpu-lost", "mixed-8gpu", "demo")'
            )
        return self


class PolicySection(_Section):
    path: Path = Path("/etc/clore-host/policies/default.toml")


class StateSection(_Section):
    dir: Path = DEFAULT_STATE_DIR


class HistorySection(_Section):
    raw_retention: Duration = 48 * 3600.0
    rollup_retention: Duration = 90 * 86400.0

    @model_validator(mode="after")
    def _rollups_outlive_raw(self) -> HistorySection:
        # Windows read whole minutes from the rollups: shorter-lived rollups would leave holes.
        if self.rollup_retention < self.raw_retention:
            raise ValueError("rollup_retention must be at least raw_retention")
        return self


class AgentSection(_Section):
    sample_interval: Duration = 10.0
    reconcile_interval: Duration = 300.0
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # fraction of the reconcile interval
    backoff: Duration = 15.0  # first retry after a failure; doubles up to reconcile_interval


class MetricsSection(_Section):
    listen: str | None = None  # "127.0.0.1:9876"; off when absent


class WebhookSection(_Section):
    url: str | None = None
    timeout: Duration = 5.0


class Config(_Section):
    timezone: str = "UTC"
    server: ServerSection
    api: ApiSection = ApiSection()
    gpu: GpuSection = GpuSection()
    policy: PolicySection = PolicySection()
    state: StateSection = StateSection()
    history: HistorySection = HistorySection()
    agent: AgentSection = AgentSection()
    metrics: MetricsSection = MetricsSection()
    webhook: WebhookSection = WebhookSection()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown time zone {value!r}: use an IANA name such as "Europe/Prague" or "UTC"'
            ) from None
        return value


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
