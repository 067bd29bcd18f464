"""A campus world: the scheduling world plus the campus services writing to a sink we read,
two members of education (one uploads, the other approves), a member of staff outside
education, and a member of education in the other establishment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from campus.catalogue import Catalogue, Course
from campus.learning import Learning
from campus.rules import MODULE
from core.clock import FakeClock
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from tests.campus import files
from tests.kiosk.money_world import join_department
from tests.scheduling.conftest import Sched, make_sched
from tests.world import Staff, new_staff
from web.state import DATABASE, SETTINGS, SUBJECT_KEYS


def principal(s: Staff) -> Principal:
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


@dataclass
class Campus:
    sched: Sched
    catalogue: Catalogue
    learning: Learning
    audit: MemorySink
    teacher: Principal
    teacher_staff: Staff
    approver: Principal
    approver_staff: Staff
    shopkeeper: Principal
    their_teacher: Principal

    @property
    def learner(self) -> Principal:
        return self.sched.patient

    @property
    def learner2(self) -> Principal:
        return self.sched.patient2

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]

    async def course(self, title: str = "Reading a payslip", **extra: Any) -> Course:
        """A course with two lessons (the first with an approved picture) and a
        two-question assessment."""
        course = await self.catalogue.add_course(self.teacher, title=title, **extra)
        one, _ = await self.catalogue.add_lesson(
            self.teacher, course.id, title="What it shows", body_html="<p>Your pay.</p>"
        )
        await self.catalogue.add_lesson(
            self.teacher, course.id, title="Deductions", body_html="<p>Tax and more.</p>"
        )
        picture = await self.catalogue.upload(
            self.teacher, one.id, data=files.png(), claimed="image/png", name="payslip"
        )
        await self.catalogue.decide(self.approver, picture.id, approve=True)
        await self.catalogue.set_questions(
            self.teacher,
            course.id,
            [
                {"text": "Where is the tax?", "choices": ["Top", "Deductions"], "answer": 1},
                {"text": "Is net pay after tax?", "choices": ["Yes", "No"], "answer": 0},
            ],
        )
        return await self.catalogue.course(self.teacher, course.id)

    async def finish_lessons(self, who: Principal, course_id: str) -> None:
        _course, _enrolment, lessons = await self.learning.course_lessons(who, course_id)
        for lesson, _p in lessons:
            await self.learning.record_progress(who, lesson.id, step=0, completed=True)


async def make_campus(client: Any, clock: FakeClock) -> Campus:
    sched = await make_sched(client, clock)
    app = client.server.app
    world = sched.world
    teacher = await new_staff(app, Role.DEPARTMENT_STAFF, "teacher.one", world.est)
    approver = await new_staff(app, Role.DEPARTMENT_STAFF, "teacher.two", world.est)
    shopkeeper = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.one", world.est)
    theirs = await new_staff(app, Role.DEPARTMENT_STAFF, "teacher.three", world.other_est)
    for who in (teacher, approver):
        await join_department(app, world.est, "education", who.account_id)
    await join_department(app, world.est, "shop", shopkeeper.account_id)
    await join_department(app, world.other_est, "education", theirs.account_id)
    sched.svc.suspensions.register(MODULE)
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    catalogue = Catalogue(app[DATABASE], clock=clock, audit=sink, gate=sched.svc.require_open)
    learning = Learning(
        app[DATABASE],
        catalogue,
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=clock,
        audit=sink,
        gate=sched.svc.require_open,
    )
    return Campus(
        sched,
        catalogue,
        learning,
        sink,
        principal(teacher),
        teacher,
        principal(approver),
        approver,
        principal(shopkeeper),
        principal(theirs),
    )


@pytest.fixture
async def campus(client: Any, clock: FakeClock) -> Campus:
    return await make_campus(client, clock)
