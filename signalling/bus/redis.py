"""The bus between nodes, on Redis pub/sub (signalling/bus/resp.py's lean connections).

One subscriber connection per node, fanned out to local handlers. A channel may
also have a handler that runs at once (`now`), straight from the read of the
subscriber connection, with no task switch and no coroutine: the hub delivers a
relayed message that way when the recipient's socket can take it now. `now`
returns False to hand a message on to the channel's (async) handler instead;
from then on, until those queued have been handled, every message waits its turn
behind them, so nothing overtakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine
from typing import Any

from signalling.bus.base import Handler, NowHandler
from signalling.bus.resp import DEFAULT_TIMEOUT_S, Lane, Subscriber

log = logging.getLogger(__name__)

RETRY_S = 0.25
LOST = (ConnectionError, OSError, TimeoutError)


class _RedisSubscription:
    def __init__(
        self, bus: RedisBus, channel: str, handler: Handler, now: NowHandler | None
    ) -> None:
        self._bus = bus
        self.channel = channel
        self.handler = handler
        self.now = now

    async def close(self) -> None:
        await self._bus._remove(self)


class RedisBus:
    """One pub/sub connection per node, fanned out to local handlers."""

    def __init__(
        self, url: str, *, prefix: str = "tc:", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._lane = Lane(url, timeout_s=timeout_s)
        self._sub = Subscriber(url, self._on_messages, self._on_lost, timeout_s=timeout_s)
        self._prefix = prefix
        self._skip = len(prefix.encode())
        self._handlers: dict[str, set[_RedisSubscription]] = defaultdict(set)
        self._now: dict[bytes, NowHandler] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._resubscribed: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._again: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._closing = False

    def _full(self, channel: str) -> bytes:
        return (self._prefix + channel).encode()

    async def start(self) -> None:
        # The node listens on a channel of its own, so the connection is never idle
        # of subscriptions (a pub/sub connection with none is not one any more).
        await self._sub.open([self._full("__node__")])
        self._dispatcher = asyncio.create_task(self._dispatch(), name="redis-bus-dispatch")

    def on_resubscribed(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Call `callback` (in a task) each time the subscription was lost and is back.

        Whatever was published meanwhile never reached this node, and if Redis
        restarted it kept nothing: the hub restores what it owns and tells its
        clients to resume (signalling/restore.py).
        """
        self._resubscribed.append(callback)

    # ------------------------------------------------------------ reading

    def _on_messages(self, batch: list[tuple[bytes, bytes]]) -> None:
        queue = self._queue
        skip = self._skip
        for full, payload in batch:
            if not queue:
                now = self._now.get(full)
                if now is not None:
                    try:
                        if now(full[skip:].decode(), payload):
                            continue
                    except Exception:
                        log.exception("bus handler failed")
                        continue
            channel = full[skip:].decode()
            if channel in self._handlers:
                queue.append((channel, payload))
        if queue:
            self._wake.set()

    async def _dispatch(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                # Left in the queue while it is handled: what arrives meanwhile queues behind.
                channel, payload = queue[0]
                for sub in list(self._handlers.get(channel, ())):
                    try:
                        await sub.handler(channel, payload)
                    except Exception:
                        log.exception("bus handler failed", extra={"channel": channel})
                queue.popleft()

    def _on_lost(self) -> None:
        if self._closing or (self._again is not None and not self._again.done()):
            return
        log.warning("redis bus subscription lost; subscribing again")
        self._again = asyncio.get_running_loop().create_task(
            self._subscribe_again(), name="redis-bus-resubscribe"
        )

    async def _subscribe_again(self) -> None:
        """Until Redis answers and has confirmed every channel this node handles."""
        while not self._closing:
            await asyncio.sleep(RETRY_S)
            channels = [self._full("__node__"), *(self._full(c) for c in self._handlers)]
            try:
                await self._sub.open(channels)
            except LOST:
                continue
            break
        if self._closing:
            return
        log.warning("redis bus subscribed again")
        for callback in self._resubscribed:
            task = asyncio.create_task(callback(), name="redis-bus-resubscribed")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ the port

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._lane.call("PUBLISH", self._full(channel), payload)

    async def subscribe(
        self, channel: str, handler: Handler, *, now: NowHandler | None = None
    ) -> _RedisSubscription:
        """Returns once Redis has confirmed the subscription.

        Until then a message published on the channel would not reach this node,
        and a caller that reads the room's seq next could miss what comes between.
        If the connection is down meanwhile, subscribing again covers this channel.
        """
        sub = _RedisSubscription(self, channel, handler, now)
        full = self._full(channel)
        # Bookkeeping only under the lock; the confirmations of many channels are
        # awaited together (one round trip for a burst of joins, not one each).
        async with self._lock:
            first = not self._handlers.get(channel)
            self._handlers[channel].add(sub)
            if now is not None:
                self._now[full] = now
            pending = self._pending.get(channel)
            if first and pending is None and self._sub.connected:
                pending = asyncio.ensure_future(self._sub.subscribe([full]))
                self._pending[channel] = pending
                pending.add_done_callback(lambda _: self._pending.pop(channel, None))
        if pending is not None:
            try:
                await asyncio.shield(pending)
            except LOST as exc:
                log.warning("redis bus subscription not confirmed (%s)", type(exc).__name__)
        return sub

    async def _remove(self, sub: _RedisSubscription) -> None:
        async with self._lock:
            subs = self._handlers.get(sub.channel)
            if subs is None:
                return
            subs.discard(sub)
            full = self._full(sub.channel)
            if sub.now is not None and self._now.get(full) is sub.now:
                del self._now[full]
            if not subs:
                del self._handlers[sub.channel]
                # Redis gone: the subscription went with the connection, and
                # subscribing again covers only channels still handled.
                self._sub.unsubscribe(full)

    async def ping(self) -> None:
        if not self._sub.connected:
            raise ConnectionError("redis bus subscription lost")
        await self._lane.call("PING")

    async def close(self) -> None:
        self._closing = True
        for task in (self._dispatcher, self._again, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._dispatcher, self._again, *self._tasks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._sub.close()
        await self._lane.close()
