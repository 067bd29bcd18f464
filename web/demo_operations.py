"""Demo clinic operations (issue 14 item 7): a lockdown in the past, a transfer and a
release, so the officer's, manager's and device's screens each have something to show.

Two more prisoners than the three who sign in on the demo's wing: one transferred to the
second establishment (with a device in their new cell, so their inbox can be read there:
one consult moved with them, one could not and went to its triage), and one released
(their hand-over waits for an admin to set the community endpoint, which the manager's
page says). Everything goes through the services, as a user's actions would.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import FakeClock
from core.identity import IdentityService, Principal, Role
from core.identity.service import SYSTEM_ACTOR
from core.places.service import Places
from scheduling import SchedulingService
from scheduling.times import local_instant

TZ = ZoneInfo("Europe/London")
TRANSFERRED = {
    "prison_number": "D4567EF",
    "name": "Terry Transfer",
    "pin": "4567",
    "sex": "M",
    "new_cell": "E1-01",
}
RELEASED = {
    "prison_number": "E5678FG",
    "name": "Robin Release",
    "pin": "5678",
    "sex": "F",
}


def _next_weekday(today: date, at_least: int) -> date:
    day = today + timedelta(days=at_least)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def seed_operations(
    identity: IdentityService,
    scheduling: SchedulingService,
    places: Places,
    *,
    est_id: str,
    east_id: str,
    staff: list[dict[str, Any]],
    services: dict[str, str],
) -> dict[str, Any]:
    ids = {person["role"]: person["account_id"] for person in staff}
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    clinician = Principal(ids["clinician"], Role.CLINICIAN, est_id, "demo")
    officer = Principal(ids["officer"], Role.OFFICER, est_id, "demo")
    now = scheduling.now()
    today = now.astimezone(TZ).date()

    # A lockdown a week ago, lifted at its end: the officer's page lists it as past.
    day = _next_weekday(today - timedelta(days=9), 0)
    start, end = local_instant(day, 14 * 60, TZ), local_instant(day, 15 * 60 + 30, TZ)
    before = scheduling.with_clock(FakeClock(start - timedelta(hours=1)))
    lockdown = await before.declare_lockdown(officer, est_id, starts_at=start, ends_at=end)
    await scheduling.with_clock(FakeClock(end)).end_lockdown(lockdown.id)

    # The second establishment has a GP service the demo clinician also runs there,
    # and a wing for those who arrive.
    gp_east = await scheduling.create_service(
        system, east_id, code="gp", name="GP", minutes=20, buffer_minutes=5, target_days=14
    )
    for weekday in range(5):
        await scheduling.add_availability(
            system,
            clinician_id=clinician.account_id,
            service_id=gp_east.id,
            weekday_value=weekday,
            start="09:00",
            end="12:00",
        )
    await places.add_wing(system, east_id, "E")
    await places.add_cell(system, east_id, "E", str(TRANSFERRED["new_cell"]))

    when = _next_weekday(today, 2)
    moved_at = local_instant(when, 10 * 60, TZ)
    transferred = await _prisoner(identity, scheduling, clinician, est_id, TRANSFERRED)
    for code, starts in (("gp", moved_at), ("mental_health", local_instant(when, 14 * 60, TZ))):
        await scheduling.book(
            clinician,
            prisoner_id=transferred,
            service_id=services[code],
            clinician_id=clinician.account_id,
            starts_at=starts,
        )
    done = await scheduling.transfer(officer, transferred, east_id, TRANSFERRED["new_cell"])
    enrolment = await identity.devices.start_enrolment(system, east_id, TRANSFERRED["new_cell"])
    device, credential = await identity.devices.complete_enrolment(enrolment.code)

    released = await _prisoner(identity, scheduling, clinician, est_id, RELEASED)
    await scheduling.book(
        clinician,
        prisoner_id=released,
        service_id=services["gp"],
        clinician_id=clinician.account_id,
        starts_at=local_instant(when, 11 * 60, TZ),
    )
    patient = Principal(released, Role.PRISONER, est_id, "demo")
    await scheduling.make_request(
        patient, category="general", text_value="Follow-up for my blood pressure tablets"
    )
    await scheduling.release(officer, released)
    return {
        "lockdown": {"starts_at": start.isoformat(), "ends_at": end.isoformat()},
        "transferred": {
            "account_id": transferred,
            "prison_number": TRANSFERRED["prison_number"],
            "pin": TRANSFERRED["pin"],
            "to": "DEMO-EAST",
            "cell": TRANSFERRED["new_cell"],
            "device_id": device.id,
            "device_credential": credential,
            "moved": done.moved,
            "requested": done.requested,
        },
        "released": {"prison_number": RELEASED["prison_number"]},
    }


async def _prisoner(
    identity: IdentityService,
    scheduling: SchedulingService,
    witness: Principal,
    est_id: str,
    who: dict[str, Any],
) -> str:
    """A prisoner who consented (witnessed by the clinician) to consults and to sharing."""
    account_id = await identity.create_prisoner(
        establishment_id=est_id,
        prison_number=str(who["prison_number"]),
        display_name=str(who["name"]),
        pin=str(who["pin"]),
        sex=str(who["sex"]),
    )
    for scope in ("telehealth", "community_sharing"):
        await scheduling.record_consent(
            witness,
            prisoner_id=account_id,
            scope_value=scope,
            version=1,
            decision="given",
        )
    return account_id


def describe_operations(data: dict[str, Any]) -> list[str]:
    moved = data["transferred"]
    return [
        f"A lockdown was declared and lifted on {data['lockdown']['starts_at'][:10]}.",
        f"{moved['prison_number']} (PIN {moved['pin']}) was transferred to {moved['to']},"
        f" cell {moved['cell']}: device credential {moved['device_credential']}"
        f" ({moved['moved']} consult moved, {moved['requested']} sent to triage).",
        f"{data['released']['prison_number']} was released: the manager's page shows the"
        " hand-over, waiting for an admin to set the community endpoint.",
    ]
