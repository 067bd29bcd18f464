"""Real calls across `throughcare serve` processes that share PostgreSQL and Redis.

Media goes through coturn as a relay-only establishment requires; the nodes
issue the TURN credentials from their own settings. Times are real here (the
nodes run the system clock), so consults are booked a couple of minutes ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.tables import audit_events
from core.identity.passwords import SecretHasher
from media.participant import Participant
from media.peer import candidate_types
from tests.media.conftest import Coturn
from tests.media.consults import Booked, book_consult, next_minute
from tests.media.nodes import Cluster, create_cluster, sign_in_prisoner, sign_in_staff

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
async def cluster(
    tmp_path: Path, redis_url: str, coturn: Coturn, hasher: SecretHasher
) -> AsyncIterator[Cluster]:
    made = await create_cluster(
        tmp_path / "cluster",
        redis_url=redis_url,
        turn_urls=(coturn.url,),
        turn_secret=coturn.secret,
        THROUGHCARE_WS_HEARTBEAT_SECONDS="2",
    )
    try:
        await made.seed(hasher)
        yield made
    finally:
        await made.stop()


@pytest.fixture
async def booked(cluster: Cluster) -> Booked:
    assert cluster.scheduling is not None and cluster.world is not None
    return await book_consult(
        cluster.scheduling, cluster.world, starts_at=next_minute(datetime.now(UTC))
    )


async def participants(
    cluster: Cluster, booked: Booked, patient_urls: list[str], clinician_urls: list[str]
) -> tuple[Participant, Participant]:
    base = cluster.nodes[0].url
    patient = Participant(
        patient_urls, await sign_in_prisoner(base, booked.prisoner), name="patient"
    )
    clinician = Participant(
        clinician_urls, await sign_in_staff(base, booked.clinician), name="clinician"
    )
    return patient, clinician


async def start_call(booked: Booked, patient: Participant, clinician: Participant) -> None:
    await patient.connect()
    await patient.join(booked.appointment)
    await patient.expect("waiting")
    await clinician.connect()
    room = await clinician.join(booked.appointment)
    waiting = [m["participant"] for m in room["members"] if m["status"] == "waiting"]
    assert waiting == [patient.participant_id]
    await clinician.admit(patient.participant_id)
    await patient.expect("admitted")
    await clinician.call(patient.participant_id)
    for side in (patient, clinician):
        await side.received["video"].wait_for(10)
        await side.received["audio"].wait_for(10)


async def consult_actions(cluster: Cluster, appointment: str) -> list[tuple[str, str]]:
    assert cluster.db is not None
    async with cluster.db.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.action, audit_events.c.actor)
            .where(audit_events.c.appointment_id == appointment)
            .order_by(audit_events.c.seq)
        )
        return [(r.action, r.actor) for r in rows]


async def wait_for_action(cluster: Cluster, appointment: str, action: str) -> list[tuple[str, str]]:
    import asyncio

    for _ in range(100):
        actions = await consult_actions(cluster, appointment)
        if any(a == action for a, _ in actions):
            return actions
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {action} in the audit log: {actions}")


async def test_patient_and_clinician_on_different_nodes_are_in_one_call(
    cluster: Cluster, booked: Booked
) -> None:
    a = await cluster.start_node("a")
    b = await cluster.start_node("b")
    patient, clinician = await participants(cluster, booked, [a.ws_url], [b.ws_url])
    try:
        await start_call(booked, patient, clinician)
        assert patient.pc is not None
        assert candidate_types(patient.pc.localDescription.sdp) == {"relay"}
        await clinician.end("completed")
        ended = await patient.expect("ended")
        assert ended["reason"] == "completed"
    finally:
        await patient.close()
        await clinician.close()
    actions = await wait_for_action(cluster, booked.appointment, "call_ended")
    assert [a for a, _ in actions].count("call_ended") == 1


async def test_a_node_killed_mid_call_both_resume_on_the_survivor_and_media_flows_again(
    cluster: Cluster, booked: Booked
) -> None:
    a = await cluster.start_node("a")
    b = await cluster.start_node("b")
    urls = [a.ws_url, b.ws_url]
    patient, clinician = await participants(cluster, booked, urls, urls)
    try:
        await start_call(booked, patient, clinician)
        a.kill()
        await patient.expect("resumed", within=15)
        await clinician.expect("resumed", within=15)
        assert patient.url == b.ws_url and clinician.url == b.ws_url
        await clinician.expect("ice_restart", within=10)
        await clinician.wait_answered()
        assert patient.restarts >= 1 and clinician.restarts >= 1
        await patient.received["video"].wait_for_more(15)
        await clinician.received["video"].wait_for_more(15)
        await clinician.end("completed")
        await patient.expect("ended")
    finally:
        await patient.close()
        await clinician.close()
    actions = await wait_for_action(cluster, booked.appointment, "call_ended")
    names = [a for a, _ in actions]
    joined = [who for a, who in actions if a == "joined"]
    assert sorted(joined) == sorted({patient.participant_id, clinician.participant_id}), names
    assert names.count("waiting") == 1, names
    assert names.count("call_ended") == 1, names
    # Only the clinician's outcome completes an appointment, never the call ending.
    assert names.count("attended") == 0, names
    reconnected = {who for a, who in actions if a == "reconnected"}
    assert reconnected == {patient.participant_id, clinician.participant_id}, names
