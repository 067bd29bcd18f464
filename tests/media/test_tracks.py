"""The participant's media: synthetic sources and a file source, frames counted after decoding."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from av import AudioFrame, VideoFrame

from media.pair import DirectPair
from media.peer import rtc_configuration
from media.tasks import TaskSet
from media.tracks import (
    FrameCounter,
    PatternVideoTrack,
    ToneAudioTrack,
    file_source,
)


async def test_pattern_is_640x360_and_moves() -> None:
    track = PatternVideoTrack()
    try:
        first = await track.recv()
        second = await track.recv()
    finally:
        track.stop()
    assert isinstance(first, VideoFrame) and isinstance(second, VideoFrame)
    assert (first.width, first.height) == (640, 360)
    assert bytes(first.planes[0]) != bytes(second.planes[0])


async def test_tone_is_20ms_of_48khz_mono_and_not_silent() -> None:
    track = ToneAudioTrack()
    try:
        frame = await track.recv()
    finally:
        track.stop()
    assert isinstance(frame, AudioFrame)
    assert frame.samples == 960 and frame.sample_rate == 48_000
    assert any(bytes(frame.planes[0]))


async def test_counter_counts_frames_and_times_out_with_the_count() -> None:
    tasks = TaskSet("count")
    counter = FrameCounter("video", tasks)
    track = PatternVideoTrack()
    counter.attach(track)
    try:
        assert await counter.wait_for(3, within=5) >= 3
        track.stop()
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError, match="frames decoded"):
            await counter.wait_for_more(1, within=0.2)
    finally:
        await tasks.close()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is not installed; run scripts/install --test", pytrace=False)
    path = tmp_path_factory.mktemp("clip") / "clip.webm"
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libvpx",
            "-c:a",
            "libopus",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.mark.slow
async def test_a_file_source_plays_to_the_other_side(clip: Path) -> None:
    media = await file_source(clip)()
    assert media.player is not None and media.video is not None
    config = rtc_configuration([], relay_only=False)
    pair = DirectPair(config, config)
    try:
        sender = pair.a.pc.getSenders()
        video_sender = next(s for s in sender if s.track and s.track.kind == "video")
        video_sender.replaceTrack(media.video)
        await pair.connect()
        await pair.b.counters["video"].wait_for(10)
        assert pair.b.counters["video"].width == 320
    finally:
        media.stop()
        await pair.close()
