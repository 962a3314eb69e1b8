"""`clore-host reprice` and `clore-host plan`: one reconcile cycle, one-shot."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..errors import EXIT_OK, Failure
from . import add_config_option, echo, with_agent

if TYPE_CHECKING:
    from ..agent import Agent, CycleResult
    from . import Commands

# The agent and its parts are imported when a command runs, not when the parser is built,
# so `clore-host --help` stays fast and one broken part cannot take down every command.


def register(commands: Commands) -> None:
    reprice = commands.add_parser(
        "reprice",
        help="observe, decide and apply once (for a timer or cron)",
        description="Read the server and the GPUs, decide with the policy, and write the "
        "settings if anything changes.",
    )
    add_config_option(reprice)
    reprice.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    reprice.add_argument("--json", action="store_true", help="print the result as JSON")
    reprice.set_defaults(func=lambda args: run_once(args, dry_run=args.dry_run))

    plan = commands.add_parser(
        "plan", help="print what reprice would do (same as reprice --dry-run)"
    )
    add_config_option(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=lambda args: run_once(args, dry_run=True))


class PlanBlocked(Failure):
    """The plan was blocked by implausible inputs: nothing changed, and that is not "done"."""

    headline = "inputs implausible, nothing changed"


def run_once(args: argparse.Namespace, *, dry_run: bool) -> int:
    def job(agent: Agent) -> int:
        result = agent.reconcile(dry_run=dry_run)
        if args.json:
            echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        else:
            echo("\n".join(render_result(result, agent.config.server.name)))
        if result.plan.blocked:
            raise PlanBlocked(result.plan.blocked)
        return EXIT_OK

    return with_agent(args, job)


def render_result(result: CycleResult, server: str) -> list[str]:
    facts = result.facts
    lost = sum(1 for gpu in facts.gpus if gpu.lost)
    gpus = f"{len(facts.gpus)} GPU(s)" + (f", {lost} lost" if lost else "")
    lines = [f"server {server}: {facts.rental_status.replace('_', ' ')}, {gpus}"]
    lines += result.recovered
    if result.plan.blocked:
        lines.append(f"blocked: {result.plan.blocked}")
    lines += [f"  {line}" for line in result.plan.explain()]
    if result.currencies is not None:  # several currencies: what each one's price becomes
        lines += [f"  {line}" for line in result.currencies.explain()]
    verdict = {
        "changed": "applied: settings written and recorded",
        "unchanged": "no change: nothing written",
        "dry_run": "dry run: nothing written"
        + (" (would change)" if result.plan.changed else " (nothing to change)"),
    }[result.outcome]
    lines.append(verdict)
    return lines
