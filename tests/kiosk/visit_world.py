"""The visits world (issue 16 item 3): the scheduling world, the visitors and visits
services writing to a sink a test reads, a visits officer of each establishment and a
chaplain who is not visits staff. The module is registered with the suspension mechanism
(with its lockdown hook) and the movements, as the app does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.clock import FakeClock
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from kiosk.visit_records import Session
from kiosk.visitors import MODULE, Visitor, Visitors
from kiosk.visits import Visits
from tests.kiosk.money_world import join_department
from tests.scheduling.conftest import Sched, at, make_sched
from tests.world import new_staff
from web.state import DATABASE, IDENTITY, SETTINGS, SUBJECT_KEYS


@dataclass
class VisitWorld:
    sched: Sched
    visitors: Visitors
    visits: Visits
    audit: MemorySink
    officer: Principal
    visits_staff: Principal
    chaplain: Principal
    their_officer: Principal
    extra: list[Principal] = field(default_factory=list)

    @property
    def patient(self) -> Principal:
        return self.sched.patient

    @property
    def patient2(self) -> Principal:
        return self.sched.patient2

    @property
    def est(self) -> str:
        return self.sched.world.est

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]

    async def approved(self, who: Principal, name: str = "Jane Smith", **kw: Any) -> Visitor:
        asked, _ = await self.visitors.request(
            who, name=name, relationship=kw.pop("relationship", "Sister"), **kw
        )
        return await self.visitors.decide(self.officer, asked.id, approve=True)

    async def session(
        self, start: datetime | None = None, capacity: int = 20, est: str | None = None
    ) -> Session:
        start = start or at(5, 14)
        actor = self.officer if est is None else self.their_officer
        return await self.visits.create_session(
            actor,
            est or self.est,
            starts_at=start.isoformat(),
            ends_at=(start + timedelta(hours=2)).isoformat(),
            capacity=capacity,
        )

    async def prisoners(self, n: int) -> list[Principal]:
        """n more prisoners at the establishment (for many booking at once)."""
        app = self.sched.app
        made = []
        for i in range(n):
            account = await app[IDENTITY].create_prisoner(
                establishment_id=self.est,
                prison_number=f"V{i:04d}VV",
                display_name=f"Visitor Test {i}",
                pin="2468",
            )
            made.append(Principal(str(account), Role.PRISONER, self.est, "test"))
        return made


def principal(account_id: str, role: Role, est: str) -> Principal:
    return Principal(account_id, role, est, session_id="test")


async def make_visits(client: Any, clock: FakeClock, *, email: bool = False) -> VisitWorld:
    sched = await make_sched(client, clock)
    app = client.server.app
    world = sched.world
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    visitors = Visitors(
        app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=clock,
        audit=sink,
        gate=sched.svc.require_open,
    )
    visits = Visits(
        app[DATABASE],
        visitors=visitors,
        clock=clock,
        audit=sink,
        gate=sched.svc.require_open,
        email=email,
    )
    sched.svc.suspensions.register(MODULE, on_declared=visits.on_lockdown)
    sched.svc.transfer_steps.register("visits", visits.transfer_step)
    sched.svc.release_steps.register("visits", visits.release_step)
    hall = await new_staff(app, Role.DEPARTMENT_STAFF, "visits.hall", world.est)
    await join_department(app, world.est, "visits", hall.account_id)
    chaplain = await new_staff(app, Role.DEPARTMENT_STAFF, "chaplain.visits", world.est)
    theirs = await new_staff(app, Role.OFFICER, "officer.there", world.other_est)
    return VisitWorld(
        sched,
        visitors,
        visits,
        sink,
        sched.officer,
        principal(hall.account_id, Role.DEPARTMENT_STAFF, world.est),
        principal(chaplain.account_id, Role.DEPARTMENT_STAFF, world.est),
        principal(theirs.account_id, Role.OFFICER, world.other_est),
    )
