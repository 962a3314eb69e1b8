"""The soak's checks catch what they look for: a crafted request log and history, with one
violation of each kind, and one clean change that must not be flagged. Junk windows and the
availability hold (issue 14's faults) are among them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from clore_host.config import load_policy
from clore_host.config.paths import shipped_dir
from clore_host.facts import Settings
from clore_host.history import ChangeRecord
from clore_host.testing.emulator import Emulator, RequestRecord, default_state
from clore_host.testing.rig import SERVER

from .harness import Checks, Soak, SoakConfig, _LogWatch


def body(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": SERVER,
        "availability": True,
        "mrl": 72,
        "on_demand": 0.0001,
        "spot": 0.00005,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def test_each_check_flags_its_violation(tmp_path: Path) -> None:
    soak = Soak(tmp_path, SoakConfig(days=1))
    soak.policy_timeline = [(0.0, load_policy(shipped_dir("policies") / "default.toml"))]
    soak.rental_timeline = [(0.0, 0), (5000.0, 2)]
    t0 = soak.t0
    clean = Settings(0.000095, 0.0000475, True, 72)
    soak.audit.keep(
        0,
        [
            ChangeRecord(
                1,
                t0 + 99,
                SERVER,
                Settings(0.0001, 0.00005, True, 72),
                clean,
                ("why",),
                "applied",
                t0 + 100,
            ),
            ChangeRecord(
                2,
                t0 + 6050,
                SERVER,
                Settings(0.00009, 0.00005, False, 72),
                Settings(0.00009, 0.00005, True, 72),
                ('availability false -> true: rule "back on the market" (always)',),
                "applied",
                t0 + 6060,
            ),
        ],
    )
    soak.junk_windows = [(150.0, 170.0)]  # server_config answered junk meanwhile
    log = [
        (0.0, "server_config", None, 0),
        # A clean change, recorded in history: nothing to flag.
        (100.0, "set_server_settings", body(on_demand=0.000095, spot=0.0000475), 0),
        # 60 s later another price change: inside the 30 min interval, not in history.
        (160.0, "set_server_settings", body(on_demand=0.00009, spot=0.0000475), 0),
        # Half a second later: too soon; above the ceiling and far beyond the 10% step.
        (160.5, "set_server_settings", body(on_demand=0.0005), 2),
        (200.0, "set_server_settings", body(spot=None), 0),  # a field missing
        (6000.0, "set_server_settings", body(on_demand=0.00009, availability=False), 0),
        # Listed again 100 s after it was taken off: inside the 30 min availability hold.
        (6100.0, "set_server_settings", body(on_demand=0.00009), 0),
    ]
    emulator = Emulator(default_state(), clock=soak.clock)  # never started: a log only
    for at, endpoint, sent, code in log:
        emulator.requests.append(
            RequestRecord(t0 + at, endpoint, "POST", {}, sent, code, 200, None)
        )
    watch = _LogWatch(soak.token)
    watch.emit(logging.LogRecord("x", logging.DEBUG, "f", 1, "auth %s", (soak.token,), None))
    soak.health_log = [(0.0, None), (10.0, "API unavailable"), (9000.0, None)]

    Checks(soak, emulator, watch).run()

    found = {name: items for name, items in soak.report.violations.items() if items}
    assert set(found) == {
        "min interval between price changes",
        "request spacing >= 1 s",
        "price within rails",
        "step within max step",
        "all five fields, right types",
        "applied change recorded with reasons",
        "off during a rental only by a health rule",
        "token in no log line",
        "recovers after faults",
        "availability hold between switches",
        "no write while the API serves junk",
    }, found
    assert len(found["applied change recorded with reasons"]) == 2  # the clean one matched
    assert soak.token not in "".join(found["token in no log line"])
    assert len(found["no write while the API serves junk"]) == 2  # at +160 and +160.5 s
    assert len(found["availability hold between switches"]) == 1  # not the first switch
    assert soak.report.changes == 2
