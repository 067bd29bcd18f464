"""Media for the Python participant: what it sends and how it counts what it gets.

Senders are synthetic (a moving bar on 640x360 video, a 400 Hz tone) so a test
needs no camera and no files, or come from a file through aiortc's
`MediaPlayer`. Frames are built from byte strings, not numpy, so a 30 fps
source costs almost nothing next to the VP8 encoder behind it.

`FrameCounter` pulls decoded frames from a remote track: aiortc decodes in its
own thread and hands back a frame per `recv()`, so a count here is a count of
frames that really decoded, which is what a person on the call would notice.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from av import AudioFrame, VideoFrame

from media.tasks import TaskSet

WIDTH = 640
HEIGHT = 360
BAR_WIDTH = 64
BAR_STEP = 8
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020
TONE_HZ = 400
TONE_AMPLITUDE = 8_000


def _plane(row: bytes, line_size: int, height: int) -> bytes:
    return (row + bytes(line_size - len(row))) * height


class PatternVideoTrack(VideoStreamTrack):
    """A white bar sweeping across a dark 640x360 frame, 30 frames a second.

    Each position's planes are built once and reused, so the sweep cycles
    through `WIDTH // BAR_STEP` precomputed frames' worth of bytes.
    """

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.frames_sent = 0
        self._cache: dict[int, tuple[bytes, bytes, bytes]] = {}

    def _planes(self, x: int, frame: VideoFrame) -> tuple[bytes, bytes, bytes]:
        cached = self._cache.get(x)
        if cached is None:
            luma = bytearray(b"\x20" * self.width)
            luma[x : x + BAR_WIDTH] = b"\xeb" * min(BAR_WIDTH, self.width - x)
            y_plane = frame.planes[0]
            u_plane = frame.planes[1]
            v_plane = frame.planes[2]
            chroma = b"\x80" * (self.width // 2)
            cached = (
                _plane(bytes(luma), y_plane.line_size, self.height),
                _plane(chroma, u_plane.line_size, self.height // 2),
                _plane(chroma, v_plane.line_size, self.height // 2),
            )
            self._cache[x] = cached
        return cached

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        x = (self.frames_sent * BAR_STEP) % self.width
        for plane, data in zip(frame.planes, self._planes(x, frame), strict=True):
            plane.update(data)
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A 400 Hz tone at 48 kHz mono in 20 ms frames.

    960 samples hold exactly eight periods of 400 Hz, so one frame's samples
    repeat forever without a click.
    """

    def __init__(self) -> None:
        super().__init__()
        self.frames_sent = 0
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._pcm = _tone_pcm(self._samples)
        self._start = 0.0
        self._timestamp = -1

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._timestamp < 0:
            self._start = time.time()
            self._timestamp = 0
        else:
            self._timestamp += self._samples
            wait = self._start + self._timestamp / AUDIO_RATE - time.time()
            await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(self._pcm)
        frame.pts = self._timestamp
        frame.sample_rate = AUDIO_RATE
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.frames_sent += 1
        return frame


def _tone_pcm(samples: int) -> bytes:
    import math
    import struct

    values = (
        round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / AUDIO_RATE))
        for i in range(samples)
    )
    return struct.pack(f"<{samples}h", *values)


@dataclass
class LocalMedia:
    """The tracks a participant sends, and how to stop their sources."""

    audio: MediaStreamTrack | None
    video: MediaStreamTrack | None
    player: MediaPlayer | None = None

    def stop(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()


MediaSource = Callable[[], Awaitable[LocalMedia]]
"""Opens fresh tracks for one peer connection.

aiortc stops a connection's local tracks when it closes, so a participant
that replaces its connection (an ICE restart, see docs/media.md) opens its
media again rather than reusing stopped tracks.
"""


def synthetic_media(*, audio: bool = True, video: bool = True) -> LocalMedia:
    return LocalMedia(
        audio=ToneAudioTrack() if audio else None,
        video=PatternVideoTrack() if video else None,
    )


async def synthetic_source() -> LocalMedia:
    return synthetic_media()


def file_source(path: Path, *, loop: bool = True) -> MediaSource:
    """Audio and video read from a file by aiortc's `MediaPlayer`.

    Opening the container reads the file, so it happens off the event loop.
    """

    async def open_file() -> LocalMedia:
        player = await asyncio.to_thread(MediaPlayer, str(path), loop=loop)
        return LocalMedia(audio=player.audio, video=player.video, player=player)

    return open_file


class FrameCounter:
    """Counts decoded frames of one kind, across every remote track attached.

    A participant that renegotiates from scratch (the stand-in for an ICE
    restart, see docs/media.md) attaches the new track to the same counter,
    so "frames flow again" reads as the count moving on.
    """

    def __init__(self, kind: str, tasks: TaskSet) -> None:
        self.kind = kind
        self.frames = 0
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.width: int | None = None
        self.height: int | None = None
        self.tracks = 0
        self._tasks = tasks
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def attach(self, track: MediaStreamTrack) -> None:
        self.tracks += 1
        self._tasks.spawn(self._pump(track), f"count-{self.kind}-{self.tracks}")

    async def _pump(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if self.first_frame_at is None:
                self.first_frame_at = now
            self.last_frame_at = now
            if isinstance(frame, VideoFrame):
                self.width, self.height = frame.width, frame.height
            self.frames += 1
            self._wake()

    def _wake(self) -> None:
        still = []
        for count, waiter in self._waiters:
            if waiter.done():
                continue
            if self.frames >= count:
                waiter.set_result(None)
            else:
                still.append((count, waiter))
        self._waiters = still

    async def wait_for(self, count: int, within: float = 10.0) -> int:
        """Wait until `count` frames in total have decoded; returns the count."""
        if self.frames < count:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((count, waiter))
            try:
                await asyncio.wait_for(waiter, within)
            except TimeoutError:
                raise TimeoutError(
                    f"{self.kind}: {self.frames} frames decoded, waited for {count}"
                ) from None
        return self.frames

    async def wait_for_more(self, extra: int, within: float = 10.0) -> int:
        """Wait until `extra` frames more than now have decoded."""
        return await self.wait_for(self.frames + extra, within)
