"""The Grafana dashboard and the README agree with what the agent exports."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from clore_host.outputs.logs import KeyValueFormatter
from clore_host.outputs.metrics import AgentMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "packaging" / "grafana" / "clore-host.json"
DOC = ROOT / "README.md"
NAME = re.compile(r"\bclore_host_[a-z_]+\b")


def exported_names(metrics: AgentMetrics) -> set[str]:
    text = generate_latest(metrics.registry).decode()
    return {
        s.name
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def test_dashboard_structure() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert 'instance=~"$instance"' in target["expr"], panel["title"]
    titles = " ".join(p["title"].lower() for p in panels())
    for topic in ("price", "availab", "rental", "utilisation", "temperature", "power", "health"):
        assert topic in titles
    assert "by code" in titles and "by rule" in titles and "last successful reconcile" in titles


def test_the_price_is_shown_against_the_cost_floor() -> None:
    [panel] = [p for p in panels() if "cost floor" in p["title"].lower()]
    shown = " ".join(t["expr"] for t in panel["targets"])
    for name in ("on_demand_price", "spot_min_price"):
        assert f"clore_host_{name}" in shown
    for kind in ("on_demand", "spot"):
        assert f'clore_host_cost_floor_price{{instance=~"$instance", kind="{kind}"}}' in shown
    assert panel["fieldConfig"]["defaults"]["decimals"] == 8  # a satoshi is visible


def test_dashboard_queries_only_exported_metrics(fed_metrics: AgentMetrics) -> None:
    used = {name for expr in exprs() for name in NAME.findall(expr)}
    assert used, "no metric in the dashboard"
    assert used <= exported_names(fed_metrics)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    grafana = {"$__rate_interval": "5m", "$__range": "1h", "$instance": ".*"}
    rules = []
    for i, expr in enumerate(exprs()):
        for var, value in grafana.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "rules.yml"
    # JSON is YAML: promtool reads it as a rules file.
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_docs_list_exactly_the_exported_metrics(fed_metrics: AgentMetrics) -> None:
    table_rows = [
        line for line in DOC.read_text().splitlines() if line.startswith("| `clore_host_")
    ]
    documented = {NAME.search(row).group(0) for row in table_rows}  # type: ignore[union-attr]
    assert documented == exported_names(fed_metrics)


def test_docs_log_example_is_what_the_formatter_writes() -> None:
    example = next(
        line for line in DOC.read_text().splitlines() if line.startswith("level=info logger=")
    )
    message = json.loads(example.split(" msg=", 1)[1])
    from clore_host.agent.cycle import log

    record = logging.LogRecord(log.name, logging.INFO, __file__, 1, message, None, None)
    assert KeyValueFormatter(timestamps=False).format(record) == example
