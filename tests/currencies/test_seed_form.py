"""Must show 2: with bitcoin alone (the default, or the older `currency = "bitcoin"`), every
set_server_settings body is byte for byte what the code sent before per-currency prices
existed (golden_seed_bodies.json, captured from that code: see seed_run.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .seed_run import GOLDEN, model_body, run

GOLDEN_BODIES: dict[str, Any] = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize(
    "server",
    [None, {"currencies": ["bitcoin"]}, {"currency": "bitcoin"}],
    ids=["default", "currencies = [bitcoin]", "currency = bitcoin (older key)"],
)
def test_a_run_sends_the_seed_bodies_byte_for_byte(
    tmp_path: Path, server: dict[str, Any] | None
) -> None:
    config = None if server is None else {"server": server}
    bodies = run(tmp_path, config)
    assert [b.decode("ascii") for b in bodies] == GOLDEN_BODIES["run"]
    assert len(bodies) == 10  # every reconcile of the script wrote


@pytest.mark.parametrize(
    "case", GOLDEN_BODIES["model"], ids=[c["body"][30:70] for c in GOLDEN_BODIES["model"]]
)
def test_the_model_writes_the_seed_body_byte_for_byte(case: dict[str, Any]) -> None:
    availability, mrl, on_demand, spot = case["settings"]
    assert model_body(availability, mrl, on_demand, spot).decode("ascii") == case["body"]
