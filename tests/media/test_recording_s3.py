"""The same store on S3-compatible object storage (moto's server on loopback), as many
nodes share it: sealed objects, range reads, multipart uploads, tamper and retention."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.errors import Code, ServiceError
from core.events import Action
from media.recording_storage import S3_PART, S3Storage, StorageMissing
from media.stream_aead import DEFAULT_CHUNK, HEADER_LEN
from tests.media.s3 import moto_server
from tests.media.test_recordings import PLAIN, Store, stored_bytes
from tests.scheduling.conftest import make_sched

pytestmark = pytest.mark.parametrize("store_kind", ["sqlite"])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
async def s3(endpoint: str) -> AsyncIterator[S3Storage]:
    storage = await S3Storage.open(
        endpoint=endpoint,
        bucket=f"rec-{os.urandom(4).hex()}",
        access_key="test",
        secret_key="test",
        create_bucket=True,
    )
    yield storage
    await storage.close()


@pytest.fixture
async def store(client: Any, clock: FakeClock, s3: S3Storage, tmp_path: Path) -> Store:
    return Store(await make_sched(client, clock), s3)


async def test_a_recording_in_s3_is_sealed_and_read_by_range(store: Store, s3: S3Storage) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    stored = await stored_bytes(store, rec.id)
    assert PLAIN[:4096] not in stored
    assert await s3.size(f"{rec.id}/media") == len(stored)
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    for start, end in (
        (0, 10),
        (DEFAULT_CHUNK - 3, DEFAULT_CHUNK + 3),
        (len(PLAIN) - 5, len(PLAIN)),
    ):
        assert await store.svc.read_range(playable, start, end) == PLAIN[start:end]
    assert await store.svc.read_all(store.sched.clinician, rec.id) == PLAIN


async def test_a_large_recording_goes_up_in_parts(store: Store, s3: S3Storage) -> None:
    big = os.urandom(2 * S3_PART + 12345)
    appt = await store.sched.book()
    rec = await store.put(appt.id, big)
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    middle = S3_PART + 17
    assert (
        await store.svc.read_range(playable, middle, middle + 1000) == big[middle : middle + 1000]
    )


async def test_an_object_changed_in_the_bucket_is_refused_and_logged(
    store: Store, s3: S3Storage
) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    data = bytearray(await stored_bytes(store, rec.id))
    data[HEADER_LEN + 5] ^= 0x10
    writer = await s3.writer(f"{rec.id}/media")
    await writer.write(bytes(data))
    await writer.commit()
    playable = await store.svc.open_for_play(store.sched.clinician, rec.id)
    with pytest.raises(ServiceError) as refused:
        await store.svc.read_range(playable, 0, 10)
    assert refused.value.code == Code.RECORDING_DAMAGED
    assert Action.RECORDING_TAMPERED in store.actions()


async def test_retention_deletes_the_objects_from_the_bucket(store: Store, s3: S3Storage) -> None:
    s = store.sched
    appt = await s.book()
    await store.svc.set_retention(s.manager, s.gp.id, 1)
    rec = await store.put(appt.id)
    s.clock.advance(days=2)
    assert await store.svc.delete_expired() == 1
    for key in (f"{rec.id}/media", f"{rec.id}/poster"):
        with pytest.raises(StorageMissing):
            await s3.size(key)


async def test_scratch_in_the_bucket_is_swept_finished_or_not(store: Store, s3: S3Storage) -> None:
    appt = await store.sched.book()
    rec = await store.put(appt.id)
    done = await s3.writer("capture/dead/0")
    await done.write(b"x" * 1000)
    await done.commit()
    cut = await s3.writer("capture/dead/1")
    await cut.write(os.urandom(2 * S3_PART))  # one part uploaded, then the node died
    # Bounded by age: the finished object is minutes old and stays. (moto dates every
    # unfinished upload 2010-11-10, so that one goes at once; S3 dates it by its start.)
    first = await store.svc.purge_scratch()
    assert await s3.size("capture/dead/0") == 1000
    assert first + await store.svc.purge_scratch(timedelta(0)) == 2
    with pytest.raises(StorageMissing):
        await s3.size("capture/dead/0")
    uploads = await s3._client.list_multipart_uploads(Bucket=s3.bucket, Prefix="capture/")
    assert not uploads.get("Uploads")
    assert await store.svc.read_all(store.sched.clinician, rec.id) == PLAIN
    assert Action.RECORDING_SCRATCH_PURGED in store.actions()
