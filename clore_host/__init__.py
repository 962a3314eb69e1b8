"""clore-host: the agent GPU providers run on their rigs to price and list them on CLORE.AI."""

__version__ = "0.1.0"
