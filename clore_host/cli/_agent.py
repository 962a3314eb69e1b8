"""Running a command's job with an open Agent: the failures every such command maps alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import fail

if TYPE_CHECKING:
    from ..agent import Agent
    from ..early_read import EarlyRead


def with_agent(
    args: argparse.Namespace, job: Callable[[Agent], int], early: EarlyRead | None = None
) -> int:
    """Open the agent from --config, run `job`, close it; any failure is one line and its code.

    An `early` read (see early_read.py) goes to the agent, which answers its first read with it.
    """
    from ..agent import Agent, classify_error
    from ..config import load_config

    try:
        agent = Agent.open(load_config(args.config), early=early)
    except Exception as exc:
        if early is not None:
            early.close()
        code, message = classify_error(exc)
        return fail(message, code)
    try:
        return job(agent)
    except Exception as exc:
        code, message = classify_error(exc)
        return fail(message, code)
    finally:
        agent.close()
