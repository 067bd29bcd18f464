"""Network blips, resume with replay, the reclaim window, token expiry, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import Action
from tests.signalling.conftest import (
    EDGES,
    TICK_S,
    FakePolicy,
    audit_records,
    book_consult,
    in_call,
    open_peer,
)
from tests.world import sign_in_prisoner, sign_in_staff
from web.state import SIGNALLING

pytestmark = pytest.mark.parametrize(("bus_kind", "ws_path"), EDGES, indirect=True)

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def _ticks(n: int = 4) -> None:
    await asyncio.sleep(TICK_S * n)


async def test_blip_within_reclaim_resumes_with_missed_messages_and_ice_restart(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    room_token = next(m for m in patient.seen if m["type"] == "room")["resume_token"]
    last_seq = patient.last_seq
    await patient.ws.close()
    away = await clinician.expect("away")
    assert away["participant"] == consult.patient_id
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    await clinician.send({"type": "notice", "text": "Still here"})
    clock.advance(seconds=20)
    await _ticks()

    fresh = await sign_in_prisoner(client, world.prisoners[0])
    back, welcome = await open_peer(
        client, fresh["access_token"], resume={"token": room_token, "last_seq": last_seq}
    )
    assert welcome["resumed"] is True
    assert welcome["replay"] == "complete"
    assert welcome["room"]["you"]["status"] == "present"
    assert welcome["resume_token"] and welcome["resume_token"] != room_token
    assert welcome["room"]["ice_servers"]
    missed = [await back.recv(), await back.recv()]
    assert [m["type"] for m in missed] == ["offer", "notice"]
    assert all(m["seq"] > last_seq for m in missed)
    assert missed[0]["seq"] < missed[1]["seq"]
    assert (await clinician.expect("reconnected"))["participant"] == consult.patient_id
    restart = await clinician.expect("ice_restart")
    assert restart["from"] == consult.patient_id

    await clinician.send(
        {"type": "offer", "to": consult.patient_id, "sdp": SDP, "ice_restart": True}
    )
    offer = await back.expect("offer")
    assert offer["ice_restart"] is True

    actions = [r.action for r in audit_records(client) if r.actor == consult.patient_id]
    assert actions.count(Action.JOINED) == 1
    assert Action.RECONNECTED in actions
    # The old resume token is spent.
    again = await sign_in_prisoner(client, world.prisoners[0])
    stale, welcome2 = await open_peer(
        client, again["access_token"], resume={"token": room_token, "last_seq": 0}
    )
    assert welcome2["resumed"] is False
    assert (await stale.recv())["code"] == "resume_failed"
    for peer in (back, clinician, stale):
        await peer.ws.close()


async def test_past_the_reclaim_window_the_other_side_is_told(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    room_token = next(m for m in patient.seen if m["type"] == "room")["resume_token"]
    await patient.ws.close()
    await clinician.expect("away")
    clock.advance(seconds=31)
    left = await clinician.expect("left")
    assert (left["participant"], left["reason"]) == (consult.patient_id, "timeout")
    fresh = await sign_in_prisoner(client, world.prisoners[0])
    late, welcome = await open_peer(
        client, fresh["access_token"], resume={"token": room_token, "last_seq": 0}
    )
    assert welcome["resumed"] is False
    assert (await late.recv())["code"] == "resume_failed"
    # Joining again is allowed: back through the waiting room.
    await late.send({"type": "join", "appointment": consult.appointment})
    assert (await late.expect("room"))["you"]["status"] == "waiting"
    assert (await clinician.expect("arrived"))["participant"] == consult.patient_id
    left_records = [r for r in audit_records(client) if r.action is Action.LEFT]
    assert left_records[0].details["reason"] == "timeout"
    await late.ws.close()
    await clinician.ws.close()


async def test_token_expiry_never_ends_the_consult_the_member_is_away_and_resumes(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    """Regression: a token running out closed the connection, the member left and the
    consult was ended (`token_expired`), although it could have signed in again."""
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    clinician_room = next(m for m in clinician.seen if m["type"] == "room")["resume_token"]
    clock.advance(seconds=900 - 50)
    reauth = await patient.expect("reauth")
    assert reauth["expires_at"]
    fresh = await sign_in_prisoner(client, world.prisoners[0])
    await patient.send({"type": "reauth", "token": fresh["access_token"]})
    await patient.send({"type": "ping"})
    await patient.expect("pong")  # the reauth has been handled
    await clinician.expect("reauth")
    clock.advance(seconds=60)
    # The patient's fresh token keeps it in; the clinician sent none: it is away, no more.
    assert await clinician.closed() == 4004
    away = await patient.expect("away")
    assert away["participant"] == consult.clinician_id
    await patient.quiet(5 * TICK_S)
    assert not [r for r in audit_records(client) if r.action is Action.CALL_ENDED]
    assert [e[1] for e in policy.events if e[1] == "ended"] == []

    # Signed in again within the reclaim window, the clinician resumes where it was.
    again = await sign_in_staff(client, world.staff["clinician"])
    back, welcome = await open_peer(
        client, again["access_token"], resume={"token": clinician_room, "last_seq": 0}
    )
    assert welcome["resumed"] is True
    assert welcome["room"]["state"] == "admitted"
    assert (await patient.expect("reconnected"))["participant"] == consult.clinician_id
    assert (await back.expect("ice_restart"))["from"] == consult.patient_id
    await patient.ws.close()
    await back.ws.close()


async def test_reauth_with_another_accounts_token_is_refused(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "reauth", "token": consult.clinician_token})
    assert (await patient.recv())["code"] == "reauth_refused"
    assert await patient.closed() == 4001


async def test_graceful_shutdown_tells_clients_to_reconnect_elsewhere(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    shutdown = asyncio.create_task(client.server.app[SIGNALLING].shutdown())
    for peer in (patient, clinician):
        assert await peer.closed() == 1012
    await shutdown
    # A node that is stopping takes no new connections.
    late = await client.ws_connect("/ws")
    assert (await late.receive()).data == 1012


async def test_window_closing_ends_the_consult(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy, starts_in_min=-25)
    patient, clinician = await in_call(client, consult)
    clock.advance(minutes=11)
    for peer in (patient, clinician):
        assert (await peer.expect("ended"))["reason"] == "window_closed"
    await patient.send({"type": "offer", "to": consult.clinician_id, "sdp": SDP})
    assert (await patient.expect("error"))["code"] == "not_in_room"
    await patient.ws.close()
    await clinician.ws.close()
