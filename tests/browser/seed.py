"""A consult ready to happen: an establishment, a clinician, a prisoner on a device, a booking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from tests.world import PASSWORD, Prisoner, Staff, place
from web.state import CLOCK, IDENTITY, SCHEDULING


@dataclass
class ConsultWorld:
    est: str
    clinician: Staff
    manager: Staff
    officer: Staff
    prisoner: Prisoner
    prisoner_name: str
    service_id: str
    appointment_id: str


async def consult_world(
    app: Any,
    *,
    relay_only: bool,
    starts_in: timedelta = timedelta(minutes=5),
    cell: str | None = None,
) -> ConsultWorld:
    identity = app[IDENTITY]
    scheduling = app[SCHEDULING]
    tag = uuid.uuid4().hex[:4].upper()
    est = await identity.create_establishment(
        f"HMP-C{tag}", f"HMP Consult {tag}", relay_only=relay_only
    )
    staff: dict[Role, Staff] = {}
    for role in (Role.CLINICIAN, Role.MANAGER, Role.OFFICER):
        username = f"{role.value}.c{tag.lower()}"
        account_id, secret = await identity.create_staff(
            role=role,
            establishment_id=est,
            username=username,
            display_name=f"{role.value.title()} {tag}",
            password=PASSWORD,
            sex="F",
        )
        staff[role] = Staff(account_id, username, secret, role, est)
    number = f"D{int(tag, 16) % 10000:04d}ZZ"
    prisoner_id = await identity.create_prisoner(
        establishment_id=est, prison_number=number, display_name=f"Patient {tag}", pin="4321"
    )
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    await place(app, est, cell or f"cell-{tag}")
    enrolment = await identity.devices.start_enrolment(system, est, cell or f"cell-{tag}")
    device, credential = await identity.devices.complete_enrolment(enrolment.code)
    manager = Principal(
        account_id=staff[Role.MANAGER].account_id,
        role=Role.MANAGER,
        establishment_id=est,
        session_id="",
    )
    service = await scheduling.create_service(
        manager, est, code="nurse", name="Nurse clinic", minutes=20, buffer_minutes=0
    )
    clinician_id = staff[Role.CLINICIAN].account_id
    starts = app[CLOCK].now() + starts_in
    # All day on the consult's days: one booked minutes before local midnight runs into the
    # next day, and the establishment's local weekday need not be UTC's. (Not every day: a
    # test may set the clinician's other days itself.)
    ends = starts + timedelta(minutes=20)
    days = {t.weekday() for t in (starts, ends)}
    days |= {t.astimezone(ZoneInfo("Europe/London")).weekday() for t in (starts, ends)}
    for day in sorted(days):
        await scheduling.add_availability(
            manager,
            clinician_id=clinician_id,
            service_id=service.id,
            weekday_value=day,
            start="00:00",
            end="24:00",
        )
    appointment = await scheduling.book(
        manager,
        prisoner_id=prisoner_id,
        service_id=service.id,
        clinician_id=clinician_id,
        starts_at=starts.isoformat(),
        reason_text="Follow-up of a wound dressing",
    )
    return ConsultWorld(
        est=est,
        clinician=staff[Role.CLINICIAN],
        manager=staff[Role.MANAGER],
        officer=staff[Role.OFFICER],
        prisoner=Prisoner(prisoner_id, number, "4321", est, device.id, credential),
        prisoner_name=f"Patient {tag}",
        service_id=service.id,
        appointment_id=appointment.id,
    )


async def seed_history(app: Any, world: ConsultWorld) -> None:
    """More of the period for the dashboard: a prison-caused and a patient-caused DNA, and a
    cancellation, each its own booking later in the day."""
    scheduling = app[SCHEDULING]
    manager = Principal(
        account_id=world.manager.account_id,
        role=Role.MANAGER,
        establishment_id=world.est,
        session_id="",
    )
    start = app[CLOCK].now()
    for hours, outcome, code in (
        (2, "dna", "lockdown"),
        (3, "dna", "declined"),
        (4, "cancel", "clinician_unavailable"),
    ):
        booked = await scheduling.book(
            manager,
            prisoner_id=world.prisoner.account_id,
            service_id=world.service_id,
            clinician_id=world.clinician.account_id,
            starts_at=(start + timedelta(hours=hours)).isoformat(),
        )
        if outcome == "dna":
            await scheduling.mark_did_not_attend(manager, booked.id, code)
        else:
            await scheduling.cancel(manager, booked.id, code)


async def add_governor(app: Any, est: str) -> Staff:
    """A governor of `est`: the second person who confirms a communications restriction."""
    username = f"governor.{uuid.uuid4().hex[:6]}"
    account_id, secret = await app[IDENTITY].create_staff(
        role=Role.GOVERNOR,
        establishment_id=est,
        username=username,
        display_name="Governor",
        password=PASSWORD,
        sex="M",
    )
    return Staff(account_id, username, secret, Role.GOVERNOR, est)
