"""The recordings store: sealed at rest under the patient's key, read a range at a time,
refused when tampered with or shredded, deleted by retention unless on hold."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.errors import Code, ServiceError
from core.events import Action, MemorySink
from core.identity import Principal, Role
from media.recording_storage import LocalStorage, RecordingStorage
from media.recordings import DEFAULT_RETENTION_DAYS, Recordings
from media.stream_aead import DEFAULT_CHUNK, HEADER_LEN, TAG_LEN
from tests.scheduling.conftest import Sched, make_sched, staff
from tests.world import new_staff
from web.state import AUDIT, DATABASE, SUBJECT_KEYS

PLAIN = os.urandom(3 * DEFAULT_CHUNK + 1234)


class Store:
    def __init__(self, sched: Sched, storage: RecordingStorage) -> None:
        self.sched = sched
        self.sink = MemorySink()
        self.storage = storage
        app = sched.app
        self.svc = Recordings(
            app[DATABASE],
            storage,
            subject_keys=app[SUBJECT_KEYS],
            clock=sched.clock,
            audit=self.sink,
        )

    async def put(self, appointment_id: str, data: bytes = PLAIN) -> Any:
        new = await self.svc.begin(appointment_id, actor=self.sched.clinician.account_id)
        for i in range(0, len(data), 10_000):
            await new.write(data[i : i + 10_000])
        await new.poster.write(b"\xff\xd8poster\xff\xd9")
        return await new.finish(duration_ms=4000)

    def actions(self) -> list[Action]:
        return self.sink.actions()


@pytest.fixture
async def store(client: Any, clock: FakeClock, tmp_path: Path) -> Store:
    sched = await make_sched(client, clock)
    return Store(sched, LocalStorage(tmp_path / "recordings"))


async def stored_bytes(store: Store, recording_id: str) -> bytes:
    return b"".join([p async for p in store.svc.stored_object(recording_id)])


async def test_a_recording_is_sealed_at_rest_and_its_digest_logged(store: Store) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    stored = await stored_bytes(store, rec.id)
    assert PLAIN[:4096] not in stored and PLAIN[-4096:] not in stored
    assert len(stored) == HEADER_LEN + 4 * TAG_LEN + len(PLAIN)
    [event] = [r for r in store.sink.records if r.action == Action.RECORDING_STORED]
    assert event.details["sha256"] == hashlib.sha256(PLAIN).hexdigest() == rec.sha256
    assert event.details["stored_sha256"] == hashlib.sha256(stored).hexdigest()
    assert event.subject == store.sched.patient.account_id
    assert await store.svc.read_all(store.sched.clinician, rec.id) == PLAIN
    assert await store.svc.poster(store.sched.clinician, rec.id) == b"\xff\xd8poster\xff\xd9"
    assert rec.expires_at - rec.created_at == timedelta(days=DEFAULT_RETENTION_DAYS)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),
        (0, DEFAULT_CHUNK),
        (DEFAULT_CHUNK - 1, DEFAULT_CHUNK + 1),
        (DEFAULT_CHUNK, 2 * DEFAULT_CHUNK),
        (2 * DEFAULT_CHUNK + 5, 3 * DEFAULT_CHUNK + 1000),
        (len(PLAIN) - 1, len(PLAIN)),
    ],
)
async def test_range_reads_at_chunk_boundaries(store: Store, start: int, end: int) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    assert await store.svc.read_range(playable, start, end) == PLAIN[start:end]


async def test_a_range_beyond_the_end_is_refused(store: Store) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    with pytest.raises(ServiceError) as refused:
        await store.svc.read_range(playable, len(PLAIN), len(PLAIN) + 1)
    assert refused.value.code == Code.RANGE_NOT_SATISFIABLE


async def _tamper(store: Store, rec_id: str, offset: int) -> None:
    assert isinstance(store.storage, LocalStorage)
    path = store.storage.path(f"{rec_id}/media")

    def flip() -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))

    await asyncio.to_thread(flip)


async def test_a_tampered_file_is_refused_on_read_and_logged(store: Store) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    third_chunk = HEADER_LEN + 2 * (DEFAULT_CHUNK + TAG_LEN) + 10
    await _tamper(store, rec.id, third_chunk)
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    # The chunks before it still authenticate: a range read opens only its own.
    assert await store.svc.read_range(playable, 0, 100) == PLAIN[:100]
    with pytest.raises(ServiceError) as refused:
        await store.svc.read_range(playable, 2 * DEFAULT_CHUNK, 2 * DEFAULT_CHUNK + 1)
    assert refused.value.code == Code.RECORDING_DAMAGED
    assert Action.RECORDING_TAMPERED in store.actions()
    # Once found damaged, it is refused whole.
    with pytest.raises(ServiceError) as again:
        await store.svc.open_for_play(store.sched.clinician, rec.id)
    assert again.value.code == Code.RECORDING_DAMAGED


async def test_a_truncated_file_is_refused(store: Store) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    assert isinstance(store.storage, LocalStorage)
    path = store.storage.path(f"{rec.id}/media")
    data = await asyncio.to_thread(path.read_bytes)
    await asyncio.to_thread(path.write_bytes, data[: HEADER_LEN + 2 * (DEFAULT_CHUNK + TAG_LEN)])
    with pytest.raises(ServiceError) as refused:
        await store.svc.open_for_play(store.sched.clinician, rec.id)
    assert refused.value.code == Code.RECORDING_DAMAGED
    assert Action.RECORDING_TAMPERED in store.actions()


async def test_the_periodic_check_finds_a_changed_file_and_logs_it(store: Store) -> None:
    appt = await store.sched.book()
    good = await store.put(appt.id)
    bad = await store.put(appt.id)
    assert await store.svc.verify_stored() == (2, 0)
    await _tamper(store, bad.id, HEADER_LEN + 3)
    assert await store.svc.verify_stored() == (2, 1)
    [event] = [r for r in store.sink.records if r.action == Action.RECORDING_TAMPERED]
    assert event.details["recording"] == bad.id
    assert await store.svc.read_all(store.sched.clinician, good.id) == PLAIN


async def test_a_shredded_patients_recording_cannot_be_played(store: Store) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    await store.sched.app[AUDIT].shred(store.sched.patient.account_id, "admin-1")
    with pytest.raises(ServiceError) as refused:
        await store.svc.open_for_play(store.sched.clinician, rec.id)
    assert refused.value.code == Code.RECORDING_SHREDDED


async def test_retention_deletes_expired_recordings_but_never_one_on_hold(store: Store) -> None:
    s = store.sched
    appt = await s.book()
    await store.svc.set_retention(s.manager, s.gp.id, 30)
    kept, held = await store.put(appt.id), await store.put(appt.id)
    await store.svc.place_hold(s.manager, held.id, "inquest")
    s.clock.advance(days=29)
    assert await store.svc.delete_expired() == 0
    s.clock.advance(days=2)
    assert await store.svc.delete_expired() == 1
    deleted = [r for r in store.sink.records if r.action == Action.RECORDING_DELETED]
    assert [e.details["recording"] for e in deleted] == [kept.id]
    assert [r.id for r in await store.svc.of_appointment(s.clinician, appt.id)] == [held.id]
    assert not await asyncio.to_thread(store.storage.path(f"{kept.id}/media").exists)  # type: ignore[attr-defined]
    # Lifted, the next run deletes it.
    await store.svc.lift_hold(s.manager, held.id)
    assert await store.svc.delete_expired() == 1
    assert await store.svc.of_appointment(s.clinician, appt.id) == []


async def test_a_hold_needs_a_kind_and_is_placed_once(store: Store) -> None:
    s = store.sched
    rec = await store.put((await s.book()).id)
    for bad in ("", "because", None, 3):
        with pytest.raises(ServiceError) as refused:
            await store.svc.place_hold(s.manager, rec.id, bad)
        assert refused.value.code == Code.INVALID_REQUEST
    await store.svc.place_hold(s.manager, rec.id, "complaint")
    with pytest.raises(ServiceError) as twice:
        await store.svc.place_hold(s.manager, rec.id, "complaint")
    assert twice.value.code == Code.CONFLICT
    with pytest.raises(ServiceError) as clinician:
        await store.svc.place_hold(s.clinician, rec.id, "complaint")
    assert clinician.value.code == Code.FORBIDDEN


async def test_who_may_play(store: Store) -> None:
    s = store.sched
    rec = await store.put((await s.book()).id)
    for who in (s.officer, s.admin, s.patient):
        with pytest.raises(ServiceError) as refused:
            await store.svc.open_for_play(who, rec.id)
        assert refused.value.code == Code.FORBIDDEN
    stranger = await new_staff(s.app, Role.CLINICIAN, "clinician.stranger", s.world.est)
    with pytest.raises(ServiceError) as not_theirs:
        await store.svc.open_for_play(
            Principal(stranger.account_id, Role.CLINICIAN, s.world.est, session_id="t"), rec.id
        )
    assert not_theirs.value.code == Code.FORBIDDEN
    elsewhere = await new_staff(s.app, Role.MANAGER, "manager.two", s.world.other_est)
    with pytest.raises(ServiceError) as missing:
        await store.svc.open_for_play(
            Principal(elsewhere.account_id, Role.MANAGER, s.world.other_est, session_id="t"),
            rec.id,
        )
    assert missing.value.code == Code.NOT_FOUND
    assert (await store.svc.open_for_play(staff(s.world, "manager"), rec.id)).recording.id == rec.id


async def test_scratch_left_by_a_dead_node_is_swept_and_logged(store: Store) -> None:
    storage = store.storage
    assert isinstance(storage, LocalStorage)
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    done = await storage.writer("capture/dead/0")
    await done.write(os.urandom(1000))
    await done.commit()
    live = await storage.writer("capture/live/0")  # a recorder still writing
    await live.write(os.urandom(1000))
    day_ago = time.time() - 25 * 3600

    def died_mid_write() -> None:
        # What a node that died while writing leaves: a part-written object, a day old.
        cut = storage.path("capture/dead/1.part")
        cut.write_bytes(os.urandom(1000))
        for path in (cut, storage.path("capture/dead/0"), storage.path(f"{rec.id}/media")):
            os.utime(path, (day_ago, day_ago))

    await asyncio.to_thread(died_mid_write)

    try:
        assert await store.svc.purge_scratch() == 2
        left = await asyncio.to_thread(
            lambda: sorted(
                str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()
            )
        )
        assert left == sorted([f"{rec.id}/media", f"{rec.id}/poster", "capture/live/0.part"])
        purged = [r for r in store.sink.records if r.action == Action.RECORDING_SCRATCH_PURGED]
        assert [r.details["objects"] for r in purged] == [2]
        # The recording (as old, but not scratch) is untouched and still plays.
        assert await store.svc.read_all(store.sched.clinician, rec.id) == PLAIN
        # Nothing more to sweep: nothing more logged.
        assert await store.svc.purge_scratch() == 0
        purged = [r for r in store.sink.records if r.action == Action.RECORDING_SCRATCH_PURGED]
        assert len(purged) == 1
    finally:
        await live.abort()
