"""A learner's side of the campus, and education staff's view of their learners.

Enrolment is by the learner or by education staff, on a course of the learner's
catalogue whose prerequisite (if any) they have completed. Opening a lesson, saving
progress and taking the assessment need an enrolment and are closed during a
lockdown (`require_open`, the kiosk's mechanism); reading one's courses, record and
certificates is not. Progress is one idempotent call (`record_progress`): the step
only moves forward and completing twice completes once, so a device that replays it
(the offline sync) changes nothing the second time.

A course is completed when every lesson is and the assessment is passed; the
certificate is made then, on request, from the completion (who, what, when, where),
in the learner's language. A staff member's reading of a learner's record, progress
or certificate is an audit event.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campus.assessments import Assessments
from campus.catalogue import Course, Lesson
from campus.certificates import Certificates
from campus.documents import (
    RecordCourse,
    RecordGoal,
    record_pdf,
)
from campus.learner_base import Enrolment
from campus.rules import MODULE, NO_COURSE, learner_here, require_education
from campus.tables import (
    campus_enrolments,
    campus_goals,
    campus_lessons,
    campus_progress,
)
from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal, Role
from core.permissions import Permission, require_permission

NO_LESSON = "No such lesson."
NO_GOAL = "No such goal."
GOAL_COLUMN = "campus_goals.goal"
MAX_GOAL = 300
MAX_STEP = 100


@dataclass(frozen=True)
class CatalogueEntry:
    course: Course
    enrolment: Enrolment | None
    # The prerequisite is completed (or there is none).
    ready: bool


@dataclass(frozen=True)
class LessonProgress:
    lesson_id: str
    step: int
    completed: bool


@dataclass(frozen=True)
class LessonView:
    course: Course
    lesson: Lesson
    progress: LessonProgress
    # The lessons of the course in order, to go on to the next.
    next_lesson_id: str | None


@dataclass(frozen=True)
class Goal:
    id: str
    goal: str | None
    target_date: date
    done: bool
    set_by_learner: bool


@dataclass(frozen=True)
class LearningRecord:
    learner_id: str
    name: str
    prison_number: str | None
    locale: str
    courses: tuple[Enrolment, ...]
    goals: tuple[Goal, ...]


@dataclass(frozen=True)
class LearnerProgress:
    learner_id: str
    name: str
    prison_number: str | None
    enrolment: Enrolment


class Learning(Assessments, Certificates):
    """The learner's campus: catalogue, enrolment, lessons and progress, plans and records;
    the assessment (`Assessments`) and certificates (`Certificates`) are their own modules."""

    # ------------------------------------------------------------- catalogue

    async def catalogue(self, actor: Principal) -> list[CatalogueEntry]:
        """The learner's catalogue, each course with their enrolment and whether its
        prerequisite is met."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        courses = await self._catalogue.courses(actor)
        async with self._db.connect() as conn:
            mine = {e.course_id: e for e in await self._enrolments(conn, actor.account_id)}
        done = {c for c, e in mine.items() if e.status == "completed"}
        return [
            CatalogueEntry(
                c, mine.get(c.id), c.requires_course_id is None or c.requires_course_id in done
            )
            for c in courses
            if c.lessons > 0
        ]

    async def enrol(
        self, actor: Principal, course_id: object, learner_id: object = None
    ) -> tuple[Enrolment, bool]:
        """Enrol the learner (themselves, or one of education staff's learners); the same
        enrolment again is answered with the one there is (False: not new)."""
        if actor.role == Role.PRISONER:
            require_permission(actor, Permission.CAMPUS_LEARN)
            learner = actor.account_id
        else:
            require_permission(actor, Permission.CAMPUS_TEACH)
        if actor.role == Role.PRISONER:
            # Before the transaction: on SQLite the check's own read would wait on its lock.
            await self._gate(actor, MODULE)
        enrolment_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            if actor.role != Role.PRISONER:
                await require_education(conn, actor)
                learner = await learner_here(conn, actor, learner_id)
            course = await self._catalogue.visible_course(conn, actor, course_id)
            if course.establishment_id not in (None, actor.establishment_id):
                # Visible only because the learner is on it already: no new enrolments.
                raise ServiceError(Code.NOT_FOUND, NO_COURSE)
            existing = await self._enrolment_of(conn, learner, course.id)
            if existing is not None:
                return existing, False
            if course.lessons == 0:
                raise ServiceError(
                    Code.CONFLICT, "This course has no lessons yet.", extra={"reason": "empty"}
                )
            if course.requires_course_id is not None:
                before = await self._enrolment_of(conn, learner, course.requires_course_id)
                if before is None or before.status != "completed":
                    raise ServiceError(
                        Code.CONFLICT,
                        f"Finish {course.requires_title} first.",
                        extra={
                            "reason": "prerequisite",
                            "requires": course.requires_course_id,
                            "requires_title": course.requires_title,
                        },
                    )
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(campus_enrolments).values(
                            id=enrolment_id,
                            course_id=course.id,
                            learner_id=learner,
                            enrolled_by=actor.account_id,
                            enrolled_at=self._clock.now(),
                            status="enrolled",
                        )
                    )
            except IntegrityError:
                found = await self._enrolment_of(conn, learner, course.id)
                if found is None:
                    raise
                return found, False
            establishment = await self._where(conn, learner)
        await self._record(
            Action.CAMPUS_ENROLLED,
            actor,
            establishment,
            learner,
            course=course.id,
            enrolment=enrolment_id,
            by="self" if actor.account_id == learner else "staff",
        )
        async with self._db.connect() as conn:
            found = await self._enrolment_of(conn, learner, course.id)
        assert found is not None
        return found, True

    async def mine(self, actor: Principal) -> list[Enrolment]:
        """The learner's own courses: readable during a lockdown."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            return await self._enrolments(conn, actor.account_id)

    async def course_lessons(
        self, actor: Principal, course_id: object
    ) -> tuple[Course, Enrolment | None, list[tuple[Lesson, LessonProgress]]]:
        """A course's lessons (titles and files approved) with the learner's progress."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            course = await self._catalogue.visible_course(conn, actor, course_id)
            enrolment = await self._enrolment_of(conn, actor.account_id, course.id)
            lessons = await self._catalogue.lessons(conn, course.id, approved_only=True)
            steps = await self._steps(conn, enrolment.id if enrolment else None)
        return (
            course,
            enrolment,
            [
                (lesson, steps.get(lesson.id, LessonProgress(lesson.id, 0, False)))
                for lesson in lessons
            ],
        )

    # --------------------------------------------------------------- lessons

    async def open_lesson(self, actor: Principal, lesson_id: object) -> LessonView:
        """A lesson of a course the learner is on, with its approved files and where they
        got to; not enrolled is 'no such lesson', as another establishment's is."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            course, enrolment_id = await self._enrolled_lesson(conn, actor, lesson_id)
            lessons = await self._catalogue.lessons(conn, course.id, approved_only=True)
            steps = await self._steps(conn, enrolment_id)
        await self._gate(actor, MODULE)
        index = next(n for n, x in enumerate(lessons) if x.id == lesson_id)
        lesson = lessons[index]
        return LessonView(
            course,
            lesson,
            steps.get(lesson.id, LessonProgress(lesson.id, 0, False)),
            lessons[index + 1].id if index + 1 < len(lessons) else None,
        )

    async def record_progress(
        self, actor: Principal, lesson_id: object, *, step: object, completed: object = False
    ) -> LessonProgress:
        """Where the learner got to in a lesson. Only ever forward, and completing again
        changes nothing: replaying the same call (a retry, an offline sync) is harmless."""
        require_permission(actor, Permission.CAMPUS_LEARN)
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise ServiceError(Code.INVALID_REQUEST, f"step is a whole number 0 to {MAX_STEP}.")
        if not isinstance(completed, bool):
            raise ServiceError(Code.INVALID_REQUEST, "completed is true or false.")
        async with self._db.connect() as conn:
            course, enrolment_id = await self._enrolled_lesson(conn, actor, lesson_id)
        await self._gate(actor, MODULE)
        now = self._clock.now()
        newly_completed = False
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(campus_progress).where(
                        campus_progress.c.enrolment_id == enrolment_id,
                        campus_progress.c.lesson_id == lesson_id,
                    )
                )
            ).first()
            if row is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            insert(campus_progress).values(
                                enrolment_id=enrolment_id,
                                lesson_id=lesson_id,
                                step=step,
                                completed_at=now if completed else None,
                                updated_at=now,
                            )
                        )
                    newly_completed = completed
                except IntegrityError:
                    row = (
                        await conn.execute(
                            select(campus_progress).where(
                                campus_progress.c.enrolment_id == enrolment_id,
                                campus_progress.c.lesson_id == lesson_id,
                            )
                        )
                    ).first()
            if row is not None:
                values: dict[str, Any] = {}
                if step > row.step:
                    values["step"] = step
                if completed and row.completed_at is None:
                    values["completed_at"] = now
                    newly_completed = True
                if values:
                    await conn.execute(
                        update(campus_progress)
                        .where(
                            campus_progress.c.enrolment_id == enrolment_id,
                            campus_progress.c.lesson_id == lesson_id,
                        )
                        .values(updated_at=now, **values)
                    )
            found = (
                await conn.execute(
                    select(campus_progress).where(
                        campus_progress.c.enrolment_id == enrolment_id,
                        campus_progress.c.lesson_id == lesson_id,
                    )
                )
            ).one()
        if newly_completed:
            await self._record(
                Action.CAMPUS_LESSON_COMPLETED,
                actor,
                actor.establishment_id,
                actor.account_id,
                course=course.id,
                lesson=lesson_id,
            )
        return LessonProgress(str(lesson_id), found.step, found.completed_at is not None)

    # ---------------------------------------------------------------- plans

    async def add_goal(
        self, actor: Principal, *, goal: object, target_date: object, learner_id: object = None
    ) -> Goal:
        """A goal of the learning plan with a target date, set by the learner or with them
        by education staff. The words are sealed under the learner's key."""
        if not isinstance(goal, str) or not goal.strip():
            raise ServiceError(Code.INVALID_REQUEST, "Write the goal.")
        words = goal.strip()
        if len(words) > MAX_GOAL or "<" in words:
            raise ServiceError(
                Code.INVALID_REQUEST,
                f"A goal is plain words, at most {MAX_GOAL} characters.",
                extra={"max": MAX_GOAL},
            )
        try:
            when = date.fromisoformat(target_date) if isinstance(target_date, str) else None
        except ValueError:
            when = None
        if when is None:
            raise ServiceError(Code.INVALID_REQUEST, "The target date is a date (YYYY-MM-DD).")
        if when < self._clock.now().date():
            raise ServiceError(Code.INVALID_REQUEST, "The target date is today or later.")
        goal_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            learner = await self._learner(conn, actor, learner_id)
            await conn.execute(
                insert(campus_goals).values(
                    id=goal_id,
                    learner_id=learner,
                    goal_enc=await self._subject_keys.seal(
                        conn, learner, column=GOAL_COLUMN, row=goal_id, text=words
                    ),
                    target_date=when.isoformat(),
                    set_by=actor.account_id,
                    created_at=self._clock.now(),
                )
            )
            establishment = await self._where(conn, learner)
        await self._record(
            Action.CAMPUS_GOAL_SET,
            actor,
            establishment,
            learner,
            goal=goal_id,
            target_date=when.isoformat(),
        )
        return Goal(goal_id, words, when, False, actor.account_id == learner)

    async def goal_done(
        self, actor: Principal, goal_id: object, *, done: object, learner_id: object = None
    ) -> None:
        if not isinstance(done, bool):
            raise ServiceError(Code.INVALID_REQUEST, "done is true or false.")
        async with self._db.begin() as conn:
            learner = await self._learner(conn, actor, learner_id)
            result = await conn.execute(
                update(campus_goals)
                .where(campus_goals.c.id == goal_id, campus_goals.c.learner_id == learner)
                .values(done_at=self._clock.now() if done else None)
            )
            if result.rowcount != 1:
                raise ServiceError(Code.NOT_FOUND, NO_GOAL)

    # --------------------------------------------------------------- records

    async def record(self, actor: Principal, learner_id: object = None) -> LearningRecord:
        """The learner's whole record: courses, progress, results and plan. The learner's
        own at any time; education staff's for a learner held where they act (logged)."""
        async with self._db.connect() as conn:
            learner = await self._learner(conn, actor, learner_id)
            name, number, locale = await self._person(conn, learner)
            courses = await self._enrolments(conn, learner)
            goal_rows = list(
                await conn.execute(
                    select(campus_goals)
                    .where(campus_goals.c.learner_id == learner)
                    .order_by(campus_goals.c.target_date, campus_goals.c.id)
                )
            )
            opened = await self._subject_keys.open_many(
                conn,
                [SealedField(r.goal_enc, learner, GOAL_COLUMN, r.id) for r in goal_rows],
            )
        goals = tuple(
            Goal(
                r.id,
                words if isinstance(words, str) else None,
                date.fromisoformat(r.target_date),
                r.done_at is not None,
                r.set_by == learner,
            )
            for r, words in zip(goal_rows, opened, strict=True)
        )
        if learner != actor.account_id:
            await self._record(
                Action.CAMPUS_RECORD_READ, actor, actor.establishment_id, learner, read="record"
            )
        return LearningRecord(
            learner,
            name,
            number if learner != actor.account_id else None,
            locale,
            tuple(courses),
            goals,
        )

    async def record_pdf(self, actor: Principal, learner_id: object = None) -> bytes:
        found = await self.record(actor, learner_id)
        return await asyncio.to_thread(
            record_pdf,
            found.name,
            [
                RecordCourse(
                    e.course_title,
                    e.enrolled_at.date(),
                    e.completed_at.date() if e.completed_at else None,
                    e.lessons_done,
                    e.lessons_total,
                    e.best_score,
                )
                for e in found.courses
            ],
            [RecordGoal(g.goal or "", g.target_date, g.done) for g in found.goals],
            made_on=self._clock.now().date(),
            locale=found.locale,
        )

    async def course_progress(self, actor: Principal, course_id: object) -> list[LearnerProgress]:
        """Education staff: each learner on the course held where they act, with their
        lessons done, best score and status. Reading it is logged per learner."""
        async with self._db.connect() as conn:
            await require_education(conn, actor)
            course = await self._catalogue.visible_course(conn, actor, course_id)
            rows = list(
                await conn.execute(
                    select(campus_enrolments.c.learner_id)
                    .join(accounts, accounts.c.id == campus_enrolments.c.learner_id)
                    .where(
                        campus_enrolments.c.course_id == course.id,
                        accounts.c.establishment_id == actor.establishment_id,
                    )
                )
            )
            found = []
            for r in rows:
                name, number, _locale = await self._person(conn, r.learner_id)
                enrolment = await self._enrolment_of(conn, r.learner_id, course.id)
                assert enrolment is not None
                found.append(LearnerProgress(r.learner_id, name, number, enrolment))
        found.sort(key=lambda p: (p.name.lower(), p.learner_id))
        for p in found:
            await self._record(
                Action.CAMPUS_RECORD_READ,
                actor,
                actor.establishment_id,
                p.learner_id,
                read="course_progress",
                course=course.id,
            )
        return found

    async def learning_records(self, conn: AsyncConnection, learner_id: str) -> int:
        """How many enrolments a learner has: what a transfer's summary reports moving."""
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(campus_enrolments)
                .where(campus_enrolments.c.learner_id == learner_id)
            )
            or 0
        )

    # --------------------------------------------------------------- helpers

    async def _enrolled_lesson(
        self, conn: AsyncConnection, actor: Principal, lesson_id: object
    ) -> tuple[Course, str]:
        if not isinstance(lesson_id, str) or len(lesson_id) > 64:
            raise ServiceError(Code.NOT_FOUND, NO_LESSON)
        row = (
            await conn.execute(
                select(campus_lessons.c.course_id, campus_enrolments.c.id.label("enrolment_id"))
                .join(
                    campus_enrolments,
                    (campus_enrolments.c.course_id == campus_lessons.c.course_id)
                    & (campus_enrolments.c.learner_id == actor.account_id),
                )
                .where(campus_lessons.c.id == lesson_id)
            )
        ).first()
        if row is None:
            raise ServiceError(
                Code.NOT_FOUND,
                NO_LESSON,
                extra={"hint": "Enrol on the course to open its lessons."},
            )
        course = await self._catalogue.visible_course(conn, actor, row.course_id)
        return course, str(row.enrolment_id)

    async def _steps(
        self, conn: AsyncConnection, enrolment_id: str | None
    ) -> dict[str, LessonProgress]:
        if enrolment_id is None:
            return {}
        rows = await conn.execute(
            select(campus_progress).where(campus_progress.c.enrolment_id == enrolment_id)
        )
        return {
            r.lesson_id: LessonProgress(r.lesson_id, r.step, r.completed_at is not None)
            for r in rows
        }
