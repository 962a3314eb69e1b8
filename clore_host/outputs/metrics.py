"""Prometheus metrics: GPUs, the server's settings, decisions, API calls, agent health.

`AgentMetrics` keeps its own registry (never the global one), so several agents or tests in
one process do not share series. GPU and settings series are rebuilt from the latest
snapshot and cycle at each scrape: a GPU that vanished or a metric a card stopped reporting
disappears instead of lingering, and nothing is exported as 0 for "unknown".
Units follow Prometheus conventions: ratios 0..1, bytes, seconds, watts, hertz, celsius.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric

from ..facts import RENTAL_STATUSES, Observed, Settings, Unknown
from ..gpu.base import THROTTLE_REASONS, GpuReading, GpuSnapshot

if TYPE_CHECKING:
    from ..agent import CycleResult

PREFIX = "clore_host_"
MIB = 1024 * 1024
MHZ = 1e6
# Every throttle reason is exported (0 or 1) so a graph shows when one starts and stops.
KNOWN_THROTTLE_REASONS: tuple[str, ...] = tuple(sorted(THROTTLE_REASONS))
_GPU_LABELS = ("gpu", "uuid")

# (metric name, help, how to read it from a GpuReading, scale to the base unit)
_GPU_GAUGES: tuple[tuple[str, str, str, float], ...] = (
    ("gpu_utilization_ratio", "GPU core utilisation (0..1).", "utilization", 0.01),
    (
        "gpu_memory_utilization_ratio",
        "GPU memory controller utilisation (0..1).",
        "memory_utilization",
        0.01,
    ),
    ("gpu_temperature_celsius", "GPU core temperature.", "temperature", 1.0),
    ("gpu_power_watts", "GPU power draw.", "power", 1.0),
    ("gpu_power_limit_watts", "GPU enforced power limit.", "power_limit", 1.0),
    ("gpu_memory_used_bytes", "GPU memory in use.", "memory_used", MIB),
    ("gpu_memory_total_bytes", "GPU memory installed.", "memory_total", MIB),
    ("gpu_sm_clock_hertz", "GPU SM clock.", "sm_clock", MHZ),
    ("gpu_memory_clock_hertz", "GPU memory clock.", "mem_clock", MHZ),
    (
        "gpu_ecc_uncorrected_errors",
        "Volatile uncorrected ECC errors since the last driver reload.",
        "ecc_uncorrected",
        1.0,
    ),
)


def _gpu_labels(gpu: GpuReading) -> list[str]:
    return [str(gpu.index), gpu.uuid or ""]


class _GpuCollector:
    """Series for the GPUs of the latest snapshot only."""

    def __init__(self) -> None:
        self.snapshot: GpuSnapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot  # one read: a concurrent observe_snapshot swaps it whole
        if snapshot is None:
            return
        yield _single(
            "gpu_snapshot_timestamp_seconds",
            "When the GPUs were last read (Unix time).",
            snapshot.taken_at,
        )
        yield _single(
            "gpus", "GPUs in the latest snapshot, lost ones included.", len(snapshot.gpus)
        )
        healthy = GaugeMetricFamily(
            PREFIX + "gpu_healthy",
            "1 when the GPU answers, 0 when it is lost (fallen off the bus, needs a reset).",
            labels=_GPU_LABELS,
        )
        errors = GaugeMetricFamily(
            PREFIX + "gpu_error_info",
            "Present (1) while the GPU reports a health event; the error label says which.",
            labels=[*_GPU_LABELS, "error"],
        )
        for gpu in snapshot.gpus:
            healthy.add_metric(_gpu_labels(gpu), 0.0 if gpu.lost else 1.0)
            if gpu.error:
                errors.add_metric([*_gpu_labels(gpu), gpu.error], 1.0)
        yield healthy
        yield errors
        live = [gpu for gpu in snapshot.gpus if not gpu.lost]
        for name, doc, attr, scale in _GPU_GAUGES:
            family = GaugeMetricFamily(PREFIX + name, doc, labels=_GPU_LABELS)
            for gpu in live:
                value = getattr(gpu, attr)
                if value is not None:
                    family.add_metric(_gpu_labels(gpu), float(value) * scale)
            yield family
        fan = GaugeMetricFamily(
            PREFIX + "gpu_fan_speed_ratio",
            "Speed of the GPU's fastest fan (0..1).",
            labels=_GPU_LABELS,
        )
        pending = GaugeMetricFamily(
            PREFIX + "gpu_memory_pages_pending",
            "1 when retired or remapped memory pages await a GPU reset.",
            labels=_GPU_LABELS,
        )
        throttled = GaugeMetricFamily(
            PREFIX + "gpu_throttled",
            "1 while the GPU's clocks are held down for this reason.",
            labels=[*_GPU_LABELS, "reason"],
        )
        for gpu in live:
            labels = _gpu_labels(gpu)
            if gpu.fans:
                fan.add_metric(labels, max(gpu.fans) / 100.0)
            if gpu.pages_pending is not None:
                pending.add_metric(labels, float(gpu.pages_pending))
            for reason in sorted(set(KNOWN_THROTTLE_REASONS) | gpu.throttle):
                throttled.add_metric([*labels, reason], float(reason in gpu.throttle))
        yield fan
        yield pending
        yield throttled


@dataclass(frozen=True)
class _CycleState:
    rental_status: str
    settings: Settings  # in force after the cycle
    ran_at: float
    observed: Mapping[str, Observed] = field(default_factory=dict)  # the cycle's facts
    # With several currencies, each one's prices in force after the cycle: {currency: {kind:
    # price}}; empty with one (the settings' prices, in the config's currency).
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


# Cost facts exported as gauges: (fact, metric name, help). Prices are per day for the whole
# server in the listing currency (label `currency`).
_COST_PRICES: tuple[tuple[str, str, str], ...] = (
    (
        "cost.per_day",
        "cost_per_day_price",
        "What the rig costs a day (power at the tariff over the horizon, fixed costs).",
    ),
)
_FLOOR_KINDS = ("on_demand", "spot")


class _CycleCollector:
    """Series for the server as the latest successful reconcile left it."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.state: _CycleState | None = None

    def collect(self) -> Iterator[Metric]:
        state = self.state
        if state is None:
            return
        settings = state.settings
        status = GaugeMetricFamily(
            PREFIX + "rental_status",
            "1 for the server's current rental status, 0 for the others.",
            labels=["status"],
        )
        for each in RENTAL_STATUSES:
            status.add_metric([each], float(each == state.rental_status))
        yield status
        prices = state.prices or {
            self.currency: {"on_demand": settings.on_demand, "spot": settings.spot}
        }
        for name, doc, kind in (
            ("on_demand_price", "On-demand price of the whole server per day.", "on_demand"),
            ("spot_min_price", "Minimum spot price of the whole server per day.", "spot"),
        ):
            family = GaugeMetricFamily(PREFIX + name, doc, labels=["currency"])
            for currency, kinds in prices.items():  # one series per currency
                family.add_metric([currency], kinds[kind])
            yield family
        yield _single(
            "available", "1 when the server is offered on the marketplace.", settings.availability
        )
        yield _single("mrl_seconds", "Maximum rental length offered.", settings.mrl * 3600.0)
        yield _single(
            "last_reconcile_timestamp_seconds",
            "When the last successful reconcile ran (Unix time, the agent's clock).",
            state.ran_at,
        )
        yield from self._costs(state.observed)

    def _costs(self, observed: Mapping[str, Observed]) -> Iterator[Metric]:
        """The cost floor per rental kind, the cost a day, the power figure, the tariff and
        the exchange rates, as the cycle observed them; an unknown one is absent (never 0),
        and `cost_fact_unknown` says why."""

        def known(name: str) -> float | None:
            value = observed.get(name)
            return None if value is None or isinstance(value, Unknown) else float(value)

        floor = GaugeMetricFamily(
            PREFIX + "cost_floor_price",
            "The least price per day that nets the rig's cost after the host fees of the "
            "rental kind (before the policy's margin).",
            labels=["kind", "currency"],
        )
        for kind in _FLOOR_KINDS:
            value = known(f"cost.floor.{kind}")
            if value is not None:
                floor.add_metric([kind, self.currency], value)
        yield floor
        for fact, name, doc in _COST_PRICES:
            family = GaugeMetricFamily(PREFIX + name, doc, labels=["currency"])
            value = known(fact)
            if value is not None:
                family.add_metric([self.currency], value)
            yield family
        for fact, name, doc in (
            ("cost.power_w", "cost_power_watts", "The power figure the cost is computed at."),
            ("tariff.now", "electricity_price_per_kwh", "The tariff's price of a kWh now."),
        ):
            family = GaugeMetricFamily(PREFIX + name, doc)
            value = known(fact)
            if value is not None:
                family.add_metric([], value)
            yield family
        rate = GaugeMetricFamily(
            PREFIX + "exchange_rate_usd",
            "USD per unit of a currency, as the costs used it (after the sanity checks).",
            labels=["currency"],
        )
        unknown = GaugeMetricFamily(
            PREFIX + "cost_fact_unknown",
            "Present (1) while a cost fact is unknown; labels `fact` and `reason` say which "
            "and why.",
            labels=["fact", "reason"],
        )
        for name, seen in sorted(observed.items()):
            if not name.startswith(("cost.", "fx.", "tariff.")):
                continue
            if isinstance(seen, Unknown):
                unknown.add_metric([name, seen.reason], 1.0)
            elif name.startswith("fx.") and name.endswith("_usd"):
                rate.add_metric([name.removeprefix("fx.").removesuffix("_usd")], float(seen))
        yield rate
        yield unknown


def _single(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=float(value))


class AgentMetrics:
    """Everything the agent exports, in one private registry."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, currency: str = "bitcoin"
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._gpus = _GpuCollector()
        self._uuids: dict[int, str] = {}
        self._cycle = _CycleCollector(currency)
        self.registry.register(self._gpus)
        self.registry.register(self._cycle)
        self._info = Info(
            PREFIX + "agent",
            "The running agent: version and policy digest.",
            registry=self.registry,
        )
        self._degraded = Gauge(
            PREFIX + "degraded",
            "1 while the agent cannot do its job (API, GPUs or history failing).",
            registry=self.registry,
        )
        self._reconciles = Counter(
            PREFIX + "reconciles",
            "Successful reconcile cycles by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._decisions = Counter(
            PREFIX + "rule_decisions",
            "Reconcile cycles in which a rule moved a setting, by rule.",
            ["rule"],
            registry=self.registry,
        )
        self._changes = Counter(
            PREFIX + "rule_changes_applied",
            "Settings writes applied, by each rule that caused them.",
            ["rule"],
            registry=self.registry,
        )
        self._api = Counter(
            PREFIX + "api_requests",
            "CLORE.AI API requests (each HTTP attempt) by endpoint and result code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self._degraded.set(0)

    # -- inputs --------------------------------------------------------------------------

    def observe_snapshot(self, snapshot: GpuSnapshot) -> None:
        # A lost GPU often cannot tell its UUID: keep the one it last had, so its series
        # goes on (healthy 1 -> 0) instead of a new one starting with an empty uuid.
        gpus = []
        for gpu in snapshot.gpus:
            if gpu.uuid:
                self._uuids[gpu.index] = gpu.uuid
            elif gpu.index in self._uuids:
                gpu = replace(gpu, uuid=self._uuids[gpu.index])
            gpus.append(gpu)
        self._gpus.snapshot = replace(snapshot, gpus=tuple(gpus))

    def observe_cycle(self, result: CycleResult) -> None:
        """Record a successful reconcile: settings now in force, and the rules behind them."""
        plan = result.plan
        changed = result.outcome == "changed"
        prices = result.currencies
        self._cycle.state = _CycleState(
            rental_status=result.facts.rental_status,
            settings=plan.target if changed else plan.current,
            ran_at=result.facts.now,
            observed=dict(result.facts.observed),
            prices={} if prices is None else prices.table("target" if changed else "current"),
        )
        self._reconciles.labels(result.outcome).inc()
        # The plan's reasons are data: rule names as the policy file wrote them.
        for rule in plan.rule_names():
            self._decisions.labels(rule).inc()
        if changed:
            for rule in plan.rule_names(changed_only=True):
                self._changes.labels(rule).inc()

    def on_api_response(self, endpoint: str, outcome: str) -> None:
        """The API client's `on_response` hook: one call per HTTP attempt."""
        self._api.labels(endpoint, outcome).inc()

    def set_info(self, version: str, policy_digest: str) -> None:
        self._info.info({"version": version, "policy_digest": policy_digest})

    def set_degraded(self, degraded: bool) -> None:
        self._degraded.set(1 if degraded else 0)

    # -- output --------------------------------------------------------------------------

    def serve(self, listen: str) -> MetricsServer:
        """Serve /metrics on "host:port" (port 0 picks a free one); binds to that host only."""
        return MetricsServer(self.registry, listen)


_HOST_NAME = re.compile(r"[^\W_][\w-]*(?:\.[\w-]+)*\.?")


def parse_listen(listen: str) -> tuple[str, int]:
    """Split "host:port" or "[v6]:port"; the host is required so nothing binds by surprise.

    The host is an IP address or a host name; the port 0 to 65535 in ASCII digits (0: any
    free port, which the log line names). `run` serves with this and `check` reads
    metrics.listen with it, so the two agree.
    """
    host, sep, port_text = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid_host = _is_ip(host) and ":" in host
    else:
        # An unbracketed IPv6 address is ambiguous.
        valid_host = ":" not in host and (_is_ip(host) or bool(_HOST_NAME.fullmatch(host)))
    port_ok = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    if not sep or not valid_host or not port_ok or int(port_text) > 65535:
        raise ValueError(
            f'metrics listen address {listen!r} is not "host:port" '
            '(e.g. "127.0.0.1:9876" or "[::1]:9876")'
        )
    return host, int(port_text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class MetricsServer:
    """The /metrics HTTP endpoint, served from a daemon thread until `close()`."""

    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        host, port = parse_listen(listen)
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror as exc:
            raise OSError(f"cannot serve metrics on {listen}: {exc.strerror}") from None
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        try:
            self._httpd: WSGIServer = make_server(
                host, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {listen}: {exc.strerror or exc}") from None
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="metrics-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
