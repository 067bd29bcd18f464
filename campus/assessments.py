"""A course's assessment: its questions once every lesson is finished, and the answers
marked at once; passing completes the course (`Learning` takes it in as a base)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campus.catalogue import Course
from campus.learner_base import Enrolment, LearnerBase
from campus.rules import MODULE, NO_COURSE
from campus.tables import campus_attempts, campus_enrolments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal
from core.permissions import Permission, require_permission


@dataclass(frozen=True)
class AssessmentQuestion:
    id: str
    text: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class AttemptResult:
    score: int
    right: int
    total: int
    passed: bool
    pass_mark: int
    # Per question, in order: answered right.
    marks: tuple[bool, ...]
    completed: bool


class Assessments(LearnerBase):
    async def assessment(self, actor: Principal, course_id: object) -> list[AssessmentQuestion]:
        """The questions without their answers, once every lesson is finished."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            course, enrolment = await self._ready_for_assessment(conn, actor, course_id)
            questions = await self._catalogue.questions(conn, course.id)
        await self._gate(actor, MODULE)
        return [AssessmentQuestion(q.id, q.text, q.choices) for q in questions]

    async def submit(self, actor: Principal, course_id: object, answers: object) -> AttemptResult:
        """Mark the answers at once; passing with every lesson finished completes the course."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            course, enrolment = await self._ready_for_assessment(conn, actor, course_id)
            questions = await self._catalogue.questions(conn, course.id)
        if (
            not isinstance(answers, list)
            or len(answers) != len(questions)
            or any(
                isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < len(q.choices)
                for a, q in zip(answers, questions, strict=False)
            )
        ):
            raise ServiceError(
                Code.INVALID_REQUEST,
                f"Answer all {len(questions)} questions, each with one of its choices.",
                extra={"questions": len(questions)},
            )
        await self._gate(actor, MODULE)
        marks = tuple(a == q.answer for a, q in zip(answers, questions, strict=True))
        right = sum(marks)
        score = round(100 * right / len(questions))
        passed = score >= course.pass_mark
        now = self._clock.now()
        completed = False
        async with self._db.begin() as conn:
            await conn.execute(
                insert(campus_attempts).values(
                    id=str(uuid.uuid4()),
                    enrolment_id=enrolment.id,
                    score=score,
                    total=len(questions),
                    passed=passed,
                    at=now,
                )
            )
            best = max(score, enrolment.best_score or 0)
            values: dict[str, Any] = {"best_score": best}
            if passed:
                values.update(
                    status="completed",
                    completed_at=now,
                    completed_establishment_id=actor.establishment_id,
                )
            result = await conn.execute(
                update(campus_enrolments)
                .where(
                    campus_enrolments.c.id == enrolment.id,
                    campus_enrolments.c.status == "enrolled",
                )
                .values(**values)
            )
            completed = passed and result.rowcount == 1
        await self._record(
            Action.CAMPUS_ASSESSED,
            actor,
            actor.establishment_id,
            actor.account_id,
            course=course.id,
            score=score,
            passed=passed,
        )
        if completed:
            await self._record(
                Action.CAMPUS_COMPLETED,
                actor,
                actor.establishment_id,
                actor.account_id,
                course=course.id,
                enrolment=enrolment.id,
                score=score,
            )
        return AttemptResult(
            score, right, len(questions), passed, course.pass_mark, marks, completed
        )

    async def _ready_for_assessment(
        self, conn: AsyncConnection, actor: Principal, course_id: object
    ) -> tuple[Course, Enrolment]:
        course = await self._catalogue.visible_course(conn, actor, course_id)
        enrolment = await self._enrolment_of(conn, actor.account_id, course.id)
        if enrolment is None:
            raise ServiceError(Code.NOT_FOUND, NO_COURSE)
        if enrolment.status == "completed":
            raise ServiceError(
                Code.CONFLICT, "You have passed this course already.", extra={"reason": "completed"}
            )
        if not enrolment.lessons_finished:
            raise ServiceError(
                Code.CONFLICT,
                "Finish every lesson before the assessment.",
                extra={"reason": "lessons_left"},
            )
        if course.questions == 0:
            raise ServiceError(
                Code.CONFLICT,
                "This course has no assessment yet.",
                extra={"reason": "no_questions"},
            )
        return course, enrolment
