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
    video: bool = True
    """False: this side sent sound only; its tile is a picture of its voice."""
    audio: bool = True
    """False: this side sent no sound; it is left out of the mix."""
    offset_ms: int = 0
    """Where this side's media starts on the recording's timeline (a member who joined or
    reconnected later): it is delayed by that much, so every side stays in step."""


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


def command(
    inputs: Sequence[tuple[int, str]],
    output: str,
    kinds: Sequence[tuple[bool, bool]] | None = None,
    offsets_ms: Sequence[int] | None = None,
) -> list[str]:
    """ffmpeg arguments: each (fd, format) an input, voices mixed, pictures side by side.

    `kinds` gives each input's (video, audio) (both by default). A side without a picture
    (sound only) is shown as the waveform of its own voice, so every side has a tile and
    the file plays whoever sent what; a side without sound is left out of the mix.

    ffmpeg starts every input at 0; `offsets_ms` (each input's start on the recording's
    timeline) puts them back in step: black picture and silence before a late side.
    """
    kinds = kinds or [(True, True)] * len(inputs)
    offsets_ms = offsets_ms or [0] * len(inputs)
    streams = [ffmpeg.input(f"pipe:{fd}", format=fmt) for fd, fmt in inputs]
    tiles = []
    voices = []
    for s, (has_video, has_audio), offset in zip(streams, kinds, offsets_ms, strict=True):
        voice = s.audio
        if offset > 0:
            voice = voice.filter("adelay", delays=str(offset), all=1)
        if has_video:
            tile = s.video.filter(
                "scale", TILE[0], TILE[1], force_original_aspect_ratio="decrease"
            ).filter("pad", TILE[0], TILE[1], "(ow-iw)/2", "(oh-ih)/2")
            if offset > 0:
                tile = tile.filter("tpad", start_duration=f"{offset}ms", color="black")
            if has_audio:
                voices.append(voice)
        elif has_audio:
            split = voice.filter_multi_output("asplit")
            voices.append(split[0])
            tile = split[1].filter(
                "showwaves", s=f"{TILE[0]}x{TILE[1]}", mode="cline", rate=25, colors="white"
            )
        else:
            raise FinaliseError("a side with neither sound nor picture")
        tiles.append(tile.filter("fps", 25).filter("format", "yuv420p"))
    video = ffmpeg.filter(tiles, "hstack", inputs=len(tiles)) if len(tiles) > 1 else tiles[0]
    outputs = [video]
    codecs: dict[str, Any] = {"vcodec": "libvpx", "b:v": "800k"}
    if voices:
        outputs.append(
            ffmpeg.filter(voices, "amix", inputs=len(voices), duration="longest", normalize=0)
            if len(voices) > 1
            else voices[0]
        )
        codecs.update({"acodec": "libopus", "b:a": "64k"})
    out = ffmpeg.output(
        *outputs,
        output,
        format="webm",
        deadline="realtime",
        **{"cpu-used": 8, "g": 50},
        **codecs,
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
        args = command(
            [(r, side.format) for (r, _), side in zip(pipes, sides, strict=True)],
            path,
            [(side.video, side.audio) for side in sides],
            [side.offset_ms for side in sides],
        )
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
