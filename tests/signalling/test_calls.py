"""A consult over real WebSockets: join, wait, admit, negotiate, end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.events import Action
from tests.signalling.conftest import (
    EDGES,
    FakePolicy,
    audit_records,
    book_consult,
    build_app,
    in_call,
    open_peer,
)
from tests.world import sign_in_prisoner

pytestmark = pytest.mark.parametrize(("bus_kind", "ws_path"), EDGES, indirect=True)

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def test_patient_waits_clinician_admits_and_offer_answer_flow(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, welcome = await open_peer(client, consult.patient_token)
    assert welcome["participant"] == consult.patient_id
    assert welcome["resume_token"] is None
    await patient.send(
        {
            "type": "join",
            "appointment": consult.appointment,
            "check": {"camera": "ok", "microphone": "ok", "network": "poor"},
        }
    )
    room = await patient.expect("room")
    assert room["state"] == "waiting"
    assert room["you"]["status"] == "waiting"
    assert room["resume_token"]
    assert room["ice_servers"][0]["username"].endswith(f":{consult.patient_id}")
    waiting = await patient.expect("waiting")
    assert waiting["position"] == 1
    assert waiting["estimate_s"] == 300

    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    croom = await clinician.expect("room")
    [waiter] = [m for m in croom["members"] if m["role"] == "patient"]
    assert waiter["status"] == "waiting"
    assert waiter["check"] == {"camera": "ok", "microphone": "ok", "network": "poor"}

    await clinician.send({"type": "admit", "participant": consult.patient_id})
    admitted = await patient.expect("admitted")
    assert {m["participant"] for m in admitted["participants"]} == {
        consult.patient_id,
        consult.clinician_id,
    }
    joined = await clinician.expect("joined")
    assert joined["participant"] == consult.patient_id

    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    offer = await patient.expect("offer")
    assert offer["from"] == consult.clinician_id
    # The sender's own fields, as sent, behind the server's `seq` and `from`.
    assert list(offer)[:2] == ["seq", "from"]
    assert {k: v for k, v in offer.items() if k not in ("seq", "from")} == {
        "v": 1,
        "type": "offer",
        "to": consult.patient_id,
        "sdp": SDP,
    }
    await patient.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    answer = await clinician.expect("answer")
    assert answer["sdp"] == SDP
    relay = "candidate:1 1 udp 2 127.0.0.1 5000 typ relay raddr 0.0.0.0 rport 0"
    await patient.send(
        {
            "type": "candidate",
            "to": consult.clinician_id,
            "candidate": {"candidate": relay, "sdpMid": "0", "sdpMLineIndex": 0},
        }
    )
    candidate = await clinician.expect("candidate")
    assert candidate["candidate"]["candidate"] == relay

    await clinician.send({"type": "end", "reason": "completed"})
    for peer in (patient, clinician):
        ended = await peer.expect("ended")
        assert ended["reason"] == "completed"
        assert ended["by"] == consult.clinician_id

    seqs = [m["seq"] for m in patient.seen if m["type"] not in ("welcome", "room", "error")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    actions = [r.action for r in audit_records(client) if r.appointment]
    assert actions == [
        Action.JOINED,
        Action.WAITING,
        Action.JOINED,
        Action.ADMITTED,
        Action.CALL_ENDED,
    ]
    assert [e[1] for e in policy.events] == ["waiting", "admitted", "ended"]
    await patient.ws.close()
    await clinician.ws.close()


async def test_clinician_notice_reaches_waiting_patient(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await clinician.send({"type": "notice", "text": "Running 10 minutes late"})
    notice = await patient.expect("notice")
    assert notice["text"] == "Running 10 minutes late"
    assert notice["from"] == consult.clinician_id
    records = audit_records(client)
    assert any(r.action is Action.MESSAGE_SENT for r in records)
    await patient.ws.close()
    await clinician.ws.close()


async def test_clinician_sees_arrival_alert(client: Any, world: Any, policy: FakePolicy) -> None:
    consult = await book_consult(client, world, policy)
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send(
        {
            "type": "join",
            "appointment": consult.appointment,
            "check": {"camera": "fail", "microphone": "ok", "network": "ok"},
        }
    )
    arrived = await clinician.expect("arrived")
    assert arrived["participant"] == consult.patient_id
    assert arrived["check"]["camera"] == "fail"
    await patient.ws.close()
    await clinician.ws.close()


async def test_quality_report_is_audited_and_shown_live_to_the_other_side(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    """The device's view of the link reaches the clinician as it is sent (issue 11
    item 11); it used to be written to the log only."""
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    report = {
        "rtt_ms": 42,
        "loss_pct": 12.5,
        "jitter_ms": 3,
        "bitrate_kbps": 800,
        "width": 640,
        "height": 360,
    }
    await patient.send({"type": "quality", **report})
    shown = await clinician.expect("quality")
    assert shown["participant"] == consult.patient_id
    assert {k: shown[k] for k in report} == report
    # A second report straight after is shown too, but the log keeps one in ten seconds.
    await patient.send({"type": "quality", **report, "loss_pct": 1})
    assert (await clinician.expect("quality"))["loss_pct"] == 1
    await patient.send({"type": "ping"})
    assert (await patient.recv())["type"] == "pong"
    [logged] = [r for r in audit_records(client) if r.action is Action.QUALITY_REPORT]
    assert logged.details["rtt_ms"] == 42
    assert logged.details["bitrate_kbps"] == 800
    assert logged.actor == consult.patient_id
    await patient.ws.close()
    await clinician.ws.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_metrics_show_connections_rooms_and_relayed_messages(
    client: Any, world: Any, policy: FakePolicy, ws_path: str
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    await patient.expect("offer")
    text = await (await client.get("/metrics")).text()
    assert _metric(text, "throughcare_ws_connections") == 2
    assert _metric(text, "throughcare_rooms") == 1
    assert _metric(text, "throughcare_messages_relayed_total") >= 1
    assert _metric(text, "throughcare_relay_seconds_count") >= 1
    assert _metric(text, "throughcare_ws_fast_path") == (1 if ws_path == "fast" else 0)
    await patient.ws.close()
    await clinician.ws.close()
    await asyncio.sleep(0.1)
    text = await (await client.get("/metrics")).text()
    assert _metric(text, "throughcare_ws_connections") == 0


async def test_waiting_positions_follow_the_clinicians_queue(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    first = await book_consult(client, world, policy, "appt-1")
    second_prisoner = world.prisoners[1]
    policy.book(
        "appt-2",
        prisoner=second_prisoner.account_id,
        clinician=first.clinician_id,
        establishment=world.est,
        starts_in_min=6,
    )
    tokens = await sign_in_prisoner(client, second_prisoner)
    later, _ = await open_peer(client, tokens["access_token"])
    await later.send({"type": "join", "appointment": "appt-2"})
    assert (await later.expect("waiting"))["position"] == 1
    earlier, _ = await open_peer(client, first.patient_token)
    await earlier.send({"type": "join", "appointment": "appt-1"})
    assert (await earlier.expect("waiting"))["position"] == 1
    moved = await later.expect("waiting")
    assert moved["position"] == 2
    assert moved["estimate_s"] == 20 * 60
    clinician, _ = await open_peer(client, first.clinician_token)
    await clinician.send({"type": "join", "appointment": "appt-1"})
    await clinician.expect("room")
    await clinician.send({"type": "admit", "participant": first.patient_id})
    await earlier.expect("admitted")
    assert (await later.expect("waiting"))["position"] == 1
    for peer in (later, earlier, clinician):
        await peer.ws.close()


async def test_a_connection_that_stops_answering_pings_is_dropped(
    aiohttp_client: Any,
    sig_settings: Any,
    clock: Any,
    hasher: Any,
    policy: FakePolicy,
) -> None:
    from tests.world import build_world

    app = build_app(sig_settings, clock, hasher, policy, heartbeat_s=0.2)
    client = await aiohttp_client(app)
    world = await build_world(app)
    consult = await book_consult(client, world, policy)
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    ws = await client.ws_connect("/ws", autoping=False)
    await ws.send_str(json.dumps({"type": "hello", "v": 1, "token": consult.patient_token}))
    await ws.send_str(json.dumps({"type": "join", "v": 1, "appointment": consult.appointment}))
    await clinician.expect("arrived")
    # The patient's client is frozen: it never reads, so never answers a ping.
    away = await clinician.expect("away", wait=5)
    assert away["participant"] == consult.patient_id
    await clinician.ws.close()
    await ws.close()


async def test_leaving_tells_the_other_side_and_the_room_stays_open(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.send({"type": "leave"})
    left = await clinician.expect("left")
    assert (left["participant"], left["reason"]) == (consult.patient_id, "left")
    await patient.send({"type": "offer", "to": consult.clinician_id, "sdp": SDP})
    assert (await patient.expect("error"))["code"] == "not_in_room"
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    assert (await clinician.expect("error"))["code"] == "not_waiting"
    await patient.send({"type": "join", "appointment": consult.appointment})
    assert (await patient.expect("room"))["you"]["status"] == "waiting"
    assert (await clinician.expect("arrived"))["participant"] == consult.patient_id
    for peer in (patient, clinician):
        await peer.ws.close()
