"""Prices in human output are fixed decimals of the currency, never scientific notation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from clore_host.testing import Rig, policy_text

EXPONENT = re.compile(r"\d[eE][+-]?\d")

# Small prices (5e-05 and below) are where Python's repr and %g switch to exponents.
LOWER = """
[[rule]]
name = "lower"
then.on_demand = { set = 0.00009 }
then.spot = { set = 0.000045 }
"""


def test_status_plan_history_and_demo_print_no_exponent(tmp_path: Path) -> None:
    with Rig(tmp_path, policy=policy_text(LOWER)) as rig:
        outputs = {}
        outputs["plan"] = rig.cli("plan")
        outputs["reprice"] = rig.cli("reprice")
        outputs["status"] = rig.cli("status")
        outputs["history"] = rig.cli("history")
    outputs["demo"] = subprocess.run(
        [sys.executable, "-m", "clore_host", "demo", "--hours", "12"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert not EXPONENT.search(result.stdout), (name, result.stdout)
    assert "spot=0.00004500" in outputs["status"].stdout
    assert "0.000045" in outputs["history"].stdout
    assert "0.000045" in outputs["plan"].stdout
