"""The test-call peer: the far end of a device's pre-call test (docs/media.md).

A device tests the path its consult will take (signalling/test_calls.py): this
peer is reached through the same signalling and the same TURN relay, receives
the device's audio and video, and sends media back. What it sends back is a
short clip encoded once (VP8 640x360 and Opus, `Clip`) and played with
aiortc's `MediaPlayer(decode=False)`: its packets are packetized as they are,
so the peer encodes nothing. It decodes only what arrives (aiortc decodes
every received track; VP8 at 640x360 costs about 0.3 ms a frame), to count
the frames and read their size; the rest of what it measures (loss, jitter,
round trip, bitrate) comes from RTCP and the transport's counters through
`getStats`. `bench/echo.py` measures what one test costs.

The clip cannot answer a keyframe request (it is not encoded here), so it has
a keyframe every second: a device that joins or loses a frame waits at most
that long for a picture.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.exceptions import InvalidAccessError, InvalidStateError

from core.identity import Principal, Role
from media.meter import LinkMeter
from media.peer import parse_candidate, rtc_configuration
from media.tasks import TaskSet
from scheduling.types import PrecallTicket
from signalling.policy import IceServerIssuer
from signalling.test_calls import LinkMeasures

log = logging.getLogger("throughcare.media.echo")

CLIP_NAME = "test-call-640x360-v1.webm"
CLIP_SECONDS = 16
"""Longer than a test's media (10 s), so the clip never has to loop (see `Clip`)."""
CLIP_WIDTH, CLIP_HEIGHT, CLIP_FPS = 640, 360, 30
CLIP_VIDEO_BPS = 500_000
CLIP_AUDIO_BPS = 32_000
PEER_ID = "test-peer"
"""The peer's participant id in its TURN username (`expiry:appointment:test-peer`)."""
CREDENTIAL_S = 300
UNUSABLE = (
    AssertionError,
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
    InvalidAccessError,
    InvalidStateError,
)
"""What aiortc raises on an answer or candidate it cannot use (the device wrote them).

Its SDP parser checks lines with `assert` (or, under `python -O`, fails on
the `None` that the check would have caught), so those count too: a device's
malformed answer is refused with `sdp_invalid`, not a 1011 for its socket.
"""


def make_clip(path: Path, seconds: int = CLIP_SECONDS) -> None:
    """Encode the clip the peer sends: a test pattern and a beeping tone (blocking).

    Built from FFmpeg's own sources (`testsrc2`, `sine`) through PyAV, so it
    needs no file from anywhere. Video and audio are interleaved by time, as
    `MediaPlayer` plays packets in file order. Written beside its final name
    and renamed, so a reader never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    out = av.open(str(partial), "w", format="webm")
    try:
        video = out.add_stream("libvpx", rate=CLIP_FPS)
        video.width, video.height, video.pix_fmt = CLIP_WIDTH, CLIP_HEIGHT, "yuv420p"
        video.bit_rate = CLIP_VIDEO_BPS
        video.codec_context.gop_size = CLIP_FPS
        video.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
        }
        audio = out.add_stream("libopus", rate=48_000)
        audio.layout = "mono"
        audio.bit_rate = CLIP_AUDIO_BPS
        pattern = av.open(
            f"testsrc2=size={CLIP_WIDTH}x{CLIP_HEIGHT}:rate={CLIP_FPS}:duration={seconds}",
            format="lavfi",
        )
        tone = av.open(
            f"sine=frequency=440:beep_factor=4:sample_rate=48000:duration={seconds}",
            format="lavfi",
        )
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        frames = pattern.decode(video=0)
        samples = tone.decode(audio=0)
        video_at = audio_at = 0.0
        video_done = audio_done = False
        while not (video_done and audio_done):
            if not video_done and (audio_done or video_at <= audio_at):
                frame = next(frames, None)
                if frame is None:
                    video_done = True
                    out.mux(video.encode(None))
                    continue
                video_at = frame.time or 0.0
                picture = frame.reformat(format="yuv420p")
                # A decoded frame comes marked as a keyframe; left so, every
                # frame would be encoded as one.
                picture.pict_type = av.video.frame.PictureType.NONE
                out.mux(video.encode(picture))
            else:
                sound = next(samples, None)
                if sound is None:
                    audio_done = True
                    out.mux(audio.encode(None))
                    continue
                audio_at = sound.time or 0.0
                for chunk in resampler.resample(sound):
                    out.mux(audio.encode(chunk))
        pattern.close()
        tone.close()
    finally:
        out.close()
    partial.replace(path)


class Clip:
    """The pre-encoded clip, made once in `directory` (the data dir) and kept there."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CLIP_NAME
        self._lock = asyncio.Lock()
        self._ready = False

    async def ready(self) -> Path:
        async with self._lock:
            if not self._ready:
                if not await asyncio.to_thread(self.path.exists):
                    started = time.monotonic()
                    await asyncio.to_thread(make_clip, self.path)
                    log.info("made the test-call clip in %.1f s", time.monotonic() - started)
                self._ready = True
        return self.path


def _prefer(pc: RTCPeerConnection, kind: str, mime: tuple[str, ...]) -> None:
    caps = RTCRtpSender.getCapabilities(kind)
    codecs = [c for c in caps.codecs if c.mimeType.lower() in mime]
    for transceiver in pc.getTransceivers():
        if transceiver.kind == kind:
            transceiver.setCodecPreferences(codecs)


def has_turn(ice_servers: list[dict[str, Any]]) -> bool:
    return any(
        str(url).startswith(("turn:", "turns:"))
        for server in ice_servers
        for url in ([server["urls"]] if isinstance(server["urls"], str) else server["urls"])
    )


class EchoPeer:
    """One test's far end: sends the clip, receives and measures the device's media."""

    def __init__(self, pc: RTCPeerConnection, player: MediaPlayer, name: str) -> None:
        self.pc = pc
        self._player = player
        self.tasks = TaskSet(f"echo-{name}")
        self.meter = LinkMeter(pc, self.tasks)
        self._closed = False

    @classmethod
    async def open(cls, clip: Path, ice_servers: list[dict[str, Any]], name: str) -> EchoPeer:
        """A peer sending `clip`; relay-only whenever it was given a TURN server."""
        player = await asyncio.to_thread(MediaPlayer, str(clip), decode=False)
        pc = RTCPeerConnection(rtc_configuration(ice_servers, relay_only=has_turn(ice_servers)))
        assert player.audio is not None and player.video is not None
        pc.addTrack(player.audio)
        pc.addTrack(player.video)
        # The clip is VP8 and Opus: nothing else may be negotiated, since the
        # peer sends its packets as they are.
        _prefer(pc, "video", ("video/vp8", "video/rtx"))
        _prefer(pc, "audio", ("audio/opus",))
        return cls(pc, player, name)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        """Take the device's answer; ValueError if aiortc cannot use it."""
        if self.pc.signalingState != "have-local-offer":
            return
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        except UNUSABLE as exc:
            raise ValueError("the answer cannot be used") from exc

    async def add_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Take a trickled candidate; ValueError if aiortc cannot read or use it."""
        if self.pc.remoteDescription is None:
            return
        try:
            await self.pc.addIceCandidate(parse_candidate(candidate, sdp_mid, sdp_mline_index))
        except UNUSABLE as exc:
            raise ValueError("the candidate cannot be used") from exc

    async def measure(self, duration_s: float, connect_within_s: float) -> LinkMeasures:
        return await self.meter.measure(duration_s, connect_within_s)

    async def close(self) -> None:
        """Stop receiving, close the connection (which stops the clip), and wait for it all."""
        if self._closed:
            return
        self._closed = True
        await self.tasks.close()
        await self.pc.close()
        for track in (self._player.audio, self._player.video):
            if track is not None:
                track.stop()


class EchoService:
    """Opens test peers for signalling (`signalling.test_calls.EchoPeers`).

    Each peer gets TURN credentials of its own from the same issuer as the
    device's (username `expiry:appointment:test-peer`), good for a few minutes.
    """

    def __init__(self, *, ice_servers: IceServerIssuer, clip_dir: Path) -> None:
        self._ice_servers = ice_servers
        self.clip = Clip(clip_dir)

    async def open(self, ticket: PrecallTicket) -> EchoPeer:
        clip = await self.clip.ready()
        view = ticket.appointment
        expires = min(view.window_closes, ticket.started_at + timedelta(seconds=CREDENTIAL_S))
        me = Principal(
            account_id=PEER_ID,
            role=Role.ADMIN,
            establishment_id=view.establishment_id,
            session_id=ticket.id,
        )
        servers = self._ice_servers(me, replace(view, window_closes=expires))
        return await EchoPeer.open(clip, servers, ticket.id[:8])
