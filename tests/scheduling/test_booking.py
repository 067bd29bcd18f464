"""Booking rules, the state machine and reason codes, on both stores."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from core.errors import Code, ServiceError
from core.identity import Role
from scheduling import Status
from tests.scheduling.conftest import WEDNESDAY_10, Sched, at
from tests.world import PASSWORD
from web.state import IDENTITY


async def test_booking_makes_a_booked_consult_both_sides_can_see(sched: Sched) -> None:
    booked = await sched.book(reason_text="Repeat prescription review")
    assert booked.status == Status.BOOKED
    assert booked.ends_at - booked.starts_at == WEDNESDAY_10 - at(4, 9, 40)
    mine = await sched.svc.appointments(sched.patient, start=at(4, 0), end=at(5, 0))
    assert [a.id for a in mine] == [booked.id]
    assert "booked" in sched.audit_actions


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (at(3, 8), "An appointment cannot be booked in the past."),
        (at(4, 7), "The clinician is not available at this time."),
        (at(7, 10), "The clinician is not available at this time."),  # Saturday
        (at(4, 16, 50), "The clinician is not available at this time."),  # runs past 17:00
    ],
)
async def test_bad_times_are_refused_with_a_clear_reason(
    sched: Sched, when: datetime, message: str
) -> None:
    with pytest.raises(ServiceError) as caught:
        await sched.book(when)
    assert caught.value.detail == message
    assert await sched.svc.appointments(sched.manager, start=at(3, 0), end=at(9, 0)) == []


async def test_time_without_zone_or_nonsense_is_refused(sched: Sched) -> None:
    for value, message in (
        ("2026-03-04T10:00:00", "The start needs a time zone, e.g. 2026-03-03T10:00:00Z."),
        ("next tuesday", "The start is not a valid ISO 8601 time."),
        ("2026-13-45T10:00:00Z", "The start is not a valid ISO 8601 time."),
    ):
        with pytest.raises(ServiceError) as caught:
            await sched.book(value)  # type: ignore[arg-type]
        assert caught.value.detail == message


async def test_regime_window_blocks_booking_and_search(sched: Sched) -> None:
    await sched.svc.add_regime_window(
        sched.officer,
        sched.world.est,
        label="Roll check",
        weekday_value=2,
        start="10:00",
        end="10:30",
    )
    with pytest.raises(ServiceError) as caught:
        await sched.book(at(4, 10, 10))
    assert caught.value.detail == "This time is inside a regime window."
    slots = await sched.svc.search_slots(
        service_id=sched.gp.id, start=at(4, 9), end=at(4, 12), limit=20
    )
    assert all(not (s.starts_at < at(4, 10, 30) and s.ends_at > at(4, 10)) for s in slots)
    assert slots and slots[0].starts_at == at(4, 9)


async def test_clinician_and_prisoner_cannot_be_double_booked(sched: Sched) -> None:
    await sched.book(at(4, 10))
    with pytest.raises(ServiceError) as caught:
        await sched.book(at(4, 10, 10), prisoner_id=sched.patient2.account_id)
    assert caught.value.detail == "The clinician already has an appointment then."
    # Inside the 5-minute buffer after the first consult ends at 10:20.
    with pytest.raises(ServiceError):
        await sched.book(at(4, 10, 22), prisoner_id=sched.patient2.account_id)
    await sched.book(at(4, 10, 25), prisoner_id=sched.patient2.account_id)
    # The prisoner's own other appointment, with another clinician's availability.
    with pytest.raises(ServiceError) as caught:
        await sched.book(at(4, 10, 25))
    assert caught.value.detail in (
        "The clinician already has an appointment then.",
        "The prisoner already has an appointment then.",
    )


async def test_prisoner_cannot_book_for_someone_else(sched: Sched) -> None:
    with pytest.raises(ServiceError) as caught:
        await sched.svc.book(
            sched.patient,
            prisoner_id=sched.patient2.account_id,
            service_id=sched.gp.id,
            clinician_id=sched.clinician.account_id,
            starts_at=WEDNESDAY_10,
        )
    assert caught.value.detail == "A prisoner can only book for themselves."


async def test_another_establishments_prisoner_is_refused(sched: Sched) -> None:
    """To a clinician, another establishment's prisoner is a missing one (issue 12, item 5)."""
    other = sched.world.other_prisoner
    assert other is not None
    with pytest.raises(ServiceError) as caught:
        await sched.book(prisoner_id=other.account_id)
    assert (caught.value.code, caught.value.detail) == (Code.NOT_FOUND, "No such prisoner.")


async def test_state_machine_refusal_names_both_states(sched: Sched) -> None:
    booked = await sched.book()
    await sched.svc.cancel(sched.clinician, booked.id, "clinician_unavailable")
    with pytest.raises(ServiceError) as caught:
        await sched.svc.check_in(sched.patient, booked.id)
    assert caught.value.detail == "An appointment cannot go from cancelled to checked_in."


async def test_full_path_and_outcomes_carry_reason_and_cause(sched: Sched) -> None:
    first = await sched.book(at(4, 10))
    await sched.svc.check_in(sched.patient, first.id)
    done = await sched.svc.mark_attended(sched.clinician, first.id, note="Seen, plan agreed")
    assert done.status == Status.COMPLETED
    assert done.outcome_note == "Seen, plan agreed"
    missed = await sched.book(at(4, 11))
    dna = await sched.svc.mark_did_not_attend(sched.clinician, missed.id, "no_escort")
    assert (dna.status, dna.outcome_code, dna.outcome_category) == (
        Status.DID_NOT_ATTEND,
        "no_escort",
        "prison",
    )
    third = await sched.book(at(4, 12))
    with pytest.raises(ServiceError) as caught:
        await sched.svc.cancel(sched.clinician, third.id, "because")
    assert caught.value.detail == "The reason must be a code from the list at /api/reasons."


async def test_officer_may_cancel_only_for_prison_reasons(sched: Sched) -> None:
    booked = await sched.book()
    with pytest.raises(ServiceError):
        await sched.svc.cancel(sched.officer, booked.id, "unwell")
    done = await sched.svc.cancel(sched.officer, booked.id, "court")
    assert done.outcome_category == "prison"


async def test_reschedule_keeps_the_booking_and_checks_again(sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    moved = await sched.svc.reschedule(sched.clinician, booked.id, at(4, 14))
    assert (moved.id, moved.starts_at, moved.status) == (booked.id, at(4, 14), Status.BOOKED)
    with pytest.raises(ServiceError):
        await sched.svc.reschedule(sched.clinician, booked.id, at(7, 14))


async def test_same_sex_preference_is_honoured_and_recorded(sched: Sched) -> None:
    # The clinician is F; the test prisoners have no recorded sex.
    with pytest.raises(ServiceError) as caught:
        await sched.book(same_sex=True)
    assert caught.value.detail == "The clinician is not of the same sex as the patient."
    slots = await sched.svc.search_slots(
        service_id=sched.gp.id,
        start=at(4, 9),
        end=at(5, 9),
        prisoner_id=sched.patient.account_id,
        same_sex=True,
    )
    assert slots == []
    booked = await sched.book(chaperone=True)
    assert booked.chaperone


async def test_health_text_is_encrypted_at_rest(sched: Sched) -> None:
    from sqlalchemy import select

    from scheduling.tables import appointments

    booked = await sched.book(reason_text="Low mood and poor sleep", notes="History of self-harm")
    async with sched.svc._db.connect() as conn:
        row = (await conn.execute(select(appointments).where(appointments.c.id == booked.id))).one()
    raw = b"".join(v for v in row if isinstance(v, bytes))
    assert b"Low mood" not in raw and b"self-harm" not in raw
    assert booked.reason == "Low mood and poor sleep"


async def test_documented_reason_list_matches_the_code() -> None:
    from scheduling import REASONS

    doc = await asyncio.to_thread(_read_reasons_doc)
    for r in REASONS.values():
        assert f"| `{r.code}` | {r.label} |" in doc


def _read_reasons_doc() -> str:
    return (Path(__file__).resolve().parents[2] / "docs" / "reasons.md").read_text()


async def test_prisoners_other_appointment_blocks_another_clinician(sched: Sched) -> None:
    identity = sched.app[IDENTITY]
    second, _ = await identity.create_staff(
        role=Role.CLINICIAN,
        establishment_id=sched.world.est,
        username="nurse.two",
        display_name="Nurse Two",
        password=PASSWORD,
    )
    await sched.svc.add_availability(
        sched.manager,
        clinician_id=second,
        service_id=sched.gp.id,
        weekday_value=2,
        start="09:00",
        end="12:00",
    )
    await sched.book(at(4, 10))
    with pytest.raises(ServiceError) as caught:
        await sched.book(at(4, 10, 10), clinician_id=second)
    assert caught.value.detail == "The prisoner already has an appointment then."
    await sched.book(at(4, 10, 10), clinician_id=second, prisoner_id=sched.patient2.account_id)
