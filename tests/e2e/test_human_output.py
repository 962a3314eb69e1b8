"""Human output never uses scientific notation: prices in fixed decimals of the currency,
other numbers in short fixed point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from clore_host.testing.rig import Rig, idle_scenario, policy_text

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
    assert "spot 0.00005000 -> 0.00004500" in outputs["history"].stdout
    assert "spot 0.00005000 -> 0.00004500" in outputs["plan"].stdout


# A large and a tiny metric value, where `:g` switches to exponents (2.048e+04, 1e-05).
BIG_MEMORY = """
[[rule]]
name = "memory in use"
when = { metric = "memory_used", op = ">", value = 0.00001 }
then.mrl = 24
"""


def test_plan_reasons_show_large_metric_values_without_exponent(tmp_path: Path) -> None:
    scenario = idle_scenario().replace("[defaults]\n", "[defaults]\nmemory_used = 20480.5\n")
    with Rig(tmp_path, policy=policy_text(BIG_MEMORY), scenario=scenario) as rig:
        plan = rig.cli("plan")
    assert plan.returncode == 0, plan.stderr
    assert not EXPONENT.search(plan.stdout), plan.stdout
    assert 'mrl 72 -> 24: rule "memory in use" (memory_used: 20480)' in plan.stdout


def test_api_text_prints_prices_in_fixed_decimals(tmp_path: Path) -> None:
    with Rig(tmp_path, policy=policy_text(LOWER)) as rig:
        assert rig.cli("reprice").returncode == 0
        config = rig.cli("api", "config", rig.server)
        servers = rig.cli("api", "servers")
    for result in (config, servers):
        assert result.returncode == 0, result.stderr
        assert not EXPONENT.search(result.stdout), result.stdout
    assert "spot minimum   0.00004500 bitcoin/day, 0.00000000 usd/day" in config.stdout
    assert "spot min 0.00004500 bitcoin/day, 0.00000000 usd/day" in servers.stdout
