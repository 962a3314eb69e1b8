"""AgentMetrics, scraped over loopback and parsed with prometheus-client's own parser."""

from __future__ import annotations

import shutil
import socket
import subprocess

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from clore_host.facts import Settings, Unknown
from clore_host.gpu import GpuReading, GpuSnapshot
from clore_host.outputs.metrics import KNOWN_THROTTLE_REASONS, AgentMetrics, parse_listen
from clore_host.policy import Policy, parse_policy
from clore_host.testing import FakeClock

from .conftest import COST_FACTS, cycle_result, make_facts

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=5.0)
    assert response.status_code == 200
    return response.text


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def series(found: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for n, labels in found if n == name]


def gpu(reading: GpuReading) -> dict[str, str]:
    return {"gpu": str(reading.index), "uuid": reading.uuid or ""}


def test_scrape_matches_the_fake_gpus(served, snapshot: GpuSnapshot) -> None:
    metrics, server = served
    metrics.observe_snapshot(snapshot)
    found = samples(scrape(server.url))

    assert value(found, "clore_host_gpus") == 3
    assert value(found, "clore_host_gpu_snapshot_timestamp_seconds") == snapshot.taken_at
    busy, cool, lost = snapshot.gpus
    assert busy.uuid and cool.uuid and busy.uuid != cool.uuid
    # The scenario's constants, in base units.
    assert value(found, "clore_host_gpu_utilization_ratio", **gpu(busy)) == pytest.approx(0.97)
    assert value(found, "clore_host_gpu_memory_utilization_ratio", **gpu(busy)) == pytest.approx(
        0.70
    )
    assert value(found, "clore_host_gpu_temperature_celsius", **gpu(busy)) == 72
    assert value(found, "clore_host_gpu_temperature_celsius", **gpu(cool)) == 64
    assert value(found, "clore_host_gpu_power_watts", **gpu(busy)) == 335
    assert value(found, "clore_host_gpu_power_limit_watts", **gpu(busy)) == 350
    assert value(found, "clore_host_gpu_memory_used_bytes", **gpu(busy)) == 21500 * 2**20
    assert value(found, "clore_host_gpu_memory_total_bytes", **gpu(busy)) == 24576 * 2**20
    assert value(found, "clore_host_gpu_fan_speed_ratio", **gpu(busy)) == pytest.approx(0.72)
    assert value(found, "clore_host_gpu_sm_clock_hertz", **gpu(busy)) == 1860e6
    assert value(found, "clore_host_gpu_memory_clock_hertz", **gpu(busy)) == 9751e6
    assert value(found, "clore_host_gpu_ecc_uncorrected_errors", **gpu(busy)) == 0
    assert value(found, "clore_host_gpu_memory_pages_pending", **gpu(busy)) == 0
    # Every reading of every live GPU is exported as the backend read it.
    for reading in (busy, cool):
        assert value(found, "clore_host_gpu_power_watts", **gpu(reading)) == reading.power
        assert value(found, "clore_host_gpu_utilization_ratio", **gpu(reading)) == pytest.approx(
            (reading.utilization or 0) / 100
        )

    # Health: 1 for the live cards, 0 for the lost one, with the event text.
    assert value(found, "clore_host_gpu_healthy", **gpu(busy)) == 1
    assert value(found, "clore_host_gpu_healthy", **gpu(lost)) == 0
    assert series(found, "clore_host_gpu_error_info") == [{**gpu(lost), "error": "GPU is lost"}]
    # Unknown is absent, never 0: the unsupported metric and everything of the lost GPU.
    assert {"gpu": "1", "uuid": cool.uuid} not in series(
        found, "clore_host_gpu_memory_utilization_ratio"
    )
    lost_labels = gpu(lost)
    for name, labels in found:
        if name not in ("clore_host_gpu_healthy", "clore_host_gpu_error_info"):
            assert not lost_labels.items() <= dict(labels).items(), name

    # Throttle flags: every known reason 0/1.
    assert value(found, "clore_host_gpu_throttled", **gpu(busy), reason="sw_power_cap") == 1
    assert value(found, "clore_host_gpu_throttled", **gpu(cool), reason="sw_power_cap") == 0
    reasons = {s["reason"] for s in series(found, "clore_host_gpu_throttled") if s["gpu"] == "0"}
    assert reasons == set(KNOWN_THROTTLE_REASONS)


def test_a_gpu_that_disappears_or_stops_reporting_leaves_the_scrape(served) -> None:
    metrics, server = served
    first = GpuSnapshot(
        1.0,
        None,
        (
            GpuReading(index=0, uuid="GPU-a", temperature=50.0, throttle=frozenset({"new_one"})),
            GpuReading(index=1, uuid="GPU-b", temperature=60.0),
        ),
    )
    metrics.observe_snapshot(first)
    found = samples(scrape(server.url))
    assert len(series(found, "clore_host_gpu_temperature_celsius")) == 2
    # A reason the agent has no name for is still shown while active.
    assert value(found, "clore_host_gpu_throttled", gpu="0", uuid="GPU-a", reason="new_one") == 1

    metrics.observe_snapshot(GpuSnapshot(2.0, None, (GpuReading(index=0, uuid="GPU-a"),)))
    found = samples(scrape(server.url))
    assert series(found, "clore_host_gpu_temperature_celsius") == []
    assert {s["uuid"] for s in series(found, "clore_host_gpu_healthy")} == {"GPU-a"}
    assert value(found, "clore_host_gpu_snapshot_timestamp_seconds") == 2.0


def test_a_lost_gpu_keeps_the_uuid_it_had(served) -> None:
    metrics, server = served
    healthy = GpuReading(index=0, uuid="GPU-a", temperature=50.0)
    metrics.observe_snapshot(GpuSnapshot(1.0, None, (healthy,)))
    assert value(samples(scrape(server.url)), "clore_host_gpu_healthy", gpu="0", uuid="GPU-a") == 1
    lost = GpuReading(index=0, lost=True, error="GPU is lost")
    metrics.observe_snapshot(GpuSnapshot(2.0, None, (lost,)))
    found = samples(scrape(server.url))
    assert series(found, "clore_host_gpu_healthy") == [{"gpu": "0", "uuid": "GPU-a"}]
    assert value(found, "clore_host_gpu_healthy", gpu="0", uuid="GPU-a") == 0
    assert series(found, "clore_host_gpu_temperature_celsius") == []


def test_nothing_about_the_server_before_the_first_cycle(served) -> None:
    _, server = served
    found = samples(scrape(server.url))
    names = {name for name, _ in found}
    assert "clore_host_on_demand_price" not in names
    assert "clore_host_gpu_healthy" not in names
    assert "clore_host_last_reconcile_timestamp_seconds" not in names
    assert value(found, "clore_host_degraded") == 0


def test_a_changed_cycle_exports_the_target_and_counts_its_rules(
    served, policy: Policy, clock: FakeClock
) -> None:
    metrics, server = served
    result = cycle_result(policy, make_facts(clock))
    assert result.outcome == "changed"  # the idle discount lowered the prices
    target = result.plan.target
    assert target.on_demand < result.plan.current.on_demand
    metrics.observe_cycle(result)
    found = samples(scrape(server.url))

    assert value(found, "clore_host_on_demand_price", currency="bitcoin") == target.on_demand
    assert value(found, "clore_host_spot_min_price", currency="bitcoin") == target.spot
    assert value(found, "clore_host_available") == 1
    assert value(found, "clore_host_mrl_seconds") == target.mrl * 3600
    assert value(found, "clore_host_last_reconcile_timestamp_seconds") == clock.now()
    assert value(found, "clore_host_rental_status", status="not_rented") == 1
    assert value(found, "clore_host_rental_status", status="spot") == 0
    assert value(found, "clore_host_rental_status", status="on_demand") == 0
    assert value(found, "clore_host_reconciles_total", outcome="changed") == 1
    assert value(found, "clore_host_rule_decisions_total", rule="idle discount") == 1
    assert value(found, "clore_host_rule_changes_applied_total", rule="idle discount") == 1


def test_an_unchanged_cycle_exports_the_current_settings(
    served, policy: Policy, clock: FakeClock
) -> None:
    metrics, server = served
    current = Settings(on_demand=0.00015, spot=0.00005, availability=False, mrl=24)
    # Rented on spot: the "rented" rule moves the price, but a dry run applies nothing.
    facts = make_facts(clock, rental_status="spot", idle_for=0.0, current=current)
    dry = cycle_result(policy, facts, outcome="dry_run")
    assert dry.plan.target != current
    metrics.observe_cycle(dry)
    clock.advance(300)
    metrics.observe_cycle(dry)
    found = samples(scrape(server.url))

    assert value(found, "clore_host_on_demand_price", currency="bitcoin") == current.on_demand
    assert value(found, "clore_host_spot_min_price", currency="bitcoin") == current.spot
    assert value(found, "clore_host_available") == 0
    assert value(found, "clore_host_mrl_seconds") == 24 * 3600
    assert value(found, "clore_host_rental_status", status="spot") == 1
    assert value(found, "clore_host_reconciles_total", outcome="dry_run") == 2
    decided = series(found, "clore_host_rule_decisions_total")
    assert decided and all(
        value(found, "clore_host_rule_decisions_total", **d) == 2 for d in decided
    )
    assert series(found, "clore_host_rule_changes_applied_total") == []


def test_the_cost_floor_power_and_rates_are_gauges(
    served, policy: Policy, clock: FakeClock
) -> None:
    metrics, server = served
    metrics.observe_cycle(cycle_result(policy, make_facts(clock, observed=COST_FACTS)))
    found = samples(scrape(server.url))
    floor = "clore_host_cost_floor_price"
    assert value(found, floor, kind="on_demand", currency="bitcoin") == 0.00009937
    assert value(found, floor, kind="spot", currency="bitcoin") == 0.00009492
    assert value(found, "clore_host_cost_per_day_price", currency="bitcoin") == 0.0000795
    assert value(found, "clore_host_cost_power_watts") == 1950
    assert value(found, "clore_host_electricity_price_per_kwh") == 0.14
    assert value(found, "clore_host_exchange_rate_usd", currency="bitcoin") == 95000
    # An unknown rate is absent, never 0, and says why.
    assert series(found, "clore_host_exchange_rate_usd") == [{"currency": "bitcoin"}]
    unknown = "clore_host_cost_fact_unknown"
    assert series(found, unknown) == [{"fact": "fx.eur_usd", "reason": "rate_unknown"}]

    # The next cycle cannot compute the floors: they leave the scrape, with the reason.
    why = Unknown("rate_rejected", ("bitcoin", "0", "not a positive number"))
    facts = {
        **COST_FACTS,
        "cost.floor.on_demand": why,
        "cost.floor.spot": why,
        "fx.bitcoin_usd": why,
    }
    metrics.observe_cycle(cycle_result(policy, make_facts(clock, observed=facts)))
    found = samples(scrape(server.url))
    assert series(found, floor) == [] and series(found, "clore_host_exchange_rate_usd") == []
    assert {(s["fact"], s["reason"]) for s in series(found, unknown)} == {
        ("cost.floor.on_demand", "rate_rejected"),
        ("cost.floor.spot", "rate_rejected"),
        ("fx.bitcoin_usd", "rate_rejected"),
        ("fx.eur_usd", "rate_unknown"),
    }
    # A cycle without the costs room (not wired, not configured) exports none of them.
    metrics.observe_cycle(cycle_result(policy, make_facts(clock)))
    found = samples(scrape(server.url))
    for name in (floor, "clore_host_cost_power_watts", unknown, "clore_host_exchange_rate_usd"):
        assert series(found, name) == []


def test_api_requests_info_and_degraded(served) -> None:
    metrics, server = served
    for outcome in ("0", "0", "http_429", "timeout"):
        metrics.on_api_response("server_config", outcome)
    metrics.on_api_response("set_server_settings", "0")
    metrics.set_info("0.1.0", "abc123def456")
    metrics.set_degraded(True)
    found = samples(scrape(server.url))

    requests = "clore_host_api_requests_total"
    assert value(found, requests, endpoint="server_config", code="0") == 2
    assert value(found, requests, endpoint="server_config", code="http_429") == 1
    assert value(found, requests, endpoint="server_config", code="timeout") == 1
    assert value(found, requests, endpoint="set_server_settings", code="0") == 1
    assert value(found, "clore_host_agent_info", version="0.1.0", policy_digest="abc123def456") == 1
    assert value(found, "clore_host_degraded") == 1
    metrics.set_degraded(False)
    assert value(samples(scrape(server.url)), "clore_host_degraded") == 0


def test_instances_do_not_share_series() -> None:
    one, two = AgentMetrics(), AgentMetrics()
    one.on_api_response("server_config", "0")
    assert one.registry is not two.registry
    assert (
        two.registry.get_sample_value(
            "clore_host_api_requests_total", {"endpoint": "server_config", "code": "0"}
        )
        is None
    )
    shared = CollectorRegistry()
    assert AgentMetrics(shared).registry is shared


# Rule names the old regular expression over the plan's words got wrong (`say "hi" now`
# was counted as `say `): quotes, parentheses, non-ASCII letters, a quote right after a space.
ODD_NAMES = ('say "hi" (now)', "Ölpreis hoch", "a (b)", 'idle "discount"', "spät — 夜")


def test_rule_metrics_count_rule_names_as_written(clock: FakeClock) -> None:
    rules = [
        {"name": ODD_NAMES[0], "then": {"on_demand": {"scale": 0.95}}},
        {"name": ODD_NAMES[1], "then": {"spot": {"scale": 0.95}}},
        {"name": ODD_NAMES[2], "then": {"mrl": 48}},
        {"name": ODD_NAMES[3], "then": {"on_demand": {"scale": 0.98}, "mrl": 48}},
        {"name": ODD_NAMES[4], "then": {"availability": True}},  # acts, changes nothing
    ]
    rails = {
        "on_demand": {"floor": 0.0001, "ceiling": 0.001},
        "spot": {"floor": 0.00005, "ceiling": 0.0005},
    }
    policy = parse_policy({"version": 1, "rails": rails, "rule": rules})
    metrics = AgentMetrics()
    result = cycle_result(policy, make_facts(clock))
    assert result.outcome == "changed"
    metrics.observe_cycle(result)
    metrics.observe_cycle(result)

    def counted(metric: str) -> dict[str, float]:
        text = generate_latest(metrics.registry).decode()
        return {
            s.labels["rule"]: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == metric
        }

    assert counted("clore_host_rule_decisions_total") == dict.fromkeys(ODD_NAMES, 2.0)
    applied = dict.fromkeys(ODD_NAMES[:4], 2.0)
    assert counted("clore_host_rule_changes_applied_total") == applied


def test_serves_only_on_the_given_address(served) -> None:
    _, server = served
    assert server.host == "127.0.0.1" and server.port > 0
    # Bound to loopback only: the same port on another local address is refused.
    with socket.socket() as probe:
        probe.settimeout(1.0)
        assert probe.connect_ex(("127.0.0.2", server.port)) != 0


def test_close_stops_serving() -> None:
    server = AgentMetrics().serve("127.0.0.1:0")
    url = server.url
    server.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=1.0)


def test_a_port_in_use_is_a_clear_error(served) -> None:
    _, server = served
    with pytest.raises(OSError, match=rf"cannot serve metrics on 127\.0\.0\.1:{server.port}"):
        AgentMetrics().serve(f"127.0.0.1:{server.port}")


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [
        ("127.0.0.1:9876", ("127.0.0.1", 9876)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen(listen: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize(
    "listen", ["9876", ":9876", "127.0.0.1", "127.0.0.1:x", "::1:9876", "h:70000", ""]
)
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ValueError, match='not "host:port"'):
        parse_listen(listen)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_passes(served, snapshot, policy: Policy, clock: FakeClock) -> None:
    metrics, server = served
    metrics.observe_snapshot(snapshot)
    metrics.observe_cycle(cycle_result(policy, make_facts(clock, observed=COST_FACTS)))
    metrics.on_api_response("server_config", "0")
    metrics.set_info("0.1.0", "abc123def456")
    text = scrape(server.url)
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
