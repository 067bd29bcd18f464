"""The port: what signalling needs from a bus, whatever carries it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[str, bytes], Awaitable[None]]


class Subscription(Protocol):
    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None:
        """Deliver to every current subscriber of `channel` on every node."""
        ...

    async def subscribe(self, channel: str, handler: Handler) -> Subscription: ...

    async def ping(self) -> None:
        """Raise if the bus cannot carry messages now (used by /readyz)."""
        ...

    async def close(self) -> None: ...
