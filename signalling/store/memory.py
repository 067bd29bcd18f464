"""Room state in this node's memory, for the single-node configuration.

Nothing here is shared with another node, so nothing is published: the hub
delivers what it appends itself (`broadcasts` is False). A room is forgotten,
with its log and its numbering, once it has not changed for `ttl_s` (two days,
as in Redis), so a long-running node does not keep every consult it has seen.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable

from signalling.rooms import Room
from signalling.store.base import LogEntry, ResumeRecord, Step, T, wire

ROOM_TTL_S = 2 * 86400
PURGE_EVERY_S = 60.0


class MemoryRoomStore:
    broadcasts = False

    def __init__(
        self,
        *,
        log_size: int = 256,
        ttl_s: float = ROOM_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log_size = log_size
        self._ttl_s = ttl_s
        self._now = monotonic
        self._raw: dict[str, str] = {}
        self._parsed: dict[str, tuple[str, Room]] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._seq: dict[str, int] = {}
        self._logs: dict[str, deque[LogEntry]] = {}
        self._touched: dict[str, float] = {}
        self._purged_at = monotonic()
        self._resume: dict[str, tuple[ResumeRecord, float]] = {}
        self._queues: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self._identities: dict[str, dict[str, None]] = {}

    async def get(self, room_id: str) -> Room | None:
        return self.peek(room_id)

    def cached(self, room_id: str) -> Room | None:
        return self.peek(room_id)

    def peek(self, room_id: str) -> Room | None:
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

    async def update(
        self, room_id: str, step: Step[T], *, serve: tuple[str, str] | None = None
    ) -> T:
        self._purge()
        async with self._locks[room_id]:
            raw = self._raw.get(room_id)
            room = Room.from_json(raw) if raw is not None else None
            new, result = step(room)
            if new is not None:
                self._raw[room_id] = new.to_json()
                self._touched[room_id] = self._now()
            return result

    async def append(
        self,
        room_id: str,
        recipients: tuple[str, ...],
        tail: str,
        sent_at: float,
        *,
        checked: Room | None = None,
    ) -> LogEntry | None:
        if checked is not None and checked is not self.peek(room_id):
            return None
        return self.append_now(room_id, recipients, tail, sent_at)

    def append_now(
        self, room_id: str, recipients: tuple[str, ...], tail: str, sent_at: float
    ) -> LogEntry:
        seq = self._seq.get(room_id, 0) + 1
        self._seq[room_id] = seq
        entry = LogEntry(recipients, sent_at, seq, wire(seq, tail))
        log = self._logs.get(room_id)
        if log is None:
            log = self._logs[room_id] = deque(maxlen=self._log_size)
        log.append(entry)
        return entry

    async def serve(self, room_id: str, participant: str, node: str) -> None:
        return None  # one node: the hub delivers what it appends itself

    async def seq(self, room_id: str) -> int:
        return self._seq.get(room_id, 0)

    async def replay(self, room_id: str, after: int) -> tuple[list[LogEntry], bool]:
        entries = list(self._logs.get(room_id, ()))
        current = self._seq.get(room_id, 0)
        oldest = entries[0].seq if entries else current + 1
        complete = after >= current or oldest <= after + 1
        return [e for e in entries if e.seq > after], complete

    async def kick(self, room_id: str, conn_id: str) -> None:
        """Nothing to publish: on one node the hub closes the connection itself."""
        return None

    async def put_resume(self, token_hash: str, record: ResumeRecord, ttl_s: int) -> None:
        self._resume[token_hash] = (record, self._now() + ttl_s)

    async def get_resume(self, token_hash: str) -> ResumeRecord | None:
        found = self._resume.get(token_hash)
        if found is None or found[1] < self._now():
            return None
        return found[0]

    async def drop_resume(self, token_hash: str) -> None:
        self._resume.pop(token_hash, None)

    async def take_resume(self, token_hash: str) -> bool:
        found = self._resume.pop(token_hash, None)
        return found is not None and found[1] >= self._now()

    async def queue_put(self, clinician: str, appointment: str, score: float) -> None:
        self._queues[clinician][appointment] = score

    async def queue_drop(self, clinician: str, appointment: str) -> None:
        queue = self._queues.get(clinician)
        if queue is not None:
            queue.pop(appointment, None)
            if not queue:
                del self._queues[clinician]

    async def queue(self, clinician: str) -> list[str]:
        entries = self._queues.get(clinician, {})
        return sorted(entries, key=lambda a: (entries[a], a))

    def last_known(self, room_id: str) -> tuple[Room, int] | None:
        room = self.peek(room_id)
        return (room, 0) if room is not None else None

    async def restore(self, room_id: str, room: Room, version: int, seq: int) -> None:
        return None  # this node's memory is the store: it loses nothing without the node

    async def identity_open(self, account: str, conn_id: str, cap: int) -> list[str]:
        conns = self._identities.setdefault(account, {})
        conns[conn_id] = None
        over = list(conns)[: max(0, len(conns) - cap)]
        for old in over:
            del conns[old]
        return over

    async def identity_close(self, account: str, conn_id: str) -> None:
        conns = self._identities.get(account)
        if conns is not None:
            conns.pop(conn_id, None)
            if not conns:
                del self._identities[account]

    async def mark_alive(self, node: str, ttl_s: float) -> None:
        return None

    async def dead(self, nodes: set[str]) -> set[str]:
        """One process: a node that could ask is alive, and so is every other."""
        return set()

    @property
    def room_count(self) -> int:
        return len(self._raw)

    def _purge(self) -> None:
        """Forget rooms unchanged for `ttl_s`, and lapsed resume tokens (at most once a minute)."""
        now = self._now()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        cutoff = now - self._ttl_s
        for room_id in [r for r, at in self._touched.items() if at < cutoff]:
            if (lock := self._locks.get(room_id)) is not None and lock.locked():
                continue
            for table in (self._raw, self._parsed, self._seq, self._logs, self._touched):
                table.pop(room_id, None)
            self._locks.pop(room_id, None)
            for queue in self._queues.values():
                queue.pop(room_id, None)
        for token in [t for t, (_, until) in self._resume.items() if until < now]:
            del self._resume[token]
        for clinician in [c for c, q in self._queues.items() if not q]:
            del self._queues[clinician]

    async def close(self) -> None:
        return None
