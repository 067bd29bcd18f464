"""Close code 1013, "try again later": a full node, and a room store that cannot be reached.

Both leave things as they were; the client waits a moment and comes back,
to this node or another (the participant and the pages treat 1013 as resumable).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import WSMsgType

from core.clock import FakeClock
from core.config import Settings
from core.events import MemorySink
from core.identity import Principal, Role
from core.identity.passwords import SecretHasher
from signalling.bus.memory import MemoryBus
from signalling.hub import Hub, HubConfig
from signalling.store.redis import RedisRoomStore
from tests.signalling.conftest import (
    FakePolicy,
    HubClient,
    Tokens,
    book_consult,
    build_app,
    open_peer,
)
from tests.world import build_world

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def test_a_full_node_says_try_again_later_and_takes_the_next_one_when_there_is_room(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> None:
    client = await aiohttp_client(build_app(settings, clock, hasher, policy, max_connections=2))
    world = await build_world(client.server.app)
    consult = await book_consult(client, world, policy)
    first, _ = await open_peer(client, consult.patient_token)
    second, _ = await open_peer(client, consult.clinician_token)

    third = await client.ws_connect("/ws")
    closing = await asyncio.wait_for(third.receive(), 3)
    assert closing.type is WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1013, "try again later")

    # The two already connected were not disturbed.
    await first.send({"type": "ping"})
    assert (await first.expect("pong"))["type"] == "pong"

    await second.ws.close()
    for _ in range(50):  # the server notices the close a moment later
        again = await _welcomed(client, consult.clinician_token)
        if again is not None:
            break
        await asyncio.sleep(0.05)
    assert again is not None, "a connection freed a place, but none was taken"
    await again.close()
    await first.ws.close()


async def _welcomed(client: Any, token: str) -> Any:
    """A WebSocket that got its welcome, or None if the server closed it."""
    ws = await client.ws_connect("/ws")
    await ws.send_json({"v": 1, "type": "hello", "token": token})
    msg = await asyncio.wait_for(ws.receive(), 3)
    if msg.type is not WSMsgType.TEXT:
        await ws.close()
        return None
    assert msg.json()["type"] == "welcome"
    return ws


async def test_an_unreachable_room_store_says_try_again_later_and_changes_nothing(
    clock: FakeClock,
) -> None:
    tokens = Tokens()
    policy = FakePolicy(clock)
    audit = MemorySink()
    store = RedisRoomStore(UNREACHABLE_REDIS, prefix=f"tc-test-{uuid.uuid4().hex[:8]}:")
    bus = MemoryBus()
    hub = Hub(
        identity=tokens,
        policy=policy,
        store=store,
        bus=bus,
        audit=audit,
        clock=clock,
        config=HubConfig(tick_s=3600),
    )
    prisoner = uuid.uuid4().hex
    policy.book("appt", prisoner=prisoner, clinician=uuid.uuid4().hex, establishment="est")
    patient = HubClient(hub)
    try:
        token = tokens.issue(Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d"))
        await patient.say({"type": "hello", "token": token})
        await patient.expect("welcome")

        await hub.receive(patient.conn, '{"v":1,"type":"join","appointment":"appt","ref":"j1"}')
        error = await asyncio.wait_for(patient.inbox.get(), 5)
        assert (error["type"], error["code"], error["ref"]) == ("error", "unavailable", "j1")
        assert patient.closed == 1013
        assert audit.records == []
        assert hub.meters.rooms == 0
        assert policy.events == []
    finally:
        await hub.close()
        await store.close()
        await bus.close()
