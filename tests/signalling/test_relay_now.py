"""The relay taken straight from the socket's parser (`Hub.relay_now`, `web/ws_fast.py`).

On one node a negotiation frame is relayed from the read callback, before it
is queued for the reader task. These tests hold that path to what `receive`
did: the frames arrive, a client's frames are judged in the order it sent
them, a frame the fast path declines leaves nothing changed, and the cheaper
heartbeat still tells a live client from a dead one.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import WSMsgType

from core.clock import FakeClock
from core.identity import Principal, Role
from signalling.connection import Limits
from signalling.hub import Hub
from tests.signalling.conftest import (
    SDP,
    WS_PATHS,
    FakePolicy,
    HubClient,
    Tokens,
    book_consult,
    build_app,
    candidate,
    in_call,
)


def masked(body: dict[str, Any]) -> bytes:
    """One client text frame, masked as RFC 6455 requires of a client."""
    data = json.dumps({"v": 1, **body}).encode()
    mask = os.urandom(4)
    size = len(data)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0xFE]) + size.to_bytes(2)
    else:
        head = bytes([0x81, 0xFF]) + size.to_bytes(8)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


# ---------------------------------------------------------------- the edge, with aiohttp's parser


class _Protocol:
    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True


async def test_the_parser_offers_a_text_frame_only_with_nothing_queued_ahead() -> None:
    from aiohttp._websocket.reader import WebSocketReader

    from web.ws_fast import _Frames

    frames = _Frames(_Protocol(), 2**16, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    offered: list[str] = []

    def relay(text: str) -> bool:
        offered.append(text)
        return bool(json.loads(text)["n"] != 2)  # takes every frame but the second

    frames.relay = relay
    parser = WebSocketReader(frames, 2**16, compress=False, decode_text=True)
    ping = bytes([0x89, 0x80]) + os.urandom(4)
    chunk = masked({"n": 1}) + masked({"n": 2}) + masked({"n": 3}) + ping
    parser.feed_data(chunk)
    assert [json.loads(t)["n"] for t in offered] == [1, 2]
    queued = [await frames.read() for _ in range(3)]
    assert [m.type for m in queued] == [WSMsgType.TEXT, WSMsgType.TEXT, WSMsgType.PING]
    assert [json.loads(m.data)["n"] for m in queued[:2]] == [2, 3]

    parser.feed_data(masked({"n": 4}))  # the queue is empty again
    assert [json.loads(t)["n"] for t in offered] == [1, 2, 4]


async def test_the_frames_we_write_read_back_whole_at_every_length_size() -> None:
    """7-bit, 16-bit and 64-bit lengths (RFC 6455 5.2), alone and run together in one write."""
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

    from web.ws_fast import _text_frame

    texts = ["", "é" * 62, "x" * 125, "x" * 126, "y" * 65535, "z" * 65536, "w" * 70000]
    queue = WebSocketDataQueue(_Protocol(), 2**20, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    client = WebSocketReader(queue, 2**20, compress=False, decode_text=True)
    client.feed_data(b"".join(_text_frame(text) for text in texts))
    got = [await queue.read() for _ in texts]
    assert [(m.type, m.data) for m in got] == [(WSMsgType.TEXT, text) for text in texts]
    # Each length in the fewest bytes, as the RFC requires (browsers refuse others).
    assert _text_frame("x" * 125)[:2] == b"\x81\x7d"
    assert _text_frame("x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert _text_frame("x" * 65535)[:4] == b"\x81\x7e\xff\xff"
    assert _text_frame("x" * 65536)[:10] == b"\x81\x7f" + (65536).to_bytes(8, "big")


# ---------------------------------------------------------------- the real server


async def test_negotiation_between_members_is_relayed_from_the_read_callback(
    aiohttp_client: Any, settings: Any, clock: Any, hasher: Any, policy: FakePolicy
) -> None:
    from tests.world import build_world
    from web.state import SIGNALLING

    app = build_app(settings, clock, hasher, policy)
    client = await aiohttp_client(app)
    hub = app[SIGNALLING]
    taken: list[asyncio.Task[Any] | None] = []  # the task each relayed frame was taken in
    relay_now = hub.relay_now

    def spy(conn: Any, frame: str) -> bool:
        relayed: bool = relay_now(conn, frame)
        if relayed:
            taken.append(asyncio.current_task())
        return relayed

    hub.relay_now = spy
    consult = await book_consult(client, await build_world(app), policy)
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP
    await patient.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    await clinician.expect("answer")
    for n in range(5):
        await patient.send(
            {"type": "candidate", "to": consult.clinician_id, "candidate": candidate(n)}
        )
    got = [(await clinician.expect("candidate"))["candidate"] for _ in range(5)]
    assert got == [candidate(n) for n in range(5)]
    seqs = [body["seq"] for body in clinician.seen]
    assert seqs == sorted(set(seqs))
    # The answer that starts the call goes by `receive`; the offer and the candidates are
    # relayed from the read callback itself, in no task, and each arrives once.
    assert taken == [None] * 6
    await asyncio.gather(patient.quiet(), clinician.quiet())
    for peer in (patient, clinician):
        await peer.ws.close()


@pytest.mark.parametrize("ws_path", WS_PATHS, indirect=True)
async def test_many_frames_in_one_read_reach_the_peer_whole_and_in_order(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    to = consult.patient_id
    # The largest offer a frame can carry: relayed, with `seq` and `from`, it needs
    # a 64-bit length; a 3 KB offer a 16-bit one; a candidate a 7-bit one.
    pad = 64 * 1024 - 200
    big = SDP + "a=x-pad:" + "p" * pad + "\r\n"
    small = SDP + "a=x-pad:" + "q" * 3000 + "\r\n"
    bodies: list[dict[str, Any]] = [
        {"type": "candidate", "to": to, "candidate": candidate(n)} for n in range(10)
    ]
    bodies += [{"type": "offer", "to": to, "sdp": big}, {"type": "offer", "to": to, "sdp": small}]
    relayed_big = len(json.dumps({"v": 1, **bodies[10]})) + len(f'"seq":1,"from":"{to}",')
    assert relayed_big > 65535  # the 64-bit length is really used
    clinician.ws._writer.transport.write(b"".join(masked(body) for body in bodies))
    got = [await patient.recv() for _ in bodies]
    assert [{k: v for k, v in b.items() if k not in ("seq", "from", "v")} for b in got] == bodies
    seqs = [b["seq"] for b in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(bodies)))
    for peer in (patient, clinician):
        await peer.ws.close()


@pytest.mark.parametrize("ws_path", WS_PATHS, indirect=True)
async def test_a_frame_sent_after_leave_is_judged_after_the_leave(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    # Both frames in one TCP write: the parser sees them in one read.
    leave = masked({"type": "leave"})
    offer = masked({"type": "offer", "to": consult.clinician_id, "sdp": SDP})
    patient.ws._writer.transport.write(leave + offer)
    assert (await patient.expect("error"))["code"] == "not_in_room"
    assert (await clinician.expect("left"))["participant"] == consult.patient_id
    await clinician.quiet()
    assert "offer" not in [body["type"] for body in clinician.seen]
    for peer in (patient, clinician):
        await peer.ws.close()


async def test_a_fault_in_the_fast_path_drops_the_connection_and_is_logged(
    aiohttp_client: Any,
    settings: Any,
    clock: Any,
    hasher: Any,
    policy: FakePolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.world import build_world
    from web.state import SIGNALLING

    app = build_app(settings, clock, hasher, policy)
    client = await aiohttp_client(app)
    consult = await book_consult(client, await build_world(app), policy)
    patient, clinician = await in_call(client, consult)

    def broken(seconds: float) -> None:
        raise RuntimeError("a bug")

    app[SIGNALLING].meters.delivered = broken
    await patient.send({"type": "candidate", "to": consult.clinician_id, "candidate": candidate(1)})
    assert await patient.closed() == 1011  # internal error: resume
    assert "signalling relay failed" in caplog.text
    assert "a bug" in caplog.text
    for peer in (patient, clinician):
        await peer.ws.close()


# ---------------------------------------------------------------- the hub's contract


async def seated(
    hub: Hub, tokens: Tokens, policy: FakePolicy, *, call: bool
) -> tuple[HubClient, HubClient]:
    """A device patient and a clinician in room `appt`, admitted (and in the call)."""
    policy.book("appt", prisoner="pat", clinician="doc", establishment="est")
    pat = HubClient(hub, tokens, Principal("pat", Role.PRISONER, "est", "s1", device_id="d"))
    doc = HubClient(hub, tokens, Principal("doc", Role.CLINICIAN, "est", "s2"), writable=True)
    for client in (pat, doc):
        await client.say({"type": "hello", "token": client.token})
        await client.say({"type": "join", "appointment": "appt"})
    await doc.say({"type": "admit", "participant": "pat"})
    if call:
        await doc.say({"type": "offer", "to": "pat", "sdp": SDP})
        await pat.say({"type": "answer", "to": "doc", "sdp": SDP})  # the call starts
    assert "error" not in pat.kinds() + doc.kinds()
    return pat, doc


async def test_a_declined_frame_changes_nothing_and_receive_then_relays_it(
    clock: FakeClock, make_hub: Callable[..., Hub]
) -> None:
    tokens, policy = Tokens(), FakePolicy(clock)
    hub = make_hub(tokens, policy)
    pat, doc = await seated(hub, tokens, policy, call=True)
    last = doc.got[-1]["seq"]

    def cand(n: int) -> str:
        return pat.frame({"type": "candidate", "to": "doc", "candidate": candidate(n)})

    assert hub.relay_now(pat.conn, cand(0))
    assert doc.got[-1]["seq"] == last + 1

    declined = [
        # a refusal: the candidate goes to no member
        pat.frame({"type": "candidate", "to": "nobody", "candidate": candidate(1)}),
        # a refusal: a host candidate from a device
        pat.frame(
            {
                "type": "candidate",
                "to": "doc",
                "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host"},
            }
        ),
        pat.frame({"type": "ping"}),  # not negotiation
        "{not json",
    ]
    answered, tokens_left = len(pat.got), pat.conn._tokens
    for frame in declined:
        assert not hub.relay_now(pat.conn, frame)
    pat.conn.busy = True  # the reader holds an earlier frame of this client
    assert not hub.relay_now(pat.conn, cand(1))
    pat.conn.busy = False
    doc.open = False  # the clinician's socket is backed up
    assert not hub.relay_now(pat.conn, cand(1))
    doc.open = True
    doc.conn.replaying = True  # the clinician is catching up after a resume
    assert not hub.relay_now(pat.conn, cand(1))
    doc.conn.replaying = False
    assert len(pat.got) == answered  # the fast path answers nothing: `receive` does
    assert doc.got[-1]["seq"] == last + 1  # nothing numbered, nothing delivered
    assert (pat.conn._tokens, pat.conn.strikes) == (tokens_left, 0)  # nor rate-limited

    await pat.say(json.loads(cand(1)))  # where the edge sends a declined frame
    assert doc.got[-1]["seq"] == last + 2
    assert doc.got[-1]["candidate"] == candidate(1)


async def test_the_rate_limit_counts_a_strike_once_on_either_path(
    clock: FakeClock, make_hub: Callable[..., Hub]
) -> None:
    tokens, policy = Tokens(), FakePolicy(clock)
    hub = make_hub(tokens, policy, limits=Limits(rate=0.001, burst=8, flood_strikes=3))
    pat, doc = await seated(hub, tokens, policy, call=False)  # `hello` and `join` cost 2 of 8
    frame = pat.frame({"type": "candidate", "to": "doc", "candidate": candidate(0)})
    relayed = 0
    while relayed < 100 and hub.relay_now(pat.conn, frame):
        relayed += 1
    assert relayed == 6
    # Out of tokens: declined, and `receive` (where the edge sends it) refuses it once.
    await hub.receive(pat.conn, frame)
    assert pat.got[-1]["code"] == "rate_limited"
    assert pat.conn.strikes == 1


# ---------------------------------------------------------------- the heartbeat


async def test_a_quiet_client_that_answers_pings_stays_connected(
    aiohttp_client: Any, settings: Any, clock: Any, hasher: Any, policy: FakePolicy
) -> None:
    from tests.world import build_world

    app = build_app(settings, clock, hasher, policy, heartbeat_s=0.2)
    client = await aiohttp_client(app)
    consult = await book_consult(client, await build_world(app), policy)
    patient, clinician = await in_call(client, consult)
    # Seven heartbeat intervals with nothing to say; each side's client answers the pings.
    await asyncio.gather(patient.quiet(1.5), clinician.quiet(1.5))
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP
    for peer in (patient, clinician):
        await peer.ws.close()


async def test_a_client_that_keeps_sending_is_not_pinged_out(
    aiohttp_client: Any,
    settings: Any,
    clock: Any,
    hasher: Any,
    policy: FakePolicy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Heard from within the interval is alive, as with aiohttp's own heartbeat: no ping."""
    from aiohttp import web

    from tests.world import build_world
    from web.state import SIGNALLING
    from web.ws import WS_PATH

    pinged: list[web.WebSocketResponse] = []
    send_ping = web.WebSocketResponse._send_heartbeat

    def count_ping(self: web.WebSocketResponse) -> None:
        pinged.append(self)
        send_ping(self)

    app = build_app(settings, clock, hasher, policy, heartbeat_s=0.2)
    client = await aiohttp_client(app)
    # After start-up, whose check would see a heartbeat it does not know and choose
    # the public path; the fast path's heartbeat calls this one to ping.
    assert app[WS_PATH].fast
    monkeypatch.setattr(web.WebSocketResponse, "_send_heartbeat", count_ping)
    consult = await book_consult(client, await build_world(app), policy)
    patient, clinician = await in_call(client, consult)
    [patient_ws] = [
        conn.transport._ws
        for conn in app[SIGNALLING]._conns.values()
        if conn.participant == consult.patient_id
    ]

    async def keep_sending() -> None:
        for n in range(30):
            body = {"type": "candidate", "to": consult.clinician_id, "candidate": candidate(n)}
            await patient.send(body)
            await asyncio.sleep(0.05)

    async def collect() -> list[dict[str, Any]]:
        return [(await clinician.expect("candidate"))["candidate"] for _ in range(30)]

    # The patient's client never reads (so never answers a ping) but sends every 50 ms.
    _, got = await asyncio.gather(keep_sending(), collect())
    assert got == [candidate(n) for n in range(30)]
    assert "away" not in [body["type"] for body in clinician.seen]
    assert patient_ws not in pinged  # while it sent, it was never pinged
    # Once it stops sending too, it is pinged, does not answer, and is dropped.
    assert (await clinician.expect("away", wait=5))["participant"] == consult.patient_id
    for peer in (patient, clinician):
        await peer.ws.close()
