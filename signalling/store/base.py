"""The port for room state, and the one wire format of a logged message.

A message is handed to the store as its JSON *tail*: everything after
`{"seq":N,`, already encoded once (a relayed frame is the client's own text).
The store numbers it and the client receives `{"seq":N,` + tail. In Redis a
logged message is one line of header, a newline, then that JSON:
`<recipients>|<sent at>\n{"seq":N,...}`; the same bytes go into the replay log
and onto the bus. In memory the entry is kept as it is, never formatted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import orjson

from signalling.rooms import Room

T = TypeVar("T")

KICK = "!kick"
Step = Callable[[Room | None], tuple[Room | None, T]]


@dataclass(frozen=True)
class ResumeRecord:
    room: str
    participant: str

    def to_json(self) -> str:
        return json.dumps({"room": self.room, "participant": self.participant})

    @classmethod
    def from_json(cls, raw: str | bytes) -> ResumeRecord:
        data = json.loads(raw)
        return cls(room=str(data["room"]), participant=str(data["participant"]))


class StoreUnavailable(ConnectionError):
    """The store's backend cannot be reached (Redis down or unreachable); nothing was changed."""


class LogEntry(NamedTuple):
    recipients: tuple[str, ...]
    sent_at: float
    seq: int
    wire: str


def body_tail(body: dict[str, Any]) -> str:
    """The message JSON without its opening brace, ready to follow `{"seq":N,`."""
    return orjson.dumps(body).decode()[1:]


def wire(seq: int, tail: str) -> str:
    return f'{{"seq":{seq},{tail}'


def entry_header(recipients: tuple[str, ...], sent_at: float) -> str:
    return f"{','.join(recipients)}|{sent_at:.6f}"


def parse_entry(raw: str) -> LogEntry | None:
    header, sep, wire = raw.partition("\n")
    if not sep:
        return None
    recipients, _, sent_at = header.partition("|")
    comma = wire.find(",", 7)
    try:
        seq = int(wire[7:comma])
        when = float(sent_at)
    except ValueError:
        return None
    return LogEntry(tuple(recipients.split(",")), when, seq, wire)


def node_channel(node: str) -> str:
    """The one channel a node subscribes to for every room it serves (Redis).

    What is published there is `<room id>\n<logged entry>` or `<room id>\n!kick|<conn>`.
    """
    return f"node:{node}"


class RoomStore(Protocol):
    broadcasts: bool
    """True: `append` publishes to the channel of each node that serves one of the
    message's recipients (`serve`, `node_channel`; Redis). False: the store serves
    one node, and the hub delivers what it appends itself (memory)."""

    async def get(self, room_id: str) -> Room | None:
        """The room as stored; callers must not change it (use `update`)."""
        ...

    def cached(self, room_id: str) -> Room | None:
        """The room as this node last saw it, without asking; it may be out of date.

        Check against it, then pass it to `append` as `checked`, which logs the
        message only if the room has not changed since.
        """
        ...

    async def get_many(self, room_ids: list[str]) -> dict[str, Room]:
        """The stored rooms among `room_ids` (absent ones left out), in one round trip."""
        ...

    async def update(
        self, room_id: str, step: Step[T], *, serve: tuple[str, str] | None = None
    ) -> T:
        """Read, apply `step`, and write what it returns, atomically.

        If `step` raises, nothing is written; if it returns no room, nothing is.
        `serve` (participant, node), written with the room, is `serve`'s: from
        then on what is logged for that participant goes to that node.
        """
        ...

    async def append(
        self,
        room_id: str,
        recipients: tuple[str, ...],
        tail: str,
        sent_at: float,
        *,
        checked: Room | None = None,
    ) -> LogEntry | None:
        """Give the message the room's next seq and log it (and publish it if `broadcasts`).

        With `checked` (a room from `cached` or `get`), only if the room is still in
        that state; otherwise nothing is logged and the answer is None.
        """
        ...

    async def serve(self, room_id: str, participant: str, node: str) -> None:
        """From now on, what is logged for `participant` in the room is published to
        `node`'s channel (and no longer to the node that served it before).

        Returns once that is in force: a caller that reads the seq or the log next
        misses nothing in between (each message is either already logged, or
        published to it). Nothing to do for a store that serves one node.
        """
        ...

    async def seq(self, room_id: str) -> int: ...

    async def replay(self, room_id: str, after: int) -> tuple[list[LogEntry], bool]:
        """Logged messages with seq > after, and whether the log still held them all."""
        ...

    async def kick(self, room_id: str, conn_id: str) -> None:
        """Tell whichever node holds connection `conn_id` to close it (unlogged)."""
        ...

    async def put_resume(self, token_hash: str, record: ResumeRecord, ttl_s: int) -> None: ...

    async def get_resume(self, token_hash: str) -> ResumeRecord | None: ...

    async def drop_resume(self, token_hash: str) -> None: ...

    async def take_resume(self, token_hash: str) -> bool:
        """Spend a resume token: True for exactly one caller, on whichever node.

        A token presented on two nodes at once (a client that retried elsewhere
        before its first attempt answered) resumes one connection; the other is
        told `expired`, as for a spent token.
        """
        ...

    async def queue_put(self, clinician: str, appointment: str, score: float) -> None: ...

    async def queue_drop(self, clinician: str, appointment: str) -> None: ...

    async def queue(self, clinician: str) -> list[str]: ...

    def last_known(self, room_id: str) -> tuple[Room, int] | None:
        """The room as this node last saw it, and its version then, even if the
        store has since lost it."""
        ...

    async def restore(self, room_id: str, room: Room, version: int, seq: int) -> None:
        """Put `room` back (as of `version`) if the store lost it (Redis restarted
        empty) or holds an older version put back by another node; make its next
        seq greater than `seq`. A room the store kept is never older, so it stays."""
        ...

    async def identity_open(self, account: str, conn_id: str, cap: int) -> list[str]:
        """Count connection `conn_id` of `account` (on any node); the oldest ones past
        `cap`, which the caller closes (4010), are returned and no longer counted."""
        ...

    async def identity_close(self, account: str, conn_id: str) -> None: ...

    async def mark_alive(self, node: str, ttl_s: float) -> None:
        """This node is alive for `ttl_s` more seconds."""
        ...

    async def dead(self, nodes: set[str]) -> set[str]:
        """Which of `nodes` have stopped marking themselves alive."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class LocalRoomStore(RoomStore, Protocol):
    """A store in this node's memory answers at once: the relay path calls it without awaiting."""

    def peek(self, room_id: str) -> Room | None:
        """`get`, synchronously."""
        ...

    def append_now(
        self, room_id: str, recipients: tuple[str, ...], tail: str, sent_at: float
    ) -> LogEntry:
        """`append`, synchronously."""
        ...
