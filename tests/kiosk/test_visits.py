"""Visits (issue 16 item 3): visitors asked for and decided, sessions, allowances, booking,
cancellation, the day list, and every refusal changing nothing. On both stores; the
many-at-once tests mean most on PostgreSQL, where bookings really run side by side."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db.schema import jobs
from core.errors import Code, ServiceError
from core.identity import Principal
from kiosk.visit_letters import EMAIL_JOB
from kiosk.visit_tables import visit_bookings, visit_letters, visit_visitors
from scheduling.tables import notifications
from tests.kiosk.visit_world import VisitWorld, make_visits
from tests.scheduling.conftest import at
from web.kiosk.timetable import TIMETABLE
from web.state import DATABASE


@pytest.fixture
async def vw(client: Any, clock: Any) -> VisitWorld:
    return await make_visits(client, clock)


async def _count(vw: VisitWorld, table: Any, *where: Any) -> int:
    async with vw.sched.app[DATABASE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _refused(call: Any) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        await call
    return refused.value


async def test_a_visitor_is_asked_for_then_approved_and_kept_sealed(vw: VisitWorld) -> None:
    asked, new = await vw.visitors.request(
        vw.patient,
        name="Jane Smith",
        relationship="Sister",
        email="jane@example.org",
        phone="07700 900123",
        key="visitor-key-0001",
    )
    assert new and asked.status == "requested" and asked.name == "Jane Smith"
    again, new = await vw.visitors.request(
        vw.patient, name="Jane Smith", relationship="Sister", key="visitor-key-0001"
    )
    assert (again.id, new) == (asked.id, False)
    async with vw.sched.app[DATABASE].connect() as conn:
        row = (await conn.execute(select(visit_visitors))).one()
    sealed = [bytes(row._mapping[c]) for c in ("name_enc", "email_enc", "phone_enc")]
    assert all(b"Jane" not in blob and b"0770" not in blob for blob in sealed)

    queue = await vw.visitors.requests(vw.officer, vw.est)
    assert [(v.name, v.email, v.prison_number) for v in queue] == [
        ("Jane Smith", "jane@example.org", "A1234BC")
    ]
    read = [r for r in vw.audit.records if r.action.value == "visitors_read"]
    assert read and read[-1].subject == vw.patient.account_id
    decided = await vw.visitors.decide(vw.visits_staff, asked.id, approve=True)
    assert decided.status == "approved"
    assert [v.status for v in await vw.visitors.mine(vw.patient)] == ["approved"]
    assert await vw.visitors.requests(vw.officer, vw.est) == []
    assert {"visitor_requested", "visitor_decided"} <= set(vw.actions)
    assert await _count(vw, notifications, notifications.c.kind == "visitor_approved") == 1


async def test_refusing_needs_a_reason_the_prisoner_reads_and_happens_once(
    vw: VisitWorld,
) -> None:
    asked, _ = await vw.visitors.request(vw.patient, name="Bob", relationship="Friend")
    refused = await _refused(vw.visitors.decide(vw.officer, asked.id, approve=False))
    assert refused.code == Code.INVALID_REQUEST and refused.extra["field"] == "reason"
    await vw.visitors.decide(vw.officer, asked.id, approve=False, reason="Not on the list")
    [mine] = await vw.visitors.mine(vw.patient)
    assert (mine.status, mine.reason) == ("refused", "Not on the list")
    twice = await _refused(vw.visitors.decide(vw.officer, asked.id, approve=True))
    assert twice.extra["reason"] == "already_decided"


async def test_only_visits_staff_of_the_prisoners_establishment_decide(vw: VisitWorld) -> None:
    asked, _ = await vw.visitors.request(vw.patient, name="Bob", relationship="Friend")
    other = await _refused(vw.visitors.decide(vw.their_officer, asked.id, approve=True))
    missing = await _refused(vw.visitors.decide(vw.their_officer, "nope", approve=True))
    assert (
        (other.code, other.detail)
        == (missing.code, missing.detail)
        == (
            Code.NOT_FOUND,
            "No such visitor.",
        )
    )
    chaplain = await _refused(vw.visitors.decide(vw.chaplain, asked.id, approve=True))
    assert chaplain.code == Code.FORBIDDEN
    prisoner = await _refused(vw.visitors.decide(vw.patient2, asked.id, approve=True))
    assert prisoner.code == Code.FORBIDDEN
    assert [v.status for v in await vw.visitors.mine(vw.patient)] == ["requested"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "<b>Jane</b>", "relationship": "Sister"}, "name"),
        ({"name": "J" * 100_000, "relationship": "Sister"}, "name"),
        ({"name": "Jane", "relationship": ""}, "relationship"),
        ({"name": "Jane", "relationship": "Sister", "email": "not-an-address"}, "email"),
        ({"name": "Jane", "relationship": "Sister", "phone": "<script>"}, "phone"),
        ({"name": 42, "relationship": "Sister"}, "name"),
    ],
)
async def test_bad_visitor_details_are_refused_naming_the_field(
    vw: VisitWorld, fields: dict[str, Any], field: str
) -> None:
    refused = await _refused(vw.visitors.request(vw.patient, **fields))
    assert refused.code == Code.INVALID_REQUEST and refused.extra["field"] == field
    assert await _count(vw, visit_visitors) == 0


async def test_a_booking_has_a_reference_and_tells_the_prisoner_and_the_hall(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    session = await vw.session()
    made, new = await vw.visits.book(
        vw.patient, session_id=session.id, visitors=[jane.id], key="book-key-0001"
    )
    assert new and made.reference.startswith("V") and len(made.reference) == 8
    assert [v.name for v in made.visitors] == ["Jane Smith"]
    again, new = await vw.visits.book(
        vw.patient, session_id=session.id, visitors=[jane.id], key="book-key-0001"
    )
    assert (again.id, new) == (made.id, False)
    assert [b.reference for b in await vw.visits.mine(vw.patient)] == [made.reference]
    assert await _count(vw, notifications, notifications.c.kind == "visit_booked") == 1
    # No email address (and no mail server here): a letter for the visits hall to print.
    [letter] = await vw.visits.letters.to_print(vw.officer, vw.est)
    assert (letter.event, letter.reference, letter.visitor_name) == (
        "confirmed",
        made.reference,
        "Jane Smith",
    )
    assert await vw.visits.letters.mark_printed(vw.officer, vw.est, [letter.id]) == 1
    assert await vw.visits.letters.to_print(vw.officer, vw.est) == []
    assert "visit_booked" in vw.actions


async def test_a_visitor_with_an_email_is_emailed_not_printed(client: Any, clock: Any) -> None:
    vw = await make_visits(client, clock, email=True)
    jane = await vw.approved(vw.patient, email="jane@example.org")
    bob = await vw.approved(vw.patient, name="Bob Smith")
    session = await vw.session()
    made, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id, bob.id])
    printed = await vw.visits.letters.to_print(vw.officer, vw.est)
    assert [p.visitor_name for p in printed] == ["Bob Smith"]
    async with vw.sched.app[DATABASE].connect() as conn:
        letter = await conn.scalar(
            select(visit_letters.c.id).where(visit_letters.c.channel == "email")
        )
    assert letter is not None
    mail = await vw.visits.letters.email(letter)
    assert mail is not None and mail.to == "jane@example.org"
    assert made.reference in mail.subject and "is booked" in mail.text
    assert "Jane" not in mail.text and "A1234BC" not in mail.text
    await vw.visits.letters.sent(letter)
    assert await vw.visits.letters.email(letter) is None
    assert await _count(vw, jobs, jobs.c.kind == EMAIL_JOB) == 1


async def test_refusals_say_why_and_change_nothing(vw: VisitWorld) -> None:
    jane = await vw.approved(vw.patient)
    theirs = await vw.approved(vw.patient2, name="Their Visitor")
    asked, _ = await vw.visitors.request(vw.patient, name="Not Yet", relationship="Friend")
    session = await vw.session()
    elsewhere = await vw.session(est=vw.sched.world.other_est)
    past = await vw.session(at(3, 12))
    vw.sched.clock.advance(hours=4)  # past's start is behind us now

    cases: list[tuple[dict[str, Any], Code, str | None]] = [
        ({"session_id": session.id, "visitors": [asked.id]}, Code.CONFLICT, "visitor_not_approved"),
        ({"session_id": session.id, "visitors": [theirs.id]}, Code.NOT_FOUND, None),
        ({"session_id": session.id, "visitors": ["nobody"]}, Code.NOT_FOUND, None),
        ({"session_id": "nothing", "visitors": [jane.id]}, Code.NOT_FOUND, None),
        ({"session_id": elsewhere.id, "visitors": [jane.id]}, Code.NOT_FOUND, None),
        ({"session_id": past.id, "visitors": [jane.id]}, Code.CONFLICT, "past"),
        ({"session_id": session.id, "visitors": []}, Code.INVALID_REQUEST, "choose_visitors"),
        ({"session_id": session.id, "visitors": "x" * 100_000}, Code.INVALID_REQUEST, None),
        ({"session_id": session.id, "visitors": [jane.id, jane.id]}, Code.INVALID_REQUEST, None),
    ]
    for body, code, reason in cases:
        refused = await _refused(vw.visits.book(vw.patient, **body))
        assert refused.code == code, body
        if reason:
            assert refused.extra["reason"] == reason
    staff = await _refused(vw.visits.book(vw.officer, session_id=session.id, visitors=[jane.id]))
    assert staff.code == Code.FORBIDDEN
    assert await _count(vw, visit_bookings) == 0
    assert await _count(vw, visit_letters) == 0


async def test_a_full_session_and_a_used_allowance_are_refused(vw: VisitWorld) -> None:
    await vw.visits.set_allowances(vw.officer, vw.est, {"basic": 1, "standard": 2, "enhanced": 3})
    jane = await vw.approved(vw.patient)
    bob = await vw.approved(vw.patient2, name="Bob")
    small = await vw.session(capacity=1)
    await vw.visits.book(vw.patient, session_id=small.id, visitors=[jane.id])
    full = await _refused(vw.visits.book(vw.patient2, session_id=small.id, visitors=[bob.id]))
    assert full.extra["reason"] == "full"
    again = await _refused(vw.visits.book(vw.patient, session_id=small.id, visitors=[jane.id]))
    assert again.extra["reason"] == "already_booked"
    second = await vw.session(at(12, 14))
    await vw.visits.book(vw.patient, session_id=second.id, visitors=[jane.id])
    third = await vw.session(at(19, 14))
    over = await _refused(vw.visits.book(vw.patient, session_id=third.id, visitors=[jane.id]))
    assert (over.extra["reason"], over.extra["allowance"], over.extra["used"]) == (
        "over_allowance",
        2,
        2,
    )
    # April is another month's allowance.
    april = await vw.session(at(31, 23) + timedelta(days=2))
    await vw.visits.book(vw.patient, session_id=april.id, visitors=[jane.id])
    choices = await vw.visits.choices(vw.patient)
    assert (choices.allowance, choices.used_this_month) == (2, 2)
    assert small.id not in {s.id for s in choices.sessions}  # full
    assert second.id not in {s.id for s in choices.sessions}  # booked already
    assert await _count(vw, visit_bookings) == 3


async def test_thirty_at_once_into_five_places_fills_exactly_five(vw: VisitWorld) -> None:
    people = await vw.prisoners(30)
    chosen = [await vw.approved(p, name=f"Visitor {i}") for i, p in enumerate(people)]
    session = await vw.session(capacity=5)

    async def attempt(who: Principal, visitor: str) -> str:
        try:
            await vw.visits.book(who, session_id=session.id, visitors=[visitor])
        except ServiceError as refused:
            return str(refused.extra["reason"])
        return "booked"

    outcomes = await asyncio.gather(
        *(attempt(p, v.id) for p, v in zip(people, chosen, strict=True))
    )
    assert outcomes.count("booked") == 5
    assert outcomes.count("full") == 25
    assert await _count(vw, visit_bookings, visit_bookings.c.status == "booked") == 5


async def test_one_prisoner_booking_many_at_once_stays_within_the_allowance(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    sessions = [await vw.session(at(5 + day, 14)) for day in range(8)]

    async def attempt(session_id: str) -> str:
        try:
            await vw.visits.book(vw.patient, session_id=session_id, visitors=[jane.id])
        except ServiceError as refused:
            return str(refused.extra["reason"])
        return "booked"

    outcomes = await asyncio.gather(*(attempt(s.id) for s in sessions))
    assert outcomes.count("booked") == 3  # Standard's default allowance
    assert outcomes.count("over_allowance") == 5


async def test_the_prisoner_or_staff_cancel_and_the_visitors_are_told(vw: VisitWorld) -> None:
    jane = await vw.approved(vw.patient)
    session = await vw.session()
    made, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    other = await _refused(vw.visits.cancel(vw.patient2, made.id))
    missing = await _refused(vw.visits.cancel(vw.patient2, "no-such-visit"))
    assert (other.code, other.detail) == (missing.code, missing.detail)
    theirs = await _refused(vw.visits.cancel(vw.their_officer, made.id))
    assert theirs.code == Code.NOT_FOUND
    done = await vw.visits.cancel(vw.patient, made.id)
    assert (done.status, done.cancel_reason) == ("cancelled", "prisoner")
    twice = await _refused(vw.visits.cancel(vw.patient, made.id))
    assert twice.extra["reason"] == "already_cancelled"
    events = sorted(p.event for p in await vw.visits.letters.to_print(vw.officer, vw.est))
    assert events == ["cancelled", "confirmed"]

    again, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    by_staff = await vw.visits.cancel(vw.visits_staff, again.id)
    assert by_staff.cancel_reason == "staff"
    assert await _count(vw, notifications, notifications.c.kind == "visit_cancelled") == 1
    assert vw.actions.count("visit_cancelled") == 2


async def test_the_day_list_shows_each_session_with_its_visits(vw: VisitWorld) -> None:
    jane = await vw.approved(vw.patient)
    bob = await vw.approved(vw.patient2, name="Bob Jones", relationship="Father")
    afternoon = await vw.session(at(5, 14), capacity=4)
    evening = await vw.session(at(5, 18), capacity=2)
    await vw.session(at(6, 14))
    await vw.visits.book(vw.patient, session_id=afternoon.id, visitors=[jane.id])
    await vw.visits.book(vw.patient2, session_id=afternoon.id, visitors=[bob.id])
    day = await vw.visits.day_list(vw.officer, vw.est, "2026-03-05")
    assert [(d.session.id, d.session.booked) for d in day] == [(afternoon.id, 2), (evening.id, 0)]
    assert sorted((b.prison_number, b.visitors[0].name) for b in day[0].bookings) == [
        ("A1234BC", "Jane Smith"),
        ("B2345CD", "Bob Jones"),
    ]
    bad = await _refused(vw.visits.day_list(vw.officer, vw.est, "5th March"))
    assert bad.code == Code.INVALID_REQUEST
    theirs = await _refused(vw.visits.day_list(vw.their_officer, vw.est, "2026-03-05"))
    assert theirs.code == Code.NOT_FOUND


async def test_sessions_and_allowances_are_checked(vw: VisitWorld) -> None:
    for start, end, capacity in (
        (at(5, 14), at(5, 13), 5),
        (at(5, 14), at(5, 23), 5),
        (at(2, 14), at(2, 15), 5),
        (at(5, 14), at(5, 15), 0),
        (at(5, 14), at(5, 15), 2.5),
    ):
        refused = await _refused(
            vw.visits.create_session(
                vw.officer,
                vw.est,
                starts_at=start.isoformat(),
                ends_at=end.isoformat(),
                capacity=capacity,
            )
        )
        assert refused.code == Code.INVALID_REQUEST
    for bad in ({"basic": 1}, {"basic": -1, "standard": 1, "enhanced": 1}):
        refused = await _refused(vw.visits.set_allowances(vw.officer, vw.est, bad))
        assert refused.code == Code.INVALID_REQUEST
    chaplain = await _refused(vw.visits.sessions(vw.chaplain, vw.est))
    assert chaplain.code == Code.FORBIDDEN
    assert await vw.visits.allowances(vw.visits_staff, vw.est) == {
        "basic": 2,
        "standard": 3,
        "enhanced": 4,
    }


async def test_the_prisoners_week_shows_their_booked_visits(vw: VisitWorld) -> None:
    jane = await vw.approved(vw.patient)
    this_week = await vw.session(at(5, 14))
    cancelled = await vw.session(at(6, 14))
    next_week = await vw.session(at(10, 14))
    for session in (this_week, cancelled, next_week):
        await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    await vw.visits.cancel(vw.patient, (await vw.visits.mine(vw.patient))[1].id)
    week = await vw.sched.app[TIMETABLE].week(vw.patient)
    visits = [(e.starts_at, e.ends_at) for e in week.entries if e.kind == "visit"]
    assert visits == [(this_week.starts_at, this_week.ends_at)]
    theirs = await vw.sched.app[TIMETABLE].week(vw.patient2)
    assert [e for e in theirs.entries if e.kind == "visit"] == []
