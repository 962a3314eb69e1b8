"""The `[costs]`, `[fees]` and `[fx]` sections: what the rig costs, what the market keeps,
and the exchange rates that turn a power bill into the listing currency."""

from __future__ import annotations

from .types import Section


class CostsSection(Section):
    """Placeholder: filled in by the costs room (issue 16)."""


class FeesSection(Section):
    """Placeholder: filled in by the costs room (issue 16)."""


class FxSection(Section):
    """Placeholder: filled in by the costs room (issue 16)."""
