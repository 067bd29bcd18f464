"""Join refusals from scheduling's own join policy, over a real WebSocket (issue 5).

`test_bad_input.py` checks refusals against a fake policy; here the app is the
real one (no `JOIN_POLICY`), the consult is booked through the scheduling
service, and consent and devices change through their public services. Each
refusal must reach the client as `join_refused` with scheduling's reason, and
leave nothing behind: no arrival alert, no audit entry, no check-in, and the
rightful patient still joins as the only one waiting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.events import Action, MemorySink
from core.identity import Principal, Role
from core.identity.passwords import SecretHasher
from tests.media.consults import Booked, book_consult, principal_of
from tests.signalling.conftest import Peer, open_peer
from tests.world import Prisoner, World, place, sign_in_prisoner, sign_in_staff
from web.state import IDENTITY, SCHEDULING

# The fake clock starts at 09:00 that day, an hour before the consult; the
# window opens ten minutes before the start and closes fifteen after the end.
CONSULT_AT = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
INSIDE = CONSULT_AT - timedelta(minutes=5)
SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture
async def app(settings: Settings, clock: FakeClock, hasher: SecretHasher) -> Any:
    from web.app import create_app
    from web.ws import AUDIT_TAP

    app = create_app(settings, clock=clock, hasher=hasher)
    app[AUDIT_TAP] = MemorySink()
    return app


@pytest.fixture
async def booked(client: Any, world: World) -> Booked:
    return await book_consult(client.server.app[SCHEDULING], world, starts_at=CONSULT_AT)


# ---------------------------------------------------------------- helpers


async def join(client: Any, tokens: dict[str, Any], appointment: str) -> Peer:
    peer, _ = await open_peer(client, tokens["access_token"])
    await peer.send({"type": "join", "appointment": appointment})
    return peer


async def assert_refused(peer: Peer, reason: str, relay_to: str | None = None) -> None:
    """The fixed error with the refusal's reason; a member role's socket is in no room."""
    error = await peer.expect("error")
    assert error == {
        "seq": error["seq"],
        "v": 1,
        "type": "error",
        "code": "join_refused",
        "message": "You cannot join this consult.",
        "reason": reason,
    }
    if relay_to is not None:
        await peer.send({"type": "offer", "to": relay_to, "sdp": SDP})
        assert (await peer.expect("error"))["code"] == "not_in_room"
    await peer.ws.close()


async def assert_left_no_trace(client: Any, booked: Booked, refused: str) -> None:
    """No JOINED/WAITING audit record for the refused person; still only booked."""
    from web.ws import AUDIT_TAP

    sink = client.server.app[AUDIT_TAP]
    assert isinstance(sink, MemorySink)
    entries = [r.action for r in sink.records if r.actor == refused]
    assert Action.JOINED not in entries and Action.WAITING not in entries, entries
    view = await client.server.app[SCHEDULING].appointment_view(booked.appointment)
    assert view is not None and view.status == "booked"


async def clinician_in_room(client: Any, booked: Booked) -> Peer:
    peer = await join(client, await sign_in_staff(client, booked.clinician), booked.appointment)
    room = await peer.expect("room")
    assert [m["role"] for m in room["members"]] == ["clinician"]
    return peer


async def rightful_patient_waits(
    client: Any, booked: Booked, clinician: Peer, prisoner: Prisoner | None = None
) -> Peer:
    """The booked prisoner joins, is the only one waiting, and the clinician is alerted."""
    who = booked.prisoner.account_id
    patient = await join(
        client, await sign_in_prisoner(client, prisoner or booked.prisoner), booked.appointment
    )
    room = await patient.expect("room")
    waiting = [m["participant"] for m in room["members"] if m["status"] == "waiting"]
    assert waiting == [who]
    assert (await patient.expect("waiting"))["position"] == 1
    arrived = await clinician.expect("arrived")
    assert (arrived["participant"], arrived["role"]) == (who, "patient")
    await clinician.quiet()
    view = await client.server.app[SCHEDULING].appointment_view(booked.appointment)
    assert view is not None and view.status == "checked_in"
    return patient


def patient_principal(prisoner: Prisoner) -> Principal:
    return Principal(
        prisoner.account_id,
        Role.PRISONER,
        prisoner.establishment_id,
        "seed",
        device_id=prisoner.device_id,
    )


async def close(*peers: Peer) -> None:
    for peer in peers:
        await peer.ws.close()


# ---------------------------------------------------------------- the control


async def test_booked_consenting_prisoner_on_enrolled_device_waits_and_clinician_sees_arrival(
    client: Any, booked: Booked, clock: FakeClock
) -> None:
    from web.ws import AUDIT_TAP

    clock.set(INSIDE)
    clinician = await clinician_in_room(client, booked)
    patient = await rightful_patient_waits(client, booked, clinician)
    sink = client.server.app[AUDIT_TAP]
    assert isinstance(sink, MemorySink)
    mine = [r.action for r in sink.records if r.actor == booked.prisoner.account_id]
    assert mine == [Action.JOINED, Action.WAITING]
    await close(patient, clinician)


# ---------------------------------------------------------------- refusals


async def test_prisoner_cannot_join_another_prisoners_appointment(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    clock.set(INSIDE)
    clinician = await clinician_in_room(client, booked)
    other = world.prisoners[1]
    intruder = await join(client, await sign_in_prisoner(client, other), booked.appointment)
    await assert_refused(intruder, "not_your_appointment", booked.clinician.account_id)
    await clinician.quiet()
    await assert_left_no_trace(client, booked, other.account_id)
    patient = await rightful_patient_waits(client, booked, clinician)
    await close(patient, clinician)


async def test_prisoner_cannot_join_before_window(
    client: Any, booked: Booked, clock: FakeClock
) -> None:
    early = await join(client, await sign_in_prisoner(client, booked.prisoner), booked.appointment)
    await assert_refused(early, "too_early", booked.clinician.account_id)
    await assert_left_no_trace(client, booked, booked.prisoner.account_id)
    clock.set(INSIDE)
    clinician = await clinician_in_room(client, booked)
    patient = await rightful_patient_waits(client, booked, clinician)
    await close(patient, clinician)


async def test_prisoner_and_clinician_cannot_join_after_window(
    client: Any, booked: Booked, clock: FakeClock
) -> None:
    """Once the window has closed nobody may join, so what shows nothing changed
    is the appointment: still booked, neither checked in nor attended."""
    clock.set(booked.window_closes + timedelta(seconds=1))
    late = await join(client, await sign_in_prisoner(client, booked.prisoner), booked.appointment)
    await assert_refused(late, "too_late", booked.clinician.account_id)
    staff = await join(client, await sign_in_staff(client, booked.clinician), booked.appointment)
    await assert_refused(staff, "too_late", booked.prisoner.account_id)
    await assert_left_no_trace(client, booked, booked.prisoner.account_id)
    await assert_left_no_trace(client, booked, booked.clinician.account_id)


async def test_prisoner_cannot_join_after_withdrawing_consent(
    client: Any, booked: Booked, clock: FakeClock
) -> None:
    scheduling = client.server.app[SCHEDULING]
    me = patient_principal(booked.prisoner)
    clock.set(INSIDE)
    (consent,) = await scheduling.consents_of(me, booked.prisoner.account_id)
    await scheduling.withdraw_consent(me, consent.id)
    clinician = await clinician_in_room(client, booked)
    attempt = await join(
        client, await sign_in_prisoner(client, booked.prisoner), booked.appointment
    )
    await assert_refused(attempt, "no_consent", booked.clinician.account_id)
    await clinician.quiet()
    await assert_left_no_trace(client, booked, booked.prisoner.account_id)
    clock.advance(seconds=1)
    await scheduling.record_consent(
        me,
        prisoner_id=booked.prisoner.account_id,
        scope_value="telehealth",
        version=1,
        decision="given",
    )
    patient = await rightful_patient_waits(client, booked, clinician)
    await close(patient, clinician)


async def test_prisoner_cannot_join_from_a_revoked_device(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    """Signed in before the officer revoked the device: the socket it had open is
    closed (4007), and a new one cannot authenticate with the session's token."""
    devices = client.server.app[IDENTITY].devices
    officer = principal_of(world.staff["officer"])
    clock.set(INSIDE)
    clinician = await clinician_in_room(client, booked)
    tokens = await sign_in_prisoner(client, booked.prisoner)
    stale, _ = await open_peer(client, tokens["access_token"])
    await devices.revoke_device(officer, booked.prisoner.device_id)
    assert await stale.closed() == 4007
    again = Peer(await client.ws_connect("/ws"))
    await again.send({"type": "hello", "token": tokens["access_token"]})
    assert (await again.recv())["code"] == "invalid_token"
    assert await again.closed() == 4001
    await clinician.quiet()
    await assert_left_no_trace(client, booked, booked.prisoner.account_id)
    await place(client.server.app, world.est, "W0-09")
    enrolment = await devices.start_enrolment(officer, world.est, "W0-09")
    device, credential = await devices.complete_enrolment(enrolment.code)
    new_device = replace(booked.prisoner, device_id=device.id, device_credential=credential)
    patient = await rightful_patient_waits(client, booked, clinician, new_device)
    await close(patient, clinician)


async def test_an_officer_not_invited_cannot_join_a_consult(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    officer = world.staff["officer"]
    clock.set(INSIDE)
    clinician = await clinician_in_room(client, booked)
    peer = await join(client, await sign_in_staff(client, officer), booked.appointment)
    await assert_refused(peer, "not_your_appointment")
    await clinician.quiet()
    await assert_left_no_trace(client, booked, officer.account_id)
    patient = await rightful_patient_waits(client, booked, clinician)
    await close(patient, clinician)
