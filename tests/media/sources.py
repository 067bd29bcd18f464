"""Test media for the finaliser: each side a distinct tone and picture, made by ffmpeg's
lavfi sources and read through a pipe, as the recorder will hand over what it received."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

from media.finalise import ReceivedMedia

TONES = (440, 1000)
PICTURES = ("testsrc", "smptebars")


async def lavfi_side(tone: int, picture: str, seconds: float = 3.0) -> AsyncIterator[bytes]:
    """One side as WebM (VP8 + Opus) on ffmpeg's stdout."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={tone}:sample_rate=48000:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"{picture}=size=320x180:rate=15:duration={seconds}",
        "-c:v",
        "libvpx",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "300k",
        "-c:a",
        "libopus",
        "-f",
        "webm",
        "pipe:1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    while data := await proc.stdout.read(65536):
        yield data
    assert await proc.wait() == 0


def two_sides(seconds: float = 3.0) -> list[ReceivedMedia]:
    return [
        ReceivedMedia(lavfi_side(tone, picture, seconds))
        for tone, picture in zip(TONES, PICTURES, strict=True)
    ]


async def decode(data: bytes, *args: str) -> bytes:
    """ffmpeg from stdin to stdout: a file in memory looked at, never written to disk."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        "pipe:0",
        *args,
        "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(data)
    assert proc.returncode == 0
    return out


def tone_power(samples: bytes, frequency: float, rate: int = 48000) -> float:
    """Goertzel: the power of one frequency in mono s16le samples."""
    values = struct.unpack(f"<{len(samples) // 2}h", samples[: len(samples) // 2 * 2])
    k = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for v in values:
        s1, s2 = v + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / max(1, len(values)) ** 2


class ToneTrack(AudioStreamTrack):
    """A live tone of its own frequency, paced like a microphone (20 ms frames)."""

    def __init__(self, frequency: int) -> None:
        super().__init__()
        self._frequency = frequency
        self._n = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()  # aiortc paces it and stamps it; its samples are silence
        assert isinstance(frame, AudioFrame)
        samples, rate = frame.samples, frame.sample_rate
        start = self._n
        self._n += samples
        values = (
            round(8000 * math.sin(2 * math.pi * self._frequency * (start + i) / rate))
            for i in range(samples)
        )
        frame.planes[0].update(struct.pack(f"<{samples}h", *values))
        return frame


class FlatPicture(VideoStreamTrack):
    """A live 640x360 picture of one brightness, so each side's tile can be told apart."""

    def __init__(self, luma: int) -> None:
        super().__init__()
        self._luma = luma

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(640, 360, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([self._luma if index == 0 else 128]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


def luma_of(gray: bytes, width: int, x0: int, x1: int) -> float:
    """The mean brightness of columns [x0, x1) of 8-bit gray frames `width` wide."""
    rows = [gray[i : i + width] for i in range(0, len(gray) - width + 1, width)]
    total = sum(sum(row[x0:x1]) for row in rows)
    return total / max(1, len(rows) * (x1 - x0))
