"""Builders for Facts and policies in the policy tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from clore_host.facts import Facts, GpuNow, HostNow, LocalTime, RentalStatus, Settings, WindowKey
from clore_host.policy import Policy, parse_policy

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
BASE = Settings(on_demand=0.0001, spot=0.00005, availability=True, mrl=72)


def make_facts(
    *,
    now: float = T0,
    hour: int = 12,
    weekday: int = 2,
    status: RentalStatus = "not_rented",
    status_for: float | None = 3600.0,
    current: Settings = BASE,
    expected: int = 1,
    gpus: Sequence[GpuNow] | None = None,
    windows: Mapping[WindowKey, tuple[float | None, ...]] | None = None,
    idle_for: float | None = None,
    host: HostNow | None = None,
) -> Facts:
    facts_gpus = (
        tuple(gpus) if gpus is not None else (GpuNow(0, utilization=0.0, temperature=50.0),)
    )
    return Facts(
        now=now,
        local=LocalTime(hour=hour, minute=0, weekday=weekday),
        rental_status=status,
        rental_status_for=status_for,
        current=current,
        expected_gpus=expected,
        gpus=facts_gpus,
        # Given per GPU in the order of `gpus`, as the tests write them; Facts key them by GPU.
        windows={
            key: dict(zip((g.index for g in facts_gpus), values, strict=False))
            for key, values in (windows or {}).items()
        },
        idle_for=idle_for,
        host=host or HostNow(),
    )


def rails(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "on_demand": {"floor": 0.00006, "ceiling": 0.0003},
        "spot": {"floor": 0.00003, "ceiling": 0.0002},
        "max_step": "10%",
        "min_interval": "30m",
        "deadband": "1%",
        "availability_hold": "30m",
    }
    out.update(overrides)
    return out


def make_policy(rules: Sequence[dict[str, Any]], **rail_overrides: Any) -> Policy:
    return parse_policy({"version": 1, "rails": rails(**rail_overrides), "rule": list(rules)})


class _Reason(Protocol):
    def words(self) -> str: ...


def words(reasons: Iterable[_Reason]) -> tuple[str, ...]:
    """Rule reasons (or skipped rules) as the plan lines show them."""
    return tuple(r.words() for r in reasons)
