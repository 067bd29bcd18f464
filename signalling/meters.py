"""What the hub reports about itself; the web layer backs it with Prometheus."""

from __future__ import annotations

from typing import Protocol


class Meters(Protocol):
    def connection_opened(self) -> None: ...

    def connection_closed(self) -> None: ...

    def rooms(self, count: int) -> None: ...

    def relayed(self, seconds: float) -> None: ...


class NullMeters:
    def connection_opened(self) -> None:
        return None

    def connection_closed(self) -> None:
        return None

    def rooms(self, count: int) -> None:
        return None

    def relayed(self, seconds: float) -> None:
        return None
