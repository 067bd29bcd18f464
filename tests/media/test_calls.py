"""Real calls through one server: two aiortc participants, scheduling's join policy.

The app is the real one (scheduling decides who may join) on a loopback
port, with its TURN credentials issued for the coturn the fixture runs. The
fake clock is set in the future so those credentials, which coturn checks
against the real time, are still valid.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.events import Action, MemorySink
from core.identity.passwords import SecretHasher
from media.participant import Participant
from media.peer import candidate_types
from tests.media.conftest import Coturn
from tests.media.consults import Booked, book_consult
from tests.world import World, build_world, sign_in_prisoner, sign_in_staff
from web.state import SCHEDULING

pytestmark = pytest.mark.slow

# A Wednesday, London on GMT; far enough ahead for coturn to accept expiries.
CONSULT_AT = datetime(2030, 3, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings: Settings, coturn: Coturn) -> Settings:
    return replace(settings, turn_urls=(coturn.url,), turn_secret=coturn.secret)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(CONSULT_AT.replace(hour=9, minute=55))


@pytest.fixture
async def app(settings: Settings, clock: FakeClock, hasher: SecretHasher) -> Any:
    from web.app import create_app
    from web.ws import AUDIT_TAP

    app = create_app(settings, clock=clock, hasher=hasher)
    app[AUDIT_TAP] = MemorySink()
    return app


@pytest.fixture
async def booked(client: Any) -> Booked:
    world: World = await build_world(client.server.app)
    return await book_consult(client.server.app[SCHEDULING], world, starts_at=CONSULT_AT)


@pytest.fixture
async def people(client: Any, booked: Booked) -> AsyncIterator[tuple[Participant, Participant]]:
    url = str(client.make_url("/ws"))
    p = await sign_in_prisoner(client, booked.prisoner)
    c = await sign_in_staff(client, booked.clinician)
    patient = Participant([url], p["access_token"], name="patient")
    clinician = Participant([url], c["access_token"], name="clinician")
    yield patient, clinician
    for who in (patient, clinician):
        await who.close()


def audit_actions(client: Any) -> list[Action]:
    from web.ws import AUDIT_TAP

    sink = client.server.app[AUDIT_TAP]
    assert isinstance(sink, MemorySink)
    return sink.actions()


async def test_device_and_clinician_see_and_hear_each_other_then_hang_up(
    client: Any, booked: Booked, people: tuple[Participant, Participant]
) -> None:
    patient, clinician = people
    await patient.connect()
    room = await patient.join(
        booked.appointment, {"camera": "ok", "microphone": "ok", "network": "ok"}
    )
    assert room["state"] == "waiting"
    assert room["ice_servers"][0]["username"].endswith(
        f":{booked.appointment}:{patient.participant_id}"
    )
    waiting = await patient.expect("waiting")
    assert waiting["position"] == 1

    await clinician.connect()
    await clinician.join(booked.appointment)
    await clinician.admit(patient.participant_id)
    await patient.expect("admitted")
    await clinician.expect("joined")
    await clinician.call(patient.participant_id)

    for side in (patient, clinician):
        await side.received["video"].wait_for(15)
        await side.received["audio"].wait_for(15)
    assert patient.received["video"].width == 640
    assert clinician.received["video"].height == 360
    assert patient.pc is not None
    assert candidate_types(patient.pc.localDescription.sdp) == {"relay"}

    quality = await patient.report_quality()
    assert quality.width == 640

    ended = await clinician.end("completed")
    assert ended["reason"] == "completed"
    assert (await patient.expect("ended"))["by"] == clinician.participant_id
    actions = audit_actions(client)
    for action in (Action.JOINED, Action.WAITING, Action.ADMITTED, Action.QUALITY_REPORT):
        assert action in actions
    assert actions.count(Action.CALL_ENDED) == 1

    for side in (patient, clinician):
        await side.close()
    ours = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("participant-")]
    assert ours == []


async def in_call(booked: Booked, patient: Participant, clinician: Participant) -> None:
    """Both connected, the patient admitted, media flowing both ways."""
    await patient.connect()
    await patient.join(booked.appointment)
    await clinician.connect()
    await clinician.join(booked.appointment)
    await clinician.admit(patient.participant_id)
    await patient.expect("admitted")
    await clinician.call(patient.participant_id)
    for side in (patient, clinician):
        await side.received["video"].wait_for(5)


async def test_an_establishment_allowing_direct_media_connects_on_host_candidates(
    client: Any, booked: Booked, people: tuple[Participant, Participant]
) -> None:
    from sqlalchemy import update

    from core.db.schema import establishments
    from web.state import DATABASE

    async with client.server.app[DATABASE].begin() as conn:
        await conn.execute(
            update(establishments)
            .where(establishments.c.id == booked.prisoner.establishment_id)
            .values(relay_only=False)
        )
    patient, clinician = people
    patient.relay_only = False
    await in_call(booked, patient, clinician)
    assert patient.pc is not None
    assert "host" in candidate_types(patient.pc.localDescription.sdp)
    await patient.received["audio"].wait_for(10)


async def test_a_network_blip_resumes_the_room_restarts_ice_and_media_flows_again(
    client: Any, booked: Booked, people: tuple[Participant, Participant]
) -> None:
    patient, clinician = people
    await in_call(booked, patient, clinician)
    first_pc = patient.pc

    await patient.drop()
    welcome = await patient.expect("resumed")
    assert welcome["resumed"] is True
    assert (await clinician.expect("reconnected"))["participant"] == patient.participant_id
    await clinician.expect("ice_restart")
    await clinician.wait_answered()
    assert patient.pc is not first_pc
    assert patient.restarts == 1
    assert clinician.restarts == 1
    before = patient.received["video"].frames
    await patient.received["video"].wait_for(before + 10)
    await clinician.received["video"].wait_for_more(10)

    await clinician.end("completed")
    await patient.expect("ended")
    actions = audit_actions(client)
    assert actions.count(Action.JOINED) == 2
    assert actions.count(Action.RECONNECTED) == 1
    assert actions.count(Action.CALL_ENDED) == 1


async def test_a_token_renewed_when_asked_keeps_the_call_going(
    client: Any, booked: Booked, clock: FakeClock
) -> None:
    url = str(client.make_url("/ws"))

    async def fresh_patient_token() -> str:
        return str((await sign_in_prisoner(client, booked.prisoner))["access_token"])

    patient = Participant(
        [url], await fresh_patient_token(), name="patient", token_source=fresh_patient_token
    )
    clinician = Participant(
        [url], (await sign_in_staff(client, booked.clinician))["access_token"], name="clinician"
    )
    try:
        await in_call(booked, patient, clinician)
        clock.advance(minutes=14, seconds=30)
        await patient.expect("reauth", within=5)
        clinician.token = (await sign_in_staff(client, booked.clinician))["access_token"]
        await clinician.send({"type": "reauth", "token": clinician.token})
        clock.advance(minutes=1)
        await patient.received["video"].wait_for_more(45, within=5)
        assert patient.connected and clinician.connected
    finally:
        await patient.close()
        await clinician.close()


async def test_an_expired_token_closes_4004_and_the_participant_resumes_after_signing_in(
    client: Any, booked: Booked, clock: FakeClock, people: tuple[Participant, Participant]
) -> None:
    """Regression: a token that was not renewed ended the consult (`token_expired`)."""
    patient, clinician = people
    await in_call(booked, patient, clinician)
    clock.advance(minutes=14, seconds=30)
    await patient.expect("reauth", within=5)
    clinician.token = (await sign_in_staff(client, booked.clinician))["access_token"]
    await clinician.send({"type": "reauth", "token": clinician.token})
    clock.advance(minutes=1)
    assert await patient.wait_closed(within=5) == 4004
    assert (await clinician.expect("away", within=5))["participant"] == patient.participant_id
    assert Action.CALL_ENDED not in audit_actions(client)
    fresh = (await sign_in_prisoner(client, booked.prisoner))["access_token"]
    welcome = await patient.resume(fresh)
    assert welcome["resumed"] is True
    await clinician.expect("reconnected", within=5)
    await patient.received["video"].wait_for_more(10, within=15)
    await clinician.received["video"].wait_for_more(10, within=15)
    assert Action.CALL_ENDED not in audit_actions(client)
