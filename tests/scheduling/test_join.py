"""The join policy's answer and the call's effect on the appointment."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from scheduling import Status
from tests.scheduling.conftest import WEDNESDAY_10, Sched


async def test_patient_joins_inside_window_with_consent_on_own_device(sched: Sched) -> None:
    booked = await sched.book()
    await sched.consent()
    sched.clock.set(WEDNESDAY_10 - timedelta(minutes=10))
    decision = await sched.svc.join_decision(sched.patient, booked.id)
    assert decision.allowed and decision.role == "patient" and decision.refusal is None
    view = decision.appointment
    assert view is not None
    assert view.window_opens == WEDNESDAY_10 - timedelta(minutes=10)
    assert view.window_closes == view.ends_at + timedelta(minutes=15)
    assert view.service == "gp" and view.status == "booked"
    clinician = await sched.svc.join_decision(sched.clinician, booked.id)
    assert clinician.allowed and clinician.role == "clinician"


async def test_each_refusal_is_named(sched: Sched) -> None:
    booked = await sched.book()
    svc = sched.svc
    sched.clock.set(WEDNESDAY_10)
    assert (await svc.join_decision(sched.patient, "nope")).refusal == "not_found"
    assert (await svc.join_decision(sched.patient2, booked.id)).refusal == "not_your_appointment"
    assert (await svc.join_decision(sched.manager, booked.id)).refusal == "not_your_appointment"
    no_device = replace(sched.patient, device_id=None)
    assert (await svc.join_decision(no_device, booked.id)).refusal == "wrong_device"
    other = sched.world.other_prisoner
    assert other is not None
    elsewhere = replace(sched.patient, device_id=other.device_id)
    assert (await svc.join_decision(elsewhere, booked.id)).refusal == "wrong_device"
    assert (await svc.join_decision(sched.patient, booked.id)).refusal == "no_consent"
    consent = await sched.consent()
    sched.clock.set(WEDNESDAY_10 - timedelta(minutes=11))
    assert (await svc.join_decision(sched.patient, booked.id)).refusal == "too_early"
    sched.clock.set(booked.ends_at + timedelta(minutes=15, seconds=1))
    assert (await svc.join_decision(sched.patient, booked.id)).refusal == "too_late"
    sched.clock.set(WEDNESDAY_10)
    await svc.withdraw_consent(sched.patient, consent.id)
    assert (await svc.join_decision(sched.patient, booked.id)).refusal == "no_consent"
    await sched.consent()
    await svc.cancel(sched.clinician, booked.id, "clinician_unavailable")
    assert (await svc.join_decision(sched.patient, booked.id)).refusal == "not_booked"


async def test_call_events_move_the_appointment(sched: Sched) -> None:
    booked = await sched.book()
    sched.clock.set(WEDNESDAY_10)
    await sched.svc.record_call_event(booked.id, "waiting", sched.patient.account_id)
    await sched.svc.record_call_event(booked.id, "waiting", sched.patient.account_id)
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status == Status.CHECKED_IN
    await sched.svc.record_call_event(booked.id, "admitted", sched.clinician.account_id)
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status == Status.IN_PROGRESS
    # A patient coming back to the waiting room and admitted again changes nothing.
    await sched.svc.record_call_event(booked.id, "waiting", sched.patient.account_id)
    await sched.svc.record_call_event(booked.id, "admitted", sched.clinician.account_id)
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status == Status.IN_PROGRESS
    assert sched.audit_actions[-2:] == ["checked_in", "consult_started"]


async def test_a_call_ending_never_completes_the_appointment(sched: Sched) -> None:
    """Regression: ending the call (by the clinician, the window closing, or once a token
    running out) marked the appointment completed although nobody recorded an outcome."""
    booked = await sched.book()
    sched.clock.set(WEDNESDAY_10)
    await sched.svc.record_call_event(booked.id, "admitted", sched.clinician.account_id)
    await sched.svc.record_call_event(booked.id, "ended", "system")
    await sched.svc.record_call_event(booked.id, "ended", sched.clinician.account_id)
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status == Status.IN_PROGRESS
    assert "attended" not in sched.audit_actions
    await sched.svc.mark_attended(sched.clinician, booked.id)
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status == Status.COMPLETED


async def test_outcome_recorded_by_clinician_is_not_overwritten_by_end(sched: Sched) -> None:
    booked = await sched.book()
    sched.clock.set(WEDNESDAY_10)
    await sched.svc.record_call_event(booked.id, "admitted", sched.clinician.account_id)
    await sched.svc.mark_did_not_attend(sched.clinician, booked.id, "unwell")
    await sched.svc.record_call_event(booked.id, "ended", sched.clinician.account_id)
    found = await sched.svc.appointment(sched.clinician, booked.id)
    assert found.status == Status.DID_NOT_ATTEND
