"""One node's bus: delivery is a queue per subscriber, drained by its own task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from signalling.bus.base import Handler, NowHandler

log = logging.getLogger(__name__)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, channel: str, handler: Handler) -> None:
        self._bus = bus
        self.channel = channel
        self._handler = handler
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=f"bus-sub:{channel}")

    def deliver(self, payload: bytes) -> None:
        self._queue.put_nowait(payload)

    async def _run(self) -> None:
        while True:
            payload = await self._queue.get()
            try:
                await self._handler(self.channel, payload)
            except Exception:
                log.exception("bus handler failed", extra={"channel": self.channel})

    async def close(self) -> None:
        self._bus._remove(self)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class MemoryBus:
    def __init__(self) -> None:
        self._subs: dict[str, set[_MemorySubscription]] = defaultdict(set)
        self._closed = False

    async def start(self) -> None:
        return None

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._closed:
            raise ConnectionError("bus closed")
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(payload)

    async def subscribe(
        self, channel: str, handler: Handler, *, now: NowHandler | None = None
    ) -> _MemorySubscription:
        sub = _MemorySubscription(self, channel, handler)
        self._subs[channel].add(sub)
        return sub

    def _remove(self, sub: _MemorySubscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    def on_resubscribed(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        return None  # nothing to lose: publisher and subscribers share this process

    async def ping(self) -> None:
        if self._closed:
            raise ConnectionError("bus closed")

    async def close(self) -> None:
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.close()
