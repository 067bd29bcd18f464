"""What the hub reports about itself, counted in plain integers.

A relayed message costs two additions and one bisect here; the web layer turns
these into Prometheus metrics only when `/metrics` is scraped
(`web/metrics.py`), so the relay path never takes a metrics lock.
"""

from __future__ import annotations

from bisect import bisect_left

RELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
"""Upper bounds (seconds) of the relay-latency histogram; a last bucket holds the rest."""


class Meters:
    def __init__(self) -> None:
        self.connections = 0
        self.rooms = 0
        self.relayed = 0
        self.latency_sum = 0.0
        self.latency_counts = [0] * (len(RELAY_BUCKETS) + 1)

    def delivered(self, seconds: float) -> None:
        self.relayed += 1
        self.latency_sum += seconds
        self.latency_counts[bisect_left(RELAY_BUCKETS, seconds)] += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """The histogram as Prometheus has it: (upper bound, count at or below it)."""
        out, total = [], 0
        bounds = (*map(str, RELAY_BUCKETS), "+Inf")
        for bound, count in zip(bounds, self.latency_counts, strict=True):
            total += count
            out.append((bound, total))
        return out
