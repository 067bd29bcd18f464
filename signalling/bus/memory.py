"""One node's bus: each subscriber gets its payloads in order, from a task of its own
that runs only while it has some to handle (a node holds one subscription per person
connected and per room: an idle task and queue each cost more than the rest of them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from signalling.bus.base import Handler, NowHandler

log = logging.getLogger(__name__)


class _MemorySubscription:
    __slots__ = ("_bus", "_closed", "_handler", "_queue", "_task", "channel")

    def __init__(self, bus: MemoryBus, channel: str, handler: Handler) -> None:
        self._bus = bus
        self.channel = channel
        self._handler = handler
        self._queue: deque[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def deliver(self, payload: bytes) -> None:
        if self._closed:
            return
        if self._queue is None:
            self._queue = deque()
        self._queue.append(payload)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"bus-sub:{self.channel}"
            )

    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            while queue:
                payload = queue.popleft()
                try:
                    await self._handler(self.channel, payload)
                except Exception:
                    log.exception("bus handler failed", extra={"channel": self.channel})
        finally:
            self._task = None
            self._queue = queue or None

    async def close(self) -> None:
        self._closed = True
        self._bus._remove(self)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
