"""Coming back: a fresh page joins again, a patient who left returns through the waiting
room, a clinician rejoins, and the wrong person cannot leave or end for someone else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.clock import FakeClock
from tests.signalling.conftest import (
    BUSES,
    TICK_S,
    FakePolicy,
    book_consult,
    in_call,
    open_peer,
)
from tests.world import bearer, sign_in_prisoner

pytestmark = pytest.mark.parametrize("bus_kind", BUSES, indirect=True)

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def test_a_reloaded_patient_page_is_back_in_the_call_and_the_clinician_starts_again(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    """Regression: a patient page that reloaded within the reclaim window joined and got
    only a `room` snapshot (`in_call`, you `present`); no `admitted` for it, and nothing
    for the clinician, whose page kept a dead link."""
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.ws.close()
    assert (await clinician.expect("away"))["participant"] == consult.patient_id
    fresh = await sign_in_prisoner(client, world.prisoners[0])
    page, _ = await open_peer(client, fresh["access_token"])
    await page.send({"type": "join", "appointment": consult.appointment})
    room = await page.expect("room")
    assert room["you"]["status"] == "present" and room["you"]["admitted"] is True
    admitted = await page.expect("admitted")
    assert {m["role"] for m in admitted["participants"]} == {"patient", "clinician"}
    joined = await clinician.expect("joined")
    assert (joined["participant"], joined["role"]) == (consult.patient_id, "patient")
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await page.expect("offer"))["sdp"] == SDP
    for peer in (page, clinician):
        await peer.ws.close()


async def test_a_reloaded_clinician_page_sees_the_patient_in_the_call_and_the_patient_is_told(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await clinician.ws.close()
    assert (await patient.expect("away"))["participant"] == consult.clinician_id
    page, _ = await open_peer(client, consult.clinician_token)
    await page.send({"type": "join", "appointment": consult.appointment})
    room = await page.expect("room")
    [seen] = [m for m in room["members"] if m["role"] == "patient"]
    assert (seen["status"], seen["admitted"]) == ("present", True)
    assert (await patient.expect("joined"))["participant"] == consult.clinician_id
    for peer in (page, patient):
        await peer.ws.close()


async def test_a_patient_who_left_joins_again_waits_and_is_admitted_again(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    await patient.expect("offer")
    await patient.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    await clinician.expect("answer")
    await patient.send({"type": "leave"})
    assert (await clinician.expect("left"))["reason"] == "left"
    # On the same connection, "Join again": back in the waiting room, the clinician alerted.
    await patient.send({"type": "join", "appointment": consult.appointment})
    room = await patient.expect("room")
    assert (room["state"], room["you"]["status"]) == ("waiting", "waiting")
    assert (await patient.expect("waiting"))["position"] == 1
    assert (await clinician.expect("arrived"))["participant"] == consult.patient_id
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    assert (await clinician.expect("joined"))["participant"] == consult.patient_id
    for peer in (patient, clinician):
        await peer.ws.close()


async def test_past_the_reclaim_window_a_returning_patient_waits_to_be_admitted_again(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.ws.close()
    await clinician.expect("away")
    clock.advance(seconds=31)
    assert (await clinician.expect("left"))["reason"] == "timeout"
    fresh = await sign_in_prisoner(client, world.prisoners[0])
    page, _ = await open_peer(client, fresh["access_token"])
    await page.send({"type": "join", "appointment": consult.appointment})
    room = await page.expect("room")
    assert (room["state"], room["you"]["status"]) == ("waiting", "waiting")
    assert (await clinician.expect("arrived"))["participant"] == consult.patient_id
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await page.expect("admitted")
    for peer in (page, clinician):
        await peer.ws.close()


async def test_leave_and_end_from_the_wrong_person_change_nothing(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.send({"type": "end", "reason": "completed"})
    assert (await patient.expect("error"))["code"] == "not_allowed"
    await patient.send({"type": "admit", "participant": consult.patient_id})
    assert (await patient.expect("error"))["code"] == "not_allowed"
    # Someone who is not in the consult cannot leave it.
    other = await sign_in_prisoner(client, world.prisoners[1])
    stranger, _ = await open_peer(client, other["access_token"])
    await stranger.send({"type": "leave"})
    assert (await stranger.expect("error"))["code"] == "not_in_room"
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP
    for peer in (patient, clinician, stranger):
        await peer.ws.close()


async def test_a_resume_after_the_consult_ended_says_so(
    client: Any, world: Any, policy: FakePolicy, clock: FakeClock
) -> None:
    consult = await book_consult(client, world, policy, starts_in_min=-25)
    patient, clinician = await in_call(client, consult)
    token = next(m for m in patient.seen if m["type"] == "room")["resume_token"]
    await patient.ws.close()
    await clinician.expect("away")
    clock.advance(minutes=11)
    assert (await clinician.expect("ended"))["reason"] == "window_closed"
    fresh = await sign_in_prisoner(client, world.prisoners[0])
    late, welcome = await open_peer(
        client, fresh["access_token"], resume={"token": token, "last_seq": 0}
    )
    assert welcome["resumed"] is False and welcome["room"] is None
    error = await late.expect("error")
    assert (error["code"], error["reason"]) == ("resume_failed", "ended")
    await late.send({"type": "join", "appointment": consult.appointment})
    assert (await late.expect("error"))["reason"] == "too_late"
    await late.ws.close()
    await clinician.ws.close()


async def test_the_clinicians_list_sees_where_each_consult_stands(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.ws.close()
    await clinician.expect("away")
    resp = await client.get(
        "/api/consults/live",
        params=[("appointment", consult.appointment), ("appointment", "nope")],
        headers={"Authorization": f"Bearer {consult.clinician_token}"},
    )
    assert resp.status == 200
    [live] = await resp.json()
    assert live["appointment"] == consult.appointment and live["state"] == "admitted"
    assert (live["patient"]["status"], live["patient"]["admitted"]) == ("away", True)
    assert live["clinician"]["status"] == "present"
    # A patient learns nothing of it.
    patient_tokens = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.get(
        "/api/consults/live",
        params={"appointment": consult.appointment},
        headers=bearer(patient_tokens),
    )
    assert resp.status == 403
    await clinician.ws.close()
    await asyncio.sleep(TICK_S)
