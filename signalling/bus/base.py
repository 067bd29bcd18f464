"""The port: what signalling needs from a bus, whatever carries it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

Handler = Callable[[str, bytes], Awaitable[None]]
NowHandler = Callable[[str, bytes], bool]
"""Runs at once, where the bus reads a message; False hands it to the async handler."""


class Subscription(Protocol):
    async def close(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None:
        """Deliver to every current subscriber of `channel` on every node."""
        ...

    async def subscribe(
        self, channel: str, handler: Handler, *, now: NowHandler | None = None
    ) -> Subscription:
        """`now`, if given, may take a message first, synchronously (a bus that
        reads in this process's event loop may call it; others never do)."""
        ...

    def on_resubscribed(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Have `callback` run whenever this node's subscriptions were lost and are
        back (what was published meanwhile did not reach it). The in-process bus
        never loses them."""
        ...

    async def ping(self) -> None:
        """Raise if the bus cannot carry messages now (used by /readyz)."""
        ...

    async def close(self) -> None: ...
