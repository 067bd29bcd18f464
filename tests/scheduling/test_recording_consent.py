"""Recording consent is for one appointment: asked at booking, confirmed on the device,
withdrawn on the device; nobody else's appointment, and never for the prisoner as a whole."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Code, ServiceError
from scheduling.types import Decision
from tests.scheduling.conftest import Sched, at


async def decide(sched: Sched, who: Any, appointment_id: Any, decision: str, **extra: Any) -> Any:
    return await sched.svc.record_consent(
        who,
        prisoner_id=sched.patient.account_id,
        scope_value="recording",
        version=1,
        decision=decision,
        appointment_id=appointment_id,
        **extra,
    )


async def test_a_booking_yes_is_not_enough_the_device_confirms(sched: Sched) -> None:
    appt = await sched.book()
    await decide(sched, sched.clinician, appt.id, "given")
    assert await sched.svc.recording_asked_at_booking(appt.id) == Decision.GIVEN
    assert not await sched.svc.recording_allowed(appt.id)
    confirmed = await decide(sched, sched.patient, appt.id, "given", language="cy")
    assert confirmed.appointment_id == appt.id
    assert await sched.svc.recording_allowed(appt.id)
    # Another appointment of the same prisoner is not consented to.
    other = await sched.book(at(5, 11))
    assert not await sched.svc.recording_allowed(other.id)


async def test_withdrawal_on_the_device_ends_it_at_once(sched: Sched) -> None:
    appt = await sched.book()
    yes = await decide(sched, sched.patient, appt.id, "given")
    assert await sched.svc.recording_allowed(appt.id)
    await sched.svc.withdraw_consent(sched.patient, yes.id)
    assert not await sched.svc.recording_allowed(appt.id)
    assert sched.audit_actions[-1] == "consent_withdrawn"
    assert sched.audit.records[-1].appointment == appt.id


async def test_a_device_no_after_a_yes_stops_it(sched: Sched) -> None:
    appt = await sched.book()
    await decide(sched, sched.patient, appt.id, "given")
    sched.clock.advance(seconds=1)
    await decide(sched, sched.patient, appt.id, "declined")
    assert not await sched.svc.recording_allowed(appt.id)


async def test_recording_consent_needs_an_appointment_and_only_it_takes_one(sched: Sched) -> None:
    with pytest.raises(ServiceError) as none:
        await decide(sched, sched.patient, None, "given")
    assert none.value.detail == "Recording consent is for one appointment."
    appt = await sched.book()
    with pytest.raises(ServiceError) as telehealth:
        await sched.svc.record_consent(
            sched.patient,
            prisoner_id=sched.patient.account_id,
            scope_value="telehealth",
            version=1,
            decision="given",
            appointment_id=appt.id,
        )
    assert telehealth.value.detail == "Only recording consent is per appointment."


async def test_anothers_appointment_answers_as_a_missing_one(sched: Sched) -> None:
    theirs = await sched.book(prisoner_id=sched.patient2.account_id)
    answers = []
    for appointment_id in (theirs.id, "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(ServiceError) as refused:
            await decide(sched, sched.patient, appointment_id, "given")
        answers.append((refused.value.code, refused.value.detail))
    assert answers[0] == answers[1] == (Code.NOT_FOUND, "No such appointment.")
    assert not await sched.svc.recording_allowed(theirs.id)


async def test_where_recording_consent_stands_for_the_clinician_to_ask(sched: Sched) -> None:
    """`recording_standing`: what the in-call controls check before the device is asked."""
    appt = await sched.book()
    assert await sched.svc.recording_standing(appt.id) == "none"
    await decide(sched, sched.clinician, appt.id, "declined")
    assert await sched.svc.recording_standing(appt.id) == "declined"
    sched.clock.advance(seconds=1)
    await decide(sched, sched.clinician, appt.id, "given")
    assert await sched.svc.recording_standing(appt.id) == "given"
    sched.clock.advance(seconds=1)
    yes = await decide(sched, sched.patient, appt.id, "given")
    assert await sched.svc.recording_standing(appt.id) == "given"
    await sched.svc.withdraw_consent(sched.patient, yes.id)
    assert await sched.svc.recording_standing(appt.id) == "withdrawn"
    other = await sched.book(at(5, 11))
    assert await sched.svc.recording_standing(other.id) == "none"
