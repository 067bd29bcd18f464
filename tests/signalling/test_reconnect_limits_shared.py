"""The per-identity reconnection limit is one for all nodes when they share Redis.

A client that bounces between two nodes behind the load balancer gets the limit
once, not once per node (signalling/reconnects.py, `SharedWindows`): on the real
Redis, two hubs count its connections together. The per-node limits, in memory,
are tests/signalling/test_storms.py's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.clock import FakeClock
from core.config import Secret, Settings
from core.identity.passwords import SecretHasher
from tests.signalling.conftest import FakePolicy, Peer, book_consult, build_app
from tests.world import build_world

LIMIT = 3


async def _hello(node: Any, token: str) -> tuple[Peer, dict[str, Any]]:
    peer = Peer(await node.ws_connect("/ws"))
    await peer.send({"type": "hello", "token": token})
    return peer, await peer.recv(30)


async def test_a_client_bouncing_between_two_nodes_gets_one_limit_not_one_each(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
    redis_url: str,
) -> None:
    shared = replace(settings, redis_url=Secret(redis_url))
    nodes = [
        await aiohttp_client(
            build_app(
                replace(shared, node_name=name),
                clock,
                hasher,
                policy,
                connect_per_identity=LIMIT,
            )
        )
        for name in ("node-a", "node-b")
    ]
    a, b = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    # Three connections in the minute, alternating nodes: each node alone has seen at
    # most two, under its limit of three; together they are the three allowed.
    for node in (a, b, a):
        peer, first = await _hello(node, consult.patient_token)
        assert first["type"] == "welcome"
        await peer.ws.close()
    # The fourth, on the node that has seen only one: refused, told how long to wait.
    peer, refused = await _hello(b, consult.patient_token)
    assert (refused["type"], refused["code"]) == ("error", "too_many_connections")
    assert 1 <= refused["retry_after_s"] <= 60
    assert await peer.closed(30) == 1013
    # Someone else is let in on either node.
    for node in nodes:
        peer, first = await _hello(node, consult.clinician_token)
        assert first["type"] == "welcome"
        await peer.ws.close()
