"""Acting on another person's record answers exactly as a missing one does (issue 12, item 5).

The attack: probe ids. If `rebook` says 409 for another prisoner's
appointment and 404 for a made-up id, or `transfer` says 403 for another
establishment's prisoner, the answers tell a prisoner or a member of staff
which ids are real, and so that a person has an appointment, a request, a
consent. Here every route that takes an id in its path (the walk fails when a
new one is added without a case) and the ids that routes take in the query or
body are asked about someone else's record and about a missing one, by the
same caller; the two answers must be the same status and the same body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from core.identity import Principal, Role
from core.identity.types import SYSTEM_ACTOR
from kiosk.money_tables import money_entries
from scheduling.tables import rebooking_offers
from tests.campus import files
from tests.kiosk.money_world import credits_csv, join_department
from tests.scheduling.conftest import Sched, at
from tests.world import Staff, bearer, new_staff, sign_in_prisoner, sign_in_staff
from web.campus import CATALOGUE, LEARNING
from web.demo_programmes import THINKING, create_programmes_of
from web.interventions import INTERVENTIONS, PROGRAMMES
from web.kiosk.applications import APPLICATIONS
from web.kiosk.money import MONEY
from web.kiosk.shop import SHOP
from web.kiosk.timetable import TIMETABLE
from web.kiosk.visits import VISITS
from web.recordings_api import RECORDINGS
from web.state import ACCESS, DATABASE, IDENTITY, JOBS, PLACES

FUTURE = "2026-03-11T10:00:00+00:00"


@dataclass
class Records:
    """Someone else's record of each kind, and the signed-in callers who probe them."""

    ids: dict[str, str]
    callers: dict[str, dict[str, str]]


def _principal(staff: Staff) -> Principal:
    return Principal(staff.account_id, staff.role, staff.establishment_id, "test")


async def _records(client: Any, sched: Sched) -> Records:
    svc, world = sched.svc, sched.world
    other = world.other_prisoner
    assert other is not None
    staff = {}
    for role, name in (
        (Role.CLINICIAN, "clinician.two"),
        (Role.MANAGER, "manager.two"),
        (Role.KEYWORKER, "keyworker.two"),
    ):
        staff[role] = _principal(await new_staff(sched.app, role, name, world.other_est))
    their_clinician, their_manager = staff[Role.CLINICIAN], staff[Role.MANAGER]
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    their_department = (
        await sched.app[ACCESS].departments.of_establishment(system, world.other_est)
    )[0]
    governor = await new_staff(sched.app, Role.GOVERNOR, "governor.one", world.est)
    # Escorted when seen in person: what a lockdown cancels and offers new times for.
    their_gp = await svc.create_service(
        their_manager, world.other_est, code="gp", name="GP", escort_if_in_person=True
    )
    rule = await svc.add_availability(
        their_manager,
        clinician_id=their_clinician.account_id,
        service_id=their_gp.id,
        weekday_value=2,
        start="09:00",
        end="17:00",
    )

    async def book_theirs(hour: int, **extra: Any) -> str:
        booked = await svc.book(
            their_clinician,
            prisoner_id=other.account_id,
            service_id=their_gp.id,
            clinician_id=their_clinician.account_id,
            starts_at=at(4, hour),
            reason_text="Their reason",
            **extra,
        )
        return booked.id

    their_appointment = await book_theirs(10)
    their_recording = await sched.app[RECORDINGS].begin(their_appointment, actor=SYSTEM_ACTOR)
    await their_recording.write(b"their consult")
    await their_recording.finish(duration_ms=1000)
    their_cancelled = await book_theirs(11)
    await svc.cancel(their_clinician, their_cancelled, "clinician_unavailable")
    their_consent = await svc.record_consent(
        their_clinician,
        prisoner_id=other.account_id,
        scope_value="telehealth",
        version=1,
        decision="given",
    )
    them = Principal(other.account_id, Role.PRISONER, world.other_est, "test", other.device_id)
    their_request = await svc.make_request(them, category="general", text_value="Their request")
    officer2 = _principal(world.staff["officer2"])
    window = await svc.add_regime_window(
        officer2, world.other_est, label="Roll check", weekday_value=3, start="12:00", end="13:00"
    )
    lockdown = await svc.declare_lockdown(
        officer2,
        world.other_est,
        starts_at="2026-06-01T00:00:00Z",
        ends_at="2026-06-02T00:00:00Z",
    )
    await svc.request_call_back(their_appointment, their_clinician.account_id, other.device_id)
    [their_call_back] = await svc.call_back_tasks(officer2, world.other_est)
    token = await svc.issue_calendar_token(their_clinician)
    revoked = await svc.issue_calendar_token(their_clinician)
    await svc.revoke_calendar_token(their_clinician, revoked.id)

    # Their consult at 12:00 cancelled by a lockdown: an offer of new times, and notices.
    await book_theirs(12, in_person=True)
    await svc.declare_lockdown(
        officer2, world.other_est, starts_at=at(4, 11, 50), ends_at=at(4, 12, 40)
    )
    await sched.app[JOBS].run_due()
    _, their_notices = await svc.inbox(them)
    async with sched.app[DATABASE].connect() as conn:
        their_offer = (await conn.execute(select(rebooking_offers.c.id))).scalar_one()

    # A prisoner of theirs, released: the hand-over is kept for their managers alone.
    leaver = await sched.app[IDENTITY].create_prisoner(
        establishment_id=world.other_est, prison_number="L1111LL", display_name="L", pin="1111"
    )
    await svc.release(officer2, leaver)
    [their_handover] = await svc.handover_list(their_manager, world.other_est)
    their_leave = await svc.add_exception(
        their_clinician,
        clinician_id=their_clinician.account_id,
        establishment_id=world.other_est,
        kind="leave",
        starts_at=at(9, 0).isoformat(),
        ends_at=at(10, 0).isoformat(),
    )

    our_staff: dict[str, Staff] = {}
    # The kiosk and the programmes (issues 16, 17): an application, an allocation and a
    # risk alert of theirs, and an application of the prisoner next door.
    their_application, _ = await sched.app[APPLICATIONS].send(
        them, department_id=their_department.id, text="Their application"
    )
    their_allocation = await sched.app[TIMETABLE].allocate(
        officer2, other.account_id, kind="work", weekday_value=1, start="09:00", end="11:00"
    )
    risky = {**{str(n): 0 for n in range(1, 10)}, "9": 1}
    await sched.app[INTERVENTIONS].submit(them, "phq9", risky)
    [their_alert] = await sched.app[INTERVENTIONS].risk_queue(their_clinician)
    # Their programme (one anyone there may join) and a session of it they are on; and
    # a session of a shared programme our first prisoner is on, that prisoner 2 is not.
    programmes = sched.app[PROGRAMMES]
    [their_programme] = await create_programmes_of(programmes, world.other_est, THINKING)
    await programmes.enrol_self(them, their_programme)
    their_session = (await programmes.my_programme(them, their_programme)).sessions[0].id
    [shared] = await create_programmes_of(programmes, None, THINKING)
    await programmes.enrol_self(sched.patient, shared)
    my_session = (await programmes.my_programme(sched.patient, shared)).sessions[0].id
    # Their shop: an item, limits, spends paid in by their finance, and an order.
    their_shop = _principal(
        await new_staff(sched.app, Role.DEPARTMENT_STAFF, "shop.two", world.other_est)
    )
    their_finance = _principal(
        await new_staff(sched.app, Role.DEPARTMENT_STAFF, "finance.two", world.other_est)
    )
    await join_department(sched.app, world.other_est, "shop", their_shop.account_id)
    await join_department(sched.app, world.other_est, "finance", their_finance.account_id)
    crisps = await sched.app[SHOP].add_item(
        their_shop, world.other_est, category="Food", name="Crisps", price_pence=65
    )
    await sched.app[SHOP].set_settings(
        their_shop,
        world.other_est,
        limits={"basic": 1000, "standard": 2000, "enhanced": 3000},
        cutoff_weekday=6,
        cutoff_time="23:59",
    )
    await sched.app[MONEY].post_credits(
        their_finance, world.other_est, credits_csv(f"{other.prison_number},spends,5.00,wages,w")
    )
    their_order, _ = await sched.app[SHOP].place(
        them, [{"item_id": crisps.id, "quantity": 1}], "their-order"
    )
    their_entry = (await sched.app[MONEY].statement(their_finance, other.account_id)).entries[0]
    # Their visits (and ours): an approved visitor, a session and a booking each.
    visits = sched.app[VISITS]

    async def a_visit(who: Principal, officer: Principal, est: str) -> tuple[str, str]:
        visitor, _ = await visits.visitors.request(who, name="A Visitor", relationship="Friend")
        await visits.visitors.decide(officer, visitor.id, approve=True)
        session = await visits.create_session(
            officer,
            est,
            starts_at=at(6, 14).isoformat(),
            ends_at=at(6, 16).isoformat(),
            capacity=5,
        )
        booking, _ = await visits.book(who, session_id=session.id, visitors=[visitor.id])
        return visitor.id, booking.id

    their_visitor, their_booking = await a_visit(them, officer2, world.other_est)
    _, my_booking = await a_visit(sched.patient, sched.officer, world.est)
    # Ours: a finance officer and a shop keeper, who may not touch theirs.
    for code, name in (("finance", "finance.one"), ("shop", "shop.one")):
        ours = await new_staff(sched.app, Role.DEPARTMENT_STAFF, name, world.est)
        await join_department(sched.app, world.est, code, ours.account_id)
        our_staff[code] = ours
    our_department = (await sched.app[ACCESS].departments.of_establishment(system, world.est))[0]
    my_application, _ = await sched.app[APPLICATIONS].send(
        sched.patient, department_id=our_department.id, text="My application"
    )

    # The campus (issue 17): their course, lesson, file and goal, and their learner; our
    # course, which our first prisoner is on and prisoner 2 is not.
    catalogue, learning = sched.app[CATALOGUE], sched.app[LEARNING]
    their_teacher = _principal(
        await new_staff(sched.app, Role.DEPARTMENT_STAFF, "teacher.two", world.other_est)
    )
    await join_department(sched.app, world.other_est, "education", their_teacher.account_id)
    their_course = await catalogue.add_course(their_teacher, title="Theirs")
    their_lesson, _ = await catalogue.add_lesson(
        their_teacher, their_course.id, title="Theirs", body_html="<p>Theirs</p>"
    )
    their_file = await catalogue.upload(
        their_teacher, their_lesson.id, data=files.png(), claimed="image/png", name="theirs"
    )
    await learning.enrol(them, their_course.id)
    their_goal = await learning.add_goal(them, goal="Their goal", target_date="2026-06-01")
    our_teacher = await new_staff(sched.app, Role.DEPARTMENT_STAFF, "teacher.one", world.est)
    await join_department(sched.app, world.est, "education", our_teacher.account_id)
    our_staff["education"] = our_teacher
    my_course = await catalogue.add_course(_principal(our_teacher), title="Ours")
    my_lesson, _ = await catalogue.add_lesson(
        _principal(our_teacher), my_course.id, title="Ours", body_html="<p>Ours</p>"
    )
    my_file = await catalogue.upload(
        _principal(our_teacher), my_lesson.id, data=files.png(), claimed="image/png", name="o"
    )
    await catalogue.decide(system, my_file.id, approve=True)
    await learning.enrol(sched.patient, my_course.id)

    # The other prisoner of our own establishment: what prisoner 2 may not touch.
    mine = await sched.book(at(4, 10), reason_text="My reason")
    my_consent = await sched.consent()
    my_request = await svc.make_request(sched.patient, category="general", text_value="Mine")

    callers = {
        "prisoner2": bearer(await sign_in_prisoner(client, world.prisoners[1])),
        "anyone": {},
    }
    for key in ("clinician", "manager", "officer"):
        callers[key] = bearer(await sign_in_staff(client, world.staff[key]))
    callers["governor"] = bearer(await sign_in_staff(client, governor))
    for code, ours in our_staff.items():
        callers[code] = bearer(await sign_in_staff(client, ours))
    their_cell = (await sched.app[PLACES].cells(world.other_est))[0]
    ids = {
        "their_cell": their_cell.id,
        "their_wing": their_cell.wing_id,
        "their_appointment": their_appointment,
        "their_recording": their_recording.id,
        "their_cancelled": their_cancelled,
        "their_consent": their_consent.id,
        "their_request": their_request.id,
        "their_prisoner": other.account_id,
        "their_clinician": their_clinician.account_id,
        "their_service": their_gp.id,
        "their_rule": rule.id,
        "their_leave": their_leave.id,
        "their_window": window.id,
        "their_lockdown": lockdown.id,
        "their_device": other.device_id,
        "their_token": token.id,
        "their_call_back": their_call_back.id,
        "their_staff": their_clinician.account_id,
        "their_keyworker": staff[Role.KEYWORKER].account_id,
        "their_department": their_department.id,
        "their_establishment": world.other_est,
        "their_notice": their_notices[0].id,
        "their_offer": their_offer,
        "their_handover": their_handover.id,
        "their_revoked_calendar": revoked.token,
        "their_application": their_application.id,
        "their_allocation": their_allocation.id,
        "their_alert": their_alert.id,
        "their_order": their_order.id,
        "their_entry": their_entry.id,
        "their_programme": their_programme,
        "their_session": their_session,
        "my_programme": shared,
        "my_session": my_session,
        "their_course": their_course.id,
        "their_lesson": their_lesson.id,
        "their_file": their_file.id,
        "their_goal": their_goal.id,
        "their_number": other.prison_number,
        "my_course": my_course.id,
        "my_lesson": my_lesson.id,
        "my_file": my_file.id,
        "their_item": crisps.id,
        "my_application": my_application.id,
        "their_visitor": their_visitor,
        "their_booking": their_booking,
        "my_booking": my_booking,
        "my_appointment": mine.id,
        "my_consent": my_consent.id,
        "my_request": my_request.id,
        "gp": sched.gp.id,
        "est": world.est,
        "my_prisoner": world.prisoners[0].account_id,
    }
    return Records(ids, callers)


# (method, route) -> [(caller, the path parameter's record, body)]
PATH_CASES: dict[tuple[str, str], list[tuple[str, str, dict[str, Any] | None]]] = {
    ("GET", "/api/appointments/{appointment_id}"): [
        ("prisoner2", "my_appointment", None),
        ("clinician", "their_appointment", None),
    ],
    ("GET", "/api/appointments/{appointment_id}/patient"): [
        ("clinician", "their_appointment", None),
    ],
    ("POST", "/api/appointments/{appointment_id}/reschedule"): [
        ("clinician", "their_appointment", {"starts_at": FUTURE}),
    ],
    ("POST", "/api/appointments/{appointment_id}/rebook"): [
        ("prisoner2", "my_appointment", {"starts_at": FUTURE}),
        ("clinician", "their_cancelled", {"starts_at": FUTURE}),
    ],
    ("POST", "/api/appointments/{appointment_id}/cancel"): [
        ("prisoner2", "my_appointment", {"reason": "patient_request"}),
        ("officer", "their_appointment", {"reason": "no_escort"}),
        ("clinician", "their_appointment", {"reason": "clinician_unavailable"}),
    ],
    ("POST", "/api/appointments/{appointment_id}/check-in"): [
        ("prisoner2", "my_appointment", None),
        ("officer", "their_appointment", None),
    ],
    ("POST", "/api/appointments/{appointment_id}/attended"): [
        ("clinician", "their_appointment", {}),
    ],
    ("POST", "/api/appointments/{appointment_id}/did-not-attend"): [
        ("clinician", "their_appointment", {"reason": "unwell"}),
    ],
    # The consult screen (issue 15): context, notes and outcome of another's consult.
    ("GET", "/api/appointments/{appointment_id}/context"): [
        ("clinician", "their_appointment", None),
    ],
    ("GET", "/api/appointments/{appointment_id}/consult-notes"): [
        ("clinician", "their_appointment", None),
    ],
    ("PUT", "/api/appointments/{appointment_id}/consult-notes"): [
        ("clinician", "their_appointment", {"text": "Probing", "version": 0}),
    ],
    ("PUT", "/api/appointments/{appointment_id}/outcome"): [
        ("clinician", "their_appointment", {"outcome": "completed"}),
    ],
    ("POST", "/api/appointments/{appointment_id}/video-required"): [
        ("clinician", "their_appointment", {"video_required": True}),
        ("manager", "their_appointment", {"video_required": True}),
    ],
    ("POST", "/api/call-backs/{task_id}/done"): [("officer", "their_call_back", None)],
    ("POST", "/api/inbox/{notice_id}/read"): [
        ("prisoner2", "their_notice", None),
        ("clinician", "their_notice", None),
    ],
    ("GET", "/api/rebooking-offers/{offer_id}"): [("prisoner2", "their_offer", None)],
    ("POST", "/api/rebooking-offers/{offer_id}/take"): [
        ("prisoner2", "their_offer", {"starts_at": FUTURE}),
    ],
    ("POST", "/api/consents/{consent_id}/withdraw"): [
        ("prisoner2", "my_consent", None),
        ("clinician", "their_consent", None),
    ],
    ("POST", "/api/health-requests/{request_id}/triage"): [
        ("clinician", "their_request", {"urgency": "soon", "service_id": "gp"}),
    ],
    ("POST", "/api/prisoners/{prisoner_id}/transfer"): [
        ("officer", "their_prisoner", {"to_establishment_id": "est"}),
    ],
    ("POST", "/api/prisoners/{prisoner_id}/release"): [("officer", "their_prisoner", None)],
    ("DELETE", "/api/availability/{rule_id}"): [("clinician", "their_rule", None)],
    ("DELETE", "/api/availability/exceptions/{exception_id}"): [
        ("clinician", "their_leave", None),
        ("manager", "their_leave", None),
    ],
    ("GET", "/api/clinicians/{clinician_id}/exceptions"): [
        ("clinician", "their_clinician", None),
        ("manager", "their_clinician", None),
    ],
    ("GET", "/api/health-requests/{request_id}"): [
        ("clinician", "their_request", None),
        ("prisoner2", "their_request", None),
    ],
    ("POST", "/api/health-requests/{request_id}/answer"): [
        ("clinician", "their_request", {"decision": "decline", "message": "No"}),
    ],
    ("GET", "/api/clinicians/{clinician_id}/availability"): [
        ("clinician", "their_clinician", None),
    ],
    ("DELETE", "/api/regime-windows/{window_id}"): [("officer", "their_window", None)],
    ("POST", "/api/lockdowns/{lockdown_id}/lift"): [("officer", "their_lockdown", None)],
    ("POST", "/api/lockdowns/{lockdown_id}/confirm"): [("manager", "their_lockdown", None)],
    ("DELETE", "/api/devices/{device_id}"): [("officer", "their_device", None)],
    # Admins only (every account is theirs to see): anyone else is refused alike.
    ("POST", "/api/accounts/{account_id}/disable"): [
        ("officer", "their_prisoner", None),
        ("manager", "their_clinician", None),
    ],
    ("DELETE", "/api/calendar-tokens/{token_id}"): [("clinician", "their_token", None)],
    ("GET", "/calendar/{token}"): [("anyone", "their_revoked_calendar", None)],
    ("GET", "/api/services/{service_id}/readers"): [("manager", "their_service", None)],
    # Recordings (issue 18): another establishment's recording, appointment or service.
    ("GET", "/api/appointments/{appointment_id}/recordings"): [
        ("clinician", "their_appointment", None),
        ("manager", "their_appointment", None),
    ],
    ("GET", "/api/recordings/{recording_id}"): [
        ("clinician", "their_recording", None),
        ("manager", "their_recording", None),
    ],
    ("GET", "/api/recordings/{recording_id}/media"): [("manager", "their_recording", None)],
    ("GET", "/api/recordings/{recording_id}/poster"): [("clinician", "their_recording", None)],
    ("POST", "/api/recordings/{recording_id}/hold"): [
        ("manager", "their_recording", {"kind": "complaint"}),
    ],
    ("DELETE", "/api/recordings/{recording_id}/hold"): [("manager", "their_recording", None)],
    ("PUT", "/api/services/{service_id}/recording-retention"): [
        ("manager", "their_service", {"days": 30}),
    ],
    # People and places (issue 13): another establishment's prisoner or device, or another
    # prisoner's level, answers as a missing one.
    ("POST", "/api/devices/{device_id}/move"): [("officer", "their_device", {"cell": "W0-01"})],
    ("GET", "/api/prisoners/{prisoner_id}/cells"): [("officer", "their_prisoner", None)],
    ("PUT", "/api/wings/{wing_id}/name"): [("officer", "their_wing", {"name": "Probe"})],
    ("DELETE", "/api/wings/{wing_id}"): [("officer", "their_wing", None)],
    ("PUT", "/api/cells/{cell_id}/name"): [("officer", "their_cell", {"name": "Probe"})],
    ("DELETE", "/api/cells/{cell_id}"): [("officer", "their_cell", None)],
    ("POST", "/api/prisoners/{prisoner_id}/cell"): [
        ("officer", "their_prisoner", {"cell": "W0-01"}),
    ],
    ("GET", "/api/prisoners/{prisoner_id}/incentive"): [
        ("officer", "their_prisoner", None),
        ("prisoner2", "my_prisoner", None),
    ],
    ("POST", "/api/prisoners/{prisoner_id}/incentive"): [
        ("officer", "their_prisoner", {"level": "enhanced", "reason": "Probing"}),
    ],
    ("PUT", "/api/prisoners/{prisoner_id}/date-of-birth"): [
        ("officer", "their_prisoner", {"date_of_birth": "1990-01-31"}),
    ],
    # The photo's body is the image itself: this JSON one is refused before any look-up, the
    # same for both; tests/web/test_people_api.py uploads a real photo for another's prisoner.
    ("PUT", "/api/prisoners/{prisoner_id}/photo"): [("officer", "their_prisoner", {})],
    ("GET", "/api/appointments/{appointment_id}/patient/photo"): [
        ("clinician", "their_appointment", None),
    ],
    ("PUT", "/api/services/{service_id}/readers"): [
        ("manager", "their_service", {"readers": []}),
    ],
    # Access (issue 13): staff accounts are kept by admins, who see every
    # establishment; anyone else is refused before any record is looked up.
    ("PUT", "/api/staff/{account_id}/role"): [("manager", "their_staff", {"role": "manager"})],
    ("PUT", "/api/staff/{account_id}/establishments"): [
        ("manager", "their_staff", {"establishment_ids": []}),
    ],
    ("POST", "/api/staff/{account_id}/email"): [
        ("manager", "their_staff", {"email": "a@example.org"}),
    ],
    ("GET", "/api/establishments/{establishment_id}/departments"): [
        ("governor", "their_establishment", None),
    ],
    ("POST", "/api/establishments/{establishment_id}/departments"): [
        ("governor", "their_establishment", {"code": "gym", "name": "Gym"}),
    ],
    ("PUT", "/api/departments/{department_id}/members"): [
        ("governor", "their_department", {"account_ids": []}),
    ],
    ("PUT", "/api/appointments/{appointment_id}/attendees"): [
        ("clinician", "their_appointment", {"account_ids": []}),
    ],
    ("POST", "/api/appointments/{appointment_id}/interpreters"): [
        ("clinician", "their_appointment", {"language": "bfi", "email": "i@example.org"}),
    ],
    ("GET", "/api/handovers/{handover_id}/bundle"): [("manager", "their_handover", None)],
    # Admins only (they see every establishment): anyone else is refused alike.
    ("GET", "/api/establishments/{establishment_id}/community-endpoint"): [
        ("manager", "their_establishment", None),
    ],
    ("PUT", "/api/establishments/{establishment_id}/community-endpoint"): [
        ("manager", "their_establishment", {"url": "https://x.invalid/"}),
    ],
    # A manager's reports are of the establishments they serve (issue 15).
    ("GET", "/api/establishments/{establishment_id}/report-settings"): [
        ("manager", "their_establishment", None),
    ],
    ("PUT", "/api/establishments/{establishment_id}/report-settings"): [
        ("manager", "their_establishment", {"min_consult_s": 120}),
    ],
    # The kiosk (issue 16): applications and timetables of another establishment, or of
    # the prisoner next door, answer as missing ones.
    ("GET", "/api/kiosk/applications/{application_id}"): [("prisoner2", "my_application", None)],
    ("POST", "/api/kiosk/applications/{application_id}/escalate"): [
        ("prisoner2", "my_application", {"text": "Please look again"}),
    ],
    ("GET", "/api/kiosk/queues/{department_id}"): [("officer", "their_department", None)],
    ("GET", "/api/kiosk/staff/applications/{application_id}"): [
        ("officer", "their_application", None),
    ],
    ("POST", "/api/kiosk/staff/applications/{application_id}/answer"): [
        ("officer", "their_application", {"reply": "Done"}),
    ],
    ("GET", "/api/kiosk/departments/{department_id}/targets"): [
        ("governor", "their_department", None),
    ],
    ("PUT", "/api/kiosk/departments/{department_id}/targets"): [
        ("governor", "their_department", {"application": 7}),
    ],
    ("GET", "/api/kiosk/prisoners/{prisoner_id}/allocations"): [
        ("officer", "their_prisoner", None),
    ],
    ("POST", "/api/kiosk/prisoners/{prisoner_id}/allocations"): [
        (
            "officer",
            "their_prisoner",
            {"kind": "gym", "weekday": 2, "start": "14:00", "end": "15:00"},
        ),
    ],
    ("DELETE", "/api/kiosk/allocations/{allocation_id}"): [("officer", "their_allocation", None)],
    ("POST", "/api/kiosk/money/prisoners/{prisoner_id}/transfers"): [
        ("finance", "their_prisoner", {"from": "private", "to": "spends", "amount_pence": 100}),
    ],
    # The entry's id stays as the route's placeholder: the prisoner is what is probed.
    ("POST", "/api/kiosk/money/prisoners/{prisoner_id}/entries/{entry_id}/reverse"): [
        ("finance", "their_prisoner", {}),
    ],
    ("POST", "/api/kiosk/shop/orders/{order_id}/picked"): [
        ("shop", "their_order", {"out_of_stock": []}),
    ],
    ("POST", "/api/kiosk/shop/orders/{order_id}/delivered"): [("shop", "their_order", {})],
    ("PUT", "/api/kiosk/shop/items/{item_id}"): [("shop", "their_item", {"price_pence": 100})],
    # Visits: another prisoner's booking, another establishment's booking, visitor, prisoner.
    ("POST", "/api/kiosk/visits/{booking_id}/cancel"): [("prisoner2", "my_booking", None)],
    ("POST", "/api/kiosk/visits/{booking_id}/rebook"): [
        ("prisoner2", "my_booking", {"session_id": "x"}),
    ],
    ("POST", "/api/kiosk/staff/visits/{booking_id}/cancel"): [("officer", "their_booking", None)],
    ("POST", "/api/kiosk/staff/visitors/{visitor_id}/decision"): [
        ("officer", "their_visitor", {"approve": True}),
    ],
    ("GET", "/api/kiosk/staff/prisoners/{prisoner_id}/visitors"): [
        ("officer", "their_prisoner", None),
    ],
    # The programmes (issue 17): another establishment's scores, checks and risk alerts.
    ("GET", "/api/prisoners/{prisoner_id}/scores"): [("clinician", "their_prisoner", None)],
    ("GET", "/api/prisoners/{prisoner_id}/checks"): [("clinician", "their_prisoner", None)],
    ("POST", "/api/prisoners/{prisoner_id}/checks"): [
        ("clinician", "their_prisoner", {"kind": "phq9", "every_days": 28}),
    ],
    ("POST", "/api/risk-alerts/{alert_id}/acknowledge"): [("clinician", "their_alert", None)],
    # Programmes: another establishment's, or one the prisoner next door is on.
    ("POST", "/api/me/programmes/{programme_id}/enrol"): [("prisoner2", "their_programme", {})],
    ("GET", "/api/me/programmes/{programme_id}"): [
        ("prisoner2", "their_programme", None),
        ("prisoner2", "my_programme", None),
    ],
    ("PUT", "/api/me/programme-sessions/{session_id}/answers/{exercise}"): [
        ("prisoner2", "my_session", {"value": "x", "client_id": str(uuid.uuid4())}),
        ("prisoner2", "their_session", {"value": "x", "client_id": str(uuid.uuid4())}),
    ],
    ("POST", "/api/me/programme-sessions/{session_id}/complete"): [
        ("prisoner2", "my_session", {}),
        ("prisoner2", "their_session", {}),
    ],
    ("POST", "/api/prisoners/{prisoner_id}/programmes"): [
        ("clinician", "their_prisoner", {"programme_id": str(uuid.uuid4())}),
    ],
    ("GET", "/api/prisoners/{prisoner_id}/programmes/{programme_id}/answers"): [
        ("clinician", "their_prisoner", None),
    ],
    ("GET", "/api/keyworkers/{keyworker_id}/caseload"): [("officer", "their_keyworker", None)],
    # The campus (issue 17): another establishment's courses, lessons, files and learners,
    # and a course or lesson of our own that prisoner 2 is not on.
    ("GET", "/api/campus/courses/{course_id}"): [("prisoner2", "their_course", None)],
    ("POST", "/api/campus/courses/{course_id}/enrol"): [("prisoner2", "their_course", None)],
    ("GET", "/api/campus/courses/{course_id}/assessment"): [
        ("prisoner2", "their_course", None),
        ("prisoner2", "my_course", None),
    ],
    ("POST", "/api/campus/courses/{course_id}/assessment"): [
        ("prisoner2", "my_course", {"answers": [0]}),
    ],
    ("GET", "/api/campus/courses/{course_id}/certificate"): [("prisoner2", "my_course", None)],
    ("GET", "/api/campus/lessons/{lesson_id}"): [
        ("prisoner2", "my_lesson", None),
        ("prisoner2", "their_lesson", None),
    ],
    ("PUT", "/api/campus/lessons/{lesson_id}/progress"): [
        ("prisoner2", "my_lesson", {"step": 1, "completed": True}),
    ],
    ("GET", "/api/campus/files/{file_id}"): [
        ("prisoner2", "my_file", None),
        ("prisoner2", "their_file", None),
    ],
    ("PUT", "/api/campus/goals/{goal_id}"): [("prisoner2", "their_goal", {"done": True})],
    ("GET", "/api/campus/staff/courses/{course_id}"): [("education", "their_course", None)],
    ("POST", "/api/campus/staff/courses/{course_id}/lessons"): [
        ("education", "their_course", {"title": "Probe", "body_html": "<p>Probe</p>"}),
    ],
    ("PUT", "/api/campus/staff/courses/{course_id}/questions"): [
        (
            "education",
            "their_course",
            {"questions": [{"text": "Q", "choices": ["A", "B"], "answer": 0}]},
        ),
    ],
    ("GET", "/api/campus/staff/courses/{course_id}/progress"): [
        ("education", "their_course", None),
    ],
    ("POST", "/api/campus/staff/courses/{course_id}/enrolments"): [
        ("education", "their_course", {"prison_number": "B2345CD"}),
    ],
    ("POST", "/api/campus/staff/lessons/{lesson_id}/files"): [
        ("education", "their_lesson", {}),
    ],
    ("GET", "/api/campus/staff/files/{file_id}"): [("education", "their_file", None)],
    ("POST", "/api/campus/staff/files/{file_id}/decision"): [
        ("education", "their_file", {"approve": True}),
    ],
    ("GET", "/api/campus/staff/learners/{learner_id}/record"): [
        ("education", "their_prisoner", None),
    ],
    ("GET", "/api/campus/staff/learners/{learner_id}/record.pdf"): [
        ("education", "their_prisoner", None),
    ],
    ("POST", "/api/campus/staff/learners/{learner_id}/goals"): [
        ("education", "their_prisoner", {"goal": "Probe", "target_date": "2026-06-01"}),
    ],
    ("PUT", "/api/keyworkers/{keyworker_id}/caseload"): [
        ("officer", "their_keyworker", {"prisoner_ids": []}),
    ],
}
# Routes whose path parameter is not an id of anyone's record. Jobs are the whole
# service's: only admins reach them, and an admin reaches every one.
NOT_RECORDS = {
    ("GET", "/static/{path}"),
    ("POST", "/api/admin/jobs/{job_id}/retry"),
    ("POST", "/api/admin/jobs/{job_id}/cancel"),
    # A questionnaire's kind (phq9, audit...) names an instrument, nobody's record.
    ("GET", "/api/questionnaires/{kind}"),
    ("POST", "/api/questionnaires/{kind}/responses"),
}

# Ids in the query or the body: (caller, method, path, what is probed, the rest of the request)
QUERY_CASES: list[tuple[str, str, str, tuple[str, str], dict[str, Any]]] = [
    ("clinician", "GET", "/api/slots", ("service_id", "their_service"), {}),
    ("clinician", "GET", "/api/slots", ("prisoner_id", "their_prisoner"), {"service_id": "gp"}),
    ("clinician", "GET", "/api/consents", ("prisoner_id", "their_prisoner"), {}),
    ("clinician", "GET", "/fhir/Slot", ("service-type", "their_service"), {}),
    ("clinician", "GET", "/fhir/Consent", ("patient", "their_prisoner"), {}),
    ("clinician", "GET", "/fhir/Schedule", ("actor", "their_clinician"), {}),
    ("clinician", "GET", "/fhir/Appointment", ("patient", "their_prisoner"), {}),
]
BOOKING = {"starts_at": FUTURE}
BODY_CASES: list[tuple[str, str, str, tuple[str, str], dict[str, Any]]] = [
    # Another establishment's programme is not offered here: as a missing one.
    (
        "clinician",
        "POST",
        "/api/prisoners/{my_prisoner}/programmes",
        ("programme_id", "their_programme"),
        {},
    ),
    (
        "education",
        "POST",
        "/api/campus/staff/courses/{my_course}/enrolments",
        ("prison_number", "their_number"),
        {},
    ),
    (
        "clinician",
        "POST",
        "/api/appointments",
        ("prisoner_id", "their_prisoner"),
        {**BOOKING, "service_id": "gp", "clinician_id": "clinician"},
    ),
    (
        "clinician",
        "POST",
        "/api/appointments",
        ("service_id", "their_service"),
        {**BOOKING, "prisoner_id": "patient", "clinician_id": "clinician"},
    ),
    (
        "clinician",
        "POST",
        "/api/appointments",
        ("clinician_id", "their_clinician"),
        {**BOOKING, "prisoner_id": "patient", "service_id": "gp"},
    ),
    (
        "clinician",
        "POST",
        "/api/consents",
        ("prisoner_id", "their_prisoner"),
        {"scope": "telehealth", "form_version": 1, "decision": "given"},
    ),
    (
        "manager",
        "POST",
        "/api/availability",
        ("clinician_id", "their_clinician"),
        {"service_id": "gp", "weekday": 3, "start": "09:00", "end": "10:00"},
    ),
    (
        "manager",
        "POST",
        "/api/availability",
        ("service_id", "their_service"),
        {"clinician_id": "clinician", "weekday": 3, "start": "09:00", "end": "10:00"},
    ),
    (
        "manager",
        "POST",
        "/api/availability/exceptions",
        ("clinician_id", "their_clinician"),
        {"kind": "leave", "starts_at": FUTURE, "ends_at": "2026-03-11T12:00:00+00:00"},
    ),
    (
        "clinician",
        "POST",
        "/api/health-requests/{my_request}/triage",
        ("service_id", "their_service"),
        {"urgency": "soon"},
    ),
]


def _resolve(records: Records, sched: Sched, value: Any) -> Any:
    named = {"patient": sched.patient.account_id, "clinician": sched.clinician.account_id}
    if isinstance(value, str):
        return records.ids.get(value, named.get(value, value))
    return value


async def _answer(
    client: Any, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[int, Any]:
    resp = await client.request(method, path, headers=headers, **kwargs)
    text = await resp.text()
    try:
        body: Any = await resp.json(content_type=None)
    except ValueError:
        return resp.status, text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return resp.status, body


@pytest.fixture
async def records(client: Any, sched: Sched) -> Records:
    return await _records(client, sched)


async def test_every_route_that_takes_an_id_answers_for_anothers_record_as_for_a_missing_one(
    client: Any, sched: Sched, records: Records
) -> None:
    app = client.server.app
    taking_ids = {
        (r.method, (r.resource.canonical if r.resource else ""))
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None and "{" in r.resource.canonical
    }
    assert taking_ids - NOT_RECORDS == set(PATH_CASES), "add a case for each route with an id"
    leaks = []
    for (method, route), cases in PATH_CASES.items():
        for caller, record, body in cases:
            name = route[route.index("{") : route.index("}") + 1]
            json_body = None
            if body is not None:
                json_body = {k: _resolve(records, sched, v) for k, v in body.items()}
            headers = records.callers[caller]
            missing = await _answer(
                client, method, route.replace(name, str(uuid.uuid4())), headers, json=json_body
            )
            theirs = await _answer(
                client, method, route.replace(name, records.ids[record]), headers, json=json_body
            )
            if missing != theirs or not 400 <= theirs[0] < 500 and theirs[1] not in ([], {}):
                leaks.append((method, route, caller, missing, theirs))
    assert leaks == []


async def test_ids_in_the_query_or_body_answer_for_anothers_record_as_for_a_missing_one(
    client: Any, sched: Sched, records: Records
) -> None:
    leaks = []
    for caller, method, path, (field, record), rest in [*QUERY_CASES, *BODY_CASES]:
        path = path.replace("{my_request}", records.ids["my_request"])
        path = path.replace("{my_prisoner}", records.ids["my_prisoner"])
        path = path.replace("{my_course}", records.ids["my_course"])
        fixed = {k: _resolve(records, sched, v) for k, v in rest.items()}
        answers = []
        for value in (str(uuid.uuid4()), records.ids[record]):
            probe = {**fixed, field: value}
            kwargs = {"params": probe} if method == "GET" else {"json": probe}
            answers.append(await _answer(client, method, path, records.callers[caller], **kwargs))
        missing, theirs = answers
        if missing != theirs:
            leaks.append((method, path, field, missing, theirs))
    assert leaks == []


async def test_reversing_anothers_entry_through_our_own_prisoner_answers_as_missing(
    client: Any, sched: Sched, records: Records
) -> None:
    """Regression (issue 16 item 5): the reverse route was probed only with another
    establishment's prisoner in the path; finance may name their own prisoner, so the
    entry's id is probed too: another establishment's entry is as missing as no entry,
    and it is not reversed."""
    finance = records.callers["finance"]
    ours = records.ids["my_prisoner"]
    answers = [
        await _answer(
            client,
            "POST",
            f"/api/kiosk/money/prisoners/{ours}/entries/{entry}/reverse",
            finance,
            json={},
        )
        for entry in (str(uuid.uuid4()), records.ids["their_entry"])
    ]
    missing, theirs = answers
    assert theirs == missing and theirs[0] == 404
    async with sched.app[DATABASE].connect() as conn:
        reversals = await conn.scalar(
            select(func.count())
            .select_from(money_entries)
            .where(money_entries.c.reverses_id == records.ids["their_entry"])
        )
    assert reversals == 0
