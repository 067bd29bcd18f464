"""A device's side of a pre-call test, in Python: for tests and `bench/echo.py`.

It does what the device page does (web/static/js/device_testcall.js): asks
for a test on its signalling socket, answers the test peer's offer with the
TURN credentials it was given (relay-only, as a device must), measures what
comes back for `duration_s` once connected, reports it, and returns the
verdict. Its media come from a `MediaSource`: the synthetic tracks, or a
pre-encoded file played with `MediaPlayer(decode=False)` (`encoded_source`)
so that a bench's simulated devices cost next to nothing to send.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from media.echo import has_turn
from media.meter import LinkMeter
from media.peer import rtc_configuration
from media.tasks import TaskSet
from media.tracks import LocalMedia, MediaSource, synthetic_source
from signalling.test_calls import LinkMeasures


def encoded_source(path: Path) -> MediaSource:
    """A file's packets sent as they are: VP8 and Opus, encoded once, never re-encoded."""

    async def open_file() -> LocalMedia:
        player = await asyncio.to_thread(MediaPlayer, str(path), decode=False)
        return LocalMedia(audio=player.audio, video=player.video, player=player)

    return open_file


class PrecallRefused(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(f"{body.get('code')}: {body.get('reason')}")
        self.body = body


@dataclass
class PrecallDevice:
    """One device on one socket. `answer=False` never answers the offer (a dead path)."""

    url: str
    token: str
    name: str = "device"
    source: MediaSource = synthetic_source
    check: dict[str, str] | None = field(
        default_factory=lambda: {"camera": "ok", "microphone": "ok"}
    )
    answer: bool = True
    connect_within_s: float = 20.0

    def __post_init__(self) -> None:
        self.tasks = TaskSet(f"precall-{self.name}")
        self.received: list[dict[str, Any]] = []
        self.pc: RTCPeerConnection | None = None
        self.media: LocalMedia | None = None
        self.meter: LinkMeter | None = None
        self.measured: LinkMeasures | None = None
        self.connected_at: float | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    # ------------------------------------------------------------ socket

    async def connect(self) -> dict[str, Any]:
        self._session = aiohttp.ClientSession()
        url = self.url.replace("http://", "ws://", 1)
        self._ws = await self._session.ws_connect(url, autoping=True)
        await self.send({"type": "hello", "token": self.token})
        self.tasks.spawn(self._read(self._ws), "reader")
        return await self.expect("welcome")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                body = json.loads(msg.data)
                self.received.append(body)
                self._queue(body.get("type", "")).put_nowait(body)

    def _queue(self, kind: str) -> asyncio.Queue[dict[str, Any]]:
        return self._inbox.setdefault(kind, asyncio.Queue())

    async def send(self, body: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"v": 1, **body}))

    async def expect(self, kind: str, within: float = 30.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._queue(kind).get(), within)

    async def first_of(self, *kinds: str, within: float = 30.0) -> dict[str, Any]:
        """The next message of any of `kinds` (the others stay queued)."""
        waits = {asyncio.ensure_future(self._queue(k).get()): k for k in kinds}
        try:
            done, _ = await asyncio.wait(waits, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waits:
                if not waiter.done():
                    waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if not done:
            raise TimeoutError(f"{self.name}: none of {kinds} within {within}s")
        first = next(iter(done))
        for waiter in done:  # put back any other that also arrived
            if waiter is not first:
                self._queue(waits[waiter]).put_nowait(waiter.result())
        return first.result()

    # ------------------------------------------------------------ the test

    async def start(self, appointment: str | None = None) -> dict[str, Any]:
        """Ask for a test; returns `test_call_started` or raises with the refusal."""
        body: dict[str, Any] = {"type": "test_call"}
        if appointment is not None:
            body["appointment"] = appointment
        if self.check is not None:
            body["check"] = self.check
        await self.send(body)
        reply = await self.first_of("test_call_started", "error")
        if reply["type"] == "error":
            raise PrecallRefused(reply)
        return reply

    async def run(self, appointment: str | None = None) -> dict[str, Any]:
        """A whole test: returns the server's `test_result`."""
        started = await self.start(appointment)
        test = started["test"]
        servers = started["ice_servers"]
        offer = await self.expect("test_offer")
        if not self.answer:
            return await self.expect("test_result", within=self.connect_within_s + 30)
        self.media = await self.source()
        pc = self.pc = RTCPeerConnection(rtc_configuration(servers, relay_only=has_turn(servers)))
        self.meter = LinkMeter(pc, self.tasks)
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        for track in (self.media.audio, self.media.video):
            if track is not None:
                pc.addTrack(track)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "test_answer", "test": test, "sdp": pc.localDescription.sdp})
        self.measured = await self.meter.measure(started["duration_s"], self.connect_within_s)
        if self.measured.connected:
            await self.send(
                {
                    "type": "test_report",
                    "test": test,
                    "check": self.check or {"camera": "ok", "microphone": "ok"},
                    **{k: round(v, 1) for k, v in self.measured.as_dict().items()},
                    **{
                        k: int(getattr(self.measured, k))
                        for k in ("width", "height", "video_frames", "audio_packets")
                    },
                }
            )
        return await self.expect("test_result", within=60)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        await self.tasks.close()
        if self.pc is not None:
            await self.pc.close()
        if self.media is not None:
            self.media.stop()
        if self._session is not None:
            await self._session.close()
