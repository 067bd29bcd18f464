"""A Python participant in a consult: the protocol of docs/signalling.md plus aiortc.

It acts as either side. A device (prisoner) joins and waits, is admitted,
and answers; a clinician joins, admits, and offers (the clinician always
offers). It decodes the other side's audio and video and counts the frames,
reports call quality, survives losing its server by resuming on any node of
a list with its resume token, renews its access token when asked, and hangs
up. Tests, load tests and benches drive real calls through it.

Every task it starts belongs to its `TaskSet` and is cancelled and awaited on
`close()`; docs/media.md says why that matters with aiortc.

aiortc cannot restart ICE on a live peer connection. When the protocol asks
for an ICE restart (after a resume), the clinician replaces its peer
connection and offers with `ice_restart: true`; the device, seeing that flag,
replaces its own and answers. The media sources carry on; remote frames are
counted on the same counters, so "frames flow again" shows as the count
moving on after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.stats import (
    RTCInboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCTransportStats,
)

from media.peer import create_peer, parse_candidate, rtc_configuration
from media.tasks import TaskSet
from media.tracks import FrameCounter, LocalMedia, MediaSource, synthetic_source

log = logging.getLogger("throughcare.media.participant")

PROTOCOL_VERSION = 1
NEGOTIATION = frozenset({"offer", "answer", "candidate", "ice_restart"})
RESUMABLE_CLOSES = frozenset({1006, 1011, 1012, 1013})
"""Close codes after which the protocol says: resume (1006 is a dead link)."""

OFFER_PATIENCE_S = 10.0
"""How long an unanswered offer blocks the next one before it is given up."""

TokenSource = Callable[[], Awaitable[str]]


class ParticipantError(Exception):
    """The server refused something, or the call could not go on."""

    def __init__(self, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.body = body or {}


@dataclass
class Quality:
    rtt_ms: float = 0.0
    loss_pct: float = 0.0
    jitter_ms: float = 0.0
    bitrate_kbps: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0

    def message(self) -> dict[str, Any]:
        return {
            "type": "quality",
            "rtt_ms": round(self.rtt_ms, 1),
            "loss_pct": round(min(max(self.loss_pct, 0.0), 100.0), 2),
            "jitter_ms": round(self.jitter_ms, 1),
            "bitrate_kbps": round(self.bitrate_kbps, 1),
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 1),
        }


@dataclass
class _StatsMark:
    at: float = 0.0
    bytes_received: int = 0
    video_frames: int = 0
    packets_received: int = 0
    packets_lost: int = 0


@dataclass
class Participant:
    """One side of a consult.

    `urls` are the `/ws` addresses of every node (ws:// or http://); it
    connects to the first and resumes on the others in turn. `relay_only`
    defaults to what the role must do: a device relays, a clinician need not.
    """

    urls: Sequence[str]
    token: str
    name: str = "participant"
    source: MediaSource = synthetic_source
    relay_only: bool | None = None
    token_source: TokenSource | None = None
    auto_resume: bool = True
    resume_window_s: float = 30.0
    quality_interval_s: float | None = None

    participant_id: str = field(init=False, default="")
    role: str = field(init=False, default="")
    appointment: str | None = field(init=False, default=None)
    resume_token: str | None = field(init=False, default=None)
    ice_servers: list[dict[str, Any]] = field(init=False, default_factory=list)
    last_seq: int = field(init=False, default=0)
    history: list[dict[str, Any]] = field(init=False, default_factory=list)
    close_code: int | None = field(init=False, default=None)
    resumes: int = field(init=False, default=0)
    restarts: int = field(init=False, default=0)
    pc: RTCPeerConnection | None = field(init=False, default=None)
    peer_id: str | None = field(init=False, default=None)
    media: LocalMedia | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a participant needs at least one server URL")
        self.tasks = TaskSet(f"participant-{self.name}")
        self.received = {k: FrameCounter(k, self.tasks) for k in ("audio", "video")}
        self._url_index = 0
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._negotiation: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answered: asyncio.Event = asyncio.Event()
        self._gone = asyncio.Event()
        self._closing = False
        self._blip = False
        self._offered_at: float | None = None
        self._restart_pending: str | None = None
        self._stats_mark = _StatsMark()
        self.admitted_at: float | None = None

    # ------------------------------------------------------------ session

    @property
    def url(self) -> str:
        return self.urls[self._url_index % len(self.urls)]

    @property
    def is_device(self) -> bool:
        return self.role == "prisoner"

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> dict[str, Any]:
        """Open the socket and authenticate; returns `welcome`."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.tasks.spawn(self._negotiate_forever(), "negotiation")
        welcome = await self._open(self.url, resume=None)
        if self.quality_interval_s:
            self.tasks.spawn(self._report_forever(self.quality_interval_s), "quality")
        return welcome

    async def _open(self, url: str, resume: dict[str, Any] | None) -> dict[str, Any]:
        assert self._session is not None
        ws = await self._session.ws_connect(_ws_url(url), autoping=True, max_msg_size=0)
        hello: dict[str, Any] = {"type": "hello", "token": self.token}
        if resume is not None:
            hello["resume"] = resume
        await ws.send_str(json.dumps({"v": PROTOCOL_VERSION, **hello}))
        msg = await ws.receive(timeout=10)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            await ws.close()
            raise ParticipantError(f"no welcome from {url} (got {msg.type.name}, {ws.close_code})")
        welcome: dict[str, Any] = json.loads(msg.data)
        if welcome.get("type") != "welcome":
            await ws.close()
            raise ParticipantError("the first message was not welcome", welcome)
        self._ws = ws
        self._gone.clear()
        self.close_code = None
        self.participant_id = welcome["participant"]
        self.role = welcome["role"]
        if welcome.get("resume_token"):
            self.resume_token = welcome["resume_token"]
        self._record(welcome)
        self.tasks.spawn(self._read(ws), "reader")
        return welcome

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._dispatch(json.loads(msg.data))
        if ws is not self._ws:
            return
        self.close_code = ws.close_code
        self._ws = None
        self._gone.set()
        if self._closing:
            return
        log.info("%s: connection closed (%s)", self.name, self.close_code)
        code = self.close_code if self.close_code is not None and not self._blip else 1006
        self._blip = False
        if self.auto_resume and self.resume_token and code in RESUMABLE_CLOSES:
            await self._resume_anywhere()

    async def _dispatch(self, body: dict[str, Any]) -> None:
        self._record(body)
        kind = body.get("type", "")
        if kind in NEGOTIATION:
            self._negotiation.put_nowait(body)
            return
        if kind == "room":
            self._take_room(body)
        elif kind == "admitted":
            self.admitted_at = time.monotonic()
        elif kind == "reauth" and self.token_source is not None:
            self.tasks.spawn(self._reauth(), "reauth")
        elif kind == "error":
            log.info("%s: server error %s", self.name, body.get("code"))
        self._queue(kind).put_nowait(body)

    def _record(self, body: dict[str, Any]) -> None:
        seq = body.get("seq")
        if isinstance(seq, int):
            self.last_seq = max(self.last_seq, seq)
        self.history.append(body)

    def _queue(self, kind: str) -> asyncio.Queue[dict[str, Any]]:
        queue = self._inbox.get(kind)
        if queue is None:
            queue = self._inbox[kind] = asyncio.Queue()
        return queue

    def _take_room(self, room: dict[str, Any]) -> None:
        self.appointment = room.get("appointment", self.appointment)
        if room.get("resume_token"):
            self.resume_token = room["resume_token"]
        if isinstance(room.get("ice_servers"), list):
            self.ice_servers = room["ice_servers"]

    async def send(self, body: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise ParticipantError(f"{self.name} is not connected")
        await self._ws.send_str(json.dumps({"v": PROTOCOL_VERSION, **body}))

    async def expect(self, kind: str, within: float = 10.0) -> dict[str, Any]:
        """The next message of `kind` not yet taken (negotiation is handled inside)."""
        try:
            return await asyncio.wait_for(self._queue(kind).get(), within)
        except TimeoutError:
            seen = [m.get("type") for m in self.history[-8:]]
            raise TimeoutError(f"{self.name}: no {kind!r} within {within}s; last: {seen}") from None

    async def wait_closed(self, within: float = 10.0) -> int | None:
        """Wait until the server closes the socket; returns its close code."""
        await asyncio.wait_for(self._gone.wait(), within)
        return self.close_code

    # ------------------------------------------------------------ resume

    async def _resume_anywhere(self) -> None:
        deadline = time.monotonic() + self.resume_window_s
        delay = 0.05
        while not self._closing:
            self._url_index += 1
            try:
                welcome = await self._open(
                    self.url, resume={"token": self.resume_token, "last_seq": self.last_seq}
                )
            except (OSError, aiohttp.ClientError, ParticipantError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    log.warning("%s: could not resume (%s)", self.name, type(exc).__name__)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if welcome.get("resumed"):
                self.resumes += 1
                if welcome.get("room"):
                    self._take_room(welcome["room"])
            self._queue("resumed").put_nowait(welcome)
            return

    async def resume(self, token: str | None = None) -> dict[str, Any]:
        """Resume the room on any node, after signing in again (`token`) if need be.

        A connection closed for an expired token (4004) is not resumed by
        itself: the participant is `away`, and comes back this way while the
        reclaim window is open. Returns the `welcome`.
        """
        if token is not None:
            self.token = token
        await self._resume_anywhere()
        return await self.expect("resumed")

    async def drop(self) -> None:
        """Lose the connection without leaving (a network blip); it then resumes."""
        self._blip = True
        if self._ws is not None:
            await self._ws.close()

    async def _reauth(self) -> None:
        assert self.token_source is not None
        self.token = await self.token_source()
        await self.send({"type": "reauth", "token": self.token})

    # ------------------------------------------------------------ the room

    async def join(self, appointment: str, check: dict[str, str] | None = None) -> dict[str, Any]:
        """Ask to join; returns the room snapshot, or raises with the refusal."""
        body: dict[str, Any] = {"type": "join", "appointment": appointment}
        if check is not None:
            body["check"] = check
        await self.send(body)
        return await self._first_of("room", "error")

    async def _first_of(self, wanted: str, refusal: str, within: float = 10.0) -> dict[str, Any]:
        got = self._queue(wanted)
        bad = self._queue(refusal)
        waits = {
            asyncio.ensure_future(got.get()): wanted,
            asyncio.ensure_future(bad.get()): refusal,
        }
        try:
            done, _ = await asyncio.wait(waits, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waits:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if not done:
            raise TimeoutError(f"{self.name}: no {wanted!r} within {within}s")
        for waiter in done:
            if waits[waiter] == refusal:
                body = waiter.result()
                raise ParticipantError(
                    f"{body.get('code')}: {body.get('reason') or body.get('message')}", body
                )
        return next(iter(done)).result()

    async def admit(self, participant: str) -> None:
        self.admitted_at = time.monotonic()
        await self.send({"type": "admit", "participant": participant})

    async def notice(self, text: str) -> None:
        await self.send({"type": "notice", "text": text})

    async def leave(self) -> None:
        await self.send({"type": "leave"})

    async def end(self, reason: str = "completed") -> dict[str, Any]:
        """Hang up for everyone (clinician); returns this side's `ended`."""
        await self.send({"type": "end", "reason": reason})
        return await self.expect("ended")

    # ------------------------------------------------------------ media

    async def _new_peer(self) -> RTCPeerConnection:
        self.media = await self.source()
        relay = self.relay_only if self.relay_only is not None else self.is_device
        pc = create_peer(rtc_configuration(self.ice_servers, relay_only=relay), self.media)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.received[track.kind].attach(track)

        return pc

    async def _replace_peer(self) -> RTCPeerConnection:
        """A new connection with freshly opened media; the old one is closed.

        Closing a peer connection stops its local tracks, so each connection
        gets its own from `source`.
        """
        old, old_media = self.pc, self.media
        self.pc = await self._new_peer()
        # A new connection counts from zero: measure from its start.
        self._stats_mark = _StatsMark(time.monotonic(), 0, self.received["video"].frames)
        if old is not None:
            self.restarts += 1
            await old.close()
        if old_media is not None:
            old_media.stop()
        return self.pc

    async def call(self, peer: str) -> None:
        """Offer to `peer` (the clinician's move) and wait for the answer."""
        await self._offer(peer, ice_restart=False)
        await asyncio.wait_for(self._answered.wait(), 15)

    async def _offer(self, peer: str, *, ice_restart: bool) -> None:
        self.peer_id = peer
        self._answered.clear()
        pc = await self._replace_peer()
        await pc.setLocalDescription(await pc.createOffer())
        body: dict[str, Any] = {"type": "offer", "to": peer, "sdp": pc.localDescription.sdp}
        if ice_restart:
            body["ice_restart"] = True
        self._offered_at = time.monotonic()
        await self.send(body)

    def _offer_in_flight(self) -> bool:
        return (
            self._offered_at is not None
            and not self._answered.is_set()
            and time.monotonic() - self._offered_at < OFFER_PATIENCE_S
        )

    async def wait_answered(self, within: float = 15.0) -> None:
        await asyncio.wait_for(self._answered.wait(), within)

    async def _negotiate_forever(self) -> None:
        while True:
            body = await self._negotiation.get()
            try:
                await self._negotiate(body)
            except (ValueError, ParticipantError) as exc:
                log.warning("%s: negotiation failed: %s", self.name, exc)

    async def _negotiate(self, body: dict[str, Any]) -> None:
        kind = body["type"]
        sender = body.get("from")
        if kind == "offer":
            self.peer_id = sender
            if self.pc is None or body.get("ice_restart") or self.pc.remoteDescription:
                await self._replace_peer()
            assert self.pc is not None
            await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.send({"type": "answer", "to": sender, "sdp": self.pc.localDescription.sdp})
        elif kind == "answer" and self.pc is not None:
            if self.pc.signalingState != "have-local-offer":
                return
            await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
            self._answered.set()
            if self._restart_pending is not None:
                peer, self._restart_pending = self._restart_pending, None
                await self._offer(peer, ice_restart=True)
        elif kind == "candidate" and self.pc is not None:
            cand = body.get("candidate") or {}
            if cand.get("candidate"):
                await self.pc.addIceCandidate(
                    parse_candidate(
                        cand["candidate"], cand.get("sdpMid"), cand.get("sdpMLineIndex")
                    )
                )
        elif kind == "ice_restart" and sender:
            self._queue("ice_restart").put_nowait(body)
            if self.role != "clinician":
                await self.send({"type": "ice_restart", "to": sender})
            elif self._offer_in_flight():
                # One offer at a time: a second resume while the first restart
                # is being answered restarts again once that answer is in.
                self._restart_pending = sender
            else:
                await self._offer(sender, ice_restart=True)

    # ------------------------------------------------------------ quality

    async def quality(self) -> Quality:
        """This side's view of the call now: RTT, loss, jitter, bitrate, video size."""
        q = Quality()
        if self.pc is None:
            return q
        report = await self.pc.getStats()
        now = time.monotonic()
        received = lost = 0
        bytes_in = 0
        for stats in report.values():
            if isinstance(stats, RTCRemoteInboundRtpStreamStats):
                if stats.roundTripTime is not None:
                    q.rtt_ms = max(q.rtt_ms, stats.roundTripTime * 1000)
            elif isinstance(stats, RTCInboundRtpStreamStats):
                received += stats.packetsReceived
                lost += max(stats.packetsLost, 0)
                rate = 90.0 if stats.kind == "video" else 48.0
                q.jitter_ms = max(q.jitter_ms, (stats.jitter or 0) / rate)
            elif isinstance(stats, RTCTransportStats):
                bytes_in += stats.bytesReceived
        video = self.received["video"]
        q.width, q.height = video.width or 0, video.height or 0
        # Loss, bitrate and frame rate over the time since the last report (the whole call
        # for the first): what the link is doing now, not its average since the start.
        mark = self._stats_mark
        d_received = received - mark.packets_received
        d_lost = max(lost - mark.packets_lost, 0)
        if d_received + d_lost > 0:
            q.loss_pct = 100.0 * d_lost / (d_received + d_lost)
        if mark.at and now > mark.at:
            q.bitrate_kbps = max(bytes_in - mark.bytes_received, 0) * 8 / 1000 / (now - mark.at)
            q.fps = (video.frames - mark.video_frames) / (now - mark.at)
        self._stats_mark = _StatsMark(now, bytes_in, video.frames, received, lost)
        return q

    async def report_quality(self) -> Quality:
        q = await self.quality()
        await self.send(q.message())
        return q

    async def _report_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.connected and self.pc is not None:
                if not self._stats_mark.at:
                    # A first reading to measure from: a report without one says 0 kbit/s.
                    await self.quality()
                    continue
                with contextlib.suppress(ParticipantError, ConnectionError):
                    await self.report_quality()

    # ------------------------------------------------------------ teardown

    async def close(self) -> None:
        """Stop everything this participant started, and wait until it has."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        await self.tasks.close()
        if self.pc is not None:
            await self.pc.close()
        if self.media is not None:
            self.media.stop()
        if self._session is not None:
            await self._session.close()


def _ws_url(url: str) -> str:
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return url
