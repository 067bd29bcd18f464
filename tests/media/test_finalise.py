"""Finalising: two sides' media through pipes into one playable, sealed file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from media.finalise import FinaliseError, ReceivedMedia, finalise
from media.recording_storage import LocalStorage
from tests.media.sources import TONES, decode, tone_power, two_sides
from tests.media.test_recordings import Store, stored_bytes
from tests.scheduling.conftest import make_sched

pytestmark = pytest.mark.parametrize("store_kind", ["sqlite"])


@pytest.fixture
async def store(client: Any, clock: FakeClock, tmp_path: Path) -> Store:
    return Store(await make_sched(client, clock), LocalStorage(tmp_path / "recordings"))


async def probe(data: bytes) -> dict[str, Any]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        "pipe:0",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(data)
    found: dict[str, Any] = json.loads(out)
    return found


async def test_both_voices_and_both_pictures_in_one_sealed_file(store: Store) -> None:
    s = store.sched
    appt = await s.book()
    rec = await finalise(store.svc, appt.id, two_sides(3.0), actor=s.clinician.account_id)
    assert 2800 <= rec.duration_ms <= 3300
    data = await store.svc.read_all(s.clinician, rec.id)
    assert data not in await stored_bytes(store, rec.id)
    info = await probe(data)
    kinds = sorted(st["codec_type"] for st in info["streams"])
    assert kinds == ["audio", "video"]
    [video] = [st for st in info["streams"] if st["codec_type"] == "video"]
    assert (video["width"], video["height"]) == (1280, 360)
    # Both tones are heard in the one audio track; a third, absent one is not.
    pcm = await decode(data, "-ss", "1", "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    heard = [tone_power(pcm, f) for f in TONES]
    absent = tone_power(pcm, 700)
    assert min(heard) > 100 * absent
    # Both pictures are seen: the two halves of a frame differ.
    frame = await decode(
        data,
        "-ss",
        "1",
        "-frames:v",
        "1",
        "-vf",
        "scale=64:18",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
    )
    left = [frame[r * 64 + c] for r in range(18) for c in range(32)]
    right = [frame[r * 64 + 32 + c] for r in range(18) for c in range(32)]
    assert sum(abs(a - b) for a, b in zip(left, right, strict=True)) / len(left) > 10
    poster = await store.svc.poster(s.clinician, rec.id)
    assert poster[:2] == b"\xff\xd8"


async def test_media_ffmpeg_cannot_read_stores_nothing(store: Store) -> None:
    s = store.sched
    appt = await s.book()

    async def garbage() -> Any:
        yield b"this is not a media stream" * 100

    with pytest.raises(FinaliseError):
        await finalise(store.svc, appt.id, [ReceivedMedia(garbage())], actor=s.clinician.account_id)
    assert await store.svc.of_appointment(s.clinician, appt.id) == []
