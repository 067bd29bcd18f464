"""A consult's received media made one playable file, sealed as it goes into the store.

The recorder hands over what it received from each side (for now, each side's
audio and video in one WebM stream: what a recorder that does not re-encode
writes). `ffmpeg-python` builds one ffmpeg command that mixes both voices into
one audio track and puts both pictures side by side in one video track
(Chromium plays one audio and one video track of a file). The inputs reach
ffmpeg through pipes (`pipe:<fd>`), never files.

The output is WebM written to an anonymous in-memory file (`memfd_create`):
it is in RAM, has no name on any file system and is gone when closed, so no
plaintext touches a disk, and it is seekable, so ffmpeg can go back and write
the duration and the cues a player needs to show the length and to seek (a
pipe cannot: WebM written to a pipe has neither). The file is then read from
memory and sealed into the store (media/recordings.py) chunk by chunk, and a
poster frame is taken from it the same way and sealed beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import ffmpeg

from media.recordings import Recording, Recordings

PIECE = 256 * 1024
TILE = (640, 360)
"""Each side's picture in the joined video (so the file is 1280x360)."""


class FinaliseError(Exception):
    """ffmpeg could not make a file of what it was given."""


@dataclass(frozen=True)
class ReceivedMedia:
    """One side's media as the recorder received it: a container stream of bytes."""

    data: AsyncIterator[bytes]
    format: str = "webm"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _feed(fd: int, source: AsyncIterator[bytes]) -> None:
    try:
        async for data in source:
            await asyncio.to_thread(_write_all, fd, data)
    except BrokenPipeError:
        pass  # ffmpeg stopped reading: its exit status says why
    finally:
        os.close(fd)


def command(inputs: Sequence[tuple[int, str]], output: str) -> list[str]:
    """ffmpeg arguments: each (fd, format) an input, voices mixed, pictures side by side."""
    streams = [ffmpeg.input(f"pipe:{fd}", format=fmt) for fd, fmt in inputs]
    tiles = [
        s.video.filter("scale", TILE[0], TILE[1], force_original_aspect_ratio="decrease")
        .filter("pad", TILE[0], TILE[1], "(ow-iw)/2", "(oh-ih)/2")
        .filter("fps", 25)
        for s in streams
    ]
    video = ffmpeg.filter(tiles, "hstack", inputs=len(tiles)) if len(tiles) > 1 else tiles[0]
    voices = [s.audio for s in streams]
    audio = (
        ffmpeg.filter(voices, "amix", inputs=len(voices), duration="longest", normalize=0)
        if len(voices) > 1
        else voices[0]
    )
    out = ffmpeg.output(
        video,
        audio,
        output,
        format="webm",
        vcodec="libvpx",
        acodec="libopus",
        deadline="realtime",
        **{"cpu-used": 8, "b:v": "800k", "b:a": "64k", "g": 50},
    )
    return [str(a) for a in out.global_args("-hide_banner", "-loglevel", "error").compile()]


async def _run(args: list[str], pass_fds: Sequence[int] = ()) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=tuple(pass_fds),
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        # ffmpeg's own words are about formats and streams, never the media's content.
        raise FinaliseError(err.decode(errors="replace")[-400:].strip() or "ffmpeg failed")
    return out


def _memfile(name: str) -> int:
    return os.memfd_create(name, os.MFD_CLOEXEC)


def _read_at(fd: int, offset: int, size: int) -> bytes:
    return os.pread(fd, size, offset)


async def _duration_ms(path: str, fd: int) -> int:
    out = await _run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
        (fd,),
    )
    found: Any = json.loads(out or b"{}").get("format", {}).get("duration")
    if found is None:
        raise FinaliseError("the file has no duration")
    return round(float(found) * 1000)


async def _poster(path: str, fd: int, duration_ms: int) -> bytes:
    at = min(1.0, duration_ms / 2000)
    args = (
        ffmpeg.input(path, ss=at)
        .output("pipe:1", vframes=1, format="image2", vcodec="mjpeg")
        .global_args("-hide_banner", "-loglevel", "error")
        .compile()
    )
    return await _run([str(a) for a in args], (fd,))


async def finalise(
    recordings: Recordings,
    appointment_id: str,
    sides: Sequence[ReceivedMedia],
    *,
    actor: str,
) -> Recording:
    """Make one file of both sides and store it sealed; returns the stored recording."""
    if not 1 <= len(sides) <= 4:
        raise FinaliseError("one to four sides")
    mem = await asyncio.to_thread(_memfile, "recording")
    path = f"/proc/self/fd/{mem}"
    pipes = [os.pipe() for _ in sides]
    feeders: list[asyncio.Task[None]] = []
    try:
        for (_, w), side in zip(pipes, sides, strict=True):
            os.set_inheritable(w, False)
            feeders.append(asyncio.create_task(_feed(w, side.data)))
        args = command([(r, side.format) for (r, _), side in zip(pipes, sides, strict=True)], path)
        args.insert(1, "-y")
        run = asyncio.ensure_future(_run(args, [r for r, _ in pipes] + [mem]))
        try:
            await run
        finally:
            for r, _ in pipes:
                with contextlib.suppress(OSError):
                    os.close(r)
            await asyncio.gather(*feeders, return_exceptions=True)
        size = os.fstat(mem).st_size
        if size == 0:
            raise FinaliseError("ffmpeg wrote nothing")
        duration_ms = await _duration_ms(path, mem)
        poster = await _poster(path, mem, duration_ms)
        new = await recordings.begin(appointment_id, actor=actor)
        try:
            for offset in range(0, size, PIECE):
                await new.write(await asyncio.to_thread(_read_at, mem, offset, PIECE))
            await new.poster.write(poster)
            return await new.finish(duration_ms=duration_ms, mime="video/webm")
        except BaseException:
            await new.abort()
            raise
    finally:
        for task in feeders:
            task.cancel()
        await asyncio.gather(*feeders, return_exceptions=True)
        os.close(mem)
