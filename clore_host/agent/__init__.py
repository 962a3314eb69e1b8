"""Run: one reconcile cycle (observe, decide, guard, apply, record), the one-writer lock, and
the daemon that repeats the cycle (clore_host.agent.daemon, loaded only by those who run it)."""

from .cycle import Agent, CycleResult, UnrecordedChange

__all__ = ["Agent", "CycleResult", "UnrecordedChange"]
