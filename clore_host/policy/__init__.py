"""The policy: the provider's intent as rules, and the rails no rule can break.

One module per phase: params (a policy's named numbers, resolved before validation), schema
(the file's pydantic models, validated with located messages),
compile (condition nodes with the thresholds bound in), decide (rules -> Proposal), guard
(rails -> Plan), plan (the Plan, with its reasons as data, put into words only where shown).
Pure functions of (policy, facts, prior state): decide() proposes, guard() applies the rails,
make_plan() does both.

Thresholds, one way: both are a Policy's `thresholds`, and each is applied in one place.
`overheat_c` is bound into the `overheating` fact when the policy is compiled;
`idle_threshold` is applied where `idle_for` is measured, by the agent from history, since
this package reads Facts and nothing else.

Imports: the standard library, pydantic (and pydantic_core), and from this project only
clore_host.facts, clore_host.duration, clore_host.money and, from clore_host.issues, the
located-issue types (Issue, InputFileError, format_location, issues_from_validation). It
reads no file (clore_host.config's load_policy reads a policy file and calls parse_policy),
and imports nothing from the API, GPU, history or config modules.
"""

from __future__ import annotations

from ._units import format_price
from .catalogue import FACTS, FactSpec, Thresholds
from .compile import compiled
from .decide import Proposal, decide
from .guard import guard, implausible, make_plan
from .plan import FactSeen, FieldPlan, MetricSeen, Plan, RailReason, RuleReason, RuleSkipped
from .schema import Policy, Rails, Rule, parse_policy

__all__ = [
    "FACTS",
    "FactSeen",
    "FactSpec",
    "FieldPlan",
    "MetricSeen",
    "Plan",
    "Policy",
    "Proposal",
    "RailReason",
    "Rails",
    "Rule",
    "RuleReason",
    "RuleSkipped",
    "Thresholds",
    "compiled",
    "decide",
    "format_price",
    "guard",
    "implausible",
    "make_plan",
    "parse_policy",
]
