"""One contract, run against every bus: in-process and the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from signalling.bus import Bus, create_bus


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    shared: Bus | None = None
    made: list[Bus] = []

    async def factory() -> Bus:
        nonlocal shared
        if url is None:
            # One process: every "node" shares the one in-process bus.
            if shared is None:
                shared = create_bus(None)
                await shared.start()
                made.append(shared)
            return shared
        bus = create_bus(url, prefix=prefix)
        await bus.start()
        made.append(bus)
        return bus

    yield factory
    for bus in made:
        await bus.close()


async def _collect(bus: Bus, channel: str) -> tuple[asyncio.Queue[bytes], Any]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(_channel: str, payload: bytes) -> None:
        await queue.put(payload)

    return queue, await bus.subscribe(channel, handler)


async def test_a_message_reaches_every_subscriber_on_every_node(make_bus: Any) -> None:
    a, b = await make_bus(), await make_bus()
    qa, _ = await _collect(a, "room:1")
    qb, _ = await _collect(b, "room:1")
    await a.publish("room:1", b"offer")
    assert await asyncio.wait_for(qa.get(), 5) == b"offer"
    assert await asyncio.wait_for(qb.get(), 5) == b"offer"


async def test_order_is_kept_per_channel(make_bus: Any) -> None:
    a, b = await make_bus(), await make_bus()
    q, _ = await _collect(b, "room:2")
    for i in range(50):
        await a.publish("room:2", str(i).encode())
    got = [await asyncio.wait_for(q.get(), 5) for _ in range(50)]
    assert got == [str(i).encode() for i in range(50)]


async def test_channels_are_separate_and_unsubscribe_stops_delivery(make_bus: Any) -> None:
    a = await make_bus()
    q1, sub1 = await _collect(a, "room:a")
    q2, _ = await _collect(a, "room:b")
    await a.publish("room:b", b"for b")
    assert await asyncio.wait_for(q2.get(), 5) == b"for b"
    await sub1.close()
    await a.publish("room:a", b"nobody")
    await a.publish("room:b", b"marker")
    assert await asyncio.wait_for(q2.get(), 5) == b"marker"
    assert q1.empty()


async def test_a_failing_handler_does_not_stop_the_bus(make_bus: Any) -> None:
    a = await make_bus()

    async def broken(_channel: str, _payload: bytes) -> None:
        raise RuntimeError("handler bug")

    await a.subscribe("room:x", broken)
    q, _ = await _collect(a, "room:x")
    await a.publish("room:x", b"one")
    await a.publish("room:x", b"two")
    assert await asyncio.wait_for(q.get(), 5) == b"one"
    assert await asyncio.wait_for(q.get(), 5) == b"two"


async def test_ping(make_bus: Any) -> None:
    await (await make_bus()).ping()


async def test_a_message_published_as_soon_as_subscribe_returns_arrives(make_bus: Any) -> None:
    # A node reads a room's seq right after subscribing: anything published from
    # then on, by any node, must reach it (the subscription is live on return).
    a, b = await make_bus(), await make_bus()
    queues = []
    for n in range(50):
        queue, _ = await _collect(a, f"room:fresh-{n}")
        await b.publish(f"room:fresh-{n}", f"{n}".encode())
        queues.append(queue)
    got = [await asyncio.wait_for(q.get(), 5) for q in queues]
    assert got == [f"{n}".encode() for n in range(50)]
