"""The fallback ladder on the wire: audio only offered, then moved to; a call-back chosen by
the clinician; a consult that requires video; and every refusal changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import Action
from tests.signalling.conftest import (
    BUSES,
    FakePolicy,
    audit_records,
    book_consult,
    in_call,
    open_peer,
)
from tests.world import sign_in_staff

pytestmark = pytest.mark.parametrize("bus_kind", BUSES, indirect=True)


def mode_changes(client: Any) -> list[dict[str, Any]]:
    return [
        {"actor": r.actor, **r.details}
        for r in audit_records(client)
        if r.action is Action.CALL_MODE_CHANGED
    ]


async def test_video_fails_audio_only_is_offered_to_both_then_both_move(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)

    await clinician.send({"type": "mode_offer", "cause": "low_bitrate"})
    for side in (patient, clinician):
        offered = await side.expect("mode_offered")
        assert offered["mode"] == "audio"
        assert offered["cause"] == "low_bitrate"
        assert offered["by"] == consult.clinician_id
        assert offered["switch_in_s"] == 10
    assert mode_changes(client) == []  # an offer changes nothing yet

    await clinician.send({"type": "mode", "mode": "audio", "cause": "low_bitrate"})
    for side in (patient, clinician):
        moved = await side.expect("mode")
        assert (moved["mode"], moved["previous"], moved["cause"]) == (
            "audio",
            "video",
            "low_bitrate",
        )
    [change] = mode_changes(client)
    assert change["actor"] == consult.clinician_id
    assert (change["previous"], change["mode"], change["cause"]) == (
        "video",
        "audio",
        "low_bitrate",
    )

    # The patient asks for the same mode again (both pages timed out at once): nothing happens.
    await patient.send({"type": "mode", "mode": "audio", "cause": "ice_failed"})
    await patient.send({"type": "ping"})
    assert (await patient.expect("pong"))["type"] == "pong"
    assert len(mode_changes(client)) == 1

    # A page that comes back reads the mode from the room.
    await patient.ws.close()
    again, _ = await open_peer(client, consult.patient_token)
    await again.send({"type": "join", "appointment": consult.appointment})
    room = await again.expect("room")
    assert room["mode"] == "audio"
    assert room["video_required"] is False

    # Either side may try video again.
    await again.send({"type": "mode", "mode": "video", "cause": "chosen"})
    assert (await clinician.expect("mode"))["mode"] == "video"
    assert [c["mode"] for c in mode_changes(client)] == ["audio", "video"]
    await again.ws.close()
    await clinician.ws.close()


async def test_the_clinician_chooses_a_call_back_and_it_stays_one_appointment(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "mode", "mode": "audio", "cause": "ice_failed"})
    for side in (patient, clinician):
        await side.expect("mode")

    await clinician.send({"type": "call_back", "cause": "high_loss"})
    for side in (patient, clinician):
        moved = await side.expect("mode")
        assert (moved["mode"], moved["previous"], moved["cause"]) == (
            "call_back",
            "audio",
            "high_loss",
        )
    [(appointment, by, device)] = policy.call_backs
    assert (appointment, by) == (consult.appointment, consult.clinician_id)
    assert device is not None  # the patient's device: its cell gives the wing
    assert [(c["previous"], c["mode"]) for c in mode_changes(client)][-1] == ("audio", "call_back")
    # Nothing was booked or ended: the same room, still open.
    assert [e for e in policy.events if e[1] == "ended"] == []

    # A second call-back, or going back to a call, is refused and changes nothing.
    await clinician.send({"type": "call_back", "cause": "chosen", "ref": "again"})
    error = await clinician.expect("error")
    assert (error["code"], error["ref"]) == ("invalid_transition", "again")
    await clinician.send({"type": "mode", "mode": "video", "cause": "chosen"})
    assert (await clinician.expect("error"))["code"] == "invalid_transition"
    assert len(policy.call_backs) == 1
    assert mode_changes(client)[-1]["mode"] == "call_back"
    await patient.ws.close()
    await clinician.ws.close()


async def test_a_consult_that_requires_video_has_no_audio_only_step(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy, video_required=True)
    patient, clinician = await in_call(client, consult)
    for side, body in (
        (clinician, {"type": "mode_offer", "cause": "ice_failed"}),
        (patient, {"type": "mode", "mode": "audio", "cause": "chosen"}),
    ):
        await side.send(body)
        error = await side.expect("error")
        assert error["code"] == "video_required"
        assert error["message"] == "This consult needs video: it cannot go audio only."
    await patient.quiet()
    assert mode_changes(client) == []

    await clinician.send({"type": "call_back", "cause": "low_bitrate"})
    moved = await patient.expect("mode")
    assert (moved["mode"], moved["previous"]) == ("call_back", "video")
    assert len(policy.call_backs) == 1
    await patient.ws.close()
    await clinician.ws.close()


async def test_a_patient_cannot_ask_for_a_call_back(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    await patient.send({"type": "call_back", "cause": "chosen", "ref": "cb"})
    error = await patient.expect("error")
    assert error == {
        "type": "error",
        "v": 1,
        "seq": error["seq"],
        "code": "not_allowed",
        "message": "You cannot send this message now.",
        "ref": "cb",
    }
    await clinician.quiet()
    assert policy.call_backs == []
    assert mode_changes(client) == []
    await patient.ws.close()
    await clinician.ws.close()


async def test_nobody_outside_the_room_changes_its_mode(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)

    # The clinician on a second connection that has not joined: not in the room.
    outsider, _ = await open_peer(client, consult.clinician_token)
    for body in (
        {"type": "mode", "mode": "audio", "cause": "chosen"},
        {"type": "mode_offer", "cause": "high_loss"},
        {"type": "call_back", "cause": "chosen"},
    ):
        await outsider.send(body)
        assert (await outsider.expect("error"))["code"] == "not_in_room"

    # An officer may authenticate but never change a consult.
    officer = await sign_in_staff(client, world.staff["officer"])
    staff, _ = await open_peer(client, officer["access_token"])
    for body in (
        {"type": "mode", "mode": "audio", "cause": "chosen"},
        {"type": "call_back", "cause": "chosen"},
    ):
        await staff.send(body)
        assert (await staff.expect("error"))["code"] == "not_allowed"

    # Bad fields: a clear error naming the field.
    await patient.send({"type": "mode", "mode": "hologram", "cause": "chosen"})
    error = await patient.expect("error")
    assert (error["code"], error["field"]) == ("invalid_field", "mode")
    await patient.send({"type": "mode_offer", "cause": "chosen"})
    error = await patient.expect("error")
    assert (error["code"], error["field"]) == ("invalid_field", "cause")

    await clinician.quiet()
    assert mode_changes(client) == []
    assert policy.call_backs == []
    for peer in (patient, clinician, outsider, staff):
        await peer.ws.close()


async def test_a_waiting_patient_cannot_change_the_mode(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    await patient.send({"type": "mode", "mode": "audio", "cause": "chosen"})
    assert (await patient.expect("error"))["code"] == "not_admitted"
    assert mode_changes(client) == []
    await patient.ws.close()
