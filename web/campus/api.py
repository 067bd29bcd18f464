"""The campus over HTTP: the learner's catalogue, lessons, progress, assessments,
certificates, plan and record, and the JSON and OpenAPI shapes that education staff's
routes (`web.campus.desk`: courses, uploads, approvals, enrolling, progress per course and
learners' records) share. Rules live in `campus.catalogue`, `campus.learning`,
`campus.assessments` and `campus.certificates`.

Files are served with the type their bytes were checked to be, `nosniff`, a
Content-Disposition, and a CSP that lets nothing in them run; a PDF is a download.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from campus.assessments import AttemptResult
from campus.catalogue import Course, Lesson, LessonFile, Question
from campus.learner_base import Enrolment
from campus.learning import (
    CatalogueEntry,
    Goal,
    LearnerProgress,
    LearningRecord,
    LessonProgress,
    LessonView,
)
from campus.screening import MAX_FILE_BYTES, MESSAGES, Refusal
from core.errors import Code, ServiceError
from core.permissions import Permission
from web.auth import require
from web.campus import CATALOGUE, LEARNING
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response, read_json
from web.scheduling_shared import ID, iso_or_none, path_params

routes = web.RouteTableDef()

LEARN = Permission.CAMPUS_LEARN
# One's own record and certificates: prisoners, and former prisoners' community accounts.
OWN_RECORD = Permission.LEARNING_RECORD_OWN
TEACH = Permission.CAMPUS_TEACH
APPROVE = Permission.CAMPUS_APPROVE
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/x-wav": "wav",
    "application/pdf": "pdf",
}
FILE_CSP = "default-src 'none'; sandbox"


# ------------------------------------------------------------------ json


def course_json(c: Course) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "summary": c.summary,
        "shared": c.establishment_id is None,
        "requires": None
        if c.requires_course_id is None
        else {"id": c.requires_course_id, "title": c.requires_title},
        "pass_mark": c.pass_mark,
        "lessons": c.lessons,
        "questions": c.questions,
    }


def file_json(f: LessonFile, *, staff: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": f.id,
        "kind": f.kind,
        "mime": f.mime,
        "name": f.name,
        "size": f.size,
        "url": f"/api/campus/{'staff/' if staff else ''}files/{f.id}",
    }
    if staff:
        found.update(
            status=f.status, uploaded_by=f.uploaded_by, uploaded_at=iso_or_none(f.uploaded_at)
        )
    return found


def lesson_json(lesson: Lesson, *, staff: bool = False) -> dict[str, Any]:
    return {
        "id": lesson.id,
        "course_id": lesson.course_id,
        "position": lesson.position,
        "title": lesson.title,
        "body_html": lesson.body_html,
        "files": [file_json(f, staff=staff) for f in lesson.files],
    }


def enrolment_json(e: Enrolment) -> dict[str, Any]:
    return {
        "id": e.id,
        "course_id": e.course_id,
        "course_title": e.course_title,
        "status": e.status,
        "enrolled_at": iso_or_none(e.enrolled_at),
        "completed_at": iso_or_none(e.completed_at),
        "lessons_done": e.lessons_done,
        "lessons_total": e.lessons_total,
        "best_score": e.best_score,
        "ready_for_assessment": e.status == "enrolled" and e.lessons_finished,
    }


def progress_json(p: LessonProgress) -> dict[str, Any]:
    return {"lesson_id": p.lesson_id, "step": p.step, "completed": p.completed}


def entry_json(e: CatalogueEntry) -> dict[str, Any]:
    return {
        **course_json(e.course),
        "enrolment": None if e.enrolment is None else enrolment_json(e.enrolment),
        "ready": e.ready,
    }


def view_json(v: LessonView) -> dict[str, Any]:
    return {
        "course": course_json(v.course),
        "lesson": lesson_json(v.lesson),
        "progress": progress_json(v.progress),
        "next_lesson_id": v.next_lesson_id,
    }


def result_json(r: AttemptResult) -> dict[str, Any]:
    return {
        "score": r.score,
        "right": r.right,
        "total": r.total,
        "passed": r.passed,
        "pass_mark": r.pass_mark,
        "marks": list(r.marks),
        "completed": r.completed,
    }


def goal_json(g: Goal) -> dict[str, Any]:
    return {
        "id": g.id,
        "goal": g.goal,
        "target_date": g.target_date.isoformat(),
        "done": g.done,
        "set_by_learner": g.set_by_learner,
    }


def record_json(r: LearningRecord) -> dict[str, Any]:
    """The portable learning record: what a learner takes with them."""
    found: dict[str, Any] = {
        "format": "throughcare.learning-record/1",
        "learner": {"id": r.learner_id, "name": r.name},
        "courses": [enrolment_json(e) for e in r.courses],
        "goals": [goal_json(g) for g in r.goals],
    }
    if r.prison_number is not None:
        found["learner"]["prison_number"] = r.prison_number
    return found


def question_json(q: Question) -> dict[str, Any]:
    return {"id": q.id, "text": q.text, "choices": list(q.choices), "answer": q.answer}


def learner_progress_json(p: LearnerProgress) -> dict[str, Any]:
    return {
        "learner": {"id": p.learner_id, "name": p.name, "prison_number": p.prison_number},
        "enrolment": enrolment_json(p.enrolment),
    }


def pdf_response(name: str, data: bytes) -> web.Response:
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": FILE_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


def file_response(f: LessonFile, data: bytes) -> web.Response:
    """The checked type, never sniffed; a PDF downloads, media shows inline; nothing runs."""
    name = f"{f.name}.{EXTENSIONS.get(f.mime, 'bin')}"
    disposition = "attachment" if f.kind == "pdf" else "inline"
    return web.Response(
        body=data,
        headers={
            "Content-Type": f.mime,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'{disposition}; filename="{name}"',
            "Content-Security-Policy": FILE_CSP,
        },
    )


async def read_upload(request: web.Request) -> bytes:
    """The raw body, refused once past the campus's limit (the app's JSON cap is lower)."""
    too_large = ServiceError(
        Code.BODY_TOO_LARGE, MESSAGES[Refusal.TOO_LARGE], extra={"reason": "too_large"}
    )
    if request.content_length is not None and request.content_length > MAX_FILE_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------- learner


@routes.get("/api/campus/courses")
async def courses(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found = await request.app[LEARNING].catalogue(principal)
    return json_response([entry_json(e) for e in found])


@routes.get("/api/campus/courses/{course_id}")
async def course(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found, enrolment, lessons = await request.app[LEARNING].course_lessons(
        principal, request.match_info["course_id"]
    )
    return json_response(
        {
            **course_json(found),
            "enrolment": None if enrolment is None else enrolment_json(enrolment),
            "lessons": [
                {"id": lesson.id, "title": lesson.title, "progress": progress_json(p)}
                for lesson, p in lessons
            ],
        }
    )


@routes.post("/api/campus/courses/{course_id}/enrol")
async def enrol(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found, new = await request.app[LEARNING].enrol(principal, request.match_info["course_id"])
    return json_response(enrolment_json(found), status=201 if new else 200)


@routes.get("/api/campus/my-courses")
async def my_courses(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found = await request.app[LEARNING].mine(principal)
    return json_response([enrolment_json(e) for e in found])


@routes.get("/api/campus/lessons/{lesson_id}")
async def lesson(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found = await request.app[LEARNING].open_lesson(principal, request.match_info["lesson_id"])
    return json_response(view_json(found))


@routes.put("/api/campus/lessons/{lesson_id}/progress")
async def progress(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    body = await read_json(request)
    found = await request.app[LEARNING].record_progress(
        principal,
        request.match_info["lesson_id"],
        step=body.get("step"),
        completed=body.get("completed", False),
    )
    return json_response(progress_json(found))


@routes.get("/api/campus/courses/{course_id}/assessment")
async def assessment(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found = await request.app[LEARNING].assessment(principal, request.match_info["course_id"])
    return json_response([{"id": q.id, "text": q.text, "choices": list(q.choices)} for q in found])


@routes.post("/api/campus/courses/{course_id}/assessment")
async def submit(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    body = await read_json(request)
    found = await request.app[LEARNING].submit(
        principal, request.match_info["course_id"], body.get("answers")
    )
    return json_response(result_json(found))


@routes.get("/api/campus/courses/{course_id}/certificate")
async def certificate(request: web.Request) -> web.Response:
    principal = await require(request, OWN_RECORD)
    name, data = await request.app[LEARNING].certificate(principal, request.match_info["course_id"])
    return pdf_response(name, data)


@routes.get("/api/campus/files/{file_id}")
async def lesson_file(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    found, data = await request.app[CATALOGUE].file_content(
        principal, request.match_info["file_id"]
    )
    return file_response(found, data)


@routes.get("/api/campus/record")
async def my_record(request: web.Request) -> web.Response:
    principal = await require(request, OWN_RECORD)
    found = await request.app[LEARNING].record(principal)
    return json_response(record_json(found))


@routes.get("/api/campus/record.pdf")
async def my_record_pdf(request: web.Request) -> web.Response:
    principal = await require(request, OWN_RECORD)
    data = await request.app[LEARNING].record_pdf(principal)
    return pdf_response("learning-record.pdf", data)


@routes.post("/api/campus/goals")
async def add_goal(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    body = await read_json(request)
    found = await request.app[LEARNING].add_goal(
        principal, goal=body.get("goal"), target_date=body.get("target_date")
    )
    return json_response(goal_json(found), status=201)


@routes.put("/api/campus/goals/{goal_id}")
async def goal_done(request: web.Request) -> web.Response:
    principal = await require(request, LEARN)
    body = await read_json(request)
    await request.app[LEARNING].goal_done(
        principal, request.match_info["goal_id"], done=body.get("done")
    )
    return web.Response(status=204)


# --------------------------------------------------------------- openapi


def campus_op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="campus", permission=permission, **kwargs)


INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
COURSE = obj(
    ["id", "title", "summary", "shared", "pass_mark", "lessons", "questions"],
    id=ID,
    title=STR,
    summary=STR,
    shared=BOOL,
    requires={"type": ["object", "null"]},
    pass_mark=INT,
    lessons=INT,
    questions=INT,
)
ENROLMENT = obj(
    ["id", "course_id", "course_title", "status", "enrolled_at", "lessons_done", "lessons_total"],
    id=ID,
    course_id=ID,
    course_title=STR,
    status={"type": "string", "enum": ["enrolled", "completed"]},
    enrolled_at=DATETIME,
    completed_at=NULLABLE_STR,
    lessons_done=INT,
    lessons_total=INT,
    best_score=NULLABLE_INT,
    ready_for_assessment=BOOL,
)
FILE = obj(
    ["id", "kind", "mime", "name", "size", "url"],
    id=ID,
    kind=STR,
    mime=STR,
    name=STR,
    size=INT,
    url=STR,
    status=STR,
)
LESSON = obj(
    ["id", "course_id", "position", "title", "body_html", "files"],
    id=ID,
    course_id=ID,
    position=INT,
    title=STR,
    body_html=STR,
    files={"type": "array", "items": FILE},
)
PROGRESS = obj(["lesson_id", "step", "completed"], lesson_id=ID, step=INT, completed=BOOL)
GOAL = obj(["id", "target_date", "done"], id=ID, goal=NULLABLE_STR, target_date=STR, done=BOOL)
RECORD = obj(
    ["format", "learner", "courses", "goals"],
    format=STR,
    learner=obj(["id", "name"], id=ID, name=STR, prison_number=STR),
    courses={"type": "array", "items": ENROLMENT},
    goals={"type": "array", "items": GOAL},
)
RESULT = obj(
    ["score", "right", "total", "passed", "marks", "completed"],
    score=INT,
    right=INT,
    total=INT,
    passed=BOOL,
    pass_mark=INT,
    marks={"type": "array", "items": BOOL},
    completed=BOOL,
)
QUESTION = obj(
    ["text", "choices", "answer"],
    text=STR,
    choices={"type": "array", "items": STR},
    answer=INT,
)
BINARY = {"type": "string", "format": "binary"}


def binary_op(operation: dict[str, Any], *types: str) -> dict[str, Any]:
    operation["responses"]["200"] = {
        "description": "The file.",
        "content": {t: {"schema": BINARY} for t in types},
    }
    return operation


MEDIA = tuple(EXTENSIONS)

OPENAPI: dict[str, Any] = {
    "/api/campus/courses": {
        "get": campus_op(
            "The learner's catalogue: their establishment's courses and shared ones, each with "
            "their enrolment and whether its prerequisite is met",
            LEARN,
            result={"type": "array", "items": COURSE},
            errors=(401, 403),
        )
    },
    "/api/campus/courses/{course_id}": {
        "get": campus_op(
            "A course's lessons with the learner's progress in each",
            LEARN,
            result=COURSE,
            parameters=path_params("course_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/campus/courses/{course_id}/enrol": {
        "post": campus_op(
            "Enrol on a course (201; 200 with the enrolment there is); its prerequisite must be "
            "completed; closed during a lockdown",
            LEARN,
            ok=201,
            result=ENROLMENT,
            parameters=path_params("course_id"),
            errors=(401, 403, 404, 409, 423),
        )
    },
    "/api/campus/my-courses": {
        "get": campus_op(
            "The learner's courses with their progress (readable during a lockdown)",
            LEARN,
            result={"type": "array", "items": ENROLMENT},
            errors=(401, 403),
        )
    },
    "/api/campus/lessons/{lesson_id}": {
        "get": campus_op(
            "Open a lesson of a course one is on: its text, approved files and where one got to",
            LEARN,
            result=obj(
                ["course", "lesson", "progress"],
                course=COURSE,
                lesson=LESSON,
                progress=PROGRESS,
                next_lesson_id=NULLABLE_STR,
            ),
            parameters=path_params("lesson_id"),
            errors=(401, 403, 404, 423),
        )
    },
    "/api/campus/lessons/{lesson_id}/progress": {
        "put": campus_op(
            "Save where the learner got to (only forward; replaying it changes nothing)",
            LEARN,
            body=obj(["step"], step=INT, completed=BOOL),
            result=PROGRESS,
            parameters=path_params("lesson_id"),
            errors=(400, 401, 403, 404, 423),
        )
    },
    "/api/campus/courses/{course_id}/assessment": {
        "get": campus_op(
            "The assessment's questions (without answers), once every lesson is finished",
            LEARN,
            result={
                "type": "array",
                "items": obj(
                    ["id", "text", "choices"],
                    id=ID,
                    text=STR,
                    choices={"type": "array", "items": STR},
                ),
            },
            parameters=path_params("course_id"),
            errors=(401, 403, 404, 409, 423),
        ),
        "post": campus_op(
            "Answer the assessment: marked at once; a pass completes the course",
            LEARN,
            body=obj(["answers"], answers={"type": "array", "items": INT}),
            result=RESULT,
            parameters=path_params("course_id"),
            errors=(400, 401, 403, 404, 409, 423),
        ),
    },
    "/api/campus/courses/{course_id}/certificate": {
        "get": binary_op(
            campus_op(
                "The certificate of a completed course, a PDF in the learner's language",
                OWN_RECORD,
                parameters=path_params("course_id"),
                errors=(401, 403, 404, 409),
            ),
            "application/pdf",
        )
    },
    "/api/campus/files/{file_id}": {
        "get": binary_op(
            campus_op(
                "An approved lesson file of a course one is on, as its checked type",
                LEARN,
                parameters=path_params("file_id"),
                errors=(401, 403, 404, 423),
            ),
            *MEDIA,
        )
    },
    "/api/campus/record": {
        "get": campus_op(
            "The learner's own learning record, as portable JSON",
            OWN_RECORD,
            result=RECORD,
            errors=(401, 403),
        )
    },
    "/api/campus/record.pdf": {
        "get": binary_op(
            campus_op("The learner's own learning record as a PDF", OWN_RECORD, errors=(401, 403)),
            "application/pdf",
        )
    },
    "/api/campus/goals": {
        "post": campus_op(
            "Add a goal to one's learning plan, with a target date",
            LEARN,
            body=obj(["goal", "target_date"], goal=STR, target_date=STR),
            ok=201,
            result=GOAL,
            errors=(400, 401, 403),
        )
    },
    "/api/campus/goals/{goal_id}": {
        "put": campus_op(
            "Mark one's goal done (or not)",
            LEARN,
            body=obj(["done"], done=BOOL),
            ok=204,
            parameters=path_params("goal_id"),
            errors=(400, 401, 403, 404),
        )
    },
}
