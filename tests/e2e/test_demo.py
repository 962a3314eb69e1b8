"""`clore-host demo` (what `make demo` runs): a simulated day that shows the policy at work."""

from __future__ import annotations

import subprocess
import sys

from clore_host.testing.demo import run_demo


def test_demo_shows_the_market_price_and_the_health_guard() -> None:
    # Its speed (under 30 s) is measured in bench/bench_demo.py, not asserted here.
    result = subprocess.run(
        [sys.executable, "-m", "clore_host", "demo"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout

    def first(text: str) -> int:
        assert text in out, text
        return out.index(text)

    # In the order the day brings them: toward the market while idle (the seeded market's
    # median, few peers rented), off the market while the GPU overheats, back on once cool.
    assert (
        first('rule "market price" (not rented, market on-demand p50 0.00008925)')
        < first('rule "quiet market" (not rented, market rented share 0.3693')
        < first('availability true -> false: rule "overheating"')
        < first('availability false -> true: rule "back on the market"')
    )
    assert "clamped by max step 10%" in out


def test_demo_timeline_settings_follow_the_default_policy() -> None:
    lines: list[str] = []
    entries = run_demo(lines.append)
    by_hour = {round(e.at / 3600, 1): e.result.plan.target for e in entries}
    assert by_hour[0.0].on_demand == 0.00009  # one max step toward 0.8 x the median
    # Three steps down (an hour apart), then within the deadband of 0.8 x 0.00008925.
    assert by_hour[9.0].on_demand == 0.0000729
    assert by_hour[14.0].on_demand == 0.0000729  # a running rental's price is left alone
    assert by_hour[19.0].availability is False  # delisted while overheating, not rented
    assert by_hour[21.0].availability is True  # back once cool for 30 minutes
    changed = [e for e in entries if e.result.outcome == "changed"]
    assert all(e.result.plan.reasons() for e in changed)  # every change says why
    assert sum(1 for line in lines if "CHANGED" in line) == len(changed)


def test_demo_refuses_an_unknown_policy_and_impossible_hours() -> None:
    for args in (["--policy", "nosuch"], ["--hours", "-1"], ["--hours", "nan"]):
        result = subprocess.run(
            [sys.executable, "-m", "clore_host", "demo", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
