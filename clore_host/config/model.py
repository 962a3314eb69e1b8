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

from ..policy._errors import Loc, located
from ..policy.currencies import BITCOIN, CURRENCIES
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


def _payment_currency(value: object) -> object:
    if isinstance(value, str) and value not in CURRENCIES:
        known = ", ".join(f'"{c}"' for c in CURRENCIES)
        raise ValueError(f"{value[:40]!r} is not a currency the service takes: use {known}")
    return value  # another type: strict `str` says what is expected


def _only_bitcoin(value: object) -> object:
    if isinstance(value, str) and value != BITCOIN:
        raise ValueError(
            'only "bitcoin" here (the seed\'s form); for other currencies list them in '
            f'`currencies`, e.g. currencies = ["bitcoin", "{value[:40]}"]'
        )
    return value


PaymentCurrency = Annotated[str, BeforeValidator(_payment_currency)]


class ServerSection(Section):
    """The server on CLORE.AI, and the payment currencies it takes.

    `currencies` are those whose prices the agent manages; the policy decides in
    `reference_currency` (default: the first), and every other is converted from it. With
    bitcoin alone the seed's form of set_server_settings is sent; with any other, the
    per-currency form public clients of the live service send (beyond the seed).
    `currency = "bitcoin"`, the older key, is still read as `currencies = ["bitcoin"]`.
    """

    name: str = Field(min_length=1)
    currencies: list[PaymentCurrency] = Field(default_factory=lambda: [BITCOIN])
    reference_currency: PaymentCurrency | None = None
    # The older key: bitcoin only, as set_server_settings' documented form prices.
    legacy_currency: Annotated[str, BeforeValidator(_only_bitcoin)] | None = Field(
        default=None, alias="currency"
    )
    expected_gpus: int = Field(default=1, ge=0, le=64)

    @model_validator(mode="before")
    @classmethod
    def _one_way_to_say_it(cls, data: object) -> object:
        if isinstance(data, dict) and "currency" in data and "currencies" in data:
            raise located(
                "ServerSection",
                [(("currency",), "give `currencies` only (`currency` is the older key)")],
                data,
            )
        return data

    @model_validator(mode="after")
    def _currencies_make_sense(self) -> ServerSection:
        problems: list[tuple[Loc, str]] = []
        if not self.currencies:
            problems.append((("currencies",), 'at least one currency, e.g. ["bitcoin"]'))
        repeated = sorted({c for c in self.currencies if self.currencies.count(c) > 1})
        if repeated:
            problems.append((("currencies",), f"{', '.join(repeated)} listed more than once"))
        reference = self.reference_currency
        if reference is not None and reference not in self.currencies:
            problems.append(
                (
                    ("reference_currency",),
                    f'"{reference}" is not among `currencies` ({", ".join(self.currencies)}): '
                    "the policy decides in one of the currencies the server takes",
                )
            )
        if problems:
            raise located("ServerSection", problems, None)
        return self

    @property
    def reference(self) -> str:
        """The currency the policy decides in (its rails, its prices, the cost floor)."""
        return self.reference_currency or self.currencies[0]  # never empty (validated)

    @property
    def currency(self) -> str:
        """The currency the market and the costs price in: the reference currency."""
        return self.reference

    @property
    def seed_form(self) -> bool:
        """Whether set_server_settings is sent in the seed's form (bitcoin alone)."""
        return self.currencies == [BITCOIN]


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
