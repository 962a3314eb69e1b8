"""The policy: the provider's intent as rules, and the rails no rule can break.

Pure functions of (policy, facts, prior state): decide() proposes, guard() applies the rails,
make_plan() does both. This package reads only clore_host.facts; it imports nothing from the
API, GPU, history or config modules.
"""

from __future__ import annotations

from .catalogue import FACTS, FactSpec
from .plan import FieldPlan, Plan
from .rails import guard, implausible, make_plan
from .rules import Proposal, decide
from .schema import Policy, Rails, Rule, load_policy, parse_policy

__all__ = [
    "FACTS",
    "FactSpec",
    "FieldPlan",
    "Plan",
    "Policy",
    "Proposal",
    "Rails",
    "Rule",
    "decide",
    "guard",
    "implausible",
    "load_policy",
    "make_plan",
    "parse_policy",
]
