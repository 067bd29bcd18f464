"""The recorder's timeline, its sound-only sides, and its work kept off the event loop.

Real aiortc participants, relay-only through the fixture's coturn, as in test_recorder.py.
A member who joins later is heard and seen later in the file (ffmpeg starts every input
at 0, so without the recorder's offsets both would start together), and the stored duration
is the time recorded: from the first media that reached the recorder to the stop. A
member with no camera gets a picture of its own voice. Muxing, sealing, opening the scratch
objects and feeding ffmpeg all run on worker threads, never the event loop's, so a node's
signalling goes on while it records and finalises.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

import media.finalise as finalise_module
from media.peer import create_peer, rtc_configuration
from media.recorder import AUDIO_BEFORE_VIDEO, RoomRecorder, SideFile, _TrackClock
from media.recording_storage import LocalStorage
from media.stream_aead import Opener, Sealer
from media.tracks import LocalMedia
from tests.media import test_recorder as base
from tests.media.conftest import Coturn
from tests.media.sources import ToneTrack, decode, luma_of, tone_power
from tests.media.test_recorder import SQLITE, deps, ice, join
from tests.media.test_recordings import Store

pytestmark = pytest.mark.slow

# test_recorder.py's fixtures: a scheduling store, a consented appointment, the senders.
store = base.store
consented = base.consented
senders = base.senders


async def until(check: Callable[[], bool], what: str) -> float:
    """Wait for `check` (polled on the loop); the moment it first held."""
    for _ in range(1200):
        if check():
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


def heard(pcm: bytes) -> set[int]:
    power = {f: tone_power(pcm, f) for f in (440, 1000, 700)}
    return {f for f in (440, 1000) if power[f] > 50 * max(power[700], 1.0)}


class Threads:
    """Which threads ran each blocking piece of the recorder's and finaliser's work."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: dict[str, set[int]] = {}
        for owner, name in (
            (SideFile, "_mux"),  # PyAV muxing each packet
            (SideFile, "close"),  # PyAV writing the file's end
            (Sealer, "update"),  # AES-GCM sealing
            (Sealer, "finish"),
            (Opener, "open_chunk"),  # reading the scratch objects back
            (finalise_module, "_write_all"),  # the pipes into ffmpeg
            (finalise_module, "_read_at"),  # the finished file out of memory
        ):
            monkeypatch.setattr(owner, name, self._noting(name, getattr(owner, name)))

    def _noting(self, name: str, work: Callable[..., Any]) -> Callable[..., Any]:
        def noted(*args: Any, **kwargs: Any) -> Any:
            self.seen.setdefault(name, set()).add(threading.get_ident())
            return work(*args, **kwargs)

        return noted


@SQLITE
async def test_one_timeline_its_duration_and_nothing_on_the_event_loop(
    store: Store,
    coturn: Coturn,
    consented: str,
    senders: list[RTCPeerConnection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = Threads(monkeypatch)
    loop_thread = threading.get_ident()
    recorder = RoomRecorder(
        deps(store, coturn, consented), consented, store.sched.clinician.account_id
    )
    await recorder.start()
    joined = time.monotonic()
    senders.append(await join(recorder, coturn, consented, "member0", 440, 200))
    first = await until(lambda: recorder.sides[0][2] > 0, "the first member's voice")
    await asyncio.sleep(2.5)
    senders.append(await join(recorder, coturn, consented, "member1", 1000, 100))
    second = await until(
        lambda: len(recorder.sides) == 2 and recorder.sides[1][1] > 0 and recorder.sides[1][2] > 0,
        "the second member's picture and voice",
    )
    await asyncio.sleep(2.5)

    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.01)
            beats += 1

    beating = asyncio.create_task(heartbeat())
    stopped = time.monotonic()
    try:
        rec = await recorder.stop()
    finally:
        beating.cancel()
    assert rec is not None

    # Nothing that blocks ran on the loop's thread, and the loop went on while it ran.
    assert set(threads.seen) == {
        "_mux",
        "close",
        "update",
        "finish",
        "open_chunk",
        "_write_all",
        "_read_at",
    }
    assert all(loop_thread not in ran for ran in threads.seen.values()), threads.seen
    assert beats > 10

    # Stored: what was recorded, from the first voice the recorder received to the stop
    # (bounded by the moment it was seen, and by the moment the first member offered;
    # on a loaded machine the last frames before the stop may come late or not at all).
    assert stopped - first - 2.0 <= rec.duration_ms / 1000 <= stopped - joined + 1.0, (
        rec.duration_ms,
        stopped - first,
        stopped - joined,
    )
    data = await store.svc.read_all(store.sched.clinician, rec.id)
    with av.open(io.BytesIO(data), "r") as container:
        assert container.streams.video[0].width == 1280
    # The second member is heard only from when it joined, the first throughout.
    late = second - first
    early = await decode(data, "-ss", "0.5", "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    assert heard(early) == {440}
    at = f"{late + 1.0:.2f}"
    both = await decode(data, "-ss", at, "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    assert heard(both) == {440, 1000}
    # And seen from then: a black tile before, its grey picture after.
    gray = "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo"
    before = await decode(data, "-ss", "0.5", *gray)
    after = await decode(data, "-ss", at, *gray)
    assert luma_of(before, 1280, 0, 640) > 150 and luma_of(before, 1280, 640, 1280) < 20
    assert 60 < luma_of(after, 1280, 640, 1280) < 120


@SQLITE
async def test_a_member_with_sound_only_is_kept_with_a_picture_of_its_voice(
    store: Store, coturn: Coturn, consented: str, senders: list[RTCPeerConnection]
) -> None:
    recorder = RoomRecorder(
        deps(store, coturn, consented), consented, store.sched.clinician.account_id
    )
    await recorder.start()
    senders.append(await join(recorder, coturn, consented, "member0", 440, 200))
    # The second member has no camera: it offers a voice and nothing else.
    pc = create_peer(
        rtc_configuration(ice(coturn, consented, "member1"), relay_only=True),
        LocalMedia(ToneTrack(1000), None),
    )
    senders.append(pc)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await recorder.accept("member1", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await until(
        lambda: (
            len(recorder.sides) == 2 and recorder.sides[0][1] >= 30 and recorder.sides[1][2] >= 150
        ),
        "two seconds of both",
    )
    rec = await recorder.stop()
    assert rec is not None
    assert recorder.sides[1][1] == 0  # no picture ever came from it

    data = await store.svc.read_all(store.sched.clinician, rec.id)
    with av.open(io.BytesIO(data), "r") as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.streams.video[0].width == 1280
        assert len(list(container.decode(video=0))) >= 25
    pcm = await decode(data, "-ss", "1", "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    assert heard(pcm) == {440, 1000}
    gray = await decode(data, "-ss", "1", "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo")
    # The first member's picture on the left; on the right, its waveform (drawn, not black).
    assert luma_of(gray, 1280, 0, 640) > 150
    assert luma_of(gray, 1280, 640, 1280) > 1
    assert isinstance(store.storage, LocalStorage)
    assert not [p for p in store.storage.path("capture").rglob("*") if p.is_file()]


def test_a_side_whose_picture_never_comes_is_kept_as_sound_only() -> None:
    """A device that fell to sound only offers a camera that sends nothing: its voice is
    held for a keyframe only so long, then written; a picture after that is left out."""
    side = SideFile()
    side.expect_video = True
    for n in range(AUDIO_BEFORE_VIDEO - 1):
        side.audio(b"\xfc\xff\xfe", 20 * n)
    assert not side.opened
    side.audio(b"\xfc\xff\xfe", 20 * AUDIO_BEFORE_VIDEO)
    assert side.opened and side.first_ms == 0
    key = bytes([0x50, 0x2A, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01])
    side.video(key, 20 * AUDIO_BEFORE_VIDEO + 5)
    assert side.video_dropped == 1 and not side.has_video
    side.close()
    written = side.sink.take()
    with av.open(io.BytesIO(written), "r") as container:
        assert [s.type for s in container.streams] == ["audio"]
        assert sum(1 for _ in container.demux(audio=0) if _.size) == AUDIO_BEFORE_VIDEO


def test_a_wrapping_rtp_clock_keeps_counting() -> None:
    clock = _TrackClock(0.0, 90000)
    start = (1 << 32) - 90000  # one second before the wrap
    assert clock.ms(start, arrival_ms=100) == 100
    assert clock.ms((start + 45000) & 0xFFFFFFFF, arrival_ms=620) == 600
    assert clock.ms((start + 180000) & 0xFFFFFFFF, arrival_ms=2090) == 2100  # past the wrap
    assert clock.ms((start + 171000) & 0xFFFFFFFF, arrival_ms=2110) == 2000  # a late one
    assert clock.reanchored == 0


def test_a_sender_faster_than_real_time_does_not_stretch_the_recording() -> None:
    """Ten seconds of RTP time sent in two seconds (a sender that runs fast, or lies): the
    frames are kept, and placed no later than a second after they came (the file keeps
    them in order, a millisecond apart where they crowd)."""
    clock = _TrackClock(0.0, 90000)
    placed = [clock.ms(n * 3000 * 5, arrival_ms=n * 20) for n in range(100)]  # 30 fps x5
    assert all(at <= n * 20 + _TrackClock.AHEAD_MS for n, at in enumerate(placed))
    assert clock.reanchored > 0
    # A jump of an hour in its timestamps moves nothing an hour on.
    assert clock.ms(100 * 3000 * 5 + 90000 * 3600, arrival_ms=2020) == 2020


def test_sound_that_would_crowd_in_is_left_out() -> None:
    """A sender's voice at five times real time, each packet put back at its arrival: the
    file keeps no more sound than the time it took."""
    side = SideFile()
    clock = _TrackClock(0.0, 48000)
    for n in range(500):  # 10 s of Opus frames in 2 s
        side.audio(b"\xfc\xff\xfe", clock.ms(n * 960, arrival_ms=n * 4))
    kept = side.audio_frames - side.audio_dropped
    assert kept * 20 <= 2000 + _TrackClock.AHEAD_MS + 20
    assert side.audio_dropped > 0


def test_frames_that_come_late_keep_their_place() -> None:
    """A stall: two seconds of frames come at once, late. They keep the times they were
    captured at (their RTP times), so the recording is not stretched by the stall."""
    clock = _TrackClock(0.0, 48000)
    assert [clock.ms(n * 960, arrival_ms=n * 20) for n in range(50)][-1] == 980
    late = [clock.ms(n * 960, arrival_ms=3000 + n) for n in range(50, 150)]
    assert late == [n * 20 for n in range(50, 150)]
    assert clock.reanchored == 0
