"""The market as `marketplace` and `spot_marketplace` show it: this server's class, its peers,
their statistics, and the summary kept between runs (issue 15)."""

from .gpu_class import GpuClass, normalise_model, parse_spec, server_class
from .observe import FACTS, PEER_FACTS, SPOT_FACTS, MarketObservation, observe_market
from .peers import REASONS, OwnerVote, Selection, Summary, select_peers, summarise

__all__ = [
    "FACTS",
    "PEER_FACTS",
    "REASONS",
    "SPOT_FACTS",
    "GpuClass",
    "MarketObservation",
    "OwnerVote",
    "Selection",
    "Summary",
    "normalise_model",
    "observe_market",
    "parse_spec",
    "select_peers",
    "server_class",
    "summarise",
]
