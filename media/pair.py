"""Two aiortc peers joined by in-memory signalling.

No server, no socket between them: the offer and answer are handed across
directly. It is the lower bound a call through our signalling is measured
against (`bench/call_setup.py`), and the simplest proof that a TURN
credential works (`tests/media/test_turn.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.peer import create_peer
from media.tasks import TaskSet
from media.tracks import FrameCounter, LocalMedia, synthetic_media


@dataclass
class DirectSide:
    pc: RTCPeerConnection
    media: LocalMedia
    counters: dict[str, FrameCounter] = field(default_factory=dict)


class DirectPair:
    def __init__(self, config_a: RTCConfiguration, config_b: RTCConfiguration) -> None:
        self.tasks = TaskSet("direct-pair")
        self.a = self._side(config_a)
        self.b = self._side(config_b)

    def _side(self, config: RTCConfiguration) -> DirectSide:
        media = synthetic_media()
        side = DirectSide(create_peer(config, media), media)
        side.counters = {k: FrameCounter(k, self.tasks) for k in ("audio", "video")}

        @side.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            side.counters[track.kind].attach(track)

        return side

    async def connect(self) -> float:
        """Offer, answer, and wait for the first decoded video frame on both sides.

        Returns seconds from creating the offer to B's first decoded frame.
        """
        started = time.monotonic()
        await self.a.pc.setLocalDescription(await self.a.pc.createOffer())
        await self.b.pc.setRemoteDescription(self.a.pc.localDescription)
        await self.b.pc.setLocalDescription(await self.b.pc.createAnswer())
        await self.a.pc.setRemoteDescription(self.b.pc.localDescription)
        await self.b.counters["video"].wait_for(1)
        elapsed = time.monotonic() - started
        await self.a.counters["video"].wait_for(1)
        return elapsed

    async def close(self) -> None:
        for side in (self.a, self.b):
            side.media.stop()
            await side.pc.close()
        await self.tasks.close()
