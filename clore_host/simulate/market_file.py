"""A market file: every parameter of the simulator's market model, in one TOML file.

Prices are per day for the whole server in the listing currency (bitcoin), shares are
fractions (0.2 = 20 %), durations are seconds or strings ("6h"). The shipped files (markets/
in the repository, clore_host.markets when installed) say for each value where it comes from
or that it is an assumption. Every mistake is reported with its place in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..config.load import load_toml
from ..config.types import DAY, HOUR, Section, seconds
from ..issues import InputFileError, Issue, issues_from_validation

MINUTE = 60.0
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


def _as_tuple(value: object) -> object:
    """TOML arrays are lists; the model keeps tuples (frozen, so a market file hashes)."""
    return tuple(value) if isinstance(value, list) else value


Profile = Annotated[tuple[NonNegative, ...], BeforeValidator(_as_tuple)]


class LogNormal(Section):
    """A lognormal distribution by its median and sigma (of the log); sigma 0: always the
    median."""

    median: Positive
    sigma: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)]


class Readings(Section):
    """One GPU's readings (the fake GPUs of the server under test)."""

    utilization: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    temperature: NonNegative
    power: NonNegative  # W


class ServerPart(Section):
    """The server under test: where it starts, and what its GPUs read."""

    gpus: int = Field(ge=1, le=64)
    list_price: Price  # on-demand price at the start
    spot_factor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]  # spot = on-demand x
    mrl: int = Field(ge=6, le=3000)  # hours, at the start
    busy: Readings
    idle: Readings


class CostsPart(Section):
    electricity: NonNegative  # USD per kWh
    overhead_w: NonNegative  # the host besides the GPUs (CPU, fans, PSU losses), W
    fixed_per_day: NonNegative  # USD a day whatever the rig does (internet, rent, wear)
    bitcoin_usd: Positive  # the exchange rate, USD per bitcoin


class FeesPart(Section):
    on_demand: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
    spot: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


class PeerRule(Section):
    """A share of the peers repricing by a rule of their own, every `peers.interval`.

    idle_discount: idle `idle_after` or more, lower the price by `step` (not below `floor`
    times the list price); rented, raise it by `step` back toward the list price.
    undercut: price at the median of the other peers less `below` (within `floor` times the
    list price and the list price).
    """

    kind: Literal["idle_discount", "undercut"]
    share: Share
    floor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    step: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.05
    idle_after: Annotated[float, seconds(least=0, most=30 * DAY)] = 6 * HOUR
    below: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.02


class PeersPart(Section):
    count: int = Field(ge=0, le=1000)
    price: LogNormal  # list prices, drawn once per seed
    spot_factor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    mrl: int = Field(ge=6, le=3000)  # hours
    # Every peer's list price moves by this share a day (negative: a falling market).
    drift_per_day: Annotated[float, Field(ge=-0.5, le=0.5, allow_inf_nan=False)] = 0.0
    interval: Annotated[float, seconds(least=MINUTE, most=DAY)] = HOUR
    rule: Annotated[tuple[PeerRule, ...], BeforeValidator(_as_tuple)] = ()

    @model_validator(mode="after")
    def _shares(self) -> PeersPart:
        if sum(r.share for r in self.rule) > 1 + 1e-9:
            raise ValueError("the peer rules' shares add up to more than 1")
        return self


class DemandPart(Section):
    """Renters of this server class: when they come, what they pay, how they choose."""

    arrivals_per_day: NonNegative  # the mean over a week
    # By local hour (0-23) and weekday (Monday first): relative rates, scaled to mean 1.
    daily: Profile = (1.0,) * 24
    weekly: Profile = (1.0,) * 7
    spot_share: Share = 0.0
    price_sensitivity: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    reservation: LogNormal  # the highest on-demand price a renter pays
    spot_reservation: LogNormal | None = None  # the highest spot bid; needed with spot_share
    spot_preempted: bool = True  # an on-demand renter may take a server rented on spot

    @field_validator("daily", "weekly")
    @classmethod
    def _profile(cls, values: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        length, what = (24, "one per hour") if info.field_name == "daily" else (7, "Monday first")
        if len(values) != length:
            raise ValueError(f"needs {length} numbers ({what}), not {len(values)}")
        if not sum(values) > 0:
            raise ValueError("needs a positive number somewhere")
        return values

    @model_validator(mode="after")
    def _check(self) -> DemandPart:
        if self.spot_share > 0 and self.spot_reservation is None:
            raise ValueError("spot_share above 0 needs spot_reservation")
        return self


class RentalsPart(Section):
    hours: LogNormal  # how long a renter wants the server; clamped to [6 h, the mrl]


class MarketRoomPart(Section):
    """How the agent's market room reads the peers (the [market] config section)."""

    interval: Annotated[float, seconds(least=MINUTE, most=DAY)] = 15 * MINUTE
    min_peers: int = Field(default=5, ge=1, le=1000)


class SweepPart(Section):
    """The static prices tried for the baseline: from low to high times the list price."""

    low: Positive = 0.4
    high: Positive = 2.5
    points: int = Field(default=41, ge=3, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> SweepPart:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        return self


class MarketFile(Section):
    version: int
    name: str = Field(min_length=1, max_length=64)
    about: str = ""
    timezone: str = "UTC"  # the renters' and the rig's local time (IANA)
    server: ServerPart
    costs: CostsPart
    fees: FeesPart
    peers: PeersPart
    demand: DemandPart
    rentals: RentalsPart
    market: MarketRoomPart = MarketRoomPart()
    sweep: SweepPart = SweepPart()

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported version {value}: use version = 1")
        return value

    # -- derived figures ------------------------------------------------------------------

    @property
    def busy_w(self) -> float:
        """The rig's draw while rented, W: every GPU busy, plus the host."""
        return self.server.gpus * self.server.busy.power + self.costs.overhead_w

    @property
    def idle_w(self) -> float:
        return self.server.gpus * self.server.idle.power + self.costs.overhead_w

    def cost_per_day(self, watts: float) -> float:
        """What a day at `watts` costs, in the listing currency (bitcoin)."""
        usd = watts * 24 / 1000 * self.costs.electricity + self.costs.fixed_per_day
        return usd / self.costs.bitcoin_usd

    @property
    def cost_floor(self) -> tuple[float, float]:
        """The gross on-demand and spot prices that net the cost of a busy day: cost / (1 - fee)."""
        cost = self.cost_per_day(self.busy_w)
        return cost / (1 - self.fees.on_demand), cost / (1 - self.fees.spot)


def parse_market(data: dict[str, object], source: str = "<market>") -> MarketFile:
    """A validated market file; InputFileError naming every problem with its place."""
    try:
        market = MarketFile.model_validate(data)
    except ValidationError as exc:
        raise InputFileError("market file", source, issues_from_validation(exc)) from None
    problem = _timezone_problem(market.timezone)
    if problem:
        raise InputFileError("market file", source, [Issue("timezone", problem)])
    return market


def _timezone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f'unknown time zone {name!r} (an IANA name such as "Europe/Berlin")'
    return None


# --- where market files are -------------------------------------------------------------------

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_markets_dir() -> Path:
    """clore_host/markets when installed, else markets/ at the top of the repository."""
    installed = _PACKAGE / "markets"
    return installed if installed.is_dir() else _PACKAGE.parent / "markets"


def shipped_markets() -> list[Path]:
    return sorted(shipped_markets_dir().glob("*.toml"))


def resolve_market(value: str | Path) -> Path:
    """A path as given if it exists (or has a directory part), else a shipped market by name
    ("steady" or "steady.toml")."""
    path = Path(value)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    candidate = shipped_markets_dir() / name
    return candidate if candidate.exists() else path


def load_market(value: str | Path) -> MarketFile:
    """Read and validate a market file (a path, or a shipped market's name)."""
    path = resolve_market(value)
    if not path.exists() and len(Path(value).parts) == 1:
        names = ", ".join(p.stem for p in shipped_markets()) or "none"
        raise InputFileError(
            "market file", path, [Issue("", f"file not found (shipped markets: {names})")]
        )
    return parse_market(load_toml(path, "market file"), str(path))


__all__ = [
    "LogNormal",
    "MarketFile",
    "PeerRule",
    "load_market",
    "parse_market",
    "resolve_market",
    "shipped_markets",
    "shipped_markets_dir",
]
