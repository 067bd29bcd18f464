"""Playback over HTTP: range requests decrypted on the fly, each viewing logged, and
nobody else's: officers and admins never, another establishment's as a missing one."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest

from core.clock import FakeClock
from media.recording_storage import LocalStorage
from media.recordings import MAX_RANGE, RETENTION_JOB, SCRATCH_JOB, VERIFY_JOB
from media.stream_aead import DEFAULT_CHUNK, HEADER_LEN, TAG_LEN
from tests.scheduling.conftest import Sched, make_sched
from tests.world import World, bearer, sign_in_staff
from web.recordings_api import RECORDINGS
from web.state import AUDIT, JOBS

pytestmark = pytest.mark.parametrize("store_kind", ["sqlite"])
PLAIN = os.urandom(MAX_RANGE + 3 * DEFAULT_CHUNK + 99)


@pytest.fixture
async def sched(client: Any, clock: FakeClock) -> Sched:
    return await make_sched(client, clock)


async def stored(sched: Sched) -> Any:
    appt = await sched.book()
    new = await sched.app[RECORDINGS].begin(appt.id, actor=sched.clinician.account_id)
    await new.write(PLAIN)
    await new.poster.write(b"\xff\xd8poster")
    return await new.finish(duration_ms=2000)


async def headers_of(client: Any, world: World, role: str) -> dict[str, str]:
    return bearer(await sign_in_staff(client, world.staff[role]))


async def test_ranges_are_answered_206_with_the_right_bytes(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "clinician")
    url = f"/api/recordings/{rec.id}/media"
    size = len(PLAIN)
    for asked, (start, end) in (
        ("bytes=0-0", (0, 1)),
        (f"bytes={DEFAULT_CHUNK - 2}-{DEFAULT_CHUNK + 1}", (DEFAULT_CHUNK - 2, DEFAULT_CHUNK + 2)),
        (f"bytes={size - 10}-", (size - 10, size)),
        ("bytes=-7", (size - 7, size)),
        (f"bytes=5-{size + 100}", (5, 5 + MAX_RANGE)),
        ("bytes=0-", (0, MAX_RANGE)),
    ):
        resp = await client.get(url, headers={**h, "Range": asked})
        assert resp.status == 206, asked
        assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        assert resp.headers["Content-Type"] == "video/webm"
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert await resp.read() == PLAIN[start:end]


async def test_a_range_beyond_the_end_is_416_with_the_size(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "clinician")
    resp = await client.get(
        f"/api/recordings/{rec.id}/media", headers={**h, "Range": f"bytes={len(PLAIN)}-"}
    )
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(PLAIN)}"
    assert (await resp.json())["code"] == "range_not_satisfiable"


async def test_a_full_read_is_the_file_its_digest_checked(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "manager")
    resp = await client.get(f"/api/recordings/{rec.id}/media", headers=h)
    assert resp.status == 200
    body = await resp.read()
    assert body == PLAIN
    assert resp.headers["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()


async def test_each_viewing_is_logged(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "clinician")
    url = f"/api/recordings/{rec.id}/media"
    await client.get(url, headers={**h, "Range": "bytes=0-"})
    await client.get(url, headers={**h, "Range": "bytes=100-200"})  # the same viewing, on
    await client.get(url, headers={**h, "Range": "bytes=0-"})
    await sched.app[AUDIT].kept()
    manager = await headers_of(client, sched.world, "manager")
    log = await client.get("/api/audit/events?action=recording_viewed", headers=manager)
    events = (await log.json())["events"]
    assert len(events) == 2
    assert {e["actor"] for e in events} == {sched.clinician.account_id}


async def test_officers_and_admins_never_play(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    for role in ("officer", "admin"):
        h = await headers_of(client, sched.world, role)
        for path in ("media", "poster"):
            resp = await client.get(f"/api/recordings/{rec.id}/{path}", headers=h)
            assert resp.status == 403, (role, path)
        listing = await client.get(f"/api/appointments/{rec.appointment_id}/recordings", headers=h)
        assert listing.status == 403


async def test_the_player_lists_an_appointments_recordings(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "clinician")
    resp = await client.get(f"/api/appointments/{rec.appointment_id}/recordings", headers=h)
    [found] = (await resp.json())["recordings"]
    assert found["id"] == rec.id and found["duration_ms"] == 2000
    assert found["sha256"] == hashlib.sha256(PLAIN).hexdigest()
    poster = await client.get(found["poster"], headers=h)
    assert await poster.read() == b"\xff\xd8poster"


async def test_a_hold_and_its_lifting_over_http(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    h = await headers_of(client, sched.world, "manager")
    url = f"/api/recordings/{rec.id}/hold"
    bad = await client.post(url, headers=h, json={"kind": "because I said"})
    assert bad.status == 400
    placed = await client.post(url, headers=h, json={"kind": "inquest"})
    assert placed.status == 201 and (await placed.json())["held"] is True
    lifted = await client.delete(url, headers=h)
    assert lifted.status == 200 and (await lifted.json())["held"] is False
    again = await client.delete(url, headers=h)
    assert again.status == 409


async def test_a_tampered_file_is_refused_over_http_and_logged(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    storage = sched.app[RECORDINGS].storage
    assert isinstance(storage, LocalStorage)
    path = storage.path(f"{rec.id}/media")

    def flip() -> None:
        data = bytearray(path.read_bytes())
        data[HEADER_LEN + 2 * (DEFAULT_CHUNK + TAG_LEN) + 1] ^= 0x80
        path.write_bytes(bytes(data))

    await asyncio.to_thread(flip)
    h = await headers_of(client, sched.world, "clinician")
    url = f"/api/recordings/{rec.id}/media"
    ok = await client.get(url, headers={**h, "Range": "bytes=10-20"})
    assert ok.status == 206  # chunk 0 is whole
    bad = await client.get(url, headers={**h, "Range": f"bytes={2 * DEFAULT_CHUNK}-"})
    assert bad.status == 409
    assert (await bad.json())["code"] == "recording_damaged"
    await sched.app[AUDIT].kept()
    manager = await headers_of(client, sched.world, "manager")
    log = await client.get("/api/audit/events?action=recording_tampered", headers=manager)
    assert len((await log.json())["events"]) == 1


async def test_a_shredded_patients_recording_answers_410(client: Any, sched: Sched) -> None:
    rec = await stored(sched)
    await sched.app[AUDIT].shred(sched.patient.account_id, "admin-1")
    h = await headers_of(client, sched.world, "clinician")
    resp = await client.get(f"/api/recordings/{rec.id}/media", headers={**h, "Range": "bytes=0-"})
    assert resp.status == 410
    assert (await resp.json())["code"] == "recording_shredded"


async def test_retention_and_verification_are_recurring_jobs(client: Any) -> None:
    kinds = client.server.app[JOBS].kinds
    assert kinds[RETENTION_JOB].every is not None
    assert kinds[VERIFY_JOB].every is not None
    assert kinds[SCRATCH_JOB].every is not None
