"""Many pairs across two nodes on the real Redis: every relayed message arrives, in order.

Regression: a node refreshed its liveness key only at the start of its sweep,
and the sweep made two Redis round trips per room. With many rooms and a busy
Redis the sweep outlasted the key's TTL, the other node declared a live node
dead and marked its members `away`, and their relays were refused mid-call
(pairs stalled on the two-node bench). Here each store call is slowed down a
little, so that a sweep over the rooms costs more than the TTL unless the
heartbeat runs on its own and the sweep batches its reads.
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

PAIRS = 20
MESSAGES = 30
STORE_DELAY_S = 0.01
NODE_TTL_S = 0.3


class SlowStore:
    """The Redis store, each call a little late (a loaded Redis, a busy node)."""

    broadcasts = True

    def __init__(self, inner: RedisRoomStore) -> None:
        self._inner = inner

    def cached(self, room_id: str) -> Any:
        return self._inner.cached(room_id)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def slow(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(STORE_DELAY_S)
            return await method(*args, **kwargs)

        return slow


@pytest.fixture
async def hubs(redis_url: str, clock: FakeClock) -> Any:
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    tokens = Tokens()
    policy = FakePolicy(clock)
    config = HubConfig(
        tick_s=0.05,
        node_ttl_s=NODE_TTL_S,
        reclaim_s=120,
        limits=Limits(rate=1e6, burst=1e6),
    )
    made: list[tuple[Hub, RedisRoomStore, RedisBus]] = []
    for name in ("node-a", "node-b"):
        bus = RedisBus(redis_url, prefix=prefix)
        await bus.start()
        store = RedisRoomStore(redis_url, prefix=prefix)
        hub = Hub(
            identity=tokens,
            policy=policy,
            store=SlowStore(store),
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
    a: Hub, b: Hub, tokens: Tokens, policy: FakePolicy
) -> tuple[HubClient, HubClient]:
    prisoner, clinician = uuid.uuid4().hex, uuid.uuid4().hex
    room = uuid.uuid4().hex
    policy.book(room, prisoner=prisoner, clinician=clinician, establishment="est")
    patient, doctor = HubClient(a), HubClient(b)
    await patient.say(
        {
            "type": "hello",
            "token": tokens.issue(Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d")),
        }
    )
    await doctor.say(
        {"type": "hello", "token": tokens.issue(Principal(clinician, Role.CLINICIAN, "est", "s2"))}
    )
    await patient.say({"type": "join", "appointment": room})
    await patient.expect("waiting")
    await doctor.say({"type": "join", "appointment": room})
    assert (await doctor.expect("room"))["relay_only"] is True  # the page forces relay ICE
    await doctor.say({"type": "admit", "participant": prisoner})
    await patient.expect("admitted")
    return patient, doctor


async def exchange(sender: HubClient, receiver: HubClient) -> list[int]:
    to = receiver.conn.participant
    assert to is not None

    async def send_all() -> None:
        for n in range(MESSAGES):
            await sender.say({"type": "candidate", "to": to, "candidate": candidate(n)})

    async def receive_all() -> list[int]:
        got: list[int] = []
        while len(got) < MESSAGES:
            body = await receiver.expect("candidate")
            got.append(int(body["candidate"]["candidate"].split()[0].split(":")[1]))
        return got

    _, got = await asyncio.gather(send_all(), receive_all())
    return got


@pytest.mark.slow
async def test_many_pairs_across_two_nodes_lose_no_relayed_message(hubs: Any) -> None:
    a, b, tokens, policy = hubs
    pairs = await asyncio.gather(*(open_pair(a, b, tokens, policy) for _ in range(PAIRS)))
    results = await asyncio.gather(
        *(exchange(p, d) for p, d in pairs), *(exchange(d, p) for p, d in pairs)
    )
    expected = list(range(MESSAGES))
    assert all(got == expected for got in results)
    assert [p.closed for pair in pairs for p in pair] == [None] * (2 * PAIRS)
