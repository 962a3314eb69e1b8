"""The only door to CLORE.AI: a typed client, its models and errors, and a loopback emulator."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import CloreClient
    from .connection import Answer, Connection, Request
    from .emulator import Emulator, default_state, load_state
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

# Every name loads its module on first use: a one-shot run sends its first request through
# `connection` before pydantic (behind the models) has loaded, and the emulator (with
# http.server) loads only for tests, the demo and `clore-host emulate`.
_MODULE_OF = {
    "CloreClient": "client",
    "Answer": "connection",
    "Connection": "connection",
    "Request": "connection",
    "ApiError": "errors",
    "ApiTimeout": "errors",
    "ApiUnreachable": "errors",
    "AuthError": "errors",
    "CloreError": "errors",
    "DatabaseError": "errors",
    "HttpStatusError": "errors",
    "InvalidEndpoint": "errors",
    "InvalidInput": "errors",
    "LocalStateError": "errors",
    "MalformedResponse": "errors",
    "NamedApiError": "errors",
    "RateLimited": "errors",
    "TokenError": "errors",
    "TooManyRequests": "errors",
    "TransportError": "errors",
    "CancelOrder": "models",
    "CreateOrder": "models",
    "MarketplaceResponse": "models",
    "MyOrdersResponse": "models",
    "MyServersResponse": "models",
    "ServerConfig": "models",
    "ServerConfigResponse": "models",
    "SetServerSettings": "models",
    "SetSpotPrice": "models",
    "SpotMarketplaceResponse": "models",
    "WalletsResponse": "models",
    "RateLimiter": "ratelimit",
    "Token": "token",
    "load_token": "token",
    "Emulator": "emulator",
    "default_state": "emulator",
    "load_state": "emulator",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # loaded once; later lookups find it without this function
    return value


__all__ = [
    "Answer",
    "ApiError",
    "ApiTimeout",
    "ApiUnreachable",
    "AuthError",
    "CancelOrder",
    "CloreClient",
    "CloreError",
    "Connection",
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
    "Request",
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
