"""The load generator of bench/signalling.py: clients, pairs and the two loads.

P pairs of clients, each pair in its own consult, exchange a realistic
negotiation over and over: a ~3 KB offer and a ~3 KB answer and ten relay
candidates each way (ROUND = 22 relayed messages). Frames are serialised once
and stamped with their send time by string replacement; arrivals are
recognised by their stamp without parsing, so the generator spends its core
on the sockets.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

ROUND = 22
CANDIDATES = 10
FIXED_LOAD = 11_000


def sdp(kind: str) -> str:
    """A browser-like session description of about 3 KB (audio + video, relay only)."""
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=STAMP",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS stream",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:Zq3d",
        "a=ice-pwd:q1v2eU6cW4Yh7JkL0m9n8b7v",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 " + ":".join(["7B"] * 32),
        f"a=setup:{'actpass' if kind == 'offer' else 'active'}",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendrecv",
        "a=msid:stream audio-track",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "a=ssrc:1001 cname:bench",
        "a=ssrc:1001 msid:stream audio-track",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 45 46",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:Zq3d",
        "a=ice-pwd:q1v2eU6cW4Yh7JkL0m9n8b7v",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 " + ":".join(["7B"] * 32),
        f"a=setup:{'actpass' if kind == 'offer' else 'active'}",
        "a=mid:1",
        "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:13 urn:3gpp:video-orientation",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
        "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
        "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendrecv",
        "a=msid:stream video-track",
        "a=rtcp-mux",
        "a=rtcp-rsize",
    ]
    for pt, codec in ((96, "VP8"), (98, "VP9"), (100, "H264"), (45, "AV1")):
        lines += [
            f"a=rtpmap:{pt} {codec}/90000",
            f"a=rtcp-fb:{pt} goog-remb",
            f"a=rtcp-fb:{pt} transport-cc",
            f"a=rtcp-fb:{pt} ccm fir",
            f"a=rtcp-fb:{pt} nack",
            f"a=rtcp-fb:{pt} nack pli",
            f"a=rtpmap:{pt + 1} rtx/90000",
            f"a=fmtp:{pt + 1} apt={pt}",
        ]
    lines += [
        "a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=ssrc-group:FID 2001 2002",
        "a=ssrc:2001 cname:bench",
        "a=ssrc:2001 msid:stream video-track",
        "a=ssrc:2002 cname:bench",
        "a=ssrc:2002 msid:stream video-track",
    ]
    return "\r\n".join(lines) + "\r\n"


OFFER = sdp("offer")
ANSWER = sdp("answer")
CANDIDATE = "candidate:STAMP 1 udp 41885439 127.0.0.1 {port} typ relay raddr 0.0.0.0 rport 0"
assert 2800 <= len(OFFER.encode()) <= 3400, len(OFFER.encode())


# ---------------------------------------------------------------- the generator


@dataclass
class Stats:
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    record: bool = False


def templates(peer: str, answer: bool) -> list[str]:
    """One round's frames to `peer`, serialised once; "STAMP" takes the send time."""
    kind = "answer" if answer else "offer"
    frames = [orjson.dumps({"v": 1, "type": kind, "to": peer, "sdp": ANSWER if answer else OFFER})]
    for i in range(CANDIDATES):
        cand = {
            "candidate": CANDIDATE.format(port=50000 + i),
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
        frames.append(orjson.dumps({"v": 1, "type": "candidate", "to": peer, "candidate": cand}))
    return [f.decode() for f in frames]


class Client:
    """One WebSocket of the generator: sends stamped frames, counts what arrives.

    Frames are serialised once and stamped by string replacement, and arrivals
    are recognised by their stamp without parsing, so the generator spends
    its one core on the sockets.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        me: str,
        peer: str,
        stats: Stats,
        *,
        answerer: bool,
    ) -> None:
        self.ws = ws
        self.me = me
        self.peer = peer
        self.stats = stats
        self.frames = templates(peer, answerer)
        self.got = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    async def hello(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send_str(orjson.dumps({"v": 1, "type": "hello", **body}).decode())
        return await self.next()

    async def next(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=30)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"{self.me}: connection closed ({msg.type}, {self.ws.close_code})")
        body: dict[str, Any] = orjson.loads(msg.data)
        return body

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            body = await self.next()
            if body.get("type") == kind:
                return body
            if body.get("type") == "error":
                raise RuntimeError(f"{self.me}: {body}")

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        stats = self.stats
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data: str = msg.data
            at = data.find("candidate:T")
            if at >= 0:
                start = at + 11
                end = data.index(" ", start)
            else:
                at = data.find("\\r\\ns=T")
                if at < 0:
                    if '"error"' in data:
                        stats.errors.append(data[:200])
                    continue
                start = at + 7
                end = data.index("\\", start)
            stats.received += 1
            self.got += 1
            if stats.record:
                sent = int(data[start:end])
                stats.latencies.append((time.perf_counter_ns() - sent) / 1e6)
            if self.done is not None and self.got >= self.target and not self.done.done():
                self.done.set_result(None)

    def arm(self, count: int) -> asyncio.Future[None]:
        self.target = self.got + count
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    async def send_round(self) -> None:
        send = self.ws.send_str
        for frame in self.frames:
            await send(frame.replace("STAMP", f"T{time.perf_counter_ns()}", 1))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.ws.close()


@dataclass(frozen=True)
class Person:
    """The two identities of one simulated consult, signed in."""

    patient_id: str
    clinician_id: str
    patient_token: str = ""
    clinician_token: str = ""


@dataclass
class Pair:
    clinician: Client
    patient: Client


async def open_pairs(
    session: aiohttp.ClientSession,
    count: int,
    patient_url: str,
    clinician_url: str,
    *,
    bare: bool,
    people: Sequence[Person],
    stats: Stats,
) -> list[Pair]:
    """`count` pairs, pair n of them `people[n]`: every client its own identity, as real
    clients have (an account holds at most four sockets)."""
    gate = asyncio.Semaphore(32)

    async def one(n: int) -> Pair:
        person = people[n]
        patient_id, clinician_id = person.patient_id, person.clinician_id
        async with gate:
            room = f"bench-{n}-{uuid.uuid4().hex[:12]}"
            pws = await session.ws_connect(patient_url, max_msg_size=0)
            cws = await session.ws_connect(clinician_url, max_msg_size=0)
            patient = Client(pws, patient_id, clinician_id, stats, answerer=True)
            clinician = Client(cws, clinician_id, patient_id, stats, answerer=False)
            if bare:
                await patient.hello({"id": patient_id, "room": room})
                await clinician.hello({"id": clinician_id, "room": room})
            else:
                await patient.hello({"token": person.patient_token})
                await clinician.hello({"token": person.clinician_token})
                await patient.ws.send_str(json.dumps({"v": 1, "type": "join", "appointment": room}))
                await patient.expect("waiting")
                await clinician.ws.send_str(
                    json.dumps({"v": 1, "type": "join", "appointment": room})
                )
                await clinician.expect("room")
                await clinician.ws.send_str(
                    json.dumps({"v": 1, "type": "admit", "participant": patient_id})
                )
                await patient.expect("admitted")
                await clinician.expect("joined")
            patient.start()
            clinician.start()
            return Pair(clinician, patient)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def closed_loop(pairs: Sequence[Pair], seconds: float, stalls: list[str]) -> int:
    """Every pair exchanges rounds back to back; returns messages relayed.

    A round whose messages do not all arrive within 30 s is a stall: the pair
    stops, and the stall is reported (messages were lost or stuck, or the
    server closed the pair's sockets).
    """
    deadline = time.monotonic() + seconds
    count = 0

    async def run(pair: Pair) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            c, p = pair.clinician, pair.patient
            waits = [c.arm(ROUND // 2), p.arm(ROUND // 2)]
            try:
                await c.send_round()
                await p.send_round()
            except aiohttp.ClientConnectionResetError:
                stalls.append(
                    f"closed by the server: clinician {c.ws.close_code}, patient {p.ws.close_code}"
                )
                for waiter in waits:
                    waiter.cancel()
                return
            try:
                await asyncio.wait_for(asyncio.gather(*waits), 30)
            except TimeoutError:
                stalls.append(
                    f"clinician got {c.got - c.target + ROUND // 2}/{ROUND // 2}, "
                    f"patient {p.got - p.target + ROUND // 2}/{ROUND // 2}, "
                    f"errors {c.stats.errors[:2]}"
                )
                return
            count += ROUND

    await asyncio.gather(*(run(p) for p in pairs))
    return count


async def fixed_load(pairs: Sequence[Pair], seconds: float, stats: Stats) -> float:
    """Each pair one round every P*ROUND/FIXED_LOAD s, spread evenly; returns the offered rate."""
    period = len(pairs) * ROUND / FIXED_LOAD
    start = time.monotonic() + 0.5
    stats.latencies.clear()
    stats.record = True
    sent = 0

    async def run(i: int, pair: Pair) -> None:
        nonlocal sent
        at = start + i * period / len(pairs)
        while at < start + seconds:
            await asyncio.sleep(max(at - time.monotonic(), 0))
            await pair.clinician.send_round()
            await pair.patient.send_round()
            sent += ROUND
            at += period

    await asyncio.gather(*(run(i, p) for i, p in enumerate(pairs)))
    elapsed = time.monotonic() - start  # from the first scheduled send, not the set-up
    await asyncio.sleep(1.0)  # the last messages land
    stats.record = False
    return sent / max(elapsed, 1e-9)
