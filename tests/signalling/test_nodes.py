"""Two nodes sharing the real Redis: one room across them, and a node going away."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Secret, Settings
from core.events import Action, MemorySink
from core.identity import Principal, Role
from core.identity.passwords import SecretHasher
from tests.signalling.conftest import FakePolicy, book_consult, build_app, open_peer
from tests.world import build_world, sign_in_prisoner, sign_in_staff
from web.state import JOBS, SCHEDULING, SIGNALLING
from web.ws import AUDIT_TAP

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture
async def nodes(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
    redis_url: str,
) -> tuple[Any, Any, MemorySink]:
    shared = replace(settings, redis_url=Secret(redis_url))
    tap = MemorySink()
    clients = []
    for name in ("node-a", "node-b"):
        app = build_app(
            replace(shared, node_name=name), clock, hasher, policy, reclaim_s=120, node_ttl_s=0.3
        )
        app[AUDIT_TAP] = tap
        clients.append(await aiohttp_client(app))
    return clients[0], clients[1], tap


async def test_patient_on_one_node_and_clinician_on_another_share_a_room(
    nodes: tuple[Any, Any, MemorySink], policy: FakePolicy
) -> None:
    a, b, tap = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    patient, _ = await open_peer(a, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    clinician, _ = await open_peer(b, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    room = await clinician.expect("room")
    assert [m["status"] for m in room["members"] if m["role"] == "patient"] == ["waiting"]
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP
    await patient.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    assert (await clinician.expect("answer"))["sdp"] == SDP
    await clinician.send({"type": "end", "reason": "completed"})
    assert (await patient.expect("ended"))["reason"] == "completed"
    assert tap.actions().count(Action.CALL_ENDED) == 1
    await patient.ws.close()
    await clinician.ws.close()


async def test_node_going_away_clients_resume_on_the_other_one_consult_in_the_log(
    nodes: tuple[Any, Any, MemorySink], policy: FakePolicy, clock: FakeClock
) -> None:
    a, b, tap = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    patient, _ = await open_peer(a, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    patient_resume = (await patient.expect("room"))["resume_token"]
    clinician, _ = await open_peer(a, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    clinician_resume = (await clinician.expect("room"))["resume_token"]
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    await clinician.expect("joined")

    shutdown = asyncio.create_task(a.server.app[SIGNALLING].shutdown())
    assert await patient.closed() == 1012
    assert await clinician.closed() == 1012
    await shutdown

    clock.advance(seconds=30)  # a new TOTP step: a code is accepted once
    fresh_c = await sign_in_staff(b, world.staff["clinician"])
    clinician2, welcome_c = await open_peer(
        b,
        fresh_c["access_token"],
        resume={"token": clinician_resume, "last_seq": clinician.last_seq},
    )
    assert welcome_c["resumed"] is True
    fresh_p = await sign_in_prisoner(b, world.prisoners[0])
    patient2, welcome_p = await open_peer(
        b, fresh_p["access_token"], resume={"token": patient_resume, "last_seq": patient.last_seq}
    )
    assert welcome_p["resumed"] is True
    assert welcome_p["room"]["you"]["status"] == "present"
    back = await clinician2.expect("reconnected")
    assert back["participant"] == consult.patient_id
    restart = await clinician2.expect("ice_restart")
    assert restart["from"] == consult.patient_id
    await clinician2.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient2.expect("offer"))["from"] == consult.clinician_id

    consult_events = [r for r in tap.records if r.appointment == consult.appointment]
    assert [r.action for r in consult_events].count(Action.JOINED) == 2
    assert [r.action for r in consult_events].count(Action.ADMITTED) == 1
    assert [r.action for r in consult_events].count(Action.RECONNECTED) == 2
    await patient2.ws.close()
    await clinician2.ws.close()


async def test_node_dying_silently_its_members_go_away_then_resume_elsewhere(
    nodes: tuple[Any, Any, MemorySink], policy: FakePolicy
) -> None:
    """A node killed outright says nothing; the others notice it stopped beating."""
    a, b, tap = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    patient, _ = await open_peer(a, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    patient_resume = (await patient.expect("room"))["resume_token"]
    clinician, _ = await open_peer(b, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")

    a.server.app[SIGNALLING]._closing = True  # its heartbeat stops, as in a SIGKILL
    away = await clinician.expect("away", wait=5)
    assert away["participant"] == consult.patient_id

    fresh = await sign_in_prisoner(b, world.prisoners[0])
    back, welcome = await open_peer(
        b, fresh["access_token"], resume={"token": patient_resume, "last_seq": patient.last_seq}
    )
    assert welcome["resumed"] is True
    assert (await clinician.expect("reconnected"))["participant"] == consult.patient_id
    assert (await clinician.expect("ice_restart"))["from"] == consult.patient_id
    actions = [r.action for r in tap.records if r.actor == consult.patient_id]
    assert actions.count(Action.JOINED) == 1
    assert actions.count(Action.RECONNECTED) == 1
    await back.ws.close()
    await clinician.ws.close()
    await patient.ws.close()


async def test_a_notice_delivered_by_one_node_reaches_a_socket_open_on_the_other(
    nodes: tuple[Any, Any, MemorySink], policy: FakePolicy
) -> None:
    """The inbox's live push goes through the bus: the job ran on node A, the device is on B."""
    a, b, _ = nodes
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    device, welcome = await open_peer(b, consult.patient_token)
    assert welcome["type"] == "welcome"
    prisoner = Principal(consult.patient_id, Role.PRISONER, world.est, "test")
    await a.server.app[SCHEDULING].make_request(
        prisoner, category="general", text_value="A sore knee"
    )
    await a.server.app[JOBS].run_due()
    pushed = await device.expect("inbox")
    assert pushed["kind"] == "request_received"
    assert "knee" not in str(pushed)
    unread, notices = await b.server.app[SCHEDULING].inbox(prisoner)
    assert (unread, [n.id for n in notices]) == (1, [pushed["notice"]])
    await device.ws.close()
