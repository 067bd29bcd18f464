"""Live pushes to a person's open sockets, wherever they are connected.

Each node subscribes to one bus channel per person who has a socket open on
it (`user:<account id>`) and unsubscribes when their last one closes; a push is
one publish, which the bus carries to every node that has that person. What is
pushed is an id, never words: `{"type": "inbox", "notice": <id>, "kind": ...}`
tells the page to fetch its inbox, which renders the notice in the reader's
language (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from signalling.bus import Bus
from signalling.bus.base import Subscription
from signalling.connection import Connection

PREFIX = "user:"


class UserChannels:
    def __init__(self, bus: Bus, send: Callable[[Connection, dict[str, Any]], Awaitable[None]]):
        self._bus = bus
        self._send = send
        self._conns: dict[str, dict[str, Connection]] = {}
        self._subs: dict[str, Subscription] = {}
        self._lock = asyncio.Lock()

    async def watch(self, conn: Connection) -> None:
        account = conn.participant
        if account is None:
            return
        async with self._lock:
            self._conns.setdefault(account, {})[conn.id] = conn
            if account not in self._subs:
                self._subs[account] = await self._bus.subscribe(PREFIX + account, self._on_push)

    async def unwatch(self, conn: Connection) -> None:
        account = conn.participant
        if account is None:
            return
        async with self._lock:
            mine = self._conns.get(account)
            if mine is None or mine.pop(conn.id, None) is None:
                return
            if not mine:
                del self._conns[account]
                sub = self._subs.pop(account, None)
                if sub is not None:
                    await sub.close()

    async def push(self, account_id: str, body: dict[str, Any]) -> None:
        """Send `body` to every socket `account_id` has open, on any node."""
        await self._bus.publish(PREFIX + account_id, orjson.dumps(body))

    async def _on_push(self, channel: str, payload: bytes) -> None:
        account = channel[len(PREFIX) :]
        body = orjson.loads(payload)
        for conn in list(self._conns.get(account, {}).values()):
            await self._send(conn, body)

    async def close(self) -> None:
        async with self._lock:
            for sub in self._subs.values():
                await sub.close()
            self._subs.clear()
            self._conns.clear()
