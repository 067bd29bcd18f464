"""Room state in Redis, so that a room outlives any one node.

Keys, all under the configured prefix: `room:<id>` (hash: `state`, `seq`, and
`ver`, which every change of `state` increments),
`log:<id>` (capped list of logged messages), `resume:<token hash>` (with a
TTL), `queue:<clinician>` (sorted set of waiting appointments) and
`ident:<account>` (sorted set of the account's open connections, by the time
each opened, for the cap per identity) and `serve:<id>` (hash: participant to
the node its socket is on, written before that socket reads the room's seq or
log). A logged message is numbered, appended and published by one script, so
every node sees the same order; it is published once to each node that serves
one of its recipients, on that node's own channel (`node:<node>`, which the node
subscribed to once, at start), never to a channel per room. Every command goes
on one lean pipelined connection (`signalling/bus/resp.py`'s `Lane`).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from signalling.bus.resp import DEFAULT_TIMEOUT_S, Lane, RedisReplyError, bulk
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
    wire,
)

ROOM_TTL_S = 2 * 86400

TRANSIENT = ("LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN")
"""Redis's answers while it cannot serve (restarting, loading its data, failing over)."""

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
        except OSError as exc:  # ConnectionError, and the lane's RedisTimeout
            raise StoreUnavailable(type(exc).__name__) from exc
        except RedisReplyError as exc:
            if not str(exc).startswith(TRANSIENT):
                raise
            raise StoreUnavailable(str(exc).partition(" ")[0]) from exc

    return guarded


_APPEND = """
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'ver') ~= ARGV[5] then
  return -1
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = ARGV[6] .. '\\n{"seq":' .. seq .. ',' .. ARGV[7]
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
if #ARGV < 8 then
  return seq
end
local nodes = redis.call('HMGET', KEYS[3], unpack(ARGV, 8))
local sent = {}
for _, node in ipairs(nodes) do
  if node and not sent[node] then
    sent[node] = true
    redis.call('PUBLISH', ARGV[2] .. node, ARGV[4] .. '\\n' .. entry)
  end
end
return seq
"""

_UPDATE = """
if (redis.call('HGET', KEYS[1], 'ver') or '') ~= ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
end
return ver
"""

_REPLAY = """
return {redis.call('LRANGE', KEYS[1], 0, -1), redis.call('HGET', KEYS[2], 'seq')}
"""

_KICK = """
local sent = {}
for _, node in ipairs(redis.call('HVALS', KEYS[1])) do
  if not sent[node] then
    sent[node] = true
    redis.call('PUBLISH', ARGV[1] .. node, ARGV[2])
  end
end
return 1
"""


_IDENTITY_OPEN = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over <= 0 then
  return {}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, over - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
return oldest
"""


_RESTORE = """
local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '-1')
if ver < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'state', ARGV[1], 'ver', ARGV[4])
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if seq < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'seq', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

GONE_KEPT = 10_000
"""Rooms this node saw that the store no longer has, kept for `restore` (oldest dropped)."""


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def _version(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0


class RedisRoomStore:
    broadcasts = True

    def __init__(
        self, url: str, *, prefix: str, log_size: int = 256, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        # One pipelined connection for every command (see bus/resp.py): what a turn
        # of the loop issues leaves in one write, with no pool, lock or task per
        # command; Redis runs them in the order they were issued.
        self._lane = Lane(url, timeout_s=timeout_s)
        self._append_sha = _sha(_APPEND)
        self._kick_sha = _sha(_KICK)
        self._update_sha = _sha(_UPDATE)
        self._replay_sha = _sha(_REPLAY)
        self._identity_sha = _sha(_IDENTITY_OPEN)
        self._restore_sha = _sha(_RESTORE)
        self._prefix = prefix
        self._log_size = log_size
        self._append_static: dict[str, bytes] = {}
        # The last state of each room seen by this node, with its `ver`.
        self._parsed: dict[str, tuple[bytes, Room, bytes]] = {}
        # Rooms that vanished from Redis after this node saw them (it restarted empty).
        self._gone: dict[str, tuple[Room, int]] = {}

    def _room(self, room_id: str) -> str:
        return f"{self._prefix}room:{room_id}"

    def _log(self, room_id: str) -> str:
        return f"{self._prefix}log:{room_id}"

    def _serve(self, room_id: str) -> str:
        return f"{self._prefix}serve:{room_id}"

    async def _script(self, sha: str, source: str, *args: bytes | str | int | float) -> object:
        try:
            return await self._lane.call("EVALSHA", sha, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._lane.call("EVAL", source, *args)  # and Redis keeps it again

    @_reachable
    async def get(self, room_id: str) -> Room | None:
        found: Any = await self._lane.call("HMGET", self._room(room_id), "state", "ver")
        return self._parse(room_id, found[0], found[1])

    def cached(self, room_id: str) -> Room | None:
        """The room as this node last saw it (by `get` or `update`); it may be out of date."""
        cached = self._parsed.get(room_id)
        return cached[1] if cached is not None else None

    def _parse(self, room_id: str, raw: bytes | str | None, ver: bytes | str | None) -> Room | None:
        if raw is None:
            lost = self._parsed.pop(room_id, None)
            if lost is not None:
                self._gone[room_id] = (lost[1], _version(lost[2]))
                if len(self._gone) > GONE_KEPT:
                    del self._gone[next(iter(self._gone))]
            return None
        raw = raw.encode() if isinstance(raw, str) else raw
        ver = ver.encode() if isinstance(ver, str) else ver
        cached = self._parsed.get(room_id)
        room = cached[1] if cached is not None and cached[0] == raw else Room.from_json(raw)
        self._parsed[room_id] = (raw, room, ver or b"")
        return room

    @_reachable
    async def get_many(self, room_ids: list[str]) -> dict[str, Room]:
        if not room_ids:
            return {}
        # On the lane: every read leaves in one write, without redis-py's cost per
        # command (the sweep reads every room this node serves, each second).
        call = self._lane.call
        futures = [call("HMGET", self._room(room_id), "state", "ver") for room_id in room_ids]
        rooms = {}
        for room_id, future in zip(room_ids, futures, strict=True):
            found: Any = await future
            room = self._parse(room_id, found[0], found[1])
            if room is not None:
                rooms[room_id] = room
        return rooms

    @_reachable
    async def update(
        self, room_id: str, step: Step[T], *, serve: tuple[str, str] | None = None
    ) -> T:
        """Read the room, apply `step`, and write it back if its `ver` is still the
        one read (else read again): two round trips on the lane, with nothing held
        in between (redis-py's WATCH took a pooled connection and four)."""
        key = self._room(room_id)
        who, node = serve if serve is not None else ("", "")
        while True:
            found: Any = await self._lane.call("HMGET", key, "state", "ver")
            raw, ver = found
            room = Room.from_json(raw) if raw is not None else None
            new, result = step(room)
            if new is None:
                return result
            raw_new = new.to_json().encode()
            # With the state, so that of two nodes taking the same member the one
            # whose state is stored last is the one served.
            written = await self._script(
                self._update_sha,
                _UPDATE,
                2,
                key,
                self._serve(room_id),
                raw_new,
                ver or b"",
                ROOM_TTL_S,
                who,
                node,
            )
            version = int(written)  # type: ignore[call-overload]
            if version >= 0:
                self._parsed[room_id] = (raw_new, Room.from_json(raw_new), b"%d" % version)
                return result

    @_reachable
    async def append(
        self,
        room_id: str,
        recipients: tuple[str, ...],
        tail: str,
        sent_at: float,
        *,
        checked: Room | None = None,
    ) -> LogEntry | None:
        ver = b""
        if checked is not None:
            cached = self._parsed.get(room_id)
            if cached is None or cached[1] is not checked:
                return None  # a view this store did not hand out: check against a fresh one
            ver = cached[2]
        # The room's part of the command is packed once (keys, room, limits); each
        # message adds its own four or more bulk strings.
        static = self._append_static.get(room_id)
        if static is None:
            if len(self._append_static) >= GONE_KEPT:
                self._append_static.clear()
            static = self._append_static[room_id] = b"".join(
                bulk(str(a).encode())
                for a in (
                    self._append_sha,
                    3,
                    self._room(room_id),
                    self._log(room_id),
                    self._serve(room_id),
                    self._log_size,
                    self._prefix + "node:",
                    ROOM_TTL_S,
                    room_id,
                )
            )
        parts = [
            b"*%d\r\n$7\r\nEVALSHA\r\n" % (13 + len(recipients)),
            static,
            bulk(ver),
            bulk(entry_header(recipients, sent_at).encode()),
            bulk(tail.encode()),
        ]
        parts.extend(bulk(r.encode()) for r in recipients)
        try:
            raw = await self._lane.call_packed(b"".join(parts))
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis forgot the script (it restarted): sent whole, and kept again.
            raw = await self._lane.call(
                "EVAL",
                _APPEND,
                3,
                self._room(room_id),
                self._log(room_id),
                self._serve(room_id),
                self._log_size,
                self._prefix + "node:",
                ROOM_TTL_S,
                room_id,
                ver,
                entry_header(recipients, sent_at),
                tail,
                *recipients,
            )
        seq = int(raw)  # type: ignore[call-overload]
        if seq < 0:
            return None  # the room changed after `checked` was read: nothing was logged
        return LogEntry(recipients, sent_at, seq, wire(seq, tail))

    @_reachable
    async def seq(self, room_id: str) -> int:
        raw: Any = await self._lane.call("HGET", self._room(room_id), "seq")
        return int(raw) if raw is not None else 0

    @_reachable
    async def replay(self, room_id: str, after: int) -> tuple[list[LogEntry], bool]:
        found: Any = await self._script(
            self._replay_sha, _REPLAY, 2, self._log(room_id), self._room(room_id)
        )
        raw_entries, raw_seq = found[0], found[1] if len(found) > 1 else None
        entries = [e for e in (parse_entry(r.decode()) for r in raw_entries) if e is not None]
        current = int(raw_seq) if raw_seq is not None else 0
        oldest = entries[0].seq if entries else current + 1
        complete = after >= current or oldest <= after + 1
        return [e for e in entries if e.seq > after], complete

    @_reachable
    async def kick(self, room_id: str, conn_id: str) -> None:
        await self._script(
            self._kick_sha,
            _KICK,
            1,
            self._serve(room_id),
            self._prefix + "node:",
            f"{room_id}\n{KICK}|{conn_id}",
        )

    @_reachable
    async def serve(self, room_id: str, participant: str, node: str) -> None:
        key = self._serve(room_id)
        # Both leave in one write; awaited, they are in force before the caller reads on.
        done = self._lane.call("HSET", key, participant, node)
        await self._lane.call("EXPIRE", key, ROOM_TTL_S)
        await done

    @_reachable
    async def put_resume(self, token_hash: str, record: ResumeRecord, ttl_s: int) -> None:
        await self._lane.call(
            "SET", f"{self._prefix}resume:{token_hash}", record.to_json(), "EX", ttl_s
        )

    @_reachable
    async def get_resume(self, token_hash: str) -> ResumeRecord | None:
        raw: Any = await self._lane.call("GET", f"{self._prefix}resume:{token_hash}")
        return ResumeRecord.from_json(raw) if raw is not None else None

    @_reachable
    async def drop_resume(self, token_hash: str) -> None:
        await self._lane.call("DEL", f"{self._prefix}resume:{token_hash}")

    @_reachable
    async def take_resume(self, token_hash: str) -> bool:
        # DEL answers how many keys it removed: 1 for one caller only.
        return bool(await self._lane.call("DEL", f"{self._prefix}resume:{token_hash}"))

    @_reachable
    async def queue_put(self, clinician: str, appointment: str, score: float) -> None:
        key = f"{self._prefix}queue:{clinician}"
        added = self._lane.call("ZADD", key, score, appointment)
        await self._lane.call("EXPIRE", key, ROOM_TTL_S)
        await added

    @_reachable
    async def queue_drop(self, clinician: str, appointment: str) -> None:
        await self._lane.call("ZREM", f"{self._prefix}queue:{clinician}", appointment)

    @_reachable
    async def queue(self, clinician: str) -> list[str]:
        raw: Any = await self._lane.call("ZRANGE", f"{self._prefix}queue:{clinician}", 0, -1)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    def last_known(self, room_id: str) -> tuple[Room, int] | None:
        cached = self._parsed.get(room_id)
        if cached is not None:
            return cached[1], _version(cached[2])
        return self._gone.get(room_id)

    @_reachable
    async def restore(self, room_id: str, room: Room, version: int, seq: int) -> None:
        await self._script(
            self._restore_sha,
            _RESTORE,
            1,
            self._room(room_id),
            room.to_json().encode(),
            seq,
            ROOM_TTL_S,
            max(1, version),
        )
        self._gone.pop(room_id, None)
        self._parsed.pop(room_id, None)  # its `ver` is new: read it again before relaying

    @_reachable
    async def identity_open(self, account: str, conn_id: str, cap: int) -> list[str]:
        over: Any = await self._script(
            self._identity_sha,
            _IDENTITY_OPEN,
            1,
            f"{self._prefix}ident:{account}",
            repr(time.time()),
            conn_id,
            cap,
            ROOM_TTL_S,
        )
        return [c.decode() if isinstance(c, bytes) else str(c) for c in over]

    @_reachable
    async def identity_close(self, account: str, conn_id: str) -> None:
        await self._lane.call("ZREM", f"{self._prefix}ident:{account}", conn_id)

    @_reachable
    async def mark_alive(self, node: str, ttl_s: float) -> None:
        await self._lane.call(
            "SET", f"{self._prefix}node:{node}", b"1", "PX", max(1, int(ttl_s * 1000))
        )

    @_reachable
    async def dead(self, nodes: set[str]) -> set[str]:
        if not nodes:
            return set()
        ordered = sorted(nodes)
        found: Any = await self._lane.call("MGET", *(f"{self._prefix}node:{n}" for n in ordered))
        return {n for n, v in zip(ordered, found, strict=True) if v is None}

    async def close(self) -> None:
        await self._lane.close()
