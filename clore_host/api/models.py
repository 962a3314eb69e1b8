"""Request and response models of the CLORE.AI API (the seed's contract).

Responses ignore unknown fields (the live service sends many) and read documented fields the
seed does not guarantee as None when absent. The fields the agent reads from server_config
(name, id, availability, visibility, rental_status, mrl) are strict: a value of the wrong JSON
type (`"false"`, `0` for a bool, `"96"` for an mrl) is refused, never coerced. A map of prices
by currency must be an object, but holds any JSON values: the service sends currencies it has
not implemented (`"usd": null`, `"usd": "0"`), and only the currencies the agent prices in are
read, strictly, as prices (observe.server). Requests are strict and forbid unknown fields, so
a request that is missing something, or carries a bool where a number goes, cannot be built;
their prices go on the wire in whole units of the currency, in fixed point (see wire.py).
set_server_settings has two forms: the seed's (SetServerSettings: one `on_demand` and one
`spot`, in bitcoin) and the per-currency one public clients of the live service send
(SetServerSettingsByCurrency); the config decides which, never an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, TypeGuard

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

from ..money import CURRENCIES, MAX_PRICE, PRICE_DECIMALS, price_units
from .errors import MalformedResponse

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
    gpu_array: Any = None  # undocumented: the GPUs' names (market.gpu_class reads it strictly)
    # Undocumented, reported on the live service; kept as sent and read strictly where used
    # (observe.server): the currencies the server takes, the service's own conversion from
    # USD per currency ({coin: "usd" | false}) and the USD prices it converts from.
    allowed_coins: Any = None
    autoprice: Any = None
    usd_pricing: Any = None

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
# The answer is megabytes (thousands of servers, each with its specs): it is read from the raw
# bytes by read_marketplace, each server reduced to a MarketListing as the JSON parser builds
# it, so no more than one server's objects are alive at a time besides the small listings.


class MarketListing(NamedTuple):
    """One public server as the market room reads it, every field of its JSON type."""

    id: int
    owner: int
    gpu: str | None  # specs.gpu as sent, e.g. "2x NVIDIA GeForce RTX 4090" (None: absent,
    # and gpu_array sent instead)
    gpu_array: tuple[str, ...] | None  # the GPUs' names where the service sends them
    on_demand: float | None  # per day, in the currency asked for; None: no usable price
    spot: float | None  # the minimum spot price, likewise
    rented: bool | None  # None: not said
    online: bool | None  # None: not said


@dataclass(frozen=True)
class MarketplaceResponse:
    """The `marketplace` answer, reduced: its listings, the account's own server ids, and the
    listings left out as unreadable, counted by the first field found wrong."""

    servers: tuple[MarketListing, ...]
    my_servers: frozenset[int]
    unreadable: Mapping[str, int] = field(default_factory=dict)


class _Unreadable(NamedTuple):
    """A server object the reducer could not read: which field was wrong."""

    field: str


_GPU_NAMES_MAX = 64  # names in one server's gpu_array; more is not a server's


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _price(prices: object, currency: str) -> float | None:
    """The price in `currency` from a map of prices: a positive, finite JSON number no
    larger than MAX_PRICE, never a string or a bool; else None."""
    if type(prices) is not dict:
        return None
    value = prices.get(currency)
    if isinstance(value, float):
        return value if 0.0 < value <= MAX_PRICE else None  # NaN fails both comparisons
    if _is_int(value):
        return float(value) if 0 < value <= MAX_PRICE else None
    return None


def _names(value: object, scrub: Callable[[str], str]) -> tuple[str, ...] | None:
    """gpu_array's names, nested lists flattened; None when it is not a list of strings."""
    if type(value) is not list:
        return None
    out: list[str] = []
    stack = [iter(value)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif type(item) is str:
            out.append(scrub(item))
        elif type(item) is list and len(stack) < 4:
            stack.append(iter(item))
        else:
            return None
        if len(out) > _GPU_NAMES_MAX:
            return None
    return tuple(out) if out else None


_END = object()


def _listing_reducer(currency: str, scrub: Callable[[str], str]) -> Callable[[dict[str, Any]], Any]:
    """The JSON parser's object hook: an object with `id` and `owner` (a server) becomes a
    MarketListing, or _Unreadable naming its first wrong field; any other object is kept
    (the answer's top level, or a server's parts until the server itself is reduced)."""
    names: dict[str, str] = {}  # one string object per distinct GPU name

    def reduce(obj: dict[str, Any]) -> Any:
        if "code" in obj or ("id" not in obj and "owner" not in obj):
            return obj  # the answer's top level, or a part of a server
        ident, owner = obj.get("id"), obj.get("owner")
        if not _is_int(ident):
            return _Unreadable("id")
        if not _is_int(owner):
            return _Unreadable("owner")
        specs = obj.get("specs")
        gpu = specs.get("gpu") if type(specs) is dict else None
        array = _names(obj.get("gpu_array"), scrub) if "gpu_array" in obj else None
        if type(gpu) is str:
            gpu = scrub(gpu)
            gpu = names.setdefault(gpu, gpu)
        elif array is None:
            return _Unreadable("specs.gpu")
        else:
            gpu = None
        rented, online = obj.get("rented"), obj.get("online")
        if rented is not None and type(rented) is not bool:
            return _Unreadable("rented")
        if online is not None and type(online) is not bool:
            return _Unreadable("online")
        price = obj.get("price")
        if type(price) is dict:
            on_demand = _price(price.get("on_demand"), currency)
            spot = _price(price.get("spot"), currency)
        else:
            on_demand = spot = None
        return MarketListing(ident, owner, gpu, array, on_demand, spot, rented, online)

    return reduce


def read_marketplace(
    raw: bytes, *, currency: str, scrub: Callable[[str], str]
) -> MarketplaceResponse | None:
    """The `marketplace` answer in `raw`, reduced as it is parsed (see MarketplaceResponse).

    None when `raw` is not a successful answer (not JSON, not an object, no `code` 0): the
    connection then says what it is. A successful answer not of the API's shape (`servers`
    not a list, `my_servers` not a list of ids) is MalformedResponse; a server in it that
    cannot be read is left out and counted, so one odd listing does not hide the market.
    """
    try:
        data = json.loads(raw, object_hook=_listing_reducer(currency, scrub))
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict or type(data.get("code")) is not int or data["code"] != 0:
        return None
    servers, mine = data.get("servers"), data.get("my_servers")
    if type(servers) is not list:
        what = "is missing" if servers is None else "is not a list"
        raise MalformedResponse("marketplace", f"unexpected response shape: servers {what}")
    if type(mine) is not list or not all(_is_int(i) for i in mine):
        what = "is missing" if mine is None else "is not a list of server ids"
        raise MalformedResponse("marketplace", f"unexpected response shape: my_servers {what}")
    listings: list[MarketListing] = []
    unreadable: dict[str, int] = {}
    for item in servers:
        if type(item) is MarketListing:
            listings.append(item)
            continue
        # A server object without id and owner stays a dict; anything else is not a server.
        what = item.field if type(item) is _Unreadable else "id"
        unreadable[what] = unreadable.get(what, 0) + 1
    return MarketplaceResponse(tuple(listings), frozenset(mine), unreadable)


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
    # Anyone can make an offer: each is read strictly by the market room (market.spot), which
    # leaves out one it cannot read rather than the whole answer.
    offer_id: Any = None
    bid: Any = None
    active: Any = None
    my: Any = None


class SpotServer(_Response):
    min_pricing: Prices | None = None
    mrl: int | None = None  # seconds
    visibility: str | None = None
    online: bool | None = None


class SpotMarket(_Response):
    offers: list[SpotOffer] = []
    server: SpotServer | None = None
    # Reported on the live service: {coin: USD per coin}. Kept as sent, any JSON value: the
    # costs room checks it (a rate of 0, a string, a 100x jump).
    currency_rates_in_usd: Any = None


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


def _exact(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError("a price must be a finite number above 0")
    return value


# A price in the per-currency form: an exact decimal, written as it is (api/wire.py): a whole
# unit of its currency where the agent decided it, the number read where it is copied back.
ExactPrice = Annotated[Decimal, AfterValidator(_exact)]


class CoinPrices(_Request):
    """One currency's prices in the per-currency form, per day for the whole server."""

    on_demand: ExactPrice
    spot: ExactPrice


class SetServerSettingsByCurrency(_Request):
    """The full settings in the per-currency form public clients of the live service send
    (beyond the seed): `name`, `availability`, `mrl`, then `<coin>_on_demand`, `<coin>_spot`
    for each currency priced, `enabled-<coin>` for each currency switched, and `autoprice` /
    `usd_pricing` when given (copied back as read). Currencies in CURRENCIES order."""

    name: ServerName
    availability: bool
    mrl: int = Field(ge=MRL_MIN, le=MRL_MAX)
    prices: dict[str, CoinPrices]
    enabled: dict[str, bool]
    autoprice: dict[str, Any] | None = None
    usd_pricing: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _known_and_priced(self) -> SetServerSettingsByCurrency:
        for coin in (*self.prices, *self.enabled):
            if coin not in CURRENCIES:
                raise ValueError(f"unknown currency {coin!r} (known: {', '.join(CURRENCIES)})")
        unpriced = [c for c, on in self.enabled.items() if on and c not in self.prices]
        if unpriced:
            raise ValueError(f"enabled without prices: {', '.join(unpriced)}")
        if not any(self.enabled.values()):
            raise ValueError("no currency enabled: the server would take no payment")
        return self

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "availability": self.availability}
        out["mrl"] = self.mrl
        for coin in CURRENCIES:
            if coin in self.prices:
                out[f"{coin}_on_demand"] = self.prices[coin].on_demand
                out[f"{coin}_spot"] = self.prices[coin].spot
        for coin in CURRENCIES:
            if coin in self.enabled:
                out[f"enabled-{coin}"] = self.enabled[coin]
        if self.autoprice is not None:
            out["autoprice"] = self.autoprice
        if self.usd_pricing is not None:
            out["usd_pricing"] = self.usd_pricing
        return out


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
