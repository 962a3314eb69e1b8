"""Host fees: the gross price a renter pays that leaves the host a given net.

The market keeps a share of each rental: the rental kind's fee plus the payment currency's
surcharge, both percentages of the gross price (config `[fees]`). They add up, which is the
cautious reading (a fee taken after the surcharge would keep a little less).
"""

from __future__ import annotations

import math


def gross_for_net(net: float, kept_percent: float) -> float:
    """The gross price that nets `net` once the market keeps `kept_percent` of it."""
    if not 0 <= kept_percent < 100:
        raise ValueError(f"the market cannot keep {kept_percent}% of a rental")
    if not math.isfinite(net):
        raise ValueError(f"a net price must be finite, not {net!r}")
    return net / (1.0 - kept_percent / 100.0)


def net_of_gross(gross: float, kept_percent: float) -> float:
    """What the host keeps of `gross` once the market keeps `kept_percent` of it."""
    return gross * (1.0 - kept_percent / 100.0)
