"""The campus's content: courses, lessons, their files and assessment questions, as
education staff write, upload and approve them.

Lesson text is sanitised on the way in (`campus.screening.clean_html`) and the answer
says what was taken out. A file is screened (its real type, its size, a PDF's scripts,
launch actions, embedded files and outside links) before it is stored, and is stored
`pending`: devices are served only approved files, and the approval is a second
person's (a member of education other than the uploader), so one account alone cannot
put a file in front of learners. Approvals and refusals are audit events.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from campus.rules import NO_COURSE, Gate, is_system, require_education, visible_to
from campus.screening import MAX_HTML, MESSAGES, Cleaned, ScreenError, clean_html, screen_file
from campus.tables import (
    campus_courses,
    campus_enrolments,
    campus_files,
    campus_lessons,
    campus_questions,
)
from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, Audited, AuditSink
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission

NO_LESSON = "No such lesson."
NO_FILE = "No such file."
NAME = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_QUESTIONS = 30


@dataclass(frozen=True)
class Course:
    id: str
    establishment_id: str | None
    title: str
    summary: str
    requires_course_id: str | None
    requires_title: str | None
    pass_mark: int
    lessons: int
    questions: int


@dataclass(frozen=True)
class LessonFile:
    id: str
    lesson_id: str
    kind: str
    mime: str
    name: str
    size: int
    status: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Lesson:
    id: str
    course_id: str
    position: int
    title: str
    body_html: str
    files: tuple[LessonFile, ...]


@dataclass(frozen=True)
class Question:
    id: str
    position: int
    text: str
    choices: tuple[str, ...]
    answer: int


def _text(value: object, name: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ServiceError(Code.INVALID_REQUEST, f"Write the {name}.")
    words = value.strip()
    if len(words) > limit:
        raise ServiceError(
            Code.INVALID_REQUEST, f"The {name} is at most {limit} characters.", extra={"max": limit}
        )
    if "<" in words:
        raise ServiceError(Code.INVALID_REQUEST, f"Write the {name} as plain words, without HTML.")
    return words


def file_name(value: object, kind: str) -> str:
    """A harmless name for the file's Content-Disposition: letters, digits, . _ - and space."""
    name = NAME.sub("", value if isinstance(value, str) else "").strip(" .")[:60]
    return name or f"lesson-{kind}"


class Catalogue(Audited):
    def __init__(self, db: Database, *, clock: Clock, audit: AuditSink, gate: Gate) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._gate = gate

    # ---------------------------------------------------------------- reading

    async def courses(self, actor: Principal) -> list[Course]:
        """The catalogue of the establishment the actor is in: its own courses and shared ones."""
        if not allows(actor, Permission.CAMPUS_LEARN):
            require_permission(actor, Permission.CAMPUS_TEACH)
        async with self._db.connect() as conn:
            return await self._courses(conn, visible_to(actor.establishment_id))

    async def course(self, actor: Principal, course_id: object) -> Course:
        if not allows(actor, Permission.CAMPUS_LEARN):
            require_permission(actor, Permission.CAMPUS_TEACH)
        async with self._db.connect() as conn:
            return await self.visible_course(conn, actor, course_id)

    async def visible_course(
        self, conn: AsyncConnection, actor: Principal, course_id: object
    ) -> Course:
        """A course of the actor's catalogue, or one they are enrolled on (a learner keeps
        their courses when transferred); anything else is 'no such course'."""
        if not isinstance(course_id, str) or len(course_id) > 64:
            raise ServiceError(Code.NOT_FOUND, NO_COURSE)
        where = visible_to(actor.establishment_id)
        if actor.role == Role.PRISONER:
            mine = select(campus_enrolments.c.course_id).where(
                campus_enrolments.c.learner_id == actor.account_id
            )
            where = where | campus_courses.c.id.in_(mine)
        found = await self._courses(conn, (campus_courses.c.id == course_id) & where)
        if not found:
            raise ServiceError(Code.NOT_FOUND, NO_COURSE)
        return found[0]

    async def lessons(
        self, conn: AsyncConnection, course_id: str, *, approved_only: bool
    ) -> list[Lesson]:
        rows = list(
            await conn.execute(
                select(campus_lessons)
                .where(campus_lessons.c.course_id == course_id)
                .order_by(campus_lessons.c.position)
            )
        )
        files = await self._files(conn, [r.id for r in rows], approved_only=approved_only)
        return [
            Lesson(
                r.id,
                r.course_id,
                r.position,
                r.title,
                r.body_html,
                tuple(f for f in files if f.lesson_id == r.id),
            )
            for r in rows
        ]

    async def staff_course(
        self, actor: Principal, course_id: object
    ) -> tuple[Course, list[Lesson]]:
        """Education staff: a course with every lesson and every file, pending ones too."""
        async with self._db.connect() as conn:
            await require_education(conn, actor)
            course = await self.visible_course(conn, actor, course_id)
            return course, await self.lessons(conn, course.id, approved_only=False)

    async def questions(self, conn: AsyncConnection, course_id: str) -> list[Question]:
        rows = await conn.execute(
            select(campus_questions)
            .where(campus_questions.c.course_id == course_id)
            .order_by(campus_questions.c.position)
        )
        return [
            Question(r.id, r.position, r.text, tuple(json.loads(r.choices)), r.answer) for r in rows
        ]

    async def pending(self, actor: Principal) -> list[tuple[Course, Lesson, LessonFile]]:
        """Files waiting for approval in the establishment's courses (and shared ones)."""
        async with self._db.connect() as conn:
            await require_education(conn, actor, Permission.CAMPUS_APPROVE)
            found = []
            for course in await self._courses(conn, visible_to(actor.establishment_id)):
                for lesson in await self.lessons(conn, course.id, approved_only=False):
                    for f in lesson.files:
                        if f.status == "pending":
                            found.append((course, lesson, f))
            return found

    async def file_content(self, actor: Principal, file_id: object) -> tuple[LessonFile, bytes]:
        """A file's bytes: to a learner only approved and only of a course they are on
        (closed during a lockdown, as opening the lesson is); to education staff any of
        their catalogue's, so the approver can look before approving."""
        if not isinstance(file_id, str) or len(file_id) > 64:
            raise ServiceError(Code.NOT_FOUND, NO_FILE)
        learner = actor.role == Role.PRISONER
        if learner:
            require_permission(actor, Permission.CAMPUS_LEARN)
        async with self._db.connect() as conn:
            if not learner:
                if not allows(actor, Permission.CAMPUS_APPROVE):
                    require_permission(actor, Permission.CAMPUS_TEACH)
                await require_education(
                    conn,
                    actor,
                    Permission.CAMPUS_TEACH
                    if allows(actor, Permission.CAMPUS_TEACH)
                    else Permission.CAMPUS_APPROVE,
                )
            row = (
                await conn.execute(
                    select(campus_files, campus_lessons.c.course_id)
                    .join(campus_lessons, campus_lessons.c.id == campus_files.c.lesson_id)
                    .where(campus_files.c.id == file_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, NO_FILE)
            if learner:
                enrolled = await conn.scalar(
                    select(campus_enrolments.c.id).where(
                        campus_enrolments.c.course_id == row.course_id,
                        campus_enrolments.c.learner_id == actor.account_id,
                    )
                )
                if enrolled is None or row.status != "approved":
                    raise ServiceError(Code.NOT_FOUND, NO_FILE)
            else:
                try:
                    await self.visible_course(conn, actor, row.course_id)
                except ServiceError:
                    raise ServiceError(Code.NOT_FOUND, NO_FILE) from None
        if learner:
            await self._gate(actor, "campus")
        return _file(row), bytes(row.data)

    # ---------------------------------------------------------------- writing

    async def add_course(
        self,
        actor: Principal,
        *,
        title: object,
        summary: object = "",
        requires_course_id: object = None,
        pass_mark: object = 70,
        shared: bool = False,
    ) -> Course:
        """A course of the actor's establishment (a shared one only from the system: the
        demo or an operator's seed, `shared=True`)."""
        the_title = _text(title, "course title", 120)
        the_summary = _text(summary, "summary", 500, required=False)
        if (
            isinstance(pass_mark, bool)
            or not isinstance(pass_mark, int)
            or not 1 <= pass_mark <= 100
        ):
            raise ServiceError(Code.INVALID_REQUEST, "The pass mark is 1 to 100 per cent.")
        course_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            if shared and not is_system(actor):
                raise ServiceError(
                    Code.FORBIDDEN,
                    "Shared courses are added centrally.",
                    extra={"reason": "shared_course"},
                )
            await require_education(conn, actor)
            if requires_course_id not in (None, ""):
                await self.visible_course(conn, actor, requires_course_id)
            await conn.execute(
                insert(campus_courses).values(
                    id=course_id,
                    establishment_id=None if shared else actor.establishment_id,
                    title=the_title,
                    summary=the_summary,
                    requires_course_id=requires_course_id or None,
                    pass_mark=pass_mark,
                    created_at=self._clock.now(),
                    created_by=actor.account_id,
                )
            )
        await self._record(
            Action.CAMPUS_COURSE_ADDED, actor, None if shared else actor.establishment_id, course_id
        )
        async with self._db.connect() as conn:
            return (await self._courses(conn, campus_courses.c.id == course_id))[0]

    async def add_lesson(
        self, actor: Principal, course_id: object, *, title: object, body_html: object
    ) -> tuple[Lesson, Cleaned]:
        the_title = _text(title, "lesson title", 120)
        if not isinstance(body_html, str) or not body_html.strip():
            raise ServiceError(Code.INVALID_REQUEST, "Write the lesson's text.")
        if len(body_html) > MAX_HTML:
            raise ServiceError(
                Code.INVALID_REQUEST,
                f"The lesson's text is at most {MAX_HTML} characters.",
                extra={"max": MAX_HTML},
            )
        cleaned = await asyncio.to_thread(clean_html, body_html)
        if not cleaned.html:
            raise ServiceError(
                Code.INVALID_REQUEST,
                "Nothing of the lesson's text is left once scripts and outside links are "
                "taken out.",
                extra={"removed": list(cleaned.removed)},
            )
        lesson_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            await require_education(conn, actor)
            course = await self._own_course(conn, actor, course_id)
            position = (
                await conn.scalar(
                    select(func.coalesce(func.max(campus_lessons.c.position), 0)).where(
                        campus_lessons.c.course_id == course.id
                    )
                )
                or 0
            ) + 1
            await conn.execute(
                insert(campus_lessons).values(
                    id=lesson_id,
                    course_id=course.id,
                    position=position,
                    title=the_title,
                    body_html=cleaned.html,
                    created_at=self._clock.now(),
                    created_by=actor.account_id,
                )
            )
        await self._record(
            Action.CAMPUS_LESSON_ADDED,
            actor,
            actor.establishment_id,
            lesson_id,
            course=course.id,
            removed=list(cleaned.removed),
        )
        async with self._db.connect() as conn:
            (lesson,) = [
                x
                for x in await self.lessons(conn, course.id, approved_only=False)
                if x.id == lesson_id
            ]
        return lesson, cleaned

    async def set_questions(
        self, actor: Principal, course_id: object, questions: object
    ) -> list[Question]:
        """The course's assessment: 1-30 multiple-choice questions, each with 2-6 choices
        and the number (from 0) of the right one. Replaces the questions there were."""
        if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_QUESTIONS:
            raise ServiceError(
                Code.INVALID_REQUEST, f"An assessment has 1 to {MAX_QUESTIONS} questions."
            )
        checked = []
        for n, q in enumerate(questions, start=1):
            if not isinstance(q, dict):
                raise ServiceError(Code.INVALID_REQUEST, f"Question {n} is not valid.")
            text = _text(q.get("text"), f"question {n}", 300)
            choices = q.get("choices")
            if not isinstance(choices, list) or not 2 <= len(choices) <= 6:
                raise ServiceError(Code.INVALID_REQUEST, f"Question {n} has 2 to 6 choices.")
            words = [_text(c, f"choice of question {n}", 200) for c in choices]
            answer = q.get("answer")
            if (
                isinstance(answer, bool)
                or not isinstance(answer, int)
                or not 0 <= answer < len(words)
            ):
                raise ServiceError(
                    Code.INVALID_REQUEST, f"Question {n}'s answer is one of its choices."
                )
            checked.append((text, words, answer))
        async with self._db.begin() as conn:
            await require_education(conn, actor)
            course = await self._own_course(conn, actor, course_id)
            await conn.execute(
                campus_questions.delete().where(campus_questions.c.course_id == course.id)
            )
            for n, (text, words, answer) in enumerate(checked, start=1):
                await conn.execute(
                    insert(campus_questions).values(
                        id=str(uuid.uuid4()),
                        course_id=course.id,
                        position=n,
                        text=text,
                        choices=json.dumps(words),
                        answer=answer,
                    )
                )
        await self._record(
            Action.CAMPUS_QUESTIONS_SET,
            actor,
            actor.establishment_id,
            course.id,
            questions=len(checked),
        )
        async with self._db.connect() as conn:
            return await self.questions(conn, course.id)

    async def upload(
        self, actor: Principal, lesson_id: object, *, data: bytes, claimed: str | None, name: object
    ) -> LessonFile:
        """A screened file, stored pending approval; a refused one stores nothing."""
        async with self._db.connect() as conn:
            await require_education(conn, actor)
            lesson = await self._own_lesson(conn, actor, lesson_id)
        try:
            screened = await asyncio.to_thread(screen_file, data, claimed)
        except ScreenError as refused:
            raise ServiceError(
                Code.INVALID_REQUEST,
                MESSAGES[refused.reason],
                extra={"reason": refused.reason.value},
            ) from None
        file_id = str(uuid.uuid4())
        async with self._db.begin() as conn:
            position = (
                await conn.scalar(
                    select(func.coalesce(func.max(campus_files.c.position), 0)).where(
                        campus_files.c.lesson_id == lesson.id
                    )
                )
                or 0
            ) + 1
            await conn.execute(
                insert(campus_files).values(
                    id=file_id,
                    lesson_id=lesson.id,
                    position=position,
                    kind=screened.kind,
                    mime=screened.mime,
                    name=file_name(name, screened.kind),
                    size=screened.size,
                    sha256=screened.sha256,
                    data=data,
                    status="pending",
                    uploaded_by=actor.account_id,
                    uploaded_at=self._clock.now(),
                )
            )
        await self._record(
            Action.CAMPUS_FILE_UPLOADED,
            actor,
            actor.establishment_id,
            file_id,
            lesson=lesson.id,
            kind=screened.kind,
            size=screened.size,
            sha256=screened.sha256,
        )
        async with self._db.connect() as conn:
            (found,) = await self._files(conn, [lesson.id], approved_only=False, only=file_id)
        return found

    async def decide(self, actor: Principal, file_id: object, *, approve: object) -> LessonFile:
        """Approve (devices may be served it) or refuse a pending file; never one's own."""
        if not isinstance(approve, bool):
            raise ServiceError(Code.INVALID_REQUEST, "approve is true or false.")
        if not isinstance(file_id, str) or len(file_id) > 64:
            raise ServiceError(Code.NOT_FOUND, NO_FILE)
        async with self._db.begin() as conn:
            await require_education(conn, actor, Permission.CAMPUS_APPROVE)
            row = (
                await conn.execute(
                    select(campus_files, campus_lessons.c.course_id)
                    .join(campus_lessons, campus_lessons.c.id == campus_files.c.lesson_id)
                    .where(campus_files.c.id == file_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, NO_FILE)
            await self._own_course(conn, actor, row.course_id, missing=NO_FILE)
            if row.uploaded_by == actor.account_id:
                raise ServiceError(
                    Code.FORBIDDEN,
                    "Another member of education approves a file you uploaded.",
                    extra={"reason": "own_upload"},
                )
            if row.status != "pending":
                raise ServiceError(
                    Code.CONFLICT,
                    f"This file was already {row.status}.",
                    extra={"reason": row.status},
                )
            status = "approved" if approve else "refused"
            await conn.execute(
                update(campus_files)
                .where(campus_files.c.id == row.id, campus_files.c.status == "pending")
                .values(status=status, decided_by=actor.account_id, decided_at=self._clock.now())
            )
        await self._record(
            Action.CAMPUS_FILE_APPROVED if approve else Action.CAMPUS_FILE_REFUSED,
            actor,
            actor.establishment_id,
            row.id,
            lesson=row.lesson_id,
            sha256=row.sha256,
            uploaded_by=row.uploaded_by,
        )
        async with self._db.connect() as conn:
            (found,) = await self._files(conn, [row.lesson_id], approved_only=False, only=row.id)
        return found

    # ---------------------------------------------------------------- helpers

    async def _own_course(
        self, conn: AsyncConnection, actor: Principal, course_id: object, missing: str = NO_COURSE
    ) -> Course:
        """A course this establishment's education staff may change: their own
        establishment's (a shared course is changed only by the system)."""
        if not isinstance(course_id, str) or len(course_id) > 64:
            raise ServiceError(Code.NOT_FOUND, missing)
        found = await self._courses(conn, campus_courses.c.id == course_id)
        if not found:
            raise ServiceError(Code.NOT_FOUND, missing)
        course = found[0]
        if is_system(actor):
            return course
        if course.establishment_id is None:
            raise ServiceError(
                Code.FORBIDDEN,
                "A shared course is the same in every establishment: it is changed centrally.",
                extra={"reason": "shared_course"},
            )
        if course.establishment_id != actor.establishment_id:
            raise ServiceError(Code.NOT_FOUND, missing)
        return course

    async def _own_lesson(
        self, conn: AsyncConnection, actor: Principal, lesson_id: object
    ) -> Lesson:
        if not isinstance(lesson_id, str) or len(lesson_id) > 64:
            raise ServiceError(Code.NOT_FOUND, NO_LESSON)
        course_id = await conn.scalar(
            select(campus_lessons.c.course_id).where(campus_lessons.c.id == lesson_id)
        )
        if course_id is None:
            raise ServiceError(Code.NOT_FOUND, NO_LESSON)
        await self._own_course(conn, actor, course_id, missing=NO_LESSON)
        (lesson,) = [
            x for x in await self.lessons(conn, course_id, approved_only=False) if x.id == lesson_id
        ]
        return lesson

    async def _courses(self, conn: AsyncConnection, where: Any) -> list[Course]:
        required = campus_courses.alias("required")
        lessons = (
            select(func.count())
            .select_from(campus_lessons)
            .where(campus_lessons.c.course_id == campus_courses.c.id)
            .scalar_subquery()
        )
        questions = (
            select(func.count())
            .select_from(campus_questions)
            .where(campus_questions.c.course_id == campus_courses.c.id)
            .scalar_subquery()
        )
        rows = await conn.execute(
            select(
                campus_courses,
                required.c.title.label("requires_title"),
                lessons.label("lesson_count"),
                questions.label("question_count"),
            )
            .outerjoin(required, required.c.id == campus_courses.c.requires_course_id)
            .where(where)
            .order_by(campus_courses.c.title, campus_courses.c.id)
        )
        return [
            Course(
                r.id,
                r.establishment_id,
                r.title,
                r.summary,
                r.requires_course_id,
                r.requires_title,
                r.pass_mark,
                int(r.lesson_count),
                int(r.question_count),
            )
            for r in rows
        ]

    async def _files(
        self,
        conn: AsyncConnection,
        lesson_ids: list[str],
        *,
        approved_only: bool,
        only: str | None = None,
    ) -> list[LessonFile]:
        if not lesson_ids:
            return []
        cols = [c for c in campus_files.c if c.name != "data"]
        query = select(*cols).where(campus_files.c.lesson_id.in_(lesson_ids))
        if approved_only:
            query = query.where(campus_files.c.status == "approved")
        if only is not None:
            query = query.where(campus_files.c.id == only)
        rows = await conn.execute(query.order_by(campus_files.c.lesson_id, campus_files.c.position))
        return [_file(r) for r in rows]


def _file(r: Any) -> LessonFile:
    return LessonFile(
        r.id, r.lesson_id, r.kind, r.mime, r.name, r.size, r.status, r.uploaded_by, r.uploaded_at
    )
