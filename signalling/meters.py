"""What the hub reports about itself, counted in plain integers.

A relayed message costs an addition, an increment and one bisect here; the web layer turns
these into Prometheus metrics only when `/metrics` is scraped
(`web/metrics.py`), so the relay path never takes a metrics lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sized

RELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
"""Upper bounds (seconds) of the relay-latency histogram; a last bucket holds the rest."""


class Meters:
    """Counts of its own for the relay; the hub's open connections and rooms, read live."""

    def __init__(self, *, connections: Sized, rooms: Sized) -> None:
        self._connections, self._rooms = connections, rooms
        self.latency_sum = 0.0
        self.latency_counts = [0] * (len(RELAY_BUCKETS) + 1)

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def rooms(self) -> int:
        return len(self._rooms)

    @property
    def relayed(self) -> int:
        return sum(self.latency_counts)

    def delivered(self, seconds: float) -> None:
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
