"""Redis answering slowly under two nodes: a timeout and a clear answer, never a stall.

The Redis is the test's own (tests/redis_server.py), stopped with SIGSTOP: its
connections stay open and it reads nothing, as a Redis stuck behind a slow
command or a saturated host. A relay waits at most the store's timeout, the
sender is told `unavailable` (with its `ref`) and asked to come back later
(1013), nothing is half-done, and once Redis answers again the sender resumes
and the consult goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from signalling.bus.redis import RedisBus
from signalling.connection import Limits
from signalling.hub import Hub, HubConfig
from signalling.store.redis import RedisRoomStore
from tests.redis_server import RedisServer, redis_server
from tests.signalling.conftest import FakePolicy, HubClient, Tokens, candidate

TIMEOUT_S = 0.5
SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def hubs(own_redis: RedisServer, clock: FakeClock) -> Any:
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    tokens, policy = Tokens(), FakePolicy(clock)
    config = HubConfig(tick_s=3600, reclaim_s=120, limits=Limits(rate=1e6, burst=1e6))
    made: list[tuple[Hub, RedisRoomStore, RedisBus]] = []
    for name in ("node-a", "node-b"):
        bus = RedisBus(own_redis.url, prefix=prefix, timeout_s=TIMEOUT_S)
        await bus.start()
        store = RedisRoomStore(own_redis.url, prefix=prefix, timeout_s=TIMEOUT_S)
        hub = Hub(
            identity=tokens,
            policy=policy,
            store=store,
            bus=bus,
            audit=MemorySink(),
            clock=clock,
            config=config,
            node_name=name,
        )
        await hub.start()
        made.append((hub, store, bus))
    yield made[0][0], made[1][0], tokens, policy
    process = own_redis.process
    if process is not None and process.returncode is None:
        os.kill(process.pid, signal.SIGCONT)
    for hub, store, bus in made:
        await hub.close()
        await store.close()
        await bus.close()


async def test_a_relay_while_redis_answers_slowly_times_out_and_the_sender_is_told(
    hubs: Any, own_redis: RedisServer
) -> None:
    a, b, tokens, policy = hubs
    prisoner, clinician, room = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    policy.book(room, prisoner=prisoner, clinician=clinician, establishment="est")
    device = Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d")
    patient, doctor = HubClient(a, writable=True), HubClient(b, writable=True)
    await patient.say({"type": "hello", "token": tokens.issue(device)})
    staff = Principal(clinician, Role.CLINICIAN, "est", "s2")
    await doctor.say({"type": "hello", "token": tokens.issue(staff)})
    await patient.say({"type": "join", "appointment": room})
    resume = (await patient.expect("room"))["resume_token"]
    await doctor.say({"type": "join", "appointment": room})
    await doctor.expect("room")
    await doctor.say({"type": "admit", "participant": prisoner})
    await patient.expect("admitted")
    await doctor.say({"type": "offer", "to": prisoner, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP

    process = own_redis.process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)  # connected, but answering nothing
    try:
        began = time.monotonic()
        frame = patient.frame(
            {"type": "candidate", "to": clinician, "candidate": candidate(1), "ref": "c1"}
        )
        await asyncio.wait_for(a.receive(patient.conn, frame), 10 * TIMEOUT_S)
        waited = time.monotonic() - began
        error = patient.got[-1]
        assert (error["type"], error["code"], error["ref"]) == ("error", "unavailable", "c1")
        assert patient.closed == 1013  # try again later
        assert waited < 10 * TIMEOUT_S
    finally:
        os.kill(process.pid, signal.SIGCONT)
    await a.disconnected(patient.conn)  # the socket closed (the web edge says so)

    # Redis answers again: the patient comes back with its resume token, nothing lost.
    again = HubClient(a, writable=True)
    await again.say(
        {
            "type": "hello",
            "token": tokens.issue(device),
            "resume": {"token": resume, "last_seq": patient.conn.last_seq},
        }
    )
    welcome = await again.expect("welcome")
    assert welcome["resumed"] is True
    assert [m["type"] for m in doctor.got].count("candidate") == 0  # the timed-out one was not sent
    await again.say({"type": "candidate", "to": clinician, "candidate": candidate(2)})
    got = await doctor.expect("candidate")
    assert got["candidate"]["candidate"].startswith("candidate:2 ")
