"""Fuzzing the input files the agent parses: config, policy and scenario files, as random
text, random bytes and random structured documents. Nothing may escape but InputFileError,
and every problem it reports has a message and names the file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_host.config import load_config, load_policy
from clore_host.issues import InputFileError
from clore_host.policy import parse_policy
from clore_host.testing import load_scenario

from .toml_text import DURATIONS, NUMBERS, RAW, TEXT, VALUES, WORDS, render, table

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_load(
    load: Callable[[Path], Any], path: Path, data: bytes, *, located: bool = False
) -> None:
    """Load `data` from `path`: a result, or InputFileError with readable issues that name
    the file; with `located` (well-formed TOML), every issue also says where in the file."""
    path.write_bytes(data)
    try:
        load(path)
    except InputFileError as exc:
        check_error(exc, str(path), located=located)


def check_error(exc: InputFileError, file: str, *, located: bool) -> None:
    assert exc.issues, "an error with no issue"
    for issue in exc.issues:
        assert issue.message.strip(), f"empty message at {issue.location!r}"
        assert issue.location or not located, f"no location for {issue.message!r}"
    assert file in exc.render()
    # One line each, whatever the file held: no control character reaches the terminal.
    assert exc.line().isprintable(), exc.line()
    for line in exc.render().splitlines():
        assert line.isprintable(), line


# -- config -------------------------------------------------------------------------------

CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.one_of(st.sampled_from(["UTC", "Europe/Prague", "Mars/Olympus"]), WORDS),
        "server": table(["name", "currency", "currencies", "reference_currency", "expected_gpus"]),
        "api": table(["base_url", "token_file", "timeout", "retries", "allow_insecure"]),
        "gpu": table(["backend", "scenario", "call_timeout", "zero_gpus_grace"]),
        "policy": table(["path", "params"]),
        "state": table(["dir"]),
        "history": table(["raw_retention", "rollup_retention"], DURATIONS),
        "market": table(["interval", "max_age", "match", "min_peers"]),
        "costs": table(["electricity", "tariff", "fixed", "overhead_w", "power", "horizon"]),
        "fees": table(["on_demand", "spot", "surcharge"]),
        "fx": table(["bitcoin_usd", "as_of", "max_age", "plausible", "max_move"]),
        "agent": table(
            ["sample_interval", "reconcile_interval", "jitter", "backoff"],
            st.one_of(DURATIONS, NUMBERS),
        ),
        "metrics": table(["listen"]),
        "webhook": table(["url", "timeout"]),
    },
)


@FUZZ
@given(doc=CONFIG)
def test_config_documents(workdir: Path, doc: dict[str, Any]) -> None:
    check_load(load_config, workdir / "config.toml", render(doc).encode(), located=True)


@FUZZ
@given(text=st.one_of(TEXT.map(str.encode), RAW))
def test_config_text(workdir: Path, text: bytes) -> None:
    check_load(load_config, workdir / "config.toml", text)


# Values a careless or hostile file holds: integers of hundreds or thousands of digits (past
# Python's 4300-digit limit the TOML reader itself fails), strings with control characters,
# URLs and addresses almost right.
CONFIG_KEYS = {
    "server": ["name", "expected_gpus", "currencies", "reference_currency"],
    "api": ["base_url", "token_file", "timeout", "retries", "allow_insecure"],
    "gpu": ["scenario", "call_timeout", "zero_gpus_grace"],
    "policy": ["path"],
    "state": ["dir"],
    "history": ["raw_retention", "rollup_retention"],
    "agent": ["sample_interval", "reconcile_interval", "jitter", "backoff"],
    "metrics": ["listen"],
    "webhook": ["url", "timeout"],
    "market": ["interval", "max_age", "min_peers"],
    "costs": ["overhead_w", "power_window", "horizon", "psu_efficiency"],
    "fees": ["on_demand", "spot"],
    "fx": ["bitcoin_usd", "max_age", "max_move"],
}
HOSTILE = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 400).map(lambda n: "-" + "9" * n),
    st.sampled_from(["1e400", "-0.0", "0", "0.0", "true", "[]", "{}", "1979-05-27", '""']),
    st.text(st.characters(max_codepoint=0x10FF), max_size=12).map(
        lambda t: json.dumps(t, ensure_ascii=True)  # escapes that TOML reads back as controls
    ),
    st.sampled_from(
        [
            '"http://api.clore.ai/v1"',
            '"http://127.0.0.1/v1"',
            '"https://[::1"',
            '"ftp://x"',
            '"127.0.0.1:99999"',
            '"[::1]:1"',
            '"\\u0000"',
        ]
    ),
)


@settings(FUZZ, max_examples=300)
@given(
    values=st.lists(
        st.tuples(st.sampled_from(sorted(CONFIG_KEYS)), st.integers(0, 4), HOSTILE), max_size=4
    )
)
def test_config_hostile_values(workdir: Path, values: list[tuple[str, int, str]]) -> None:
    sections: dict[str, dict[str, str]] = {"server": {"name": '"rig"'}}
    for section, index, text in values:
        names = CONFIG_KEYS[section]
        sections.setdefault(section, {})[names[index % len(names)]] = text
    lines = []
    for section, table_ in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {text}" for key, text in table_.items()]
    check_load(load_config, workdir / "config.toml", ("\n".join(lines) + "\n").encode())


# -- policy -------------------------------------------------------------------------------

BOUNDS = table(["floor", "ceiling"], NUMBERS)
RAILS = table(
    ["on_demand", "spot", "max_step", "min_interval", "deadband", "availability_hold", "mrl"],
    st.one_of(BOUNDS, NUMBERS, DURATIONS, st.sampled_from(["10%", "150%", "-5%", "x%"])),
)
FACT_NAMES = st.sampled_from(
    ["rented", "rental_status", "idle_for", "hour", "weekday", "gpu_lost", "overheating", "nope"]
)
LEAF = st.one_of(
    st.fixed_dictionaries(
        {"fact": FACT_NAMES},
        optional={"op": st.sampled_from(["==", ">=", "in", "between", "~"]), "value": VALUES},
    ),
    st.fixed_dictionaries(
        {"metric": st.sampled_from(["temperature", "utilization", "nope"])},
        optional={
            "window": DURATIONS,
            "agg": st.sampled_from(["avg", "max", "p95", "median"]),
            "gpus": st.sampled_from(["all", "any", "some"]),
            "op": st.sampled_from(["<", ">=", "=="]),
            "value": VALUES,
        },
    ),
    VALUES,
)
WHEN = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=4,
)
ACTION = table(["set", "scale", "step", "relative_to", "factor"], st.one_of(NUMBERS, WORDS))
THEN = table(["on_demand", "spot", "availability", "mrl"], st.one_of(ACTION, VALUES))
RULE = st.fixed_dictionaries(
    {},
    optional={
        "name": WORDS,
        "when": WHEN,
        "then": THEN,
        "stop": VALUES,
        "even_if_rented": st.booleans(),
        "bogus": VALUES,
    },
)
POLICY = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just(1), NUMBERS),
        "idle_threshold": NUMBERS,
        "overheat_c": NUMBERS,
        "rails": RAILS,
        "rule": st.one_of(st.lists(RULE, max_size=4), VALUES),
    },
)


@FUZZ
@given(doc=POLICY)
def test_policy_documents(doc: dict[str, Any]) -> None:
    try:
        parse_policy(doc, "fuzzed.toml")
    except InputFileError as exc:
        check_error(exc, "fuzzed.toml", located=True)


@FUZZ
@given(text=st.one_of(TEXT.map(str.encode), RAW, POLICY.map(lambda d: render(d).encode())))
def test_policy_files(workdir: Path, text: bytes) -> None:
    check_load(load_policy, workdir / "policy.toml", text)


# -- scenario -----------------------------------------------------------------------------

TRACE = st.one_of(
    NUMBERS,
    table(["constant", "steps", "ramp", "noise", "jitter"], st.one_of(NUMBERS, VALUES)),
    st.fixed_dictionaries({"steps": st.lists(st.tuples(DURATIONS, NUMBERS).map(list), max_size=3)}),
    st.fixed_dictionaries(
        {"ramp": table(["from", "to", "start", "end"], st.one_of(NUMBERS, DURATIONS))}
    ),
)
GPU_KEYS = ["name", "uuid", "memory_total", "fans", "utilization", "temperature", "power"]
GPU = table(
    [*GPU_KEYS, "pstate", "throttle", "ecc_uncorrected", "pages_pending", "fan"],
    st.one_of(TRACE, VALUES, st.just(["sw_thermal"]), st.just([[0, 2], ["1h", 8]])),
)
FAULT = table(
    ["kind", "at", "until", "gpu", "metric"],
    st.one_of(
        st.sampled_from(
            ["gpu_lost", "hang", "library_not_found", "metric_not_supported", "temperature", "x"]
        ),
        DURATIONS,
        st.integers(-1, 3),
        VALUES,
    ),
)
SCENARIO = st.fixed_dictionaries(
    {},
    optional={
        "driver_version": WORDS,
        "seed": NUMBERS,
        "defaults": GPU,
        "gpu": st.one_of(st.lists(GPU, max_size=3), VALUES),
        "fault": st.one_of(st.lists(FAULT, max_size=3), VALUES),
    },
)


@FUZZ
@given(doc=SCENARIO)
def test_scenario_documents(workdir: Path, doc: dict[str, Any]) -> None:
    check_load(load_scenario, workdir / "scenario.toml", render(doc).encode(), located=True)


@FUZZ
@given(text=st.one_of(TEXT.map(str.encode), RAW))
def test_scenario_text(workdir: Path, text: bytes) -> None:
    check_load(load_scenario, workdir / "scenario.toml", text)
