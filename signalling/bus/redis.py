"""The bus between nodes, on Redis pub/sub. The redis driver is imported here only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as redis_async

from signalling.bus.base import Handler

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 2.0
RETRY_S = 0.25
LOST = (ConnectionError, OSError, redis_async.ConnectionError, redis_async.TimeoutError)


class _RedisSubscription:
    def __init__(self, bus: RedisBus, channel: str, handler: Handler) -> None:
        self._bus = bus
        self.channel = channel
        self.handler = handler

    async def close(self) -> None:
        await self._bus._remove(self)


class RedisBus:
    """One pub/sub connection per node, fanned out to local handlers."""

    def __init__(self, url: str, *, prefix: str = "tc:") -> None:
        self._client = redis_async.Redis.from_url(url)
        # Subscribe confirmations are read (not ignored): `subscribe` waits for its own.
        self._pubsub = self._client.pubsub()
        self._prefix = prefix
        self._handlers: dict[str, set[_RedisSubscription]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._resubscribed: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> redis_async.Redis:
        return self._client

    async def start(self) -> None:
        await self._client.ping()
        # A pub/sub connection must be subscribed to something before it can be read.
        await self._pubsub.subscribe(self._prefix + "__node__")
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    def on_resubscribed(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Call `callback` (in a task) each time the subscription was lost and is back.

        Whatever was published meanwhile never reached this node, and if Redis
        restarted it kept nothing: the hub restores what it owns and tells its
        clients to resume (signalling/restore.py).
        """
        self._resubscribed.append(callback)

    async def _read(self) -> None:
        while True:
            try:
                # Blocking, with no timeout per read: a timeout costs a timer for
                # every message, and the node always listens on its own channel.
                message = await self._pubsub.get_message(timeout=None)
            except (
                ConnectionError,
                OSError,
                redis_async.ConnectionError,
                redis_async.TimeoutError,
            ):
                log.warning("redis bus subscription lost; subscribing again")
                await self._subscribe_again()
                continue
            if message is None:
                continue
            kind = message.get("type")
            if kind == "subscribe":
                waiter = self._confirm.pop(message["channel"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            if kind != "message":
                continue
            channel = message["channel"].decode()[len(self._prefix) :]
            for sub in list(self._handlers.get(channel, ())):
                try:
                    await sub.handler(channel, message["data"])
                except Exception:
                    log.exception("bus handler failed", extra={"channel": channel})

    async def _subscribe_again(self) -> None:
        """Until Redis answers on the pub/sub connection again.

        A command on it reconnects, and redis-py subscribes a reconnected pub/sub
        connection to every channel it had (`PubSub.on_connect`).
        """
        while True:
            await asyncio.sleep(RETRY_S)
            try:
                await self._pubsub.ping()
            except (ConnectionError, OSError, redis_async.RedisError):
                continue
            break
        log.warning("redis bus subscribed again")
        for callback in self._resubscribed:
            task = asyncio.create_task(callback(), name="redis-bus-resubscribed")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._client.publish(self._prefix + channel, payload)

    async def subscribe(self, channel: str, handler: Handler) -> _RedisSubscription:
        """Returns once Redis has confirmed the subscription (when the reader runs).

        Until then a message published on the channel would not reach this node,
        and a caller that reads the room's seq next could miss what comes between.
        """
        sub = _RedisSubscription(self, channel, handler)
        async with self._lock:
            first = not self._handlers.get(channel)
            self._handlers[channel].add(sub)
            if first:
                full = (self._prefix + channel).encode()
                reading = self._reader is not None and not self._reader.done()
                waiter = asyncio.get_running_loop().create_future()
                if reading:
                    self._confirm[full] = waiter
                await self._pubsub.subscribe(full)
                if reading:
                    try:
                        await asyncio.wait_for(waiter, CONFIRM_TIMEOUT_S)
                    except TimeoutError:
                        log.warning("redis bus subscription not confirmed in time")
                    finally:
                        self._confirm.pop(full, None)
        return sub

    async def _remove(self, sub: _RedisSubscription) -> None:
        async with self._lock:
            subs = self._handlers.get(sub.channel)
            if subs is None:
                return
            subs.discard(sub)
            if not subs:
                del self._handlers[sub.channel]
                try:
                    await self._pubsub.unsubscribe(self._prefix + sub.channel)
                except (ConnectionError, OSError, redis_async.RedisError) as exc:
                    # Redis is gone: the subscription went with the connection, and
                    # a reconnect subscribes only to channels still handled.
                    log.warning("redis bus could not unsubscribe (%s)", type(exc).__name__)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
