"""Request and response models of the CLORE.AI API (the seed's contract).

Responses ignore unknown fields (the live service sends many) and read documented fields the
seed does not guarantee as None when absent. The fields the agent reads from server_config
(name, id, availability, visibility, rental_status, mrl) are strict: a value of the wrong JSON
type (`"false"`, `0` for a bool, `"96"` for an mrl) is refused, never coerced. A map of prices
by currency must be an object, but holds any JSON values: the service sends currencies it has
not implemented (`"usd": null`, `"usd": "0"`), and only the one currency the agent prices in is
read, strictly, as a price (observe.server). Requests are strict and forbid unknown fields, so
a request that is missing something, or carries a bool where a number goes, cannot be built;
their prices go on the wire in whole units of the currency, in fixed point (see wire.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

from ..money import PRICE_DECIMALS, price_units

# Prices by currency, as the service sends them: each value as JSON gave it (a number for the
# currencies it implements; null, a string, anything, for the others). Read one as a price
# only through observe.server, which checks its type and range.
Prices = dict[str, Any]
Specs = dict[str, Any]
# The API's documented limits of a rental, in hours.
MRL_MIN, MRL_MAX = 6, 3000


class _Response(BaseModel):
    # Schemas build on first use: a run touches two or three of these models, not all.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    def body(self) -> dict[str, Any]:
        """The JSON body: optional fields left unset are not sent; prices are Decimals of
        whole units, for wire.encode_json to write in fixed point."""
        return self.model_dump(mode="python", exclude_none=True)


class CodeResponse(_Response):
    """The answer of the write endpoints: only `code`."""

    code: int


# -- wallets ------------------------------------------------------------------------------


class Wallet(_Response):
    name: str
    deposit: str | None = None
    balance: float | None = None
    withdrawal_fee: float | None = None


class WalletsResponse(_Response):
    code: int
    wallets: list[Wallet] = []


# -- my_servers -----------------------------------------------------------------------------


class MyServer(_Response):
    name: str
    id: int | None = None  # undocumented; the live service sends it
    connected: bool | None = None
    visibility: str | None = None
    pricing: Prices | None = None
    online: bool | None = None
    min_spot_pricing: Prices | None = None
    # Lets a machine join the account: never shown, never dumped.
    init_token: str | None = Field(default=None, repr=False, exclude=True)
    specs: Specs | None = None


class MyServersResponse(_Response):
    code: int
    servers: list[MyServer] = []
    limit: int | None = None


# -- server_config --------------------------------------------------------------------------


VISIBILITY_AVAILABLE: dict[str, bool] = {"public": True, "hidden": False, "private": False}


class ServerConfig(_Response):
    # Strict: the fields the agent reads (see the module's docstring).
    name: StrictStr
    connected: bool | None = None
    visibility: StrictStr | None = None
    pricing: Prices | None = None
    spot_pricing: Prices | None = None
    mrl: StrictInt | None = None  # hours
    online: bool | None = None
    initialized: bool | None = None
    id: StrictInt | None = None
    rental_status: StrictInt | None = None  # 0 not rented, 1 spot, 2 on demand
    specs: Specs | None = None
    background_job: dict[str, Any] | None = None
    availability: StrictBool | None = None  # undocumented; the live service may send it

    def is_available(self) -> bool | None:
        """Whether the server can be rented: `availability` if sent, else from `visibility`
        (observe.server refuses an answer whose two say different things)."""
        if self.availability is not None:
            return self.availability
        return VISIBILITY_AVAILABLE.get(self.visibility or "")


class ServerConfigResponse(_Response):
    code: int
    creation_completed: bool | None = None
    config: ServerConfig


# -- marketplace ----------------------------------------------------------------------------


class MarketPrice(_Response):
    on_demand: Prices | None = None
    spot: Prices | None = None


class MarketServer(_Response):
    id: int
    owner: int | None = None
    mrl: int | None = None  # hours
    price: MarketPrice | None = None
    rented: bool | None = None
    specs: Specs | None = None


class MarketplaceResponse(_Response):
    code: int
    servers: list[MarketServer] = []
    my_servers: list[int] = []


# -- my_orders ------------------------------------------------------------------------------


class Order(_Response):
    id: int
    fee: float | None = None
    creation_fee: float | None = None
    price: float | None = None
    mrl: int | None = None  # seconds
    image: str | None = None
    currency: str | None = None
    spend: float | None = None
    ct: int | None = None
    p: int | None = None
    specs: Specs | None = None
    si: int | None = None
    pub_cluster: list[str] | None = None
    tcp_ports: list[str] | None = None
    http_port: str | None = None
    spot: bool | None = None
    expired: bool | None = None


class MyOrdersResponse(_Response):
    code: int
    orders: list[Order] = []
    limit: int | None = None


# -- spot_marketplace -----------------------------------------------------------------------


class SpotOffer(_Response):
    offer_id: int
    bid: float | None = None
    active: bool | None = None
    my: bool | None = None


class SpotServer(_Response):
    min_pricing: Prices | None = None
    mrl: int | None = None  # seconds
    visibility: str | None = None
    online: bool | None = None


class SpotMarket(_Response):
    offers: list[SpotOffer] = []
    server: SpotServer | None = None


class SpotMarketplaceResponse(_Response):
    code: int
    exists: bool | None = None
    market: SpotMarket | None = None
    currency_rates_in_usd: dict[str, float] | None = None  # reported, not in the seed


# -- requests -------------------------------------------------------------------------------


def _at_least_one_unit(value: float) -> float:
    if price_units(value) < 1:
        raise ValueError(
            f"a price must be at least one unit of the currency ({1 / 10**PRICE_DECIMALS:.8f})"
        )
    return value


def _wire_price(value: float) -> Decimal:
    return Decimal(price_units(value)).scaleb(-PRICE_DECIMALS)


# A price in a request: finite, at least one unit; sent as its nearest whole unit.
Price = Annotated[
    float,
    Field(gt=0, allow_inf_nan=False),
    AfterValidator(_at_least_one_unit),
    PlainSerializer(_wire_price, return_type=Decimal),
]
ServerName = Annotated[str, StringConstraints(min_length=1)]
# The seed's character class for jupyter_token, ssh_key and ssh_password.
_SAFE = r"^[a-zA-Z0-9\s=.@+/-]+$"


class SetServerSettings(_Request):
    """The full settings of a server: the API has no partial update, so all are required."""

    name: ServerName
    availability: bool
    mrl: int = Field(ge=MRL_MIN, le=MRL_MAX)  # hours, within the API's documented limits
    on_demand: Price  # per day, whole server
    spot: Price  # minimum spot bid per day


class SetSpotPrice(_Request):
    order_id: int = Field(ge=0)
    desired_price: Price


class CancelOrder(_Request):
    id: int = Field(ge=0)
    issue: str | None = Field(default=None, max_length=2048)


class CreateOrder(_Request):
    currency: str = Field(min_length=1)
    image: str = Field(min_length=1)
    renting_server: int = Field(ge=0)
    type: Literal["on-demand", "spot"]
    spotprice: Price | None = None
    ports: dict[str, Literal["tcp", "http"]] | None = Field(default=None, max_length=5)
    jupyter_token: str | None = Field(default=None, max_length=32, pattern=_SAFE, repr=False)
    ssh_key: str | None = Field(default=None, max_length=3072, pattern=_SAFE, repr=False)
    ssh_password: str | None = Field(default=None, max_length=32, pattern=_SAFE, repr=False)
    command: str | None = None
    required_price: Price | None = None

    @model_validator(mode="after")
    def _by_type(self) -> CreateOrder:
        if self.type == "spot" and self.spotprice is None:
            raise ValueError("spotprice is required for a spot order")
        if self.type == "spot" and self.required_price is not None:
            raise ValueError("required_price applies to on-demand orders only")
        return self
