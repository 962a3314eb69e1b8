"""The daemon's Prometheus endpoint, scraped over loopback while it runs."""

from __future__ import annotations

import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..rig import SERVER, Rig
from .standin import Systemd, start_daemon, stop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_scrape_matches_the_fake_gpus_and_the_emulator(rig: Rig, systemd: Systemd) -> None:
    port = free_port()
    rig.write_config(
        agent={"sample_interval": 0.2, "reconcile_interval": 3, "jitter": 0},
        metrics={"listen": f"127.0.0.1:{port}"},
    )
    proc = start_daemon(rig, systemd)
    try:
        systemd.wait_for(lambda m: "READY=1" in m)
        systemd.wait_for(lambda m: "STATUS=healthy; last reconcile: changed" in m)
        values = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop(proc)

    def one(name: str, **labels: str) -> float:
        matches = [
            v for (n, ls), v in values.items() if n == name and set(labels.items()) <= set(ls)
        ]
        assert len(matches) == 1, (name, labels, matches)
        return matches[0]

    server = rig.emulator.server(SERVER)
    # The idle scenario: one GPU at 1 % utilisation, 35 C, 20 W.
    assert one("clore_host_gpu_temperature_celsius", gpu="0") == 35
    assert one("clore_host_gpu_power_watts", gpu="0") == 20
    assert one("clore_host_gpu_utilization_ratio", gpu="0") == 0.01
    assert one("clore_host_gpu_healthy", gpu="0") == 1
    # The settings the emulator now holds, which the daemon wrote.
    assert one("clore_host_on_demand_price") == server["pricing"]["bitcoin"] == 0.00011
    assert one("clore_host_spot_min_price") == server["spot_pricing"]["bitcoin"]
    assert one("clore_host_available") == 1
    assert one("clore_host_mrl_seconds") == server["mrl"] * 3600
    assert one("clore_host_rental_status", status="not_rented") == 1
    assert one("clore_host_rule_changes_applied_total", rule="test raise") == 1
    writes = len(rig.emulator.requests.for_endpoint("set_server_settings"))
    assert one("clore_host_api_requests_total", endpoint="set_server_settings", code="0") == writes
    assert one("clore_host_degraded") == 0
