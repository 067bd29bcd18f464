"""What one end of a pre-call test received: the same numbers at either end.

Loss, jitter and packets come from the receivers' RTP statistics, the round
trip from the other end's receiver reports (RTCP), the bitrate from the
transport's byte counter, all through `getStats`; frames and their size from
the decoded video track, which aiortc decodes anyway. The test peer
(media/echo.py) and the Python device (media/precall.py) both measure with it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.stats import (
    RTCInboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCTransportStats,
)
from av.video.frame import VideoFrame

from media.tasks import TaskSet
from signalling.test_calls import LinkMeasures


@dataclass
class _Mark:
    at: float
    bytes_received: int
    received: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    frames: int = 0


class LinkMeter:
    """Counts what `pc` receives, and measures it over a window once connected."""

    def __init__(self, pc: RTCPeerConnection, tasks: TaskSet) -> None:
        self.pc = pc
        self._tasks = tasks
        self.frames = 0
        self.width = 0
        self.height = 0
        self.connected = asyncio.Event()
        self.failed = asyncio.Event()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.spawn(self._pump(track), f"receive-{track.kind}")

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                self.connected.set()
            elif pc.connectionState in ("failed", "closed"):
                self.failed.set()

    async def _pump(self, track: MediaStreamTrack) -> None:
        """Take every decoded frame (an unread track queues them without end)."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, VideoFrame):
                self.frames += 1
                self.width, self.height = frame.width, frame.height

    async def wait_connected(self, within_s: float) -> bool:
        connected = asyncio.ensure_future(self.connected.wait())
        failed = asyncio.ensure_future(self.failed.wait())
        try:
            await asyncio.wait((connected, failed), timeout=within_s, return_when="FIRST_COMPLETED")
        finally:
            for waiter in (connected, failed):
                waiter.cancel()
            await asyncio.gather(connected, failed, return_exceptions=True)
        return self.connected.is_set() and not self.failed.is_set()

    async def measure(self, duration_s: float, connect_within_s: float) -> LinkMeasures:
        """Wait for the connection, then measure what arrives for `duration_s`."""
        if not await self.wait_connected(connect_within_s):
            return LinkMeasures(connected=False)
        start = await self._mark()
        await asyncio.sleep(duration_s)
        end = await self._mark()
        rtt, jitter = await self._rtt_and_jitter()
        seconds = max(end.at - start.at, 1e-3)
        got = sum(end.received.values()) - sum(start.received.values())
        missed = sum(end.lost.values()) - sum(start.lost.values())
        return LinkMeasures(
            connected=True,
            rtt_ms=rtt,
            loss_pct=100.0 * missed / (got + missed) if got + missed > 0 else 0.0,
            jitter_ms=jitter,
            bitrate_kbps=max(end.bytes_received - start.bytes_received, 0) * 8 / 1000 / seconds,
            fps=(end.frames - start.frames) / seconds,
            width=self.width,
            height=self.height,
            video_frames=end.frames - start.frames,
            audio_packets=end.received.get("audio", 0) - start.received.get("audio", 0),
        )

    async def _mark(self) -> _Mark:
        mark = _Mark(time.monotonic(), 0, {"audio": 0, "video": 0}, {"audio": 0, "video": 0})
        for stats in (await self.pc.getStats()).values():
            if isinstance(stats, RTCInboundRtpStreamStats):
                mark.received[stats.kind] += stats.packetsReceived
                mark.lost[stats.kind] += max(stats.packetsLost, 0)
            elif isinstance(stats, RTCTransportStats):
                mark.bytes_received += stats.bytesReceived
        mark.frames = self.frames
        return mark

    async def _rtt_and_jitter(self) -> tuple[float, float]:
        """The round trip from the other end's receiver reports, and the larger jitter, in ms."""
        rtt = jitter = 0.0
        for stats in (await self.pc.getStats()).values():
            if isinstance(stats, RTCRemoteInboundRtpStreamStats) and stats.roundTripTime:
                rtt = max(rtt, stats.roundTripTime * 1000)
            elif isinstance(stats, RTCInboundRtpStreamStats):
                ticks_per_ms = 90.0 if stats.kind == "video" else 48.0
                jitter = max(jitter, (stats.jitter or 0) / ticks_per_ms)
        return rtt, jitter
