"""Room state in this node's memory, for the single-node configuration."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from typing import Any

from signalling.bus.base import Bus
from signalling.rooms import Room
from signalling.store.base import (
    KICK,
    LogEntry,
    ResumeRecord,
    Step,
    T,
    body_tail,
    format_entry,
    parse_entry,
    room_channel,
)


class MemoryRoomStore:
    def __init__(self, bus: Bus, *, log_size: int = 256) -> None:
        self._bus = bus
        self._log_size = log_size
        self._raw: dict[str, str] = {}
        self._parsed: dict[str, tuple[str, Room]] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._seq: dict[str, int] = {}
        self._logs: dict[str, deque[str]] = {}
        self._resume: dict[str, tuple[ResumeRecord, float]] = {}
        self._queues: defaultdict[str, dict[str, float]] = defaultdict(dict)

    async def get(self, room_id: str) -> Room | None:
        raw = self._raw.get(room_id)
        if raw is None:
            return None
        cached = self._parsed.get(room_id)
        if cached is not None and cached[0] is raw:
            return cached[1]
        room = Room.from_json(raw)
        self._parsed[room_id] = (raw, room)
        return room

    async def get_many(self, room_ids: list[str]) -> dict[str, Room]:
        rooms = {}
        for room_id in room_ids:
            room = await self.get(room_id)
            if room is not None:
                rooms[room_id] = room
        return rooms

    async def update(self, room_id: str, step: Step[T]) -> T:
        async with self._locks[room_id]:
            raw = self._raw.get(room_id)
            room = Room.from_json(raw) if raw is not None else None
            new, result = step(room)
            if new is not None:
                self._raw[room_id] = new.to_json()
            return result

    async def append(
        self, room_id: str, recipients: tuple[str, ...], body: dict[str, Any], sent_at: float
    ) -> int:
        seq = self._seq.get(room_id, 0) + 1
        self._seq[room_id] = seq
        entry = format_entry(recipients, sent_at, seq, body_tail(body))
        log = self._logs.get(room_id)
        if log is None:
            log = self._logs[room_id] = deque(maxlen=self._log_size)
        log.append(entry)
        await self._bus.publish(room_channel(room_id), entry.encode())
        return seq

    async def seq(self, room_id: str) -> int:
        return self._seq.get(room_id, 0)

    async def replay(self, room_id: str, after: int) -> tuple[list[LogEntry], bool]:
        entries = [e for e in map(parse_entry, self._logs.get(room_id, ())) if e is not None]
        current = self._seq.get(room_id, 0)
        oldest = entries[0].seq if entries else current + 1
        complete = after >= current or oldest <= after + 1
        return [e for e in entries if e.seq > after], complete

    async def kick(self, room_id: str, conn_id: str) -> None:
        await self._bus.publish(room_channel(room_id), f"{KICK}|{conn_id}".encode())

    async def put_resume(self, token_hash: str, record: ResumeRecord, ttl_s: int) -> None:
        self._resume[token_hash] = (record, time.monotonic() + ttl_s)

    async def get_resume(self, token_hash: str) -> ResumeRecord | None:
        found = self._resume.get(token_hash)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    async def drop_resume(self, token_hash: str) -> None:
        self._resume.pop(token_hash, None)

    async def queue_put(self, clinician: str, appointment: str, score: float) -> None:
        self._queues[clinician][appointment] = score

    async def queue_drop(self, clinician: str, appointment: str) -> None:
        self._queues[clinician].pop(appointment, None)

    async def queue(self, clinician: str) -> list[str]:
        entries = self._queues.get(clinician, {})
        return sorted(entries, key=lambda a: (entries[a], a))

    async def mark_alive(self, node: str, ttl_s: float) -> None:
        return None

    async def dead(self, nodes: set[str]) -> set[str]:
        """One process: a node that could ask is alive, and so is every other."""
        return set()

    async def close(self) -> None:
        return None
