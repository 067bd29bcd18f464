"""Redis killed and started again empty under two nodes with a consult open between them
(issue 12 item 12).

Before: nothing told anyone. The nodes' room state, replay log, resume tokens and
sequence numbers were gone, and an offer relayed after `/readyz` was back to 200
went nowhere, with no error and no close. Now each node notices it lost its
subscription, subscribes again, puts back what it owns (signalling/restore.py),
and closes its room members' sockets with 1012 so that they resume, which works.

The Redis is the test's own, on its own port (tests/redis_server.py); the shared
one on 6379 is never stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Secret, Settings
from core.identity.passwords import SecretHasher
from tests.redis_server import RedisServer, redis_server
from tests.signalling.conftest import FakePolicy, book_consult, build_app, open_peer
from tests.world import build_world

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def nodes(
    own_redis: RedisServer,
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> tuple[Any, Any]:
    """Set up after (so torn down before) the Redis they use."""
    shared = replace(settings, redis_url=Secret(own_redis.url))
    clients = []
    for name in ("node-a", "node-b"):
        app = build_app(
            replace(shared, node_name=name), clock, hasher, policy, reclaim_s=120, node_ttl_s=0.3
        )
        clients.append(await aiohttp_client(app))
    return clients[0], clients[1]


async def ready(client: Any) -> None:
    for _ in range(400):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the node never became ready again")


async def test_consult_across_two_nodes_comes_back_after_redis_restarts_empty(
    nodes: tuple[Any, Any], policy: FakePolicy, own_redis: RedisServer
) -> None:
    a, b = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    patient, _ = await open_peer(a, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    patient_resume = (await patient.expect("room"))["resume_token"]
    await patient.expect("waiting")
    clinician, _ = await open_peer(b, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    clinician_resume = (await clinician.expect("room"))["resume_token"]
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    await clinician.expect("joined")
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    await patient.expect("offer")

    await own_redis.restart()
    await ready(a)
    await ready(b)

    # Told to resume: the room state they were in was lost with Redis.
    assert await patient.closed(10) == 1012
    assert await clinician.closed(10) == 1012
    patient2, welcome_p = await open_peer(
        b,
        consult.patient_token,
        resume={"token": patient_resume, "last_seq": patient.last_seq},
    )
    assert welcome_p["resumed"] is True, welcome_p
    clinician2, welcome_c = await open_peer(
        a,
        consult.clinician_token,
        resume={"token": clinician_resume, "last_seq": clinician.last_seq},
    )
    assert welcome_c["resumed"] is True, welcome_c
    assert welcome_c["room"]["state"] in ("admitted", "in_call")
    await clinician2.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    offer = await patient2.expect("offer")
    assert offer["from"] == consult.clinician_id
    await patient2.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    assert (await clinician2.expect("answer"))["from"] == consult.patient_id
    await patient2.ws.close()
    await clinician2.ws.close()
