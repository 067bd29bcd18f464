"""Prometheus metrics, in a registry owned by the application (no globals)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from signalling.meters import Meters


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "throughcare_http_requests",
            "HTTP requests served, by route pattern and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "throughcare_http_request_seconds",
            "HTTP request handling time.",
            ["route"],
            registry=self.registry,
        )

    def watch_signalling(self, meters: Meters) -> None:
        """Report the hub's counters (connections, rooms, relays) at each scrape."""
        self.registry.register(_SignallingCollector(meters))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SignallingCollector(Collector):
    def __init__(self, meters: Meters) -> None:
        self._m = meters

    def collect(self) -> Iterator[Metric]:
        m = self._m
        yield GaugeMetricFamily(
            "throughcare_ws_connections", "Open signalling connections.", value=m.connections
        )
        yield GaugeMetricFamily(
            "throughcare_rooms", "Open consult rooms on this node.", value=m.rooms
        )
        yield CounterMetricFamily(
            "throughcare_messages_relayed",
            "Signalling messages delivered to a participant.",
            value=m.relayed,
        )
        yield HistogramMetricFamily(
            "throughcare_relay_seconds",
            "Time from receiving a signalling message to sending it on.",
            buckets=m.cumulative(),
            sum_value=m.latency_sum,
        )
