"""The config file's model: its sections, their defaults and what each allows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..duration import parse_duration
from .paths import DEFAULT_API_TIMEOUT, DEFAULT_API_URL, DEFAULT_STATE_DIR

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
