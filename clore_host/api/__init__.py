"""The only door to CLORE.AI: a typed client, its models and errors, and a loopback emulator."""

from typing import TYPE_CHECKING, Any

from .client import CloreClient
from .errors import (
    ApiError,
    ApiTimeout,
    ApiUnreachable,
    AuthError,
    CloreError,
    DatabaseError,
    HttpStatusError,
    InvalidEndpoint,
    InvalidInput,
    LocalStateError,
    MalformedResponse,
    NamedApiError,
    RateLimited,
    TokenError,
    TooManyRequests,
    TransportError,
)
from .models import (
    CancelOrder,
    CreateOrder,
    MarketplaceResponse,
    MyOrdersResponse,
    MyServersResponse,
    ServerConfig,
    ServerConfigResponse,
    SetServerSettings,
    SetSpotPrice,
    SpotMarketplaceResponse,
    WalletsResponse,
)
from .ratelimit import RateLimiter
from .token import Token, load_token

if TYPE_CHECKING:
    from .emulator import Emulator, default_state, load_state


def __getattr__(name: str) -> Any:
    # The emulator (and http.server behind it) loads only for those who use it - tests, the
    # demo, `clore-host emulate` - not on every run of the agent.
    if name in ("Emulator", "default_state", "load_state"):
        from . import emulator

        return getattr(emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiError",
    "ApiTimeout",
    "ApiUnreachable",
    "AuthError",
    "CancelOrder",
    "CloreClient",
    "CloreError",
    "CreateOrder",
    "DatabaseError",
    "Emulator",
    "HttpStatusError",
    "InvalidEndpoint",
    "InvalidInput",
    "LocalStateError",
    "MalformedResponse",
    "MarketplaceResponse",
    "MyOrdersResponse",
    "MyServersResponse",
    "NamedApiError",
    "RateLimited",
    "RateLimiter",
    "ServerConfig",
    "ServerConfigResponse",
    "SetServerSettings",
    "SetSpotPrice",
    "SpotMarketplaceResponse",
    "Token",
    "TokenError",
    "TooManyRequests",
    "TransportError",
    "WalletsResponse",
    "default_state",
    "load_state",
    "load_token",
]
