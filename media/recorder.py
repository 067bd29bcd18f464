"""The consult recorder: a receive-only aiortc member of the room that keeps what it receives.

Interface (what the in-call controls call):

    recorder = await start_recorder(deps, appointment_id, actor=clinician_id)
    await recorder.start()            # refuses (403) unless the patient consented for this
                                      # appointment; from here members may connect to it
    answer_sdp = await recorder.accept(member_id, offer_sdp)   # one per sending member
    recording = await recorder.stop() # the stored `Recording`, or None if nothing arrived
    await recorder.discard()          # or: stop and keep nothing

`start_recorder` takes a `RecorderDeps` (web/call_recording.py builds it from the
application: the recordings store, scheduling, and the consult's TURN issuer). `stop` is
idempotent and safe to call at any point (a withdrawal of consent calls it at once). Each
member that sends media offers a connection to the recorder (sendonly on its side,
recvonly here); the recorder answers through `accept` and gathers only relay candidates
when the appointment is relay-only, with a TURN credential of its own
(`<expiry>:<appointment>:recorder`).

Two ways to keep what arrives, chosen once per process by `capture_path()` and logged:

- **encoded** (preferred): aiortc's public API only hands out decoded frames. Each
  `RTCRtpReceiver` reassembles encoded frames in its jitter buffer and puts them on a
  private queue (`__decoder_queue`) read by a decoder thread. When the start-up check
  (`probe_encoded_path`) finds exactly that shape in the installed aiortc, the recorder
  puts a stand-in where that queue is, before the receiver starts: encoded VP8 and Opus
  frames come to us as they are and the decoder thread idles until the receiver stops.
  They are muxed into WebM untouched (no decode, no encode).
- **decoded** (fallback, public API only): `track.recv()` gives decoded frames; they are
  encoded again cheaply (VP8 real-time at most 640x360 and 15 fps, Opus 32 kbit/s), so
  the consult stays legible at a higher CPU cost.

Either way each member's WebM is sealed as it is written (media/stream_aead.py, AES-256-GCM
STREAM) into a scratch object of the recording store under a key held only in this
process's memory: plaintext is never on disk, and a scratch object left behind by a crash
can never be opened. `stop` opens the scratch objects chunk by chunk and feeds them through
pipes to `media.finalise.finalise`, which mixes both voices into one audio track and both
pictures into one video track, finds the duration and a poster, and stores the result
sealed under the patient's subject key; the scratch objects are then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import inspect
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.errors import Code, ServiceError
from media.finalise import ReceivedMedia, finalise
from media.peer import rtc_configuration
from media.recording_storage import RecordingStorage
from media.recordings import SCRATCH_PREFIX, Recording, Recordings, SealedWriter
from media.stream_aead import HEADER_LEN, Opener
from media.tasks import TaskSet

log = logging.getLogger("throughcare.media.recorder")

RECORDER_ID = "recorder"
"""The recorder's participant id in the room and in its TURN username."""
MAX_SIDES = 4
"""finalise joins at most four pictures."""
FLUSH_BYTES = 64 * 1024
BATCH_S = 0.1
"""A side's packets are muxed (in a worker thread) this often."""
KEYFRAME_ASK_S = 0.5
"""While no keyframe has come from a side, ask for one (RTCP PLI) this often."""
AUDIO_BEFORE_VIDEO = 500
"""Opus frames (10 s) held while waiting for a side's first keyframe; then the side is
kept as sound only."""
FALLBACK_FPS = 15
FALLBACK_MAX = (640, 360)
MS = fractions.Fraction(1, 1000)


class CapturePath(StrEnum):
    ENCODED = "encoded"
    DECODED = "decoded"


@dataclass(frozen=True)
class Probe:
    path: CapturePath
    reason: str


# ------------------------------------------------------------------ the start-up check

_RECEIVER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RECEIVER_THREAD = "_RTCRtpReceiver__decoder_thread"


def probe_encoded_path() -> Probe:
    """Does the installed aiortc have the shape the encoded path relies on?

    Every fact used is checked in aiortc's own code: the receiver makes a `queue.Queue`
    named `__decoder_queue`, hands it to `decoder_worker` when it starts receiving, puts
    `(codec, encoded_frame)` on it for each reassembled frame and `None` when it stops;
    the worker blocks on `input_q.get()` and ends on `None`; an encoded frame has `data`
    and `timestamp`; the receiver can send a picture-loss indication. Any doubt means the
    public-API path.
    """
    try:
        from aiortc import rtcrtpreceiver
        from aiortc.jitterbuffer import JitterFrame

        receiver = rtcrtpreceiver.RTCRtpReceiver
        init = inspect.getsource(receiver.__init__)
        receive = inspect.getsource(receiver.receive)
        handle = inspect.getsource(receiver._handle_rtp_packet)
        stop = inspect.getsource(receiver._RTCRtpReceiver__stop_decoder)  # type: ignore[attr-defined]
        worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
        frame_params = list(inspect.signature(JitterFrame.__init__).parameters)
        checks = {
            "queue made": "self.__decoder_queue: queue.Queue = queue.Queue()" in init,
            "queue handed to the decoder": "target=decoder_worker" in receive
            and "self.__decoder_queue," in receive,
            "frames put on it": "self.__decoder_queue.put((codec, encoded_frame))" in handle,
            "None ends it": "self.__decoder_queue.put(None)" in stop,
            "worker reads it": "task = input_q.get()" in worker and "if task is None" in worker,
            "frame shape": frame_params == ["self", "data", "timestamp"],
            "PLI": callable(getattr(receiver, "_send_rtcp_pli", None)),
        }
    except Exception as exc:  # anything unexpected in a library we do not own
        return Probe(CapturePath.DECODED, f"aiortc could not be inspected ({type(exc).__name__})")
    missing = [name for name, ok in checks.items() if not ok]
    if missing:
        return Probe(CapturePath.DECODED, "aiortc's receiver differs: " + ", ".join(missing))
    return Probe(CapturePath.ENCODED, "aiortc's receiver hands encoded frames to a queue")


_probed: Probe | None = None


async def capture_path() -> Probe:
    """The path this process uses, checked once (reading aiortc's source files, in a
    worker thread) and logged."""
    global _probed
    if _probed is None:
        _probed = await asyncio.to_thread(probe_encoded_path)
        log.info("recorder capture path: %s (%s)", _probed.path.value, _probed.reason)
    return _probed


class _EncodedTap:
    """Stands where a receiver's decoder queue was: encoded frames go to `deliver`.

    `put` is called on the event loop by the receiver; the decoder thread calls `get`
    and waits there, never decoding, until the receiver stops and puts None.
    """

    def __init__(self, deliver: Callable[[Any, Any], None]) -> None:
        self._deliver = deliver
        self._ended = threading.Event()

    def put(self, item: Any) -> None:
        if item is None:
            self._ended.set()
            return
        codec, frame = item
        self._deliver(codec, frame)

    def get(self) -> None:
        self._ended.wait()
        return None


def install_tap(receiver: Any, deliver: Callable[[Any, Any], None]) -> bool:
    """Put the stand-in in place on a receiver that has not started; False if it cannot."""
    current = getattr(receiver, _RECEIVER_QUEUE, None)
    if not isinstance(current, queue.Queue) or getattr(receiver, _RECEIVER_THREAD, 1) is not None:
        return False
    if not current.empty():
        return False
    setattr(receiver, _RECEIVER_QUEUE, _EncodedTap(deliver))
    return True


# ------------------------------------------------------------------ one member's file


class _Sink:
    """A write-only, unseekable file for PyAV: what it writes waits here to be sealed."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """Width and height if `data` is a VP8 keyframe (RFC 6386, section 9.1)."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class SideFile:
    """One member's audio and video muxed into WebM as packets arrive, never decoded.

    Times are milliseconds since the recording began. With a video track, the container
    opens at the first video keyframe (its size goes in the header) and audio before that
    is held. A side that sends sound only (no video track, or no keyframe while
    `AUDIO_BEFORE_VIDEO` voice frames wait: a device that fell to audio) is kept as sound
    only: its held voice is written, and any picture that comes later is dropped
    (counted in `video_dropped`); finalise gives that side a picture of its voice.
    """

    def __init__(self) -> None:
        self.sink = _Sink()
        self.expect_video = False
        """Set when the member's offer brought a video track (before any media)."""
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._held: list[tuple[bytes, int]] = []
        self._last = {"video": -1, "audio": -1}
        self.opened = False
        self.first_ms: int | None = None
        """The earliest time in the file: where it starts on the recording's timeline."""
        self.video_frames = 0
        self.audio_frames = 0
        self.video_dropped = 0
        self.audio_dropped = 0

    @property
    def has_video(self) -> bool:
        return self.video_frames > 0

    @property
    def has_audio(self) -> bool:
        return self.audio_frames > 0

    def _open(self, size: tuple[int, int] | None) -> None:
        container = av.open(self.sink, "w", format="webm")
        video = None
        if size is not None:
            video = container.add_stream("libvpx", rate=30)
            video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        self._container, self._video, self._audio = container, video, audio
        self.opened = True
        for held, at in self._held:
            self._mux(self._audio, "audio", held, at, True)
        self._held.clear()

    def _mux(self, stream: Any, kind: str, data: bytes, ms: int, key: bool) -> None:
        if kind == "audio" and ms <= self._last["audio"]:
            # Sound that would crowd in before the last (a sender faster than real time,
            # put back at its arrival): players and ffmpeg count sound by its samples, so
            # keeping it would make the recording longer than the consult. Pictures are
            # kept (each depends on the one before), a millisecond apart.
            self.audio_dropped += 1
            return
        ms = max(ms, self._last[kind] + 1)
        self._last[kind] = ms
        if self.first_ms is None or ms < self.first_ms:
            self.first_ms = ms
        packet = av.Packet(data)
        packet.pts = packet.dts = ms
        packet.time_base = MS
        packet.stream = stream
        packet.is_keyframe = key
        self._container.mux(packet)

    def video(self, data: bytes, ms: int) -> None:
        size = vp8_keyframe_size(data)
        if self._container is None:
            if size is None:
                return  # nothing decodes before the first keyframe
            self._open(size)
        if self._video is None:
            self.video_dropped += 1  # this side is kept as sound only
            return
        self._mux(self._video, "video", data, ms, size is not None)
        self.video_frames += 1

    def audio(self, data: bytes, ms: int) -> None:
        self.audio_frames += 1
        if self._container is None:
            self._held.append((data, ms))
            if not self.expect_video or len(self._held) >= AUDIO_BEFORE_VIDEO:
                self._open(None)
            return
        self._mux(self._audio, "audio", data, ms, True)

    def close(self) -> None:
        if self._container is None and self._held:
            self._open(None)
        if self._container is not None:
            self._container.close()
            self._container = None


class _TrackClock:
    """A track's media time in ms since the recording began: its first frame is placed
    at its arrival, later ones by their RTP timestamps (so jitter does not move them).

    RTP timestamps are 32 bits from a random start and wrap (every 13 hours at 90 kHz,
    so within some consults): they are unwrapped, or every frame after a wrap would be
    put at the same instant. And they are the sender's word, not the time: a sender that
    sends faster than real time (or lies) would make the file longer than the consult,
    and ffmpeg would then encode every extra second of it. A frame whose RTP time runs
    more than `AHEAD_MS` past its arrival is put at its arrival, and the frames after it
    follow from there. Frames that come late (a network stall, or this process busy)
    keep their RTP times, which are when they were captured: moving those to their
    arrival would leave a gap that ffmpeg keeps in the sound, and the file would grow by
    every stall. Only a sender whose clock went far back (`BEHIND_MS`) is re-placed.
    """

    AHEAD_MS = 1000
    BEHIND_MS = 10_000

    def __init__(self, began: float, rate: int) -> None:
        self._began = began
        self._rate = rate
        self._offset: float | None = None
        self._last: int | None = None
        self._extended = 0
        self.reanchored = 0

    def ms(self, timestamp: int, arrival_ms: float | None = None) -> int:
        if self._last is None:
            self._extended = timestamp
        else:
            step = (timestamp - self._last) & 0xFFFFFFFF
            self._extended += step - (1 << 32) if step >= 1 << 31 else step
        self._last = timestamp & 0xFFFFFFFF
        at = self._extended * 1000 / self._rate
        if arrival_ms is None:
            arrival_ms = (time.monotonic() - self._began) * 1000
        if self._offset is None:
            self._offset = arrival_ms - at
        elif not -self.BEHIND_MS <= self._offset + at - arrival_ms <= self.AHEAD_MS:
            self._offset = arrival_ms - at
            self.reanchored += 1
        return max(0, round(self._offset + at))


class _FallbackEncoder:
    """The public-API path's cheap encode: decoded frames in, VP8 or Opus packets out."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._ctx: Any = None
        self._size: tuple[int, int] | None = None
        self._resampler: Any = None
        self._last_ms = -(10**9)

    def _video_ctx(self, width: int, height: int) -> Any:
        ctx = av.CodecContext.create("libvpx", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = MS
        ctx.bit_rate = 400_000
        ctx.gop_size = 2 * FALLBACK_FPS
        ctx.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
        return ctx

    def encode(self, frame: Any, ms: int) -> list[tuple[bytes, int]]:
        if self.kind == "video":
            if ms - self._last_ms < 1000 / FALLBACK_FPS - 1:
                return []
            self._last_ms = ms
            width, height = frame.width, frame.height
            scale = min(1.0, FALLBACK_MAX[0] / width, FALLBACK_MAX[1] / height)
            size = (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))
            if self._ctx is None or size != self._size:
                self._ctx, self._size = self._video_ctx(*size), size
            out = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            out.pts, out.time_base = ms, MS
            return [(bytes(p), ms) for p in self._ctx.encode(out)]
        if self._ctx is None:
            self._ctx = av.CodecContext.create("libopus", "w")
            self._ctx.sample_rate, self._ctx.layout, self._ctx.format = 48000, "stereo", "s16"
            self._ctx.time_base = fractions.Fraction(1, 48000)
            self._ctx.bit_rate = 32_000
            self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000)
        packets: list[tuple[bytes, int]] = []
        for part in self._resampler.resample(frame):
            part.pts = round(ms * 48)
            part.time_base = fractions.Fraction(1, 48000)
            for p in self._ctx.encode(part):
                packets.append((bytes(p), round((p.pts or 0) / 48)))
        return packets


# ------------------------------------------------------------------ a member's connection


class _Side:
    """One member's connection to the recorder and the sealed scratch file it fills."""

    def __init__(
        self,
        owner: RoomRecorder,
        member: str,
        index: int,
        pc: RTCPeerConnection,
        writer: SealedWriter,
    ) -> None:
        self.owner = owner
        self.member = member
        self.index = index
        self.pc = pc
        self.writer = writer
        self.file = SideFile()
        self.tasks = TaskSet(f"recorder-side-{index}")
        self.items: asyncio.Queue[tuple[str, bytes, int] | None] = asyncio.Queue()
        self.keyframe = asyncio.Event()
        self.closed = False

    def on_track(self, track: MediaStreamTrack, receiver: Any) -> None:
        kind = track.kind
        if kind == "video":
            self.file.expect_video = True
        clock = _TrackClock(self.owner.began, 90000 if kind == "video" else 48000)
        if self.owner.path is CapturePath.ENCODED:

            def deliver(codec: Any, frame: Any) -> None:
                if not self.closed:
                    self.items.put_nowait((kind, bytes(frame.data), clock.ms(frame.timestamp)))

            if not install_tap(receiver, deliver):
                # The probe said yes, this receiver says no: never guess, decode instead.
                log.warning("recorder: encoded tap refused on a %s receiver; decoding it", kind)
                self.tasks.spawn(self._decoded(track, kind), f"decoded-{kind}")
        else:
            self.tasks.spawn(self._decoded(track, kind), f"decoded-{kind}")
        if kind == "video":
            self.tasks.spawn(self._ask_keyframes(receiver), "keyframes")

    async def _ask_keyframes(self, receiver: Any) -> None:
        """A recording starts at a keyframe: ask for one until one has come."""
        while not self.keyframe.is_set():
            if self.owner.path is CapturePath.ENCODED:
                for source in receiver.getSynchronizationSources():
                    await receiver._send_rtcp_pli(source.source)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.keyframe.wait(), KEYFRAME_ASK_S)

    async def _decoded(self, track: MediaStreamTrack, kind: str) -> None:
        encoder = _FallbackEncoder(kind)
        clock: _TrackClock | None = None
        while True:
            try:
                frame: Any = await track.recv()
            except MediaStreamError:
                return
            if clock is None:
                rate = 1 / float(frame.time_base) if frame.time_base else 90000
                clock = _TrackClock(self.owner.began, round(rate))
            ms = clock.ms(frame.pts or 0)
            packets = await asyncio.to_thread(encoder.encode, frame, ms)
            for data, at in packets:
                if not self.closed:
                    self.items.put_nowait((kind, data, at))

    def _mux(self, batch: list[tuple[str, bytes, int]]) -> bytes:
        """Mux a batch into the side's WebM (in a worker thread: PyAV's muxing blocks);
        the bytes ready to seal once there are at least 64 KiB of them."""
        for kind, data, ms in batch:
            if kind == "video":
                self.file.video(data, ms)
            else:
                self.file.audio(data, ms)
        return self.file.sink.take() if len(self.file.sink.buffer) >= FLUSH_BYTES else b""

    async def pump(self) -> None:
        """Mux what arrives and seal it into the scratch object, 64 KiB at a time.

        Nothing here blocks the event loop: what has queued up since the last batch is
        muxed in one worker-thread call (one side's batches run one after another, so its
        file is written in order), and sealing and writing run in worker threads too."""
        ended = False
        while not ended:
            batch = [item] if (item := await self.items.get()) is not None else []
            ended = item is None
            if not ended:
                # Let a batch gather: a tenth of a second of packets per thread hop,
                # not one hop per packet (recording needs no lower latency).
                await asyncio.sleep(BATCH_S)
            while not ended and not self.items.empty():
                more = self.items.get_nowait()
                if more is None:
                    ended = True
                else:
                    batch.append(more)
            if batch:
                ready = await asyncio.to_thread(self._mux, batch)
                if self.file.has_video:
                    self.keyframe.set()
                if ready:
                    await self.writer.write(ready)

    async def close(self) -> None:
        """Stop receiving; the pump then ends."""
        await self.tasks.close()
        await self.pc.close()
        self.closed = True
        self.items.put_nowait(None)


# ------------------------------------------------------------------ the recorder


class ConsentCheck(Protocol):
    async def recording_allowed(self, appointment_id: str) -> bool: ...


@dataclass(frozen=True)
class RecorderDeps:
    recordings: Recordings
    consent: ConsentCheck
    ice_servers: Callable[[], Awaitable[list[dict[str, Any]]]]
    """The recorder's own `iceServers` for this appointment (its TURN credential)."""
    relay_only: bool | None = None
    """None: relay-only whenever a TURN server is given (as the test-call peer does)."""


class RoomRecorder:
    """Receives each member's media and, on `stop`, stores one playable sealed file."""

    def __init__(
        self,
        deps: RecorderDeps,
        appointment_id: str,
        actor: str,
        *,
        path: CapturePath | None = None,
    ) -> None:
        self._deps = deps
        self.appointment_id = appointment_id
        self.actor = actor
        self.path = path or CapturePath.DECODED
        self._forced = path
        self.id = str(uuid.uuid4())
        self._key = os.urandom(32)  # scratch only, never stored: see the module's docstring
        self._sides: list[_Side] = []
        self._pumps = TaskSet("recorder")
        self._pump_tasks: list[asyncio.Task[None]] = []
        self._state = "new"
        self._lock = asyncio.Lock()
        self._result: Recording | None = None
        self.began = time.monotonic()

    @property
    def recording(self) -> bool:
        return self._state == "recording"

    @property
    def storage(self) -> RecordingStorage:
        return self._deps.recordings.storage

    async def start(self) -> None:
        """Begin, only with the patient's consent for this appointment (403 otherwise)."""
        async with self._lock:
            if self._state != "new":
                raise ServiceError(Code.CONFLICT, "This recorder has already been started.")
            if not await self._deps.consent.recording_allowed(self.appointment_id):
                raise ServiceError(
                    Code.FORBIDDEN, "The patient has not agreed to this consult being recorded."
                )
            if self._forced is None:
                self.path = (await capture_path()).path
            self._state = "recording"
            self.began = time.monotonic()
            log.info("recorder %s started on the %s path", self.id, self.path.value)

    def _scratch(self, index: int) -> tuple[str, str]:
        return f"{SCRATCH_PREFIX}{self.id}/{index}", f"{SCRATCH_PREFIX}{self.id}/{index}"

    async def accept(self, member: str, offer_sdp: str) -> str:
        """A member's offer of its media; the recorder's answer (it sends nothing back)."""
        async with self._lock:
            if self._state != "recording":
                raise ServiceError(Code.CONFLICT, "The consult is not being recorded.")
            if len(self._sides) >= MAX_SIDES:
                raise ServiceError(Code.CONFLICT, "No more connections to the recorder.")
            index = len(self._sides)
            servers = await self._deps.ice_servers()
            relay = self._deps.relay_only
            if relay is None:
                relay = any(_has_turn(s) for s in servers)
            pc = RTCPeerConnection(rtc_configuration(servers, relay_only=relay))
            key, label = self._scratch(index)
            writer = SealedWriter(self.storage, key, self._key, label)
            side = _Side(self, member, index, pc, writer)
            try:
                await writer.open()
                pc.on("track", lambda track: side.on_track(track, _receiver_of(pc, track)))
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                for transceiver in pc.getTransceivers():
                    transceiver.direction = "recvonly"
                await pc.setLocalDescription(await pc.createAnswer())
            except BaseException:
                await pc.close()
                await writer.abort()
                raise
            self._sides.append(side)
            self._pump_tasks.append(self._pumps.spawn(side.pump(), f"pump-{index}"))
            return pc.localDescription.sdp

    async def stop(self) -> Recording | None:
        """Stop receiving and store the recording; None if nothing arrived."""
        async with self._lock:
            if self._state == "stopped":
                return self._result
            was_recording = self._state == "recording"
            self._state = "stopped"
            if not was_recording:
                return None
            for side in self._sides:
                await side.close()
            await asyncio.gather(*self._pump_tasks, return_exceptions=True)
            await self._pumps.close()
            finished: set[int] = set()
            try:
                for side in self._sides:
                    await asyncio.to_thread(side.file.close)
                    await side.writer.write(side.file.sink.take())
                    await side.writer.finish()
                    finished.add(side.index)
                kept = [s for s in self._sides if s.file.first_ms is not None]
                if not kept:
                    log.info("recorder %s stopped with nothing to keep", self.id)
                    return None
                # One timeline: the file starts with the first media from anyone, and a
                # side that joined later starts later in it (ffmpeg would start each at 0).
                origin = min(s.file.first_ms or 0 for s in kept)
                self._result = await finalise(
                    self._deps.recordings,
                    self.appointment_id,
                    [
                        ReceivedMedia(
                            self._read_back(s.index),
                            video=s.file.has_video,
                            audio=s.file.has_audio,
                            offset_ms=(s.file.first_ms or 0) - origin,
                        )
                        for s in kept
                    ],
                    actor=self.actor,
                )
                return self._result
            finally:
                for side in self._sides:
                    if side.index not in finished:
                        await side.writer.abort()
                    await self.storage.delete(self._scratch(side.index)[0])

    async def discard(self) -> None:
        """Stop receiving and keep nothing (no recording, no scratch object left)."""
        async with self._lock:
            was_recording = self._state == "recording"
            self._state = "stopped"
            if not was_recording:
                return
            for side in self._sides:
                await side.close()
            await asyncio.gather(*self._pump_tasks, return_exceptions=True)
            await self._pumps.close()
            for side in self._sides:
                await asyncio.to_thread(side.file.close)
                await side.writer.abort()
                await self.storage.delete(self._scratch(side.index)[0])

    async def _read_back(self, index: int) -> AsyncIterator[bytes]:
        """A scratch object opened chunk by chunk (each one authenticated)."""
        key, label = self._scratch(index)
        size = await self.storage.size(key)
        header = await self.storage.read(key, 0, HEADER_LEN)
        opener = Opener(self._key, label, header, size)
        for chunk in range(opener.layout.chunks):
            start, end = opener.layout.span(chunk)
            sealed = await self.storage.read(key, start, end)
            yield await asyncio.to_thread(opener.open_chunk, chunk, sealed)

    @property
    def connections(self) -> Sequence[RTCPeerConnection]:
        return [s.pc for s in self._sides]

    @property
    def sides(self) -> Sequence[tuple[str, int, int]]:
        """(member, video frames, audio frames) kept so far, per connection."""
        return [(s.member, s.file.video_frames, s.file.audio_frames) for s in self._sides]


def _has_turn(server: dict[str, Any]) -> bool:
    urls = server.get("urls", ())
    return any(
        u.startswith(("turn:", "turns:")) for u in ([urls] if isinstance(urls, str) else urls)
    )


def _receiver_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> Any:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver.receiver
    raise LookupError("no receiver for this track")


async def start_recorder(deps: RecorderDeps, appointment_id: str, actor: str) -> RoomRecorder:
    """A recorder for this appointment (not started: call `start`).

    Its dependencies are built by web (web/call_recording.py, the composition root): media
    imports nothing of web."""
    return RoomRecorder(deps, appointment_id, actor)
