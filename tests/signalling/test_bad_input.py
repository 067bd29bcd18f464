"""Bad input over a real WebSocket: a clear error or close code, and nothing changes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType

from core.clock import FakeClock
from core.config import Settings
from core.identity.passwords import SecretHasher
from signalling.connection import Limits
from tests.signalling.conftest import (
    FakePolicy,
    Peer,
    book_consult,
    build_app,
    in_call,
    open_peer,
)
from tests.world import sign_in_prisoner, sign_in_staff

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def test_message_before_hello_is_refused_and_closed(client: Any) -> None:
    ws = await client.ws_connect("/ws")
    peer = Peer(ws)
    await peer.send({"type": "join", "appointment": "appt-1"})
    error = await peer.recv()
    assert error["code"] == "not_authenticated"
    assert error["message"] == "Send hello first."
    assert await peer.closed() == 4001


async def test_bad_token_closes_with_4001(client: Any) -> None:
    ws = await client.ws_connect("/ws")
    peer = Peer(ws)
    await peer.send({"type": "hello", "token": "a.b.c"})
    assert (await peer.recv())["code"] == "invalid_token"
    assert await peer.closed() == 4001


async def test_token_in_url_is_not_a_way_in(client: Any, world: Any) -> None:
    tokens = await sign_in_staff(client, world.staff["clinician"])
    ws = await client.ws_connect(f"/ws?token={tokens['access_token']}")
    peer = Peer(ws)
    await peer.send({"type": "ping"})
    assert (await peer.recv())["code"] == "not_authenticated"
    assert await peer.closed() == 4001


async def test_foreign_origin_is_refused_before_upgrade(client: Any) -> None:
    resp = await client.get(
        "/ws",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"


async def test_own_origin_is_allowed(client: Any, world: Any, settings: Settings) -> None:
    tokens = await sign_in_staff(client, world.staff["clinician"])
    peer, welcome = await open_peer(
        client, tokens["access_token"], headers={"Origin": settings.public_origins[0]}
    )
    assert welcome["role"] == "clinician"
    await peer.ws.close()


async def test_an_officer_not_invited_may_not_join(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    tokens = await sign_in_staff(client, world.staff["officer"])
    peer, _ = await open_peer(client, tokens["access_token"])
    await peer.send({"type": "join", "appointment": consult.appointment})
    error = await peer.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "not_your_appointment")
    await peer.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await peer.expect("error"))["code"] == "not_in_room"
    await peer.ws.close()


async def test_refusals_from_the_join_policy(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy)
    policy.book(
        "later",
        prisoner=consult.patient_id,
        clinician=consult.clinician_id,
        establishment=world.est,
        starts_in_min=60,
    )
    policy.book(
        "no-consent",
        prisoner=consult.patient_id,
        clinician=consult.clinician_id,
        establishment=world.est,
        consent=False,
    )
    other = await sign_in_prisoner(client, world.prisoners[1])
    intruder, _ = await open_peer(client, other["access_token"])
    patient, _ = await open_peer(client, consult.patient_token)
    cases = [
        (intruder, consult.appointment, "not_your_appointment"),
        (patient, "nope", "not_found"),
        (patient, "later", "too_early"),
        (patient, "no-consent", "no_consent"),
    ]
    for peer, appointment, reason in cases:
        await peer.send({"type": "join", "appointment": appointment})
        error = await peer.expect("error")
        assert (error["code"], error["reason"]) == ("join_refused", reason)
    clock.advance(minutes=41)
    await patient.send({"type": "join", "appointment": consult.appointment})
    assert (await patient.expect("error"))["reason"] == "too_late"
    # Still not in any room: relaying is refused.
    await patient.send({"type": "offer", "to": consult.clinician_id, "sdp": SDP})
    assert (await patient.expect("error"))["code"] == "not_in_room"
    await intruder.ws.close()
    await patient.ws.close()


async def test_offer_to_someone_not_in_the_room_is_refused(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    outsider = world.prisoners[1].account_id
    await clinician.send({"type": "offer", "to": outsider, "sdp": SDP, "ref": "o1"})
    error = await clinician.expect("error")
    assert error == {
        "seq": error["seq"],
        "type": "error",
        "v": 1,
        "code": "not_a_member",
        "message": "That participant is not in this consult.",
        "ref": "o1",
    }
    await patient.quiet()
    await patient.ws.close()
    await clinician.ws.close()


async def test_waiting_patient_cannot_offer(client: Any, world: Any, policy: FakePolicy) -> None:
    consult = await book_consult(client, world, policy)
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await patient.send({"type": "offer", "to": consult.clinician_id, "sdp": SDP})
    assert (await patient.expect("error"))["code"] == "not_admitted"
    await clinician.quiet()
    await patient.ws.close()
    await clinician.ws.close()


async def test_device_data_channel_and_host_candidates_are_refused(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.send(
        {
            "type": "answer",
            "to": consult.clinician_id,
            "sdp": SDP + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
        }
    )
    assert (await patient.expect("error"))["code"] == "data_channel_refused"
    host = "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host"
    await patient.send(
        {
            "type": "candidate",
            "to": consult.clinician_id,
            "candidate": {"candidate": host, "sdpMid": "0", "sdpMLineIndex": 0},
        }
    )
    assert (await patient.expect("error"))["code"] == "candidate_refused"
    await clinician.quiet()
    # The clinician's browser is not a device: its host candidates pass.
    await clinician.send(
        {
            "type": "candidate",
            "to": consult.patient_id,
            "candidate": {"candidate": host, "sdpMid": "0", "sdpMLineIndex": 0},
        }
    )
    assert (await patient.expect("candidate"))["candidate"]["candidate"] == host
    await patient.ws.close()
    await clinician.ws.close()


async def test_host_candidates_pass_when_not_relay_only(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy, relay_only=False)
    patient, clinician = await in_call(client, consult)
    host = "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host"
    await patient.send(
        {"type": "candidate", "to": consult.clinician_id, "candidate": {"candidate": host}}
    )
    assert (await clinician.expect("candidate"))["candidate"]["candidate"] == host
    await patient.ws.close()
    await clinician.ws.close()


async def test_frame_over_64_kib_closes_with_1009(client: Any, world: Any) -> None:
    tokens = await sign_in_staff(client, world.staff["clinician"])
    peer, _ = await open_peer(client, tokens["access_token"])
    await peer.ws.send_str(json.dumps({"type": "ping", "v": 1, "pad": "x" * 70_000}))
    assert await peer.closed() == 1009


async def test_deep_nesting_and_binary_frames_get_errors_and_the_connection_lives(
    client: Any, world: Any
) -> None:
    tokens = await sign_in_staff(client, world.staff["clinician"])
    peer, _ = await open_peer(client, tokens["access_token"])
    await peer.ws.send_str('{"type":"ping","v":1,"x":' + "[" * 5000 + "]" * 5000 + "}")
    assert (await peer.recv())["code"] == "too_deep"
    await peer.ws.send_bytes(b"\x00\x01")
    assert (await peer.recv())["code"] == "binary_not_supported"
    await peer.ws.send_str("{nope")
    assert (await peer.recv())["code"] == "malformed_json"
    await peer.send({"type": "hello", "token": tokens["access_token"]})
    assert (await peer.recv())["code"] == "already_authenticated"
    await peer.send({"type": "ping"})
    assert (await peer.recv())["type"] == "pong"
    await peer.ws.close()


async def test_flood_is_rate_limited_then_closed_with_1008(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> None:
    from tests.world import build_world

    app = build_app(
        settings, clock, hasher, policy, limits=Limits(rate=1, burst=5, flood_strikes=3)
    )
    client = await aiohttp_client(app)
    world = await build_world(app)
    tokens = await sign_in_staff(client, world.staff["clinician"])
    peer, _ = await open_peer(client, tokens["access_token"])
    for _ in range(12):
        await peer.send({"type": "ping"})
    codes = []
    while True:
        msg = await peer.ws.receive(timeout=3)
        if msg.type is not WSMsgType.TEXT:
            break
        codes.append(json.loads(msg.data).get("code"))
    assert "rate_limited" in codes
    assert msg.type is WSMsgType.CLOSE and msg.data == 1008


async def test_second_connection_replaces_the_first_without_a_ghost(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    again = await sign_in_prisoner(client, world.prisoners[0])
    newer, _ = await open_peer(client, again["access_token"])
    await newer.send({"type": "join", "appointment": consult.appointment})
    room = await newer.expect("room")
    assert await patient.closed() == 4003
    patients = [m for m in room["members"] if m["role"] == "patient"]
    assert len(patients) == 1 and patients[0]["status"] == "present"
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await newer.expect("offer"))["sdp"] == SDP
    await newer.ws.close()
    await clinician.ws.close()


async def test_real_join_policy_is_wired_and_refuses_unknown_appointments(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, hasher: SecretHasher
) -> None:
    from tests.world import build_world
    from web.app import create_app

    client = await aiohttp_client(create_app(settings, clock=clock, hasher=hasher))
    world = await build_world(client.server.app)
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    peer, welcome = await open_peer(client, tokens["access_token"])
    assert welcome["ice_servers"] == []
    await peer.send({"type": "join", "appointment": "00000000-0000-4000-8000-000000000000"})
    error = await peer.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "not_found")
    await peer.ws.close()
