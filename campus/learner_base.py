"""What the campus's learner services share: their dependencies, whose record is meant,
the learner's enrolments and person, and the audit helper.

`campus.learning.Learning` is built on it, with the assessment (`campus.assessments`)
and certificates (`campus.certificates`) in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campus.catalogue import Catalogue
from campus.rules import NO_LEARNER, Gate, learner_here, require_education
from campus.tables import campus_courses, campus_enrolments, campus_lessons, campus_progress
from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.events import Audited, AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import Principal, Role
from core.permissions import Permission, require_permission


@dataclass(frozen=True)
class Enrolment:
    id: str
    course_id: str
    course_title: str
    learner_id: str
    status: str
    enrolled_at: datetime
    completed_at: datetime | None
    lessons_done: int
    lessons_total: int
    best_score: int | None

    @property
    def lessons_finished(self) -> bool:
        return self.lessons_done >= self.lessons_total


class LearnerBase(Audited):
    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        gate: Gate,
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self._cipher = cipher
        self._subject_keys = subject_keys
        self._clock = clock
        self._audit = audit
        self._gate = gate

    async def _learner(self, conn: AsyncConnection, actor: Principal, learner_id: object) -> str:
        if actor.role == Role.COMMUNITY:
            # A former prisoner's community account: their own record and certificates.
            require_permission(actor, Permission.LEARNING_RECORD_OWN)
            if learner_id not in (None, "", actor.account_id):
                raise ServiceError(Code.NOT_FOUND, NO_LEARNER)
            return actor.account_id
        if actor.role == Role.PRISONER:
            require_permission(actor, Permission.CAMPUS_LEARN)
            if learner_id not in (None, "", actor.account_id):
                raise ServiceError(Code.NOT_FOUND, NO_LEARNER)
            return actor.account_id
        await require_education(conn, actor)
        return await learner_here(conn, actor, learner_id)

    async def _enrolment_of(
        self, conn: AsyncConnection, learner_id: str, course_id: str
    ) -> Enrolment | None:
        found = await self._enrolments(conn, learner_id, course_id=course_id)
        return found[0] if found else None

    async def _enrolments(
        self, conn: AsyncConnection, learner_id: str, *, course_id: str | None = None
    ) -> list[Enrolment]:
        total = (
            select(func.count())
            .select_from(campus_lessons)
            .where(campus_lessons.c.course_id == campus_enrolments.c.course_id)
            .scalar_subquery()
        )
        done = (
            select(func.count())
            .select_from(campus_progress)
            .where(
                campus_progress.c.enrolment_id == campus_enrolments.c.id,
                campus_progress.c.completed_at.is_not(None),
            )
            .scalar_subquery()
        )
        query = (
            select(
                campus_enrolments,
                campus_courses.c.title,
                total.label("lessons_total"),
                done.label("lessons_done"),
            )
            .join(campus_courses, campus_courses.c.id == campus_enrolments.c.course_id)
            .where(campus_enrolments.c.learner_id == learner_id)
            .order_by(campus_enrolments.c.enrolled_at, campus_enrolments.c.id)
        )
        if course_id is not None:
            query = query.where(campus_enrolments.c.course_id == course_id)
        return [
            Enrolment(
                r.id,
                r.course_id,
                r.title,
                r.learner_id,
                r.status,
                r.enrolled_at,
                r.completed_at,
                int(r.lessons_done),
                int(r.lessons_total),
                r.best_score,
            )
            for r in await conn.execute(query)
        ]

    async def _person(self, conn: AsyncConnection, learner_id: str) -> tuple[str, str | None, str]:
        row = (
            await conn.execute(
                select(
                    accounts.c.display_name_enc, accounts.c.prison_number_enc, accounts.c.locale
                ).where(accounts.c.id == learner_id)
            )
        ).one()
        name = self._cipher.decrypt(row.display_name_enc, row=learner_id, column="display_name")
        number = (
            None
            if row.prison_number_enc is None
            else self._cipher.decrypt(row.prison_number_enc, row=learner_id, column="prison_number")
        )
        return name, number, row.locale or "en"

    async def _where(self, conn: AsyncConnection, learner_id: str) -> str | None:
        found = await conn.scalar(
            select(accounts.c.establishment_id).where(accounts.c.id == learner_id)
        )
        return None if found is None else str(found)
