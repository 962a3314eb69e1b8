"""What `server_config` says about the four managed settings and the rental status.

The API answers in its own terms (rental status codes, prices per currency, availability and
visibility); this module turns them into the Facts' terms, and refuses to guess any of them.
"""

from __future__ import annotations

import math

from ..api import ServerConfig
from ..api.errors import CloreError
from ..facts import RentalStatus, Settings

# The API's rental_status codes.
RENTAL_STATUS_BY_CODE: dict[int, RentalStatus] = {0: "not_rented", 1: "spot", 2: "on_demand"}


class ServerDataError(CloreError):
    """server_config answered, but without a value the agent needs (or with a nonsense one)."""


def current_settings(config: ServerConfig, currency: str) -> Settings:
    """The four managed settings as server_config reports them; refuses to guess any."""
    missing: list[str] = []
    on_demand = (config.pricing or {}).get(currency)
    spot = (config.spot_pricing or {}).get(currency)
    availability = config.is_available()
    if on_demand is None:
        missing.append(f"pricing.{currency}")
    if spot is None:
        missing.append(f"spot_pricing.{currency}")
    if availability is None:
        missing.append("availability/visibility")
    if config.mrl is None:
        missing.append("mrl")
    if missing:
        raise ServerDataError(f"server_config lacks {', '.join(missing)}; refusing to guess")
    assert on_demand is not None and spot is not None and availability is not None
    assert config.mrl is not None
    for label, price in (("pricing", on_demand), ("spot_pricing", spot)):
        if not math.isfinite(price) or price < 0:
            raise ServerDataError(f"server_config {label}.{currency} is implausible: {price}")
    return Settings(on_demand=on_demand, spot=spot, availability=availability, mrl=config.mrl)


def same_settings(a: Settings, b: Settings) -> bool:
    """Equal, allowing prices the service may store rounded (to a millionth of the price)."""
    return (
        a.availability == b.availability
        and a.mrl == b.mrl
        and math.isclose(a.on_demand, b.on_demand, rel_tol=1e-6)
        and math.isclose(a.spot, b.spot, rel_tol=1e-6)
    )


def rental_status_of(config: ServerConfig) -> RentalStatus:
    status = RENTAL_STATUS_BY_CODE.get(config.rental_status)  # type: ignore[arg-type]
    if status is None:
        raise ServerDataError(
            f"server_config rental_status is {config.rental_status!r}, expected 0, 1 or 2"
        )
    return status
