"""One decision path (issue 19): the agent and the simulator take the same step.

The agent runs cycles on the emulator (its memory in history, its samples in SQLite). The
simulator's path then takes the same observations through policy.step with its own memory,
carried from step to step, and in-memory samples: every plan and every memory is the same
(each write taken as landing when the agent's did).
"""

from __future__ import annotations

from pathlib import Path

from clore_host.policy.step import Memory, memory_from_record, observation_from_record, step
from clore_host.simulate.samples import MemorySamples
from clore_host.testing import FakeClock
from clore_host.testing.rig import Rig

OLD_POLICIES = Path(__file__).resolve().parents[1] / "simulate" / "old_policies"
CYCLE = 300.0
# The rental status, by cycle: idle for 8 h (the discounts), rented 4 h, spot 2 h, idle again.
STATUSES = [0] * 96 + [2] * 48 + [1] * 24 + [0] * 48


def test_the_agent_and_the_simulator_produce_the_same_plans_and_memories(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    # The idle discount as shipped before it priced at the market: it acts on the rig's own
    # state (idle time, rentals), with no market to read.
    policy = (OLD_POLICIES / "idle-discount.toml").read_text()
    with Rig(tmp_path, clock=clock, policy=policy) as rig:
        agent = rig.agent()
        plans = []
        try:
            for status in STATUSES:
                rig.emulator.set_rental_status(rig.server, status)
                plans.append(agent.reconcile().plan)
                clock.advance(CYCLE)
            records = agent.history.observations("reconcile", 0.0)
            # When each write landed (a second or so after its decision: the API's rate).
            landed = {c.ts: c.status_ts for c in agent.history.changes()}
        finally:
            agent.close()
        policy_model = agent.policy
    assert len(records) == len(STATUSES)
    assert sum(p.changed for p in plans) >= 5  # the policy acted: there is something to match

    samples = MemorySamples()
    memory = Memory()
    for (ts, record), agent_plan in zip(records, plans, strict=True):
        observation = observation_from_record(record)
        carried = memory_from_record(record)
        # The memory the agent carried into this cycle is the one the step left behind.
        assert carried == memory, ts
        samples.record(observation.now, observation.gpus)
        at = landed.get(ts, ts)
        plan, memory = step(policy_model, observation, memory, samples, applied_at=at)
        assert plan == agent_plan, ts
        assert plan.explain() == agent_plan.explain()
