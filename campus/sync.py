"""Lesson progress and assessment answers queued offline on a device: the `lesson` and
`assessment` kinds of `core.offline` (registered by `web.campus.sync`).

The same rules as online (`Learning.record_progress`, `Learning.submit`), applied
to a whole batch in the sync's one transaction:

- `lesson` `{lesson_id, step, completed}`: the learner must be enrolled on the
  lesson's course, or the item is refused (`not_found`) and nothing is stored.
  Progress only moves forward and completing twice completes once, so two devices
  never conflict: the furthest step and the first completion stand (the rule in
  docs/offline.md), and a replay changes nothing.
- `assessment` `{course_id, answers}`: marked when it reaches the server (the
  answers are not on the device), against the course's questions then; every
  attempt counts and the best score stands, as online. One that arrives after the
  course was passed (on another device, or in this same batch) is refused with the
  reason `completed`, and the device says so.

A lockdown closes the campus module: the whole batch is refused (423) and waits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campus.catalogue import Catalogue
from campus.learning import MAX_STEP, NO_LESSON, Learning
from campus.rules import MODULE, NO_COURSE
from campus.tables import campus_attempts, campus_enrolments, campus_lessons, campus_progress
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity import Principal, Role
from core.offline import Item
from core.permissions import Permission, require_permission

LESSON_KIND = "lesson"
ASSESSMENT_KIND = "assessment"
MAX_ID = 64


def _refuse(detail: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail)


def _learner(actor: Principal) -> None:
    require_permission(actor, Permission.CAMPUS_LEARN)
    if actor.role != Role.PRISONER:
        raise ServiceError(Code.FORBIDDEN)


def _an_id(value: Any, missing: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise ServiceError(Code.NOT_FOUND, missing)
    return value


@dataclass
class _Step:
    lesson_id: str
    step: int
    completed: bool
    course_id: str = ""
    enrolment_id: str = ""


class QueuedProgress:
    """`lesson`: where the learner got to in a lesson, from the device's queue."""

    module = MODULE

    def __init__(self, db: Database, *, audit: AuditSink) -> None:
        self._db = db
        self._audit = audit
        # Lessons a stored item completed, by the item's record id, for `after`.
        self._completed: dict[str, _Step] = {}

    def check(self, actor: Principal, item: Item) -> _Step:
        _learner(actor)
        body = item.body
        step, completed = body.get("step"), body.get("completed", False)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise _refuse(f"step is a whole number 0 to {MAX_STEP}.")
        if not isinstance(completed, bool):
            raise _refuse("completed is true or false.")
        return _Step(_an_id(body.get("lesson_id"), NO_LESSON), step, completed)

    async def ready(self, actor: Principal, items: Sequence[tuple[Item, Any]]) -> dict[str, Any]:
        """Each lesson's enrolment, in one look-up; a lesson of a course the learner is
        not on (or that does not exist) is refused, as opening it would be."""
        wanted = sorted({step.lesson_id for _, step in items})
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(
                    campus_lessons.c.id,
                    campus_lessons.c.course_id,
                    campus_enrolments.c.id.label("enrolment_id"),
                )
                .join(
                    campus_enrolments,
                    and_(
                        campus_enrolments.c.course_id == campus_lessons.c.course_id,
                        campus_enrolments.c.learner_id == actor.account_id,
                    ),
                )
                .where(campus_lessons.c.id.in_(wanted))
            )
            found = {row.id: row for row in rows}
        answer: dict[str, Any] = {}
        for item, step in items:
            row = found.get(step.lesson_id)
            if row is None:
                answer[item.client_id] = ServiceError(
                    Code.NOT_FOUND,
                    NO_LESSON,
                    extra={"hint": "Enrol on the course to open its lessons."},
                )
            else:
                answer[item.client_id] = _Step(
                    step.lesson_id, step.step, step.completed, row.course_id, row.enrolment_id
                )
        return answer

    def summary(self, prepared: Any) -> dict[str, Any]:
        return {
            "lesson": prepared.lesson_id,
            "step": prepared.step,
            "completed": prepared.completed,
        }

    async def store(
        self,
        conn: AsyncConnection,
        actor: Principal,
        items: Sequence[tuple[Item, Any, str]],
        now: datetime,
    ) -> None:
        """Forward only: per lesson the furthest step of the batch and the row there is,
        completed once (the first completion's time stays)."""
        p = campus_progress.c
        merged: dict[tuple[str, str], tuple[int, bool, str]] = {}
        for _, step, ref in items:
            key = (step.enrolment_id, step.lesson_id)
            was = merged.get(key)
            if was is None:
                merged[key] = (step.step, step.completed, ref if step.completed else "")
            else:
                first = was[2] or (ref if step.completed else "")
                merged[key] = (max(was[0], step.step), was[1] or step.completed, first)
        existing = {
            (row.enrolment_id, row.lesson_id): row
            for row in await conn.execute(
                select(p.enrolment_id, p.lesson_id, p.step, p.completed_at).where(
                    tuple_(p.enrolment_id, p.lesson_id).in_(sorted(merged))
                )
            )
        }
        fresh = []
        by_ref = {ref: step for _, step, ref in items}
        for (enrolment, lesson), (step, completed, ref) in merged.items():
            row = existing.get((enrolment, lesson))
            if row is None:
                fresh.append(
                    {
                        "enrolment_id": enrolment,
                        "lesson_id": lesson,
                        "step": step,
                        "completed_at": now if completed else None,
                        "updated_at": now,
                    }
                )
                if completed:
                    self._completed[ref] = by_ref[ref]
                continue
            values: dict[str, Any] = {}
            if step > row.step:
                values["step"] = step
            if completed and row.completed_at is None:
                values["completed_at"] = now
                self._completed[ref] = by_ref[ref]
            if values:
                await conn.execute(
                    update(campus_progress)
                    .where(and_(p.enrolment_id == enrolment, p.lesson_id == lesson))
                    .values(updated_at=now, **values)
                )
        if fresh:
            await conn.execute(insert(campus_progress), fresh)

    async def after(
        self, actor: Principal, stored: Sequence[tuple[Item, str, dict[str, Any]]]
    ) -> None:
        """A lesson completed from the queue is logged as one completed online is."""
        records = []
        for item, ref, _summary in stored:
            done = self._completed.pop(ref, None)
            if done is None:
                continue
            records.append(
                AuditRecord(
                    action=Action.CAMPUS_LESSON_COMPLETED,
                    actor=actor.account_id,
                    establishment=actor.establishment_id,
                    subject=actor.account_id,
                    details={
                        "course": done.course_id,
                        "lesson": done.lesson_id,
                        "offline": item.client_id,
                    },
                )
            )
        await asyncio.gather(*(self._audit.append(r) for r in records))


@dataclass
class _Attempt:
    course_id: str
    answers: tuple[int, ...]
    enrolment_id: str = ""
    score: int = 0
    right: int = 0
    total: int = 0
    passed: bool = False
    pass_mark: int = 0
    marks: tuple[bool, ...] = ()
    completed: bool = False


class QueuedAssessment:
    """`assessment`: a course's test answered on the device, marked on arrival."""

    module = MODULE

    def __init__(
        self, db: Database, catalogue: Catalogue, learning: Learning, *, audit: AuditSink
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self._learning = learning
        self._audit = audit
        self._attempts: dict[str, _Attempt] = {}

    def check(self, actor: Principal, item: Item) -> _Attempt:
        _learner(actor)
        answers = item.body.get("answers")
        if (
            not isinstance(answers, list)
            or not 0 < len(answers) <= 100
            or any(isinstance(a, bool) or not isinstance(a, int) for a in answers)
        ):
            raise _refuse("Answers are the number of the choice for each question.")
        return _Attempt(_an_id(item.body.get("course_id"), NO_COURSE), tuple(answers))

    async def ready(self, actor: Principal, items: Sequence[tuple[Item, Any]]) -> dict[str, Any]:
        """Marked against the course's questions now. Refused: a course the learner is not
        on, one already passed, lessons not all finished, answers that do not fit."""
        mine = {e.course_id: e for e in await self._learning.mine(actor)}
        answer: dict[str, Any] = {}
        passed: set[str] = set()
        async with self._db.connect() as conn:
            for item, attempt in items:
                enrolment = mine.get(attempt.course_id)
                try:
                    if enrolment is None:
                        raise ServiceError(Code.NOT_FOUND, NO_COURSE)
                    if enrolment.status == "completed" or attempt.course_id in passed:
                        raise ServiceError(
                            Code.CONFLICT,
                            "You have passed this course already.",
                            extra={"reason": "completed"},
                        )
                    if not enrolment.lessons_finished:
                        raise ServiceError(
                            Code.CONFLICT,
                            "Finish every lesson before the assessment.",
                            extra={"reason": "lessons_left"},
                        )
                    course = await self._catalogue.visible_course(conn, actor, attempt.course_id)
                    questions = await self._catalogue.questions(conn, course.id)
                    if len(attempt.answers) != len(questions) or any(
                        not 0 <= a < len(q.choices)
                        for a, q in zip(attempt.answers, questions, strict=True)
                    ):
                        raise _refuse(
                            f"Answer all {len(questions)} questions, each with one of its choices."
                        )
                except ServiceError as error:
                    answer[item.client_id] = error
                    continue
                marks = tuple(
                    a == q.answer for a, q in zip(attempt.answers, questions, strict=True)
                )
                score = round(100 * sum(marks) / len(questions))
                ok = score >= course.pass_mark
                if ok:
                    passed.add(course.id)
                answer[item.client_id] = _Attempt(
                    course.id,
                    attempt.answers,
                    enrolment.id,
                    score,
                    sum(marks),
                    len(questions),
                    ok,
                    course.pass_mark,
                    marks,
                )
        return answer

    def summary(self, prepared: Any) -> dict[str, Any]:
        a: _Attempt = prepared
        return {
            "course": a.course_id,
            "score": a.score,
            "right": a.right,
            "total": a.total,
            "passed": a.passed,
            "pass_mark": a.pass_mark,
            "marks": list(a.marks),
        }

    async def store(
        self,
        conn: AsyncConnection,
        actor: Principal,
        items: Sequence[tuple[Item, Any, str]],
        now: datetime,
    ) -> None:
        e = campus_enrolments.c
        await conn.execute(
            insert(campus_attempts),
            [
                {
                    "id": str(uuid.uuid4()),
                    "enrolment_id": a.enrolment_id,
                    "score": a.score,
                    "total": a.total,
                    "passed": a.passed,
                    "at": now,
                }
                for _, a, _ in items
            ],
        )
        for _, a, ref in items:
            best = await conn.scalar(select(e.best_score).where(e.id == a.enrolment_id))
            values: dict[str, Any] = {"best_score": max(a.score, best or 0)}
            await conn.execute(
                update(campus_enrolments).where(e.id == a.enrolment_id).values(**values)
            )
            if a.passed:
                done = await conn.execute(
                    update(campus_enrolments)
                    .where(and_(e.id == a.enrolment_id, e.status == "enrolled"))
                    .values(
                        status="completed",
                        completed_at=now,
                        completed_establishment_id=actor.establishment_id,
                    )
                )
                a.completed = done.rowcount == 1
            self._attempts[ref] = a

    async def after(
        self, actor: Principal, stored: Sequence[tuple[Item, str, dict[str, Any]]]
    ) -> None:
        records = []
        for item, ref, _summary in stored:
            a = self._attempts.pop(ref, None)
            if a is None:
                continue
            details: Mapping[str, Any] = {
                "course": a.course_id,
                "score": a.score,
                "passed": a.passed,
                "offline": item.client_id,
            }
            records.append(self._audit_record(Action.CAMPUS_ASSESSED, actor, details))
            if a.completed:
                records.append(
                    self._audit_record(
                        Action.CAMPUS_COMPLETED,
                        actor,
                        {"course": a.course_id, "enrolment": a.enrolment_id, "score": a.score},
                    )
                )
        await asyncio.gather(*(self._audit.append(r) for r in records))

    @staticmethod
    def _audit_record(action: Action, actor: Principal, details: Mapping[str, Any]) -> AuditRecord:
        return AuditRecord(
            action=action,
            actor=actor.account_id,
            establishment=actor.establishment_id,
            subject=actor.account_id,
            details=dict(details),
        )
