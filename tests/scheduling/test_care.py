"""Lockdowns, transfer and release, requests and triage, consent, reminders."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.errors import ServiceError
from scheduling import Status
from scheduling.tables import health_requests, notifications
from tests.scheduling.conftest import Sched, at


async def _outbox(sched: Sched, kind: str) -> list[dict[str, object]]:
    async with sched.svc._db.connect() as conn:
        rows = await conn.execute(select(notifications).where(notifications.c.kind == kind))
        return [dict(r._mapping) for r in rows]


async def test_lockdown_cancels_escorted_visits_as_prison_caused_and_offers_next_free_slots(
    sched: Sched,
) -> None:
    dental = await sched.escorted_service()
    first = await sched.book(at(4, 10), service_id=dental.id, in_person=True)
    second = await sched.book(
        at(4, 11), prisoner_id=sched.patient2.account_id, service_id=dental.id, in_person=True
    )
    outside = await sched.book(at(5, 10), service_id=dental.id, in_person=True)
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(4, 9), ends_at=at(4, 13)
    )
    assert {r.appointment_id for r in lockdown.affected} == {first.id, second.id}
    for appointment_id in (first.id, second.id):
        a = await sched.svc.appointment(sched.manager, appointment_id)
        assert (a.status, a.outcome_code, a.outcome_category) == (
            Status.CANCELLED,
            "lockdown",
            "prison",
        )
    assert (await sched.svc.appointment(sched.manager, outside.id)).status == Status.BOOKED
    offers = {r.appointment_id: r.offers for r in lockdown.affected}[first.id]
    # The clinician's next free slots after the lockdown, on the service's 25-minute grid
    # from 09:00 (a lockdown no longer breaks the day: video consults go on in it).
    assert [s.starts_at for s in offers] == [at(4, 13, 10), at(4, 13, 35), at(4, 14)]
    told = await _outbox(sched, "rebook_offer")
    assert {n["recipient_id"] for n in told} == {
        sched.patient.account_id,
        sched.patient2.account_id,
        sched.clinician.account_id,
    }
    for n in told:
        payload = json.loads(str(n["payload"]))
        # The prisoner's carries the offer's id, to take one of the times.
        mine = n["recipient_id"] != sched.clinician.account_id
        assert set(payload) == {"cancelled_starts_at", "offers"} | ({"offer"} if mine else set())
    rebooked = await sched.svc.rebook(sched.patient, first.id, offers[0].starts_at)
    assert rebooked.rebook_of == first.id
    with pytest.raises(ServiceError) as caught:
        await sched.book(
            at(4, 12), prisoner_id=sched.patient2.account_id, service_id=dental.id, in_person=True
        )
    assert caught.value.detail == "The establishment is in lockdown at this time."
    assert "lockdown_declared" in sched.audit_actions
    assert "rebook_offered" in sched.audit_actions


async def test_transfer_moves_pending_care_and_tells_the_clinician(sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    await sched.consent()
    request = await sched.svc.make_request(
        sched.patient, category="dental", text_value="Tooth ache for a week"
    )
    done = await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.other_est)
    # The other establishment has no GP service: the consult becomes a request there.
    assert (done.moved, done.requested) == (0, 1)
    cancelled = await sched.svc.appointment(sched.manager, booked.id)
    assert (cancelled.status, cancelled.outcome_code) == (Status.CANCELLED, "transfer")
    told = await _outbox(sched, "patient_transferred")
    assert [n["recipient_id"] for n in told] == [sched.clinician.account_id]
    async with sched.svc._db.connect() as conn:
        rows = list(
            await conn.execute(
                select(health_requests.c.id, health_requests.c.establishment_id).where(
                    health_requests.c.prisoner_id == sched.patient.account_id
                )
            )
        )
    assert {r.establishment_id for r in rows} == {sched.world.other_est}
    assert request.id in {r.id for r in rows} and len(rows) == 2
    consents = await sched.svc.consents_of(sched.patient, sched.patient.account_id)
    assert consents[0].establishment_id == sched.world.other_est
    assert "transferred" in sched.audit_actions


async def test_release_closes_pending_care_and_lists_for_handover(sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    await sched.svc.record_consent(
        sched.patient,
        prisoner_id=sched.patient.account_id,
        scope_value="community_sharing",
        version=1,
        decision="given",
    )
    assert (await sched.svc.release(sched.officer, sched.patient.account_id)).closed == 1
    closed = await sched.svc.appointment(sched.manager, booked.id)
    assert (closed.status, closed.outcome_code, closed.outcome_category) == (
        Status.CANCELLED,
        "release",
        "prison",
    )
    handover = await sched.svc.handover_list(sched.manager, sched.world.est)
    assert [(h.prisoner_id, h.community_sharing) for h in handover] == [
        (sched.patient.account_id, True)
    ]
    assert "released" in sched.audit_actions


async def test_request_gets_receipt_triage_and_wait_against_target(sched: Sched) -> None:
    receipt = await sched.svc.make_request(
        sched.patient, category="general", text_value="Rash on my arm"
    )
    assert receipt.status == "received" and receipt.waited_days == 0
    sched.clock.advance(days=3)
    queue = await sched.svc.triage_queue(sched.clinician, sched.world.est)
    assert [r.id for r in queue] == [receipt.id]
    triaged = await sched.svc.triage(
        sched.clinician, receipt.id, urgency="soon", service_id=sched.gp.id
    )
    assert (triaged.status, triaged.target_days) == ("triaged", 14)
    sched.clock.advance(days=12)
    mine = await sched.svc.my_requests(sched.patient)
    assert (mine[0].waited_days, mine[0].target_days) == (15.0, 14)
    booked = await sched.book(at(19, 10), request_id=receipt.id)
    sched.clock.advance(days=2)
    mine = await sched.svc.my_requests(sched.patient)
    assert (mine[0].status, mine[0].appointment_id) == ("booked", booked.id)
    assert mine[0].waited_days == 15.0
    async with sched.svc._db.connect() as conn:
        raw = await conn.scalar(select(health_requests.c.text_enc))
    assert raw is not None and b"Rash" not in raw
    assert {"request_made", "request_triaged"} <= set(sched.audit_actions)


async def test_consent_versions_device_witness_and_withdrawal(sched: Sched) -> None:
    with pytest.raises(ServiceError) as caught:
        await sched.svc.record_consent(
            sched.patient,
            prisoner_id=sched.patient.account_id,
            scope_value="telehealth",
            version=7,
            decision="given",
        )
    assert caught.value.detail == "There is no consent form with this version."
    own = await sched.consent()
    assert (own.device_id, own.witness_id, own.form_version) == (
        sched.patient.device_id,
        None,
        1,
    )
    # Recording consent is per appointment now (migration 0030): asked at booking.
    witnessed = await sched.svc.record_consent(
        sched.clinician,
        prisoner_id=sched.patient.account_id,
        scope_value="recording",
        version=1,
        decision="declined",
        language="cy",
        appointment_id=(await sched.book()).id,
    )
    assert witnessed.witness_id == sched.clinician.account_id
    withdrawn = await sched.svc.withdraw_consent(sched.patient, own.id)
    assert withdrawn.withdrawn_device_id == sched.patient.device_id
    held = await sched.svc.consents_of(sched.patient, sched.patient.account_id)
    assert {(c.scope.value, c.in_force) for c in held} == {
        ("telehealth", False),
        ("recording", False),
    }
    with pytest.raises(ServiceError):
        await sched.svc.consents_of(sched.patient2, sched.patient.account_id)
    assert sched.audit_actions.count("consent_withdrawn") == 1


async def test_reminders_are_produced_once_when_due(sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    sched.clock.set(at(3, 9, 59))
    assert await sched.svc.produce_due_reminders() == 0
    sched.clock.set(at(3, 10))
    assert await sched.svc.produce_due_reminders() == 2
    assert await sched.svc.produce_due_reminders() == 0
    sched.clock.set(at(4, 9, 45))
    assert await sched.svc.produce_due_reminders() == 2
    pending = await sched.svc.pending_notifications()
    kinds = [(n.kind, n.recipient_id) for n in pending if n.kind.startswith("reminder")]
    assert ("reminder_15m", sched.patient.account_id) in kinds
    assert all(n.appointment_id == booked.id for n in pending)
    await sched.svc.mark_delivered([n.id for n in pending])
    assert await sched.svc.pending_notifications() == []
    sched.clock.advance(minutes=1)
    assert await sched.svc.produce_due_reminders() == 0


async def test_availability_follows_the_wall_clock_across_the_clock_change(sched: Sched) -> None:
    """Booked before the clocks go forward, an appointment keeps its instant."""
    before = await sched.book(at(27, 9))  # Friday 09:00 GMT
    slots = await sched.svc.search_slots(
        service_id=sched.gp.id, start=at(30, 0), end=at(31, 0), limit=1
    )
    assert slots[0].starts_at == at(30, 8)  # Monday 09:00 BST is 08:00 UTC
    sched.clock.advance(days=20)
    found = await sched.svc.appointment(sched.clinician, before.id)
    assert found.starts_at == at(27, 9)


async def test_leave_and_extra_sessions_change_the_slots(sched: Sched) -> None:
    await sched.svc.add_exception(
        sched.clinician,
        clinician_id=sched.clinician.account_id,
        establishment_id=sched.world.est,
        kind="leave",
        starts_at=at(4, 0),
        ends_at=at(5, 0),
    )
    await sched.svc.add_exception(
        sched.clinician,
        clinician_id=sched.clinician.account_id,
        establishment_id=sched.world.est,
        kind="extra",
        service_id=sched.gp.id,
        starts_at=at(7, 10),
        ends_at=at(7, 11),
    )
    wednesday = await sched.svc.search_slots(service_id=sched.gp.id, start=at(4, 0), end=at(5, 0))
    assert wednesday == []
    saturday = await sched.svc.search_slots(service_id=sched.gp.id, start=at(7, 0), end=at(8, 0))
    assert [s.starts_at for s in saturday] == [at(7, 10), at(7, 10, 25)]


async def test_search_skips_the_prisoners_own_appointments(sched: Sched) -> None:
    other = await sched.svc.create_service(sched.manager, sched.world.est, code="mh", name="MH")
    await sched.svc.add_availability(
        sched.manager,
        clinician_id=sched.clinician.account_id,
        service_id=other.id,
        weekday_value=2,
        start="09:00",
        end="10:00",
    )
    await sched.book(at(4, 9))
    slots = await sched.svc.search_slots(
        service_id=sched.gp.id,
        start=at(4, 9),
        end=at(4, 10),
        prisoner_id=sched.patient.account_id,
    )
    assert slots[0].starts_at >= at(4, 9, 25)
    assert timedelta(minutes=20) == slots[0].ends_at - slots[0].starts_at
