"""The recorder: a receive-only aiortc member that keeps what two real participants send.

Each participant is a real aiortc peer sending its own tone and its own picture,
relay-only through the coturn the fixture runs, as is the recorder. The finished
recording is read back through the store (decrypted, digest checked) and looked
at with ffmpeg and PyAV: both tones in its one audio track, both pictures side by
side in its one video track.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

import media.recorder as recorder_module
from core.clock import FakeClock
from core.errors import Code, ServiceError
from core.events import Action
from media.peer import create_peer, rtc_configuration
from media.recorder import (
    CapturePath,
    RecorderDeps,
    RoomRecorder,
    capture_path,
    probe_encoded_path,
    start_recorder,
    vp8_keyframe_size,
)
from media.recording_storage import LocalStorage
from media.tracks import LocalMedia
from media.turn import turn_credential
from tests.media.conftest import Coturn
from tests.media.sources import FlatPicture, ToneTrack, decode, luma_of, tone_power
from tests.media.test_recordings import Store, stored_bytes
from tests.scheduling.conftest import make_sched
from tests.scheduling.test_recording_consent import decide

pytestmark = pytest.mark.slow
SQLITE = pytest.mark.parametrize("store_kind", ["sqlite"])

SIDES = ((440, 200), (1000, 40))
"""Each participant's tone (Hz) and picture brightness (luma)."""


@pytest.fixture
async def store(client: Any, clock: FakeClock, tmp_path: Path) -> Store:
    return Store(await make_sched(client, clock), LocalStorage(tmp_path / "recordings"))


def ice(coturn: Coturn, appointment_id: str, who: str) -> list[dict[str, Any]]:
    # coturn checks expiries against the real clock, not the test's.
    cred = turn_credential(
        coturn.secret,
        appointment_id=appointment_id,
        participant_id=who,
        expires=datetime.now(UTC) + timedelta(hours=1),
    )
    return [{"urls": [coturn.url], "username": cred.username, "credential": cred.password}]


def deps(store: Store, coturn: Coturn, appointment_id: str) -> RecorderDeps:
    async def servers() -> list[dict[str, Any]]:
        return ice(coturn, appointment_id, "recorder")

    return RecorderDeps(store.svc, store.sched.svc, servers)


@pytest.fixture
async def consented(store: Store) -> str:
    appt = await store.sched.book()
    await decide(store.sched, store.sched.patient, appt.id, "given")
    return str(appt.id)


async def join(
    recorder: RoomRecorder, coturn: Coturn, appointment_id: str, who: str, tone: int, luma: int
) -> RTCPeerConnection:
    """A participant offering its media to the recorder, relay-only through TURN."""
    config = rtc_configuration(ice(coturn, appointment_id, who), relay_only=True)
    pc = create_peer(config, LocalMedia(ToneTrack(tone), FlatPicture(luma)))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await recorder.accept(who, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


async def until_received(recorder: RoomRecorder, video: int, audio: int) -> None:
    for _ in range(300):
        if len(recorder.sides) == len(SIDES) and all(
            v >= video and a >= audio for _, v, a in recorder.sides
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the recorder received too little: {recorder.sides}")


@pytest.fixture
async def senders() -> AsyncIterator[list[RTCPeerConnection]]:
    pcs: list[RTCPeerConnection] = []
    yield pcs
    for pc in pcs:
        await pc.close()


async def record(
    store: Store,
    coturn: Coturn,
    appointment_id: str,
    senders: list[RTCPeerConnection],
    path: CapturePath | None = None,
) -> tuple[RoomRecorder, Any, int]:
    recorder = RoomRecorder(
        deps(store, coturn, appointment_id),
        appointment_id,
        store.sched.clinician.account_id,
        path=path,
    )
    await recorder.start()
    for n, (tone, luma) in enumerate(SIDES):
        senders.append(await join(recorder, coturn, appointment_id, f"member{n}", tone, luma))
    await until_received(recorder, video=60, audio=150)
    # What aiortc's decoders put on the remote tracks (the encoded path decodes nothing).
    decoded = sum(
        r.track._queue.qsize()  # type: ignore[attr-defined]
        for pc in recorder.connections
        for r in pc.getReceivers()
        if r.track is not None
    )
    rec = await recorder.stop()
    assert rec is not None
    return recorder, rec, decoded


async def check_playable(store: Store, rec: Any) -> None:
    """Decrypts, matches its digest, plays in PyAV with both voices and both pictures."""
    data = await store.svc.read_all(store.sched.clinician, rec.id)
    assert hashlib.sha256(data).hexdigest() == rec.sha256
    assert rec.duration_ms >= 2000
    sealed = await stored_bytes(store, rec.id)
    assert data[:4096] not in sealed and data[-4096:] not in sealed
    with av.open(io.BytesIO(data), "r") as container:
        # One audio and one video track: what Chromium plays.
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        frames = len(list(container.decode(video=0)))
    assert frames >= 25
    pcm = await decode(data, "-ss", "1", "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    heard = {f: tone_power(pcm, f) for f in (440, 1000, 700)}
    assert heard[440] > 50 * heard[700] and heard[1000] > 50 * heard[700], heard
    gray = await decode(data, "-ss", "1", "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo")
    left, right = luma_of(gray, 1280, 0, 640), luma_of(gray, 1280, 640, 1280)
    # The first member's bright picture on the left, the second's dark one on the right.
    assert left > 150 and right < 90, (left, right)
    # No scratch object is left behind.
    assert isinstance(store.storage, LocalStorage)
    assert not [p for p in store.storage.path("capture").rglob("*") if p.is_file()]


async def test_the_start_up_check_finds_the_encoded_path_in_this_aiortc() -> None:
    probe = await asyncio.to_thread(probe_encoded_path)
    assert probe.path is CapturePath.ENCODED, probe.reason


@SQLITE
async def test_records_both_sides_without_decoding(
    store: Store, coturn: Coturn, consented: str, senders: list[RTCPeerConnection]
) -> None:
    recorder, rec, decoded = await record(store, coturn, consented, senders, CapturePath.ENCODED)
    assert recorder.path is CapturePath.ENCODED
    assert decoded == 0
    await check_playable(store, rec)
    assert Action.RECORDING_STORED in store.actions()


@SQLITE
async def test_the_fallback_decodes_and_encodes_when_the_check_fails(
    store: Store,
    coturn: Coturn,
    consented: str,
    senders: list[RTCPeerConnection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = aiortc.rtcrtpreceiver.decoder_worker

    def decoder_worker(*args: Any) -> None:  # an aiortc whose decoder reads differently
        original(*args)

    monkeypatch.setattr(aiortc.rtcrtpreceiver, "decoder_worker", decoder_worker)
    monkeypatch.setattr(recorder_module, "_probed", None)
    probe = await capture_path()
    assert probe.path is CapturePath.DECODED
    assert "worker reads it" in probe.reason
    recorder, rec, _ = await record(store, coturn, consented, senders)
    assert recorder.path is CapturePath.DECODED
    await check_playable(store, rec)


@SQLITE
async def test_no_consent_no_recorder(
    store: Store, coturn: Coturn, senders: list[RTCPeerConnection]
) -> None:
    appt = await store.sched.book()
    # A booking answer is not the patient's own on the device.
    await decide(store.sched, store.sched.clinician, appt.id, "given")
    recorder = RoomRecorder(deps(store, coturn, appt.id), appt.id, store.sched.clinician.account_id)
    with pytest.raises(ServiceError) as refused:
        await recorder.start()
    assert refused.value.code is Code.FORBIDDEN
    pc = create_peer(rtc_configuration([], relay_only=False), LocalMedia(ToneTrack(440), None))
    senders.append(pc)
    await pc.setLocalDescription(await pc.createOffer())
    with pytest.raises(ServiceError) as not_recording:
        await recorder.accept("member0", pc.localDescription.sdp)
    assert not_recording.value.code is Code.CONFLICT
    assert await recorder.stop() is None
    assert await store.svc.of_appointment(store.sched.clinician, appt.id) == []


@SQLITE
async def test_withdrawn_consent_refuses_a_new_recorder(store: Store, coturn: Coturn) -> None:
    appt = await store.sched.book()
    yes = await decide(store.sched, store.sched.patient, appt.id, "given")
    await store.sched.svc.withdraw_consent(store.sched.patient, yes.id)
    consented = str(appt.id)
    recorder = await start_recorder(deps(store, coturn, consented), consented, "x")
    with pytest.raises(ServiceError):
        await recorder.start()


def test_a_vp8_keyframe_says_its_size_and_an_interframe_does_not() -> None:
    key = bytes([0x50, 0x2A, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01])
    assert vp8_keyframe_size(key) == (640, 360)
    assert vp8_keyframe_size(bytes([0x51]) + key[1:]) is None
    assert vp8_keyframe_size(key[:6]) is None


@SQLITE
async def test_discard_keeps_nothing(
    store: Store, coturn: Coturn, consented: str, senders: list[RTCPeerConnection]
) -> None:
    recorder = await start_recorder(
        deps(store, coturn, consented), consented, store.sched.clinician.account_id
    )
    await recorder.start()
    senders.append(await join(recorder, coturn, consented, "member0", 440, 200))
    for _ in range(200):
        if recorder.sides and recorder.sides[0][1] > 10:
            break
        await asyncio.sleep(0.1)
    assert recorder.sides[0][1] > 10
    assert isinstance(store.storage, LocalStorage)
    assert [p for p in store.storage.path("capture").rglob("*") if p.is_file()]
    await recorder.discard()
    assert await recorder.stop() is None
    assert await store.svc.of_appointment(store.sched.clinician, consented) == []
    assert not [p for p in store.storage.path("capture").rglob("*") if p.is_file()]
