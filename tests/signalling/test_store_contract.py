"""One contract for room state, run against memory and the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduling.types import AppointmentView
from signalling.bus import Bus, create_bus
from signalling.errors import ErrorCode, SignallingError
from signalling.rooms import Room
from signalling.store import ResumeRecord, RoomStore, create_store, parse_entry
from signalling.store.base import Step, body_tail, node_channel
from signalling.store.memory import PURGE_EVERY_S, MemoryRoomStore
from signalling.store.redis import RedisRoomStore

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RoomStore, Bus]]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    bus = create_bus(url, prefix=prefix)
    await bus.start()
    made = create_store(url, prefix=prefix, log_size=4)
    yield made, bus
    await made.close()
    await bus.close()


def _view(appointment: str = "appt") -> AppointmentView:
    return AppointmentView(
        id=appointment,
        establishment_id="est",
        prisoner_id="pat",
        clinician_id="doc",
        service="gp",
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=20),
        window_opens=NOW - timedelta(minutes=10),
        window_closes=NOW + timedelta(minutes=35),
        status="booked",
        relay_only=True,
    )


def _open(room: Room | None) -> tuple[Room, None]:
    room = room or Room.open(_view(), NOW)
    room.join("pat", "patient", "c1", None, NOW)
    return room, None


async def test_update_writes_and_a_refused_step_writes_nothing(
    store: tuple[RoomStore, Bus],
) -> None:
    rooms, _ = store
    assert await rooms.get("appt") is None
    await rooms.update("appt", _open)
    room = await rooms.get("appt")
    assert room is not None and room.members["pat"].status.value == "waiting"

    def refuse(current: Room | None) -> tuple[Room | None, None]:
        assert current is not None
        current.leave("pat", "left", NOW)
        raise SignallingError(ErrorCode.NOT_ALLOWED)

    with pytest.raises(SignallingError):
        await rooms.update("appt", refuse)
    again = await rooms.get("appt")
    assert again is not None and again.members["pat"].status.value == "waiting"


async def test_append_numbers_logs_publishes_and_replays(store: tuple[RoomStore, Bus]) -> None:
    rooms, bus = store
    got: list[str] = []
    sub = await bus.subscribe(node_channel("node-a"), lambda _c, p: _collect(got, p))
    elsewhere: list[str] = []
    other = await bus.subscribe(node_channel("node-b"), lambda _c, p: _collect(elsewhere, p))
    # "pat" is served by node-a (and once by node-b, which node-a took it from).
    await rooms.update("appt", _open, serve=("pat", "node-b"))
    await rooms.serve("appt", "pat", "node-a")
    entries = []
    for i in range(6):
        tail = body_tail({"type": "notice", "v": 1, "n": i})
        entry = await rooms.append("appt", ("pat",), tail, 0.0)
        assert entry is not None
        entries.append(entry)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].wire == '{"seq":1,"type":"notice","v":1,"n":0}'
    assert entries[0].recipients == ("pat",)
    if rooms.broadcasts:
        # Shared by nodes: every append reaches every node's subscription, in order.
        for _ in range(50):
            if len(got) == 6:
                break
            await asyncio.sleep(0.02)
        assert all(raw.startswith("appt\n") for raw in got)
        published = [parse_entry(raw.partition("\n")[2]) for raw in got]
        assert published == entries
        # Only the node serving the recipient hears of it.
        assert elsewhere == []
    else:
        # One node: the hub delivers what it appends; nothing goes on the bus.
        await asyncio.sleep(0.05)
        assert got == []
    assert await rooms.seq("appt") == 6
    replayed, complete = await rooms.replay("appt", 4)
    assert [e.seq for e in replayed] == [5, 6] and complete
    assert replayed[-1].wire == entries[-1].wire
    replayed, complete = await rooms.replay("appt", 0)
    assert [e.seq for e in replayed] == [3, 4, 5, 6] and not complete
    await sub.close()
    await other.close()


async def _collect(into: list[str], payload: bytes) -> None:
    into.append(payload.decode())


async def test_resume_records_and_queues(store: tuple[RoomStore, Bus]) -> None:
    rooms, _ = store
    await rooms.put_resume("h1", ResumeRecord("appt", "pat"), 60)
    assert await rooms.get_resume("h1") == ResumeRecord("appt", "pat")
    await rooms.drop_resume("h1")
    assert await rooms.get_resume("h1") is None
    await rooms.queue_put("doc", "b", 2.0)
    await rooms.queue_put("doc", "a", 1.0)
    assert await rooms.queue("doc") == ["a", "b"]
    await rooms.queue_drop("doc", "a")
    assert await rooms.queue("doc") == ["b"]


async def test_memory_store_forgets_idle_rooms_and_lapsed_tokens_once_a_minute() -> None:
    """A long-running single node must not keep every consult it has ever seen."""
    now = [0.0]
    rooms = MemoryRoomStore(ttl_s=30, monotonic=lambda: now[0])

    def open_room(appointment: str) -> Step[None]:
        def step(room: Room | None) -> tuple[Room, None]:
            return room or Room.open(_view(appointment), NOW), None

        return step

    for appointment in ("old", "recent"):
        await rooms.update(appointment, open_room(appointment))
        await rooms.append(appointment, ("pat",), body_tail({"type": "notice", "v": 1}), 0.0)
        await rooms.queue_put("doc", appointment, 1.0)
    await rooms.put_resume("lapsed", ResumeRecord("old", "pat"), 10)
    await rooms.put_resume("live", ResumeRecord("recent", "pat"), 1000)

    now[0] = PURGE_EVERY_S - 1
    await rooms.update("recent", open_room("recent"))
    assert await rooms.get("old") is not None  # idle past its TTL, but no purge yet
    assert "lapsed" in rooms._resume

    now[0] = PURGE_EVERY_S
    await rooms.update("recent", open_room("recent"))
    assert await rooms.get("old") is None
    assert await rooms.seq("old") == 0
    assert (await rooms.replay("old", 0))[0] == []
    assert await rooms.queue("doc") == ["recent"]
    assert await rooms.get("recent") is not None
    assert await rooms.seq("recent") == 1
    assert [e.seq for e in (await rooms.replay("recent", 0))[0]] == [1]
    assert "lapsed" not in rooms._resume
    assert await rooms.get_resume("live") == ResumeRecord("recent", "pat")
    assert rooms.room_count == 1


async def test_append_checked_against_an_old_view_of_the_room_logs_nothing(
    store: tuple[RoomStore, Bus], request: pytest.FixtureRequest
) -> None:
    """A relay is checked against the room as this node saw it; the append logs it
    only if the room has not changed since (in Redis, changed by any node)."""
    rooms, _ = store
    await rooms.update("appt", _open)
    seen = await rooms.get("appt")
    assert seen is not None and rooms.cached("appt") is seen
    tail = body_tail({"type": "notice", "v": 1})
    assert await rooms.append("appt", ("pat",), tail, 0.0, checked=seen) is not None

    other = rooms
    if isinstance(rooms, RedisRoomStore):  # another node, sharing the same Redis keys
        other = RedisRoomStore(request.getfixturevalue("redis_url"), prefix=rooms._prefix)

    def leave(current: Room | None) -> tuple[Room | None, None]:
        assert current is not None
        current.leave("pat", "left", NOW)
        return current, None

    await other.update("appt", leave)
    if other is not rooms:
        await other.close()
    assert await rooms.append("appt", ("pat",), tail, 0.0, checked=seen) is None
    assert await rooms.seq("appt") == 1
    fresh = await rooms.get("appt")
    assert fresh is not None and fresh.members["pat"].status.value == "left"
    entry = await rooms.append("appt", ("pat",), tail, 0.0, checked=fresh)
    assert entry is not None and entry.seq == 2
