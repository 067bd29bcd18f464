"""A completed course's certificate, a PDF in the learner's language, made on request
from the completion (`Learning` takes it in as a base)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from campus.documents import CertificateFacts, certificate_pdf, language
from campus.learner_base import LearnerBase
from campus.rules import NO_COURSE
from campus.tables import campus_enrolments
from core.db.schema import establishments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal


class Certificates(LearnerBase):
    async def certificate(
        self, actor: Principal, course_id: object, learner_id: object = None
    ) -> tuple[str, bytes]:
        """The certificate PDF of a completed course (a file name and its bytes): the
        learner's own, or one of education staff's learners' (logged)."""
        async with self._db.connect() as conn:
            learner = await self._learner(conn, actor, learner_id)
            if not isinstance(course_id, str) or len(course_id) > 64:
                raise ServiceError(Code.NOT_FOUND, NO_COURSE)
            enrolment = await self._enrolment_of(conn, learner, course_id)
            if enrolment is None:
                raise ServiceError(Code.NOT_FOUND, NO_COURSE)
            if enrolment.status != "completed" or enrolment.completed_at is None:
                raise ServiceError(
                    Code.CONFLICT,
                    "The certificate comes when the course is completed.",
                    extra={"reason": "not_completed"},
                )
            place = await conn.scalar(
                select(establishments.c.name)
                .select_from(campus_enrolments)
                .join(
                    establishments,
                    establishments.c.id == campus_enrolments.c.completed_establishment_id,
                )
                .where(campus_enrolments.c.id == enrolment.id)
            )
            name, _number, locale = await self._person(conn, learner)
        if learner != actor.account_id:
            await self._record(
                Action.CAMPUS_RECORD_READ,
                actor,
                actor.establishment_id,
                learner,
                read="certificate",
                course=enrolment.course_id,
            )
        facts = CertificateFacts(
            learner=name,
            course=enrolment.course_title,
            completed_on=enrolment.completed_at.date(),
            establishment=place or "",
            score=enrolment.best_score,
            locale=locale,
        )
        data = await asyncio.to_thread(certificate_pdf, facts)
        return f"certificate-{language(locale)}.pdf", data
