"""The bus between nodes, on Redis pub/sub. The redis driver is imported here only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as redis_async

from signalling.bus.base import Handler

log = logging.getLogger(__name__)


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
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._prefix = prefix
        self._handlers: dict[str, set[_RedisSubscription]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

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
                message = await self._pubsub.get_message(timeout=1.0)
            except (ConnectionError, redis_async.ConnectionError):
                log.warning("redis bus connection lost; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
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
        sub = _RedisSubscription(self, channel, handler)
        async with self._lock:
            first = not self._handlers.get(channel)
            self._handlers[channel].add(sub)
            if first:
                await self._pubsub.subscribe(self._prefix + channel)
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
