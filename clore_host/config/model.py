"""The config file's model: its sections, their defaults and what each allows.

Values are read strictly, as the TOML file types them: `expected_gpus = "3"` (a string) or
`allow_insecure = "yes"` is refused, not coerced. Durations take a number of seconds or a
string with units ("90s", "5m"); paths take a string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from .costs import CostsSection, FeesSection, FxSection
from .market import MarketSection
from .paths import DEFAULT_API_TIMEOUT, DEFAULT_API_URL, DEFAULT_STATE_DIR, http_url_problem
from .types import DAY, HOUR, FilePath, Section, seconds

# The least of each kind of duration. Positive is not enough: `sample_interval = 1e-300`
# would spin the daemon, a timeout of a microsecond fails every call.
TIMEOUT_LEAST = 0.1  # api.timeout, gpu.call_timeout, webhook.timeout
SAMPLE_LEAST = 0.1  # agent.sample_interval, agent.backoff
RECONCILE_LEAST = 1.0  # agent.reconcile_interval
RETENTION_LEAST = HOUR  # history.raw_retention, history.rollup_retention

# More than an hour holds the writer lock for that long.
Timeout = Annotated[
    float, seconds(least=TIMEOUT_LEAST, most=HOUR, why=": a shorter timeout fails every call")
]
Interval = Annotated[
    float, seconds(least=SAMPLE_LEAST, most=DAY, why=": a shorter one would spin the daemon")
]
ReconcileInterval = Annotated[
    float,
    seconds(least=RECONCILE_LEAST, most=DAY, why=": a shorter one would spin the daemon"),
]
Retention = Annotated[
    float,
    seconds(least=RETENTION_LEAST, most=3650 * DAY, why=": a shorter history answers no window"),
]
# 0: no grace beyond the first empty reading. The first is always "GPUs unavailable" (one
# reading cannot tell a hiccup from a loss); with 0, the next one reads every GPU missing.
Grace = Annotated[float, seconds(least=0.0, most=365 * DAY)]


def _http_url(value: object) -> object:
    if isinstance(value, str):
        problem = http_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value  # another type: strict `str` says what is expected


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


class ServerSection(Section):
    name: str = Field(min_length=1)
    currency: Literal["bitcoin"] = (
        "bitcoin"  # the only currency set_server_settings' documented form prices
    )
    expected_gpus: int = Field(default=1, ge=0, le=64)


class ApiSection(Section):
    base_url: str = DEFAULT_API_URL
    token_file: FilePath | None = None
    timeout: Timeout = DEFAULT_API_TIMEOUT
    retries: int = Field(default=3, ge=0, le=10)
    # Plain http:// to a host that is not loopback would carry the token in clear text.
    allow_insecure: bool = False


class GpuSection(Section):
    backend: Literal["nvml", "fake"] = "nvml"
    scenario: FilePath | None = None
    call_timeout: Timeout = 5.0
    # A driver that answers with zero GPUs is a hiccup (GPUs unavailable) until this long;
    # only then is it read as every GPU missing.
    zero_gpus_grace: Grace = 300.0

    @model_validator(mode="after")
    def _fake_needs_a_scenario(self) -> GpuSection:
        if self.backend == "fake" and self.scenario is None:
            raise ValueError(
                'backend "fake" needs `scenario`: a scenario file, or a shipped one by name '
                '("idle-rig", "rented-busy", "overheat", "gpu-lost", "mixed-8gpu", "demo")'
            )
        return self


class PolicySection(Section):
    path: FilePath = Path("/etc/clore-host/policies/default.toml")
    # Overrides of the policy's [params] (e.g. list_price = 0.0003): one policy, any rig.
    params: dict[str, float] = Field(default_factory=dict)


class StateSection(Section):
    dir: FilePath = DEFAULT_STATE_DIR


class HistorySection(Section):
    raw_retention: Retention = 48 * HOUR
    rollup_retention: Retention = 90 * DAY

    @model_validator(mode="after")
    def _rollups_outlive_raw(self) -> HistorySection:
        # Windows read whole minutes from the rollups: shorter-lived rollups would leave holes.
        if self.rollup_retention < self.raw_retention:
            raise ValueError("rollup_retention must be at least raw_retention")
        return self


class AgentSection(Section):
    sample_interval: Interval = 10.0
    reconcile_interval: ReconcileInterval = 300.0
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # fraction of the reconcile interval
    backoff: Interval = 15.0  # first retry after a failure; doubles up to reconcile_interval


class MetricsSection(Section):
    # "127.0.0.1:9876"; off when absent. Parsed where it is served (outputs.metrics), and by
    # `check` with the same parser.
    listen: str | None = None


class WebhookSection(Section):
    url: HttpUrl | None = None  # checked again, as the webhook reads it, by `check`
    timeout: Timeout = 5.0


class Config(Section):
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
    market: MarketSection = MarketSection()
    costs: CostsSection = CostsSection()
    fees: FeesSection = FeesSection()
    fx: FxSection = FxSection()

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
