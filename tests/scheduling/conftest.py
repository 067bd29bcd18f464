"""A scheduling world: the shared test world plus a GP service, availability and principals."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from scheduling import SchedulingService, Service
from tests.world import World, build_world
from web.state import DATABASE, SETTINGS, SUBJECT_KEYS

# FakeClock starts Tuesday 2026-03-03 09:00 UTC; London is on GMT until 29 March.
WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@dataclass
class Sched:
    app: Any
    svc: SchedulingService
    world: World
    gp: Service
    clinician: Principal
    manager: Principal
    officer: Principal
    admin: Principal
    patient: Principal
    patient2: Principal
    clock: FakeClock

    audit: MemorySink

    @property
    def audit_actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]

    async def book(self, when: datetime = WEDNESDAY_10, **extra: Any) -> Any:
        values: dict[str, Any] = {
            "prisoner_id": self.patient.account_id,
            "service_id": self.gp.id,
            "clinician_id": self.clinician.account_id,
            "starts_at": when,
        }
        values.update(extra)
        return await self.svc.book(self.clinician, **values)

    async def escorted_service(self) -> Service:
        """A service that, seen in person, needs an officer to escort the prisoner
        (what a lockdown moves), with the clinician available as for the GP."""
        service = await self.svc.create_service(
            self.manager, self.world.est, code="dental", name="Dental", escort_if_in_person=True
        )
        for day in range(5):
            await self.svc.add_availability(
                self.clinician,
                clinician_id=self.clinician.account_id,
                service_id=service.id,
                weekday_value=day,
                start="09:00",
                end="17:00",
            )
        return service

    async def consent(self, who: Principal | None = None) -> Any:
        who = who or self.patient
        return await self.svc.record_consent(
            who,
            prisoner_id=who.account_id,
            scope_value="telehealth",
            version=1,
            decision="given",
        )


def staff(world: World, key: str) -> Principal:
    s = world.staff[key]
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


@pytest.fixture
async def sched(client: Any, world: World, clock: FakeClock) -> Sched:
    return await make_sched(client, clock, world)


async def make_sched(client: Any, clock: FakeClock, world: World | None = None) -> Sched:
    app = client.server.app
    if world is None:
        world = await build_world(app)
    # The service under test writes to a sink we can read; the app's own
    # instance (behind the API) writes to the real audit log.
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    svc = SchedulingService(
        app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=clock,
        audit=sink,
    )
    manager = staff(world, "manager")
    clinician = staff(world, "clinician")
    gp = await svc.create_service(
        manager, world.est, code="gp", name="GP", minutes=20, buffer_minutes=5, target_days=14
    )
    for day in range(5):
        await svc.add_availability(
            clinician,
            clinician_id=clinician.account_id,
            service_id=gp.id,
            weekday_value=day,
            start="09:00",
            end="17:00",
        )
    p1, p2 = world.prisoners
    return Sched(
        app=app,
        svc=svc,
        world=world,
        gp=gp,
        clinician=clinician,
        manager=manager,
        officer=staff(world, "officer"),
        admin=Principal(world.staff["admin"].account_id, Role.ADMIN, None, "test"),
        patient=Principal(p1.account_id, Role.PRISONER, world.est, "test", p1.device_id),
        patient2=Principal(p2.account_id, Role.PRISONER, world.est, "test", p2.device_id),
        clock=clock,
        audit=sink,
    )


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant in March 2026."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


HOUR = timedelta(hours=1)
