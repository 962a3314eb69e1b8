"""`clore-host simulate`: its output, its argument checks, and --plot's pictures (issue 17,
Must show 5)."""

from __future__ import annotations

import json
import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clore_host.cli import main
from clore_host.config import shipped_dir

SVG = "{http://www.w3.org/2000/svg}"
QUICK = ["simulate", "--seeds", "2", "--days", "3"]


def test_text_names_every_policy_and_the_best_static_price(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*QUICK, "--policy", "default", "--policy", "time-of-use"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("market steady (")
    assert "3 days x 2 seeds, a decision every 5m" in out
    rows = {line.split()[0] for line in out.splitlines()[4:] if line.strip()}
    assert rows == {"policy", "static", "default", "time-of-use"}
    assert "cost floor 0.00002868 on demand, 0.00002740 spot" in out


def test_json_has_the_figures_of_each_market(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*QUICK, "--policy", "default", "--market", "steady", "--market", "crowded", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["market"] for m in doc["markets"]] == ["steady", "crowded"]
    steady = doc["markets"][0]
    assert steady["seeds"] == [0, 1] and steady["days"] == 3
    policy = steady["policies"][0]
    assert policy["name"] == "default"
    for key in ("net_per_day", "gross_per_day", "occupancy", "changes_per_day", "uplift_percent"):
        stat = policy[key]
        assert stat["low"] <= stat["mean"] <= stat["high"]
    best = steady["best_static"]
    assert best["static_price"] == max(steady["sweep"], key=lambda p: p["net_per_day"])["price"]


def test_markdown_is_one_table_across_markets(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*QUICK, "--policy", "default", "--market", "all", "--markdown"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| policy | crowded | daily-cycle | steady |"
    assert lines[4].startswith("| best static price | ")
    assert re.match(r"\| default \| [+-]\d+\.\d % \+-\d+\.\d; \d+\.\d/day; \d+ h \|", lines[5])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days 0: give a number of days above 0"),
        (["--seeds", "0"], "--seeds 0: give 1 to 1000"),
        (["--reconcile", "soon"], "--reconcile soon:"),
        (
            ["--market", "nowhere"],
            "nowhere: file not found (shipped markets: crowded, daily-cycle",
        ),
        (["--plot", "out.pdf"], "the file must end in .png or .svg"),
        (["--market", "all", "--plot", "out.svg"], "--plot draws one market"),
        (["--param", "market_factor"], "--param market_factor: give NAME=VALUE"),
        (["--param", "=0.9"], "--param =0.9: give NAME=VALUE"),
        (["--param", "market_factor=much"], "--param market_factor=much: 'much' is not a finite"),
        (["--param", "market_factor=nan"], "'nan' is not a finite number"),
        (["--param", "x=1", "--param", "x=2"], "--param x is given twice"),
        (
            ["--param", "list_prise=0.0001"],
            "--param list_prise: no policy declares it (params of default: ceiling, floor, "
            "market_factor, quiet_factor, quiet_share, spot_ceiling, spot_floor)",
        ),
        (["--policy", "default"], "--policy default: a policy named 'default' is given already"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--policy", "default", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_plot_svg_holds_each_series_over_the_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "earnings.svg"
    args = [*QUICK, "--policy", "default", "--policy", "idle-discount", "--plot", str(target)]
    assert main(args) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"plot: {target}")
    root = ET.parse(target).getroot()
    # 10 x 9 inches at 72 points an inch.
    assert (root.get("width"), root.get("height")) == ("720pt", "648pt")
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    spans = {}
    for name in ("default", "idle-discount", "best-static"):
        for kind in ("price", "occupancy", "net"):
            path = next(groups[f"{kind}-{name}"].iter(f"{SVG}path"))
            xs = [float(x) for x in re.findall(r"[ML] ?(-?[\d.]+)", path.get("d", ""))]
            spans[kind, name] = max(xs) - min(xs)
    # Each series runs over the whole 3 days, as wide as the widest.
    widest = max(spans.values())
    assert widest > 500  # most of the 720 pt figure
    assert all(span > 0.99 * widest for span in spans.values()), spans
    assert "cost-floor" in groups


def test_plot_png_has_its_size(tmp_path: Path) -> None:
    target = tmp_path / "earnings.png"
    assert main([*QUICK, "--policy", "default", "--plot", str(target)]) == 0
    head = target.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    assert struct.unpack(">II", head[16:24]) == (1000, 900)  # 10 x 9 inches at 100 dpi


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    target = tmp_path / "earnings.svg"
    assert main([*QUICK, "--policy", "default", "--plot", str(target)]) == 2
    assert capsys.readouterr().err == (
        "clore-host: --plot needs matplotlib, which is not installed: "
        "install it with: pip install 'clore-host[plot]'\n"
    )
    assert not target.exists()


def _figures(out: str) -> list[dict[str, object]]:
    doc = json.loads(out)
    return [p for market in doc["markets"] for p in market["policies"]]


def test_a_param_evaluates_a_policy_at_another_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --param applies as the config's [policy] params do: the same figures as a copy of the
    # file with the value written in, and other figures than the file as shipped.
    shipped = (shipped_dir("policies") / "default.toml").read_text()
    assert "\nmarket_factor = 0.9 " in shipped
    copy = tmp_path / "default.toml"
    copy.write_text(shipped.replace("\nmarket_factor = 0.9 ", "\nmarket_factor = 0.8 "))
    runs = []
    for args in (
        ["--policy", "default", "--param", "market_factor=0.8"],
        ["--policy", str(copy)],
        ["--policy", "default"],
    ):
        assert main([*QUICK, *args, "--json"]) == 0
        runs.append(_figures(capsys.readouterr().out))
    assert runs[0] == runs[1] != runs[2]


def test_a_param_reaches_only_the_policies_that_declare_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--policy", "default", "--policy", "health-guard", "--param", "quiet_factor=0.7"]
    assert main([*QUICK, *args, "--json"]) == 0
    assert [p["name"] for p in _figures(capsys.readouterr().out)] == ["default", "health-guard"]


def test_a_param_out_of_its_policys_bounds_is_located(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--policy", "idle-discount", "--param", "list_price=0.001"]
    assert main([*QUICK, *args]) == 2
    err = capsys.readouterr().err
    assert "idle-discount.toml" in err and "rule[0].then.on_demand.set" in err


def test_a_label_names_a_policy(capsys: pytest.CaptureFixture[str]) -> None:
    # The old default has the stem "default" too; labelled, it leaves the stem to the other.
    old = f"default (old)={Path(__file__).parent / 'old_policies' / 'default.toml'}"
    new = str(shipped_dir("policies") / "default.toml")
    assert main([*QUICK, "--policy", new, "--policy", old, "--json"]) == 0
    assert [p["name"] for p in _figures(capsys.readouterr().out)] == ["default", "default (old)"]
