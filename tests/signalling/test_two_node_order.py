"""A thousand pairs across two nodes on the real Redis: per-room order and `seq` hold.

Every pair has its patient on node A and its clinician on node B, and both
sides send at once, all pairs together, so each node pipelines many rooms'
appends in one write and reads many rooms' messages in one read. Half the
sockets can take a write at once (the bus hands the hub a message straight
from its read) and half cannot (it goes through the hub's delivery task); a
room's messages must arrive in the order the room numbered them either way,
and each side's frames in the order it sent them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from signalling.bus.redis import RedisBus
from signalling.connection import Limits
from signalling.hub import Hub, HubConfig
from signalling.store.redis import RedisRoomStore
from tests.signalling.conftest import FakePolicy, HubClient, Tokens, candidate

PAIRS = 1000
MESSAGES = 6
UNLOGGED = {"welcome", "room", "pong", "error", "reauth"}
WAIT_S = 180  # a loaded, shared 2-core machine with browsers beside sets up slowly


async def expect(client: HubClient, kind: str) -> dict[str, Any]:
    while True:
        body = await asyncio.wait_for(client.inbox.get(), WAIT_S)
        assert body["type"] != "error", body
        if body["type"] == kind:
            return body


@pytest.fixture
async def hubs(redis_url: str, clock: FakeClock) -> Any:
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    tokens = Tokens()
    policy = FakePolicy(clock)
    # No sweep (nothing here times out): on a loaded machine its pass over a
    # thousand rooms a second takes the CPU the set-up needs.
    config = HubConfig(tick_s=3600, reclaim_s=120, limits=Limits(rate=1e6, burst=1e6))
    made: list[tuple[Hub, RedisRoomStore, RedisBus]] = []
    for name in ("node-a", "node-b"):
        bus = RedisBus(redis_url, prefix=prefix)
        await bus.start()
        store = RedisRoomStore(redis_url, prefix=prefix)
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
    for hub, store, bus in made:
        await hub.close()
        await store.close()
        await bus.close()


async def open_pair(
    a: Hub, b: Hub, tokens: Tokens, policy: FakePolicy, n: int
) -> tuple[HubClient, HubClient]:
    prisoner, clinician, room = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    policy.book(room, prisoner=prisoner, clinician=clinician, establishment="est")
    patient, doctor = HubClient(a, writable=n % 2 == 0), HubClient(b, writable=n % 4 < 2)
    device = Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d")
    await patient.say({"type": "hello", "token": tokens.issue(device)})
    staff = Principal(clinician, Role.CLINICIAN, "est", "s2")
    await doctor.say({"type": "hello", "token": tokens.issue(staff)})
    await patient.say({"type": "join", "appointment": room})
    await expect(patient, "waiting")
    await doctor.say({"type": "join", "appointment": room})
    await expect(doctor, "room")
    await doctor.say({"type": "admit", "participant": prisoner})
    await expect(patient, "admitted")
    await expect(doctor, "joined")
    return patient, doctor


async def send_all(sender: HubClient, receiver: HubClient) -> None:
    to = receiver.conn.participant
    for n in range(MESSAGES):
        await sender.say({"type": "candidate", "to": to, "candidate": candidate(n)})


async def received(client: HubClient) -> list[int]:
    got: list[int] = []
    while len(got) < MESSAGES:
        body = await expect(client, "candidate")
        got.append(int(body["candidate"]["candidate"].split()[0].split(":")[1]))
    return got


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_thousand_pairs_across_two_nodes_keep_each_rooms_order(hubs: Any) -> None:
    a, b, tokens, policy = hubs
    gate = asyncio.Semaphore(20)

    async def opened(n: int) -> tuple[HubClient, HubClient]:
        async with gate:
            return await open_pair(a, b, tokens, policy, n)

    pairs = await asyncio.gather(*(opened(n) for n in range(PAIRS)))
    sides = [side for pair in pairs for side in pair]
    before = {id(c): len(c.got) for c in sides}
    arrivals = asyncio.gather(*(received(c) for c in sides))
    await asyncio.gather(*(send_all(p, d) for p, d in pairs), *(send_all(d, p) for p, d in pairs))
    got = await asyncio.wait_for(arrivals, 300)

    # Each side's frames arrive whole and in the order they were sent...
    assert all(order == list(range(MESSAGES)) for order in got)
    for client in sides:
        # ...numbered by the room strictly upwards, nothing twice or out of turn (the
        # messages that are not logged carry the last number again)...
        seqs = [m["seq"] for m in client.got if m["type"] not in UNLOGGED]
        assert seqs == sorted(set(seqs)), seqs
        relayed = [m["seq"] for m in client.got[before[id(client)] :]]
        assert len(relayed) == MESSAGES
    # ...and the two sides of a room share one sequence: no number given twice.
    for patient, doctor in pairs:
        mine = {m["seq"] for m in patient.got if m["type"] == "candidate"}
        theirs = {m["seq"] for m in doctor.got if m["type"] == "candidate"}
        assert not mine & theirs
    assert [c.closed for c in sides] == [None] * (2 * PAIRS)
