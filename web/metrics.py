"""Prometheus metrics, in a registry owned by the application (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
        self.ws_connections = Gauge(
            "throughcare_ws_connections", "Open signalling connections.", registry=self.registry
        )
        self.rooms = Gauge(
            "throughcare_rooms", "Open consult rooms on this node.", registry=self.registry
        )
        self.messages_relayed = Counter(
            "throughcare_messages_relayed",
            "Signalling messages relayed to a peer.",
            registry=self.registry,
        )
        self.relay_seconds = Histogram(
            "throughcare_relay_seconds",
            "Time from receiving a signalling message to sending it on.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
