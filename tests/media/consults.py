"""Booking a real consult for the media tests, through the scheduling service.

Everything goes through the public services (identity, scheduling): a GP
service, the clinician's availability, the prisoner's telehealth consent and
a booking. The join policy the server applies is scheduling's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.identity import Principal, Role
from scheduling import SchedulingService
from tests.world import Prisoner, Staff, World


@dataclass(frozen=True)
class Booked:
    appointment: str
    prisoner: Prisoner
    clinician: Staff
    starts_at: datetime
    window_closes: datetime


def principal_of(staff: Staff) -> Principal:
    return Principal(staff.account_id, staff.role, staff.establishment_id, session_id="seed")


async def book_consult(
    scheduling: SchedulingService,
    world: World,
    *,
    starts_at: datetime,
    prisoner_index: int = 0,
    service_code: str = "gp",
) -> Booked:
    manager = principal_of(world.staff["manager"])
    clinician_staff = world.staff["clinician"]
    clinician = principal_of(clinician_staff)
    prisoner = world.prisoners[prisoner_index]
    service = await scheduling.create_service(
        manager, world.est, code=service_code, name="GP", minutes=20, buffer_minutes=0
    )
    for day in range(7):
        await scheduling.add_availability(
            clinician,
            clinician_id=clinician.account_id,
            service_id=service.id,
            weekday_value=day,
            start="00:00",
            end="24:00",
        )
    patient = Principal(
        prisoner.account_id, Role.PRISONER, world.est, "seed", device_id=prisoner.device_id
    )
    await scheduling.record_consent(
        patient,
        prisoner_id=prisoner.account_id,
        scope_value="telehealth",
        version=1,
        decision="given",
    )
    appointment = await scheduling.book(
        clinician,
        prisoner_id=prisoner.account_id,
        service_id=service.id,
        clinician_id=clinician.account_id,
        starts_at=starts_at,
    )
    view = await scheduling.appointment_view(appointment.id)
    assert view is not None
    return Booked(appointment.id, prisoner, clinician_staff, starts_at, view.window_closes)


def next_minute(now: datetime, minutes: int = 2) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
