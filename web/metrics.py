"""Prometheus metrics, in a registry owned by the application (no globals)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from core.jobs import JobStats
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
        self.ws_fast_path = Gauge(
            "throughcare_ws_fast_path",
            "1 when /ws runs the one-node fast path on aiohttp's internals, 0 on its public API.",
            registry=self.registry,
        )

    def watch_signalling(self, meters: Meters) -> None:
        """Report the hub's counters (connections, rooms, relays) at each scrape."""
        self.registry.register(_SignallingCollector(meters))

    def watch_jobs(self, stats: JobStats) -> None:
        """Report the job table's counts (refreshed before each scrape) and this node's runs."""
        self.registry.register(_JobsCollector(stats))

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


class _JobsCollector(Collector):
    def __init__(self, stats: JobStats) -> None:
        self._s = stats

    def collect(self) -> Iterator[Metric]:
        s = self._s
        jobs = GaugeMetricFamily(
            "throughcare_jobs", "Jobs in the store, by status (all nodes).", labels=["status"]
        )
        for status, n in sorted(s.by_status.items()):
            jobs.add_metric([status], n)
        yield jobs
        yield GaugeMetricFamily(
            "throughcare_jobs_due", "Pending jobs whose time has come (all nodes).", value=s.due
        )
        yield GaugeMetricFamily(
            "throughcare_jobs_oldest_due_seconds",
            "How long the longest-waiting due job has waited: the runner's lag.",
            value=s.oldest_due_s,
        )
        runs = CounterMetricFamily(
            "throughcare_job_runs",
            "Job attempts this node has run, by kind and outcome (done, retry, failed, lost).",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), n in sorted(s.runs.items()):
            runs.add_metric([kind, outcome], n)
        yield runs
        seconds = CounterMetricFamily(
            "throughcare_job_run_seconds",
            "Time this node has spent running jobs, by kind.",
            labels=["kind"],
        )
        for kind, total in sorted(s.seconds.items()):
            seconds.add_metric([kind], total)
        yield seconds
