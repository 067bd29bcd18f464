"""Interpreters, chaperones and officers in a consult, over a real WebSocket (issue 18 item 1).

The real app and scheduling's own join policy: the clinician invites the third
parties through the attendees API, they join, wait, and are admitted; the room
is a mesh of up to four people (every pair negotiates through the relay); an
officer checks the identity at the start and is then put on hold, when nothing
is relayed to or from it and it is sent nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import select, update

from core.clock import FakeClock
from core.config import Settings
from core.db.schema import establishments
from core.events import Action, MemorySink
from core.identity import Role
from core.identity.passwords import SecretHasher
from scheduling.tables import call_summaries
from signalling.rooms import offerer
from tests.media.consults import Booked, book_consult
from tests.signalling.conftest import Peer, open_peer
from tests.world import Staff, World, bearer, new_staff, sign_in_prisoner, sign_in_staff
from web.state import DATABASE, SCHEDULING

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


async def identity_check(client: Any, est: str, on: bool) -> None:
    db = client.server.app[DATABASE]
    async with db.engine.begin() as conn:
        await conn.execute(
            update(establishments).where(establishments.c.id == est).values(identity_check=on)
        )


async def invite(
    client: Any, booked: Booked, *people: Staff, tokens: dict[str, Any] | None = None
) -> Any:
    headers = bearer(tokens or await sign_in_staff(client, booked.clinician))
    return await client.put(
        f"/api/appointments/{booked.appointment}/attendees",
        json={"account_ids": [p.account_id for p in people]},
        headers=headers,
    )


async def enter(client: Any, tokens: dict[str, Any], booked: Booked) -> tuple[Peer, dict[str, Any]]:
    peer, welcome = await open_peer(client, tokens["access_token"])
    await peer.send({"type": "join", "appointment": booked.appointment})
    return peer, welcome


async def waits(
    client: Any,
    booked: Booked,
    clinician: Peer,
    who: Staff | None,
    tokens: dict[str, Any] | None = None,
) -> tuple[Peer, str]:
    """`who` (the patient when None) joins, waits, and the clinician is told with its role."""
    if who is None:
        tokens = await sign_in_prisoner(client, booked.prisoner)
        participant, role = booked.prisoner.account_id, "patient"
    else:
        tokens = tokens or await sign_in_staff(client, who)
        participant, role = who.account_id, who.role.value
    peer, _ = await enter(client, tokens, booked)
    room = await peer.expect("room")
    assert room["you"]["status"] == "waiting" and room["you"]["admitted"] is False
    arrived = await clinician.expect("arrived")
    assert (arrived["participant"], arrived["role"]) == (participant, role)
    return peer, participant


async def admit(clinician: Peer, peer: Peer, participant: str) -> dict[str, Any]:
    await clinician.send({"type": "admit", "participant": participant})
    admitted = await peer.expect("admitted")
    return admitted


async def negotiate(a: tuple[Peer, str, str], b: tuple[Peer, str, str]) -> None:
    """The pair's offerer offers, the other answers: both relayed, each with its sender."""
    first, second = (a, b) if offerer(a[1:], b[1:]) == a[1] else (b, a)
    await first[0].send({"type": "offer", "to": second[1], "sdp": SDP})
    offer = await second[0].expect("offer")
    assert offer["from"] == first[1]
    await second[0].send({"type": "answer", "to": first[1], "sdp": SDP})
    answer = await first[0].expect("answer")
    assert answer["from"] == second[1]


async def refused(peer: Peer, body: dict[str, Any], code: str) -> dict[str, Any]:
    await peer.send(body)
    error = await peer.expect("error")
    assert error["code"] == code, error
    return error


def audit(client: Any) -> list[Any]:
    from web.ws import AUDIT_TAP

    sink = client.server.app[AUDIT_TAP]
    assert isinstance(sink, MemorySink)
    return list(sink.records)


async def summary_row(client: Any, booked: Booked) -> Any:
    """The call's summary row, kept just after the members are told that it ended."""
    db = client.server.app[DATABASE]
    for _ in range(100):
        async with db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(call_summaries).where(
                        call_summaries.c.appointment_id == booked.appointment
                    )
                )
            ).first()
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("no call summary was kept")


# ---------------------------------------------------------------- interpreters and chaperones


async def test_an_interpreter_and_a_chaperone_wait_are_admitted_and_mesh_and_a_fifth_is_refused(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    app = client.server.app
    interpreter = await new_staff(app, Role.INTERPRETER, "ines.i", world.est)
    chaperone = await new_staff(app, Role.CHAPERONE, "chris.c", world.est)
    second = await new_staff(app, Role.INTERPRETER, "ivo.i", world.est)
    uninvited = await new_staff(app, Role.CHAPERONE, "una.c", world.est)
    assert (await invite(client, booked, interpreter, chaperone, second)).status == 200
    clock.set(INSIDE)

    clinician, _ = await enter(client, await sign_in_staff(client, booked.clinician), booked)
    await clinician.expect("room")
    c_id = booked.clinician.account_id

    # Not invited: refused, and nobody is told.
    stranger, _ = await enter(client, await sign_in_staff(client, uninvited), booked)
    error = await stranger.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "not_your_appointment")
    await clinician.quiet()

    patient, p_id = await waits(client, booked, clinician, None)
    interp, i_id = await waits(client, booked, clinician, interpreter)
    # Waiting, the interpreter cannot negotiate with anyone.
    await refused(interp, {"type": "offer", "to": c_id, "sdp": SDP}, "not_admitted")

    await admit(clinician, patient, p_id)
    admitted = await admit(clinician, interp, i_id)
    roles = {m["participant"]: m["role"] for m in admitted["participants"]}
    assert roles == {c_id: "clinician", p_id: "patient", i_id: "interpreter"}
    joined = await patient.expect("joined")
    assert (joined["participant"], joined["role"]) == (i_id, "interpreter")

    # A mesh: each of the three pairs negotiates through the relay.
    members = [
        (clinician, c_id, "clinician"),
        (patient, p_id, "patient"),
        (interp, i_id, "interpreter"),
    ]
    for a, b in combinations(members, 2):
        await negotiate(a, b)

    # The interpreter admits, ends, brings back, confirms nothing, and messages nobody.
    for body in (
        {"type": "admit", "participant": p_id},
        {"type": "end", "reason": "completed"},
        {"type": "notice", "text": "hello"},
        {"type": "confirm_identity"},
        {"type": "bring_back", "participant": p_id},
        {"type": "call_back", "cause": "chosen"},
    ):
        await refused(interp, body, "not_allowed")
    await patient.quiet()
    await clinician.quiet()

    # The fourth person is the chaperone; a fifth is refused with a clear error.
    chap, h_id = await waits(client, booked, clinician, chaperone)
    await admit(clinician, chap, h_id)
    members.append((chap, h_id, "chaperone"))
    for other in members[:3]:
        await negotiate(other, members[3])
    second_tokens = await sign_in_staff(client, second)
    fifth, _ = await enter(client, second_tokens, booked)
    error = await fifth.expect("error")
    assert error["code"] == "room_full"
    assert error["message"] == "This consult already has four people: nobody else can join."
    for peer, _, _ in members:
        await peer.quiet()
    assert not [r for r in audit(client) if r.actor == second.account_id]

    # Once the chaperone leaves, there is room again.
    await chap.send({"type": "leave"})
    assert (await clinician.expect("left"))["participant"] == h_id
    fifth, _ = await enter(client, second_tokens, booked)
    await fifth.expect("room")
    await clinician.expect("arrived")

    await clinician.send({"type": "end", "reason": "completed"})
    for peer in (patient, interp, fifth):
        await peer.expect("ended")
    admits = [
        (r.details["participant"], r.details["role"])
        for r in audit(client)
        if r.action is Action.ADMITTED
    ]
    assert admits == [(p_id, "patient"), (i_id, "interpreter"), (h_id, "chaperone")]
    row = await summary_row(client, booked)
    assert json.loads(row.attended) == ["chaperone", "clinician", "interpreter", "patient"]
    presence = json.loads(row.presence)
    by_role = {p["role"]: p for p in presence}
    assert set(by_role) == {"clinician", "patient", "interpreter", "chaperone"}
    assert all(span[1] is not None for p in presence for span in p["present"])
    assert all(p["on_hold"] == [] for p in presence)
    assert i_id not in row.presence and p_id not in row.presence  # roles, never ids


async def test_an_invitation_for_someone_elses_appointment_changes_nothing(
    client: Any, world: World, booked: Booked
) -> None:
    app = client.server.app
    interpreter = await new_staff(app, Role.INTERPRETER, "ines.i", world.est)
    other = await new_staff(app, Role.CLINICIAN, "cora.c", world.est)
    assert (await invite(client, booked, interpreter)).status == 200
    headers = bearer(await sign_in_staff(client, other))
    url = f"/api/appointments/{booked.appointment}/attendees"
    resp = await client.put(url, json={"account_ids": []}, headers=headers)
    assert resp.status == 403
    tokens = await sign_in_staff(client, interpreter)
    seen = await (await client.get("/api/attending", headers=bearer(tokens))).json()
    assert [a["appointment_id"] for a in seen] == [booked.appointment]


# ---------------------------------------------------------------- the officer's identity check


async def test_an_officer_is_invited_only_where_the_establishment_checks_identity(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    officer = world.staff["officer"]
    resp = await invite(client, booked, officer)
    assert resp.status == 400
    assert "does not require an identity check" in (await resp.json())["detail"]
    clock.set(INSIDE)
    tokens = await sign_in_staff(client, officer)
    peer, _ = await enter(client, tokens, booked)
    error = await peer.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "not_your_appointment")

    await identity_check(client, world.est, True)
    assert (await invite(client, booked, officer)).status == 200
    # Turned off again: the invitation lets nobody in.
    await identity_check(client, world.est, False)
    peer, _ = await enter(client, tokens, booked)
    error = await peer.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "not_your_appointment")


async def test_the_officer_checks_identity_then_is_on_hold_and_is_relayed_and_sent_nothing(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    app = client.server.app
    await identity_check(client, world.est, True)
    officer = world.staff["officer"]
    interpreter = await new_staff(app, Role.INTERPRETER, "ines.i", world.est)
    assert (await invite(client, booked, officer, interpreter)).status == 200
    clock.set(INSIDE)

    c_tokens = await sign_in_staff(client, booked.clinician)
    clinician, _ = await enter(client, c_tokens, booked)
    await clinician.expect("room")
    c_id = booked.clinician.account_id
    patient, p_id = await waits(client, booked, clinician, None)
    off, o_id = await waits(client, booked, clinician, officer)
    await admit(clinician, patient, p_id)
    await admit(clinician, off, o_id)
    await patient.expect("joined")
    members = [(clinician, c_id, "clinician"), (patient, p_id, "patient"), (off, o_id, "officer")]
    for a, b in combinations(members, 2):
        await negotiate(a, b)
    # The officer confirms nothing and admits nobody; the patient confirms nothing either.
    await refused(off, {"type": "confirm_identity"}, "not_allowed")
    await refused(off, {"type": "end", "reason": "completed"}, "not_allowed")
    await refused(off, {"type": "notice", "text": "hello"}, "not_allowed")
    await refused(patient, {"type": "confirm_identity"}, "not_allowed")

    # The clinician confirms the identity: the officer is on hold.
    await clinician.send({"type": "confirm_identity"})
    held = await off.expect("on_hold")
    assert set(held) == {"seq", "v", "type", "participant", "role"}  # no reason, no text
    for peer in (clinician, patient):
        told = await peer.expect("on_hold")
        assert (told["participant"], told["role"]) == (o_id, "officer")

    # Nothing is relayed to or from it, and nothing reaches it.
    await refused(off, {"type": "offer", "to": c_id, "sdp": SDP}, "on_hold")
    await refused(off, {"type": "answer", "to": p_id, "sdp": SDP}, "on_hold")
    await refused(off, {"type": "ice"}, "on_hold")
    await refused(patient, {"type": "offer", "to": o_id, "sdp": SDP}, "participant_on_hold")
    await refused(clinician, {"type": "offer", "to": o_id, "sdp": SDP}, "participant_on_hold")
    await negotiate(members[0], members[1])
    await clinician.send({"type": "notice", "text": "Running late"})
    await patient.expect("notice")
    await clinician.send({"type": "mode", "mode": "audio", "cause": "chosen"})
    await patient.expect("mode")
    interp, i_id = await waits(client, booked, clinician, interpreter)
    await admit(clinician, interp, i_id)
    assert (await patient.expect("joined"))["participant"] == i_id
    await negotiate(members[0], (interp, i_id, "interpreter"))
    await off.quiet(0.5)

    # No officer joins after the check: a second one is refused.
    second = await new_staff(app, Role.OFFICER, "otto.o", world.est)
    resp = await invite(client, booked, officer, interpreter, second, tokens=c_tokens)
    assert resp.status == 200
    late, _ = await enter(client, await sign_in_staff(client, second), booked)
    error = await late.expect("error")
    assert (error["code"], error["reason"]) == ("join_refused", "identity_checked")
    # Nor is the identity confirmed twice.
    await refused(clinician, {"type": "confirm_identity"}, "invalid_transition")

    # Brought back: told it is admitted, and the others start the media again.
    await clinician.send({"type": "bring_back", "participant": o_id})
    back = await off.expect("admitted")
    assert {m["role"] for m in back["participants"]} == {
        "clinician",
        "patient",
        "interpreter",
        "officer",
    }
    assert (await patient.expect("joined"))["participant"] == o_id
    await negotiate(members[0], members[2])
    await off.send({"type": "ice"})
    assert (await off.expect("ice_servers"))["ice_servers"] == []  # no TURN configured here
    await refused(clinician, {"type": "bring_back", "participant": o_id}, "invalid_transition")
    await off.send({"type": "leave"})
    await clinician.expect("left")
    await clinician.send({"type": "end", "reason": "completed"})
    await patient.expect("ended")

    actions = [(r.action, r.actor) for r in audit(client)]
    assert (Action.IDENTITY_CONFIRMED, c_id) in actions
    holds = [r.details for r in audit(client) if r.action is Action.PUT_ON_HOLD]
    assert [(h["participant"], h["role"]) for h in holds] == [(o_id, "officer")]
    assert (Action.BROUGHT_BACK, c_id) in actions
    row = await summary_row(client, booked)
    officer_row = next(p for p in json.loads(row.presence) if p["role"] == "officer")
    assert len(officer_row["on_hold"]) == 1 and None not in officer_row["on_hold"][0]
    assert len(officer_row["present"]) == 1 and None not in officer_row["present"][0]


async def test_a_member_on_hold_that_reloads_stays_on_hold_and_gets_no_relay_credentials(
    client: Any, world: World, booked: Booked, clock: FakeClock
) -> None:
    await identity_check(client, world.est, True)
    officer = world.staff["officer"]
    assert (await invite(client, booked, officer)).status == 200
    clock.set(INSIDE)
    clinician, _ = await enter(client, await sign_in_staff(client, booked.clinician), booked)
    await clinician.expect("room")
    patient, p_id = await waits(client, booked, clinician, None)
    off_tokens = await sign_in_staff(client, officer)
    off, o_id = await waits(client, booked, clinician, officer, off_tokens)
    await admit(clinician, patient, p_id)
    await admit(clinician, off, o_id)
    await clinician.send({"type": "confirm_identity"})
    await off.expect("on_hold")
    await clinician.expect("on_hold")
    await patient.expect("on_hold")

    again, _ = await open_peer(client, off_tokens["access_token"])
    await again.send({"type": "join", "appointment": booked.appointment})
    room = await again.expect("room")
    assert room["you"]["on_hold"] is True and room["members"] == []
    assert room.get("ice_servers", []) == []
    await again.expect("on_hold")
    await refused(again, {"type": "offer", "to": p_id, "sdp": SDP}, "on_hold")
    await clinician.quiet()
    await patient.quiet()
