"""A kiosk world: the scheduling world plus the applications service writing to a sink we
read, department staff in the wing office and chaplaincy, and a governor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from kiosk.applications import MODULE, Applications
from tests.kiosk.money_world import mw  # noqa: F401  (the money and shop tests' fixture)
from tests.scheduling.conftest import Sched, make_sched
from tests.world import Staff, World, new_staff
from web.state import ACCESS, DATABASE, SETTINGS, SUBJECT_KEYS


@dataclass
class Kiosk:
    sched: Sched
    apps: Applications
    audit: MemorySink
    departments: dict[str, str]
    wing: Principal
    wing_staff: Staff
    chaplain: Principal
    chaplain_staff: Staff
    governor: Principal
    governor_staff: Staff

    @property
    def world(self) -> World:
        return self.sched.world

    @property
    def patient(self) -> Principal:
        return self.sched.patient

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]


def principal(s: Staff) -> Principal:
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


async def make_kiosk(client: Any, clock: FakeClock) -> Kiosk:
    sched = await make_sched(client, clock)
    app = client.server.app
    world = sched.world
    access = app[ACCESS]
    found = await access.departments.of_establishment(sched.admin, world.est)
    departments = {d.code: d.id for d in found}
    wing = await new_staff(app, Role.OFFICER, "wing.officer", world.est)
    chaplain = await new_staff(app, Role.DEPARTMENT_STAFF, "chaplain.one", world.est)
    governor = await new_staff(app, Role.GOVERNOR, "governor.one", world.est)
    await access.departments.set_members(sched.admin, departments["wing-office"], [wing.account_id])
    await access.departments.set_members(
        sched.admin, departments["chaplaincy"], [chaplain.account_id]
    )
    sched.svc.suspensions.register(MODULE)
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    apps = Applications(
        app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=clock,
        audit=sink,
        gate=sched.svc.require_open,
    )
    return Kiosk(
        sched,
        apps,
        sink,
        departments,
        principal(wing),
        wing,
        principal(chaplain),
        chaplain,
        principal(governor),
        governor,
    )


@pytest.fixture
async def kiosk(client: Any, clock: FakeClock) -> Kiosk:
    return await make_kiosk(client, clock)


@pytest.fixture
async def sched(client: Any, clock: FakeClock) -> Sched:
    return await make_sched(client, clock)
