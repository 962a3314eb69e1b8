"""Running a command's job with an open Agent, closed again whatever happens."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..agent import Agent


def with_agent(args: argparse.Namespace, job: Callable[[Agent], int]) -> int:
    """Open the agent from --config, run `job`, close it; failures go up to cli.main."""
    from ..agent import Agent
    from ..config import load_config

    agent = Agent.open(load_config(args.config))
    try:
        return job(agent)
    finally:
        agent.close()
