"""Room state in Redis, so that a room outlives any one node.

Keys, all under the configured prefix: `room:<id>` (hash: `state`, `seq`),
`log:<id>` (capped list of logged messages), `resume:<token hash>` (with a
TTL) and `queue:<clinician>` (sorted set of waiting appointments). A logged
message is numbered, appended and published by one script, so every node sees
the same order. The redis driver is imported here only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as redis_async
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from signalling.rooms import Room
from signalling.store.base import (
    KICK,
    LogEntry,
    ResumeRecord,
    Step,
    StoreUnavailable,
    T,
    entry_header,
    parse_entry,
    room_channel,
    wire,
)

ROOM_TTL_S = 2 * 86400

P = ParamSpec("P")
R = TypeVar("R")


def _reachable(
    method: Callable[Concatenate[RedisRoomStore, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[RedisRoomStore, P], Coroutine[Any, Any, R]]:
    """Redis down or unreachable becomes `StoreUnavailable`, the one error the hub knows."""

    @functools.wraps(method)
    async def guarded(self: RedisRoomStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    return guarded


_APPEND = """
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = ARGV[1] .. '\\n{"seq":' .. seq .. ',' .. ARGV[2]
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[4], entry)
return seq
"""


class RedisRoomStore:
    broadcasts = True

    def __init__(self, url: str, *, prefix: str, log_size: int = 256) -> None:
        # Many connections relay at once: wait for a pooled connection rather
        # than fail with "Too many connections" (which closed sockets with 1011).
        pool = redis_async.BlockingConnectionPool.from_url(url, max_connections=256, timeout=10)
        self._pool = pool
        self._client = redis_async.Redis(connection_pool=pool)
        self._prefix = prefix
        self._log_size = log_size
        self._append = self._client.register_script(_APPEND)
        self._parsed: dict[str, tuple[object, Room]] = {}

    def _room(self, room_id: str) -> str:
        return f"{self._prefix}room:{room_id}"

    def _log(self, room_id: str) -> str:
        return f"{self._prefix}log:{room_id}"

    @_reachable
    async def get(self, room_id: str) -> Room | None:
        raw = await self._client.hget(self._room(room_id), "state")
        return self._parse(room_id, raw)

    def _parse(self, room_id: str, raw: bytes | str | None) -> Room | None:
        if raw is None:
            self._parsed.pop(room_id, None)
            return None
        cached = self._parsed.get(room_id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        room = Room.from_json(raw)
        self._parsed[room_id] = (raw, room)
        return room

    @_reachable
    async def get_many(self, room_ids: list[str]) -> dict[str, Room]:
        if not room_ids:
            return {}
        async with self._client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hget(self._room(room_id), "state")
            raws = await pipe.execute()
        rooms = {}
        for room_id, raw in zip(room_ids, raws, strict=True):
            room = self._parse(room_id, raw)
            if room is not None:
                rooms[room_id] = room
        return rooms

    @_reachable
    async def update(self, room_id: str, step: Step[T]) -> T:
        key = self._room(room_id)
        async with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hget(key, "state")
                    room = Room.from_json(raw) if raw is not None else None
                    new, result = step(room)
                    if new is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return result
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, "state", new.to_json())
                    pipe.expire(key, ROOM_TTL_S)
                    await pipe.execute()
                    return result
                except WatchError:
                    continue

    @_reachable
    async def append(
        self, room_id: str, recipients: tuple[str, ...], tail: str, sent_at: float
    ) -> LogEntry:
        seq = int(
            await self._append(
                keys=[self._room(room_id), self._log(room_id)],
                args=[
                    entry_header(recipients, sent_at),
                    tail,
                    self._log_size,
                    self._prefix + room_channel(room_id),
                    ROOM_TTL_S,
                ],
            )
        )
        return LogEntry(recipients, sent_at, seq, wire(seq, tail))

    @_reachable
    async def seq(self, room_id: str) -> int:
        raw = await self._client.hget(self._room(room_id), "seq")
        return int(raw) if raw is not None else 0

    @_reachable
    async def replay(self, room_id: str, after: int) -> tuple[list[LogEntry], bool]:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.lrange(self._log(room_id), 0, -1)
            pipe.hget(self._room(room_id), "seq")
            raw_entries, raw_seq = await pipe.execute()
        entries = [e for e in (parse_entry(r.decode()) for r in raw_entries) if e is not None]
        current = int(raw_seq) if raw_seq is not None else 0
        oldest = entries[0].seq if entries else current + 1
        complete = after >= current or oldest <= after + 1
        return [e for e in entries if e.seq > after], complete

    @_reachable
    async def kick(self, room_id: str, conn_id: str) -> None:
        await self._client.publish(
            self._prefix + room_channel(room_id), f"{KICK}|{conn_id}".encode()
        )

    @_reachable
    async def put_resume(self, token_hash: str, record: ResumeRecord, ttl_s: int) -> None:
        await self._client.set(f"{self._prefix}resume:{token_hash}", record.to_json(), ex=ttl_s)

    @_reachable
    async def get_resume(self, token_hash: str) -> ResumeRecord | None:
        raw = await self._client.get(f"{self._prefix}resume:{token_hash}")
        return ResumeRecord.from_json(raw) if raw is not None else None

    @_reachable
    async def drop_resume(self, token_hash: str) -> None:
        await self._client.delete(f"{self._prefix}resume:{token_hash}")

    @_reachable
    async def queue_put(self, clinician: str, appointment: str, score: float) -> None:
        key = f"{self._prefix}queue:{clinician}"
        await self._client.zadd(key, {appointment: score})
        await self._client.expire(key, ROOM_TTL_S)

    @_reachable
    async def queue_drop(self, clinician: str, appointment: str) -> None:
        await self._client.zrem(f"{self._prefix}queue:{clinician}", appointment)

    @_reachable
    async def queue(self, clinician: str) -> list[str]:
        raw = await self._client.zrange(f"{self._prefix}queue:{clinician}", 0, -1)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    @_reachable
    async def mark_alive(self, node: str, ttl_s: float) -> None:
        await self._client.set(f"{self._prefix}node:{node}", b"1", px=max(1, int(ttl_s * 1000)))

    @_reachable
    async def dead(self, nodes: set[str]) -> set[str]:
        if not nodes:
            return set()
        ordered = sorted(nodes)
        found = await self._client.mget([f"{self._prefix}node:{n}" for n in ordered])
        return {n for n, v in zip(ordered, found, strict=True) if v is None}

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.disconnect()
