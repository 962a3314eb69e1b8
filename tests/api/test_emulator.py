"""The emulator's own rules, probed with raw HTTP (no client limiter in the way)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clore_host.testing import FakeClock
from clore_host.testing.emulator import Emulator, default_state, load_state

from .conftest import OTHER_SECRET, SECRET, make_state

VALID: dict[str, Any] = {
    "name": "demo-rig",
    "availability": True,
    "mrl": 96,
    "on_demand": 0.0002,
    "spot": 0.0001,
}


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    # Plain HTTP on loopback: verify=False only skips loading the CA bundle (slow).
    with httpx.Client(
        base_url=emulator.url + "/", headers={"auth": SECRET}, verify=False
    ) as client:
        yield client


def _code(response: httpx.Response) -> int:
    assert response.status_code == 200
    code = response.json()["code"]
    assert isinstance(code, int)
    return code


def test_tokens(emulator: Emulator, clock: FakeClock) -> None:
    with httpx.Client(base_url=emulator.url + "/", verify=False) as raw:
        assert _code(raw.get("wallets")) == 3
        clock.advance(1)
        assert _code(raw.get("wallets", headers={"auth": OTHER_SECRET})) == 3
        clock.advance(1)
        assert _code(raw.get("wallets", headers={"authorization": SECRET})) == 3
        clock.advance(1)
        assert _code(raw.get("wallets", headers={"auth": SECRET})) == 0


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "nope"), ("GET", "../v2/wallets"), ("POST", "wallets")]
)
def test_unknown_endpoint_or_method(http: httpx.Client, method: str, path: str) -> None:
    assert _code(http.request(method, path)) == 4


def test_one_request_per_second_per_token(
    http: httpx.Client, emulator: Emulator, clock: FakeClock
) -> None:
    assert _code(http.get("wallets")) == 0
    clock.advance(0.999)
    assert _code(http.get("wallets")) == 5
    clock.advance(1.0)
    assert _code(http.get("wallets")) == 0
    assert [r.code for r in emulator.requests] == [0, 5, 0]


def test_rate_limit_is_per_token(clock: FakeClock) -> None:
    state = make_state()
    state["tokens"].append(OTHER_SECRET)
    with (
        Emulator(state, clock=clock) as emu,
        httpx.Client(base_url=emu.url + "/", verify=False) as raw,
    ):
        assert _code(raw.get("wallets", headers={"auth": SECRET})) == 0
        assert _code(raw.get("wallets", headers={"auth": OTHER_SECRET})) == 0
        assert _code(raw.get("wallets", headers={"auth": SECRET})) == 5


def test_create_order_once_per_five_seconds(http: httpx.Client, clock: FakeClock) -> None:
    order = {"currency": "bitcoin", "image": "img", "renting_server": 6, "type": "on-demand"}
    assert _code(http.post("create_order", json=order)) == 0
    clock.advance(4)
    spot = {**order, "type": "spot", "spotprice": 0.000002}
    assert _code(http.post("create_order", json=spot)) == 5
    clock.advance(5)
    assert _code(http.post("create_order", json=spot)) == 0


BAD_SETTINGS: list[tuple[str, Any]] = [
    *[(f"missing {k}", {f: v for f, v in VALID.items() if f != k}) for k in VALID],
    ("bool price", {**VALID, "on_demand": True}),
    ("bool spot", {**VALID, "spot": False}),
    ("bool mrl", {**VALID, "mrl": True}),
    ("int availability", {**VALID, "availability": 1}),
    ("string price", {**VALID, "on_demand": "0.0002"}),
    ("float mrl", {**VALID, "mrl": 96.5}),
    ("negative price", {**VALID, "on_demand": -0.0002}),
    ("zero spot", {**VALID, "spot": 0}),
    ("zero mrl", {**VALID, "mrl": 0}),
    ("nan price", {**VALID, "on_demand": float("nan")}),
    ("unknown server", {**VALID, "name": "other-rig"}),
    ("list body", [VALID]),
]


@pytest.mark.parametrize(("case", "body"), BAD_SETTINGS, ids=[c for c, _ in BAD_SETTINGS])
def test_set_server_settings_rejects(
    http: httpx.Client, emulator: Emulator, case: str, body: Any
) -> None:
    before = emulator.server("demo-rig")
    response = http.post("set_server_settings", content=json.dumps(body))
    assert _code(response) == 2
    assert response.json()["error"]
    assert emulator.server("demo-rig") == before


def test_not_json_body(http: httpx.Client, emulator: Emulator) -> None:
    response = http.post("set_server_settings", content=b"{not json")
    assert _code(response) == 2
    assert emulator.requests[0].body is None


def test_set_server_settings_applies(http: httpx.Client, emulator: Emulator) -> None:
    assert _code(http.post("set_server_settings", json={**VALID, "availability": False})) == 0
    server = emulator.server("demo-rig")
    assert server["pricing"] == {"bitcoin": 0.0002, "usd": 0}
    assert server["spot_pricing"] == {"bitcoin": 0.0001, "usd": 0}
    assert (server["mrl"], server["visibility"], server["availability"]) == (96, "hidden", False)


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("server_config", {}),
        ("server_config", {"json": {"server_name": 1}}),
        ("spot_marketplace", {}),
        ("spot_marketplace", {"params": {"market": "x"}}),
        ("my_orders", {"params": {"return_completed": "maybe"}}),
    ],
)
def test_reads_reject_bad_input(http: httpx.Client, path: str, kwargs: dict[str, Any]) -> None:
    assert _code(http.request("GET", path, **kwargs)) == 2


def test_spot_price_rules_and_unknown_offer(http: httpx.Client, clock: FakeClock) -> None:
    answer = http.post("set_spot_price", json={"order_id": 39, "desired_price": 0.000002}).json()
    assert answer == {"code": 6, "error": "exceeded_max_step", "max_step": 0.0000032}
    clock.advance(1)
    assert _code(http.post("set_spot_price", json={"order_id": 39, "desired_price": 3.2e-6})) == 0
    clock.advance(87)
    answer = http.post("set_spot_price", json={"order_id": 39, "desired_price": 2.2e-6}).json()
    assert answer == {"code": 6, "error": "can_lower_every_600_seconds", "time_to_lowering": 513}
    clock.advance(1)
    assert _code(http.post("set_spot_price", json={"order_id": 7, "desired_price": 1e-6})) == 2


def test_faults_are_scoped_and_counted(http: httpx.Client, emulator: Emulator) -> None:
    emulator.faults.http_status(503, endpoint="marketplace", times=2)
    assert emulator.faults.pending() == 2
    assert http.get("wallets").status_code == 200  # another endpoint is untouched
    assert http.get("marketplace").status_code == 503
    assert http.get("marketplace").status_code == 503
    assert emulator.faults.pending() == 0
    record = emulator.requests.for_endpoint("marketplace")[0]
    assert (record.status, record.code, record.fault) == (503, None, "http_status")


def test_hooks_validate(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="rental_status"):
        emulator.set_rental_status("demo-rig", 3)
    with pytest.raises(KeyError, match="ghost"):
        emulator.server("ghost")


def test_default_state_is_the_demo_account() -> None:
    state = default_state()
    (rig,) = state["servers"]
    assert state["tokens"] == ["demo-token"]
    assert (rig["name"], rig["id"], rig["mrl"], rig["visibility"]) == ("demo-rig", 1, 72, "public")
    assert (rig["pricing"]["bitcoin"], rig["spot_pricing"]["bitcoin"]) == (0.0001, 0.00005)
    assert rig["rental_status"] == 0
    assert rig["specs"]["gpu"].startswith("1x ")


def test_state_file_round_trip(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(make_state()))
    assert load_state(path) == make_state()
    with Emulator.from_file(path, clock=clock) as emu:
        assert emu.server("demo-rig")["id"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ("[]", "must be a JSON object"),
        ('{"servers": []}', "tokens must be a list"),
        ('{"tokens": ["t"], "servers": [{"name": "a"}]}', r"servers\[0\].id must be an integer"),
        (
            '{"tokens": ["t"], "servers": [{"name": "a", "id": 1}, {"name": "a", "id": 2}]}',
            "used twice",
        ),
        (
            '{"tokens": ["t"], "servers": [{"name": "a", "id": 1, "rental_status": 7}]}',
            "rental_status must be 0, 1 or 2",
        ),
    ],
)
def test_bad_state_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_state(path)
    assert str(path) in str(info.value)


def test_missing_state_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file not found"):
        load_state(tmp_path / "nope.json")
