"""The bus between nodes, on Redis pub/sub. The redis driver is imported here only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as redis_async

from signalling.bus.base import Handler

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 2.0


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

    @property
    def client(self) -> redis_async.Redis:
        return self._client

    async def start(self) -> None:
        await self._client.ping()
        # A pub/sub connection must be subscribed to something before it can be read.
        await self._pubsub.subscribe(self._prefix + "__node__")
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def _read(self) -> None:
        while True:
            try:
                # Blocking, with no timeout per read: a timeout costs a timer for
                # every message, and the node always listens on its own channel.
                message = await self._pubsub.get_message(timeout=None)
            except (ConnectionError, redis_async.ConnectionError):
                log.warning("redis bus connection lost; retrying")
                await asyncio.sleep(0.5)
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
                await self._pubsub.unsubscribe(self._prefix + sub.channel)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
