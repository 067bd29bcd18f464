"""Education staff's campus routes (the desk): courses, lessons, questions, uploads and
their approval, learners' progress, enrolments, records and plans. The learner's routes,
and the JSON and OpenAPI shapes both use, are in `web.campus.api`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import ServiceError
from core.identity import validation
from web.auth import require
from web.campus import CATALOGUE, LEARNING
from web.campus.api import (
    APPROVE,
    BINARY,
    BOOL,
    COURSE,
    ENROLMENT,
    FILE,
    GOAL,
    INT,
    LESSON,
    MEDIA,
    QUESTION,
    RECORD,
    TEACH,
    binary_op,
    campus_op,
    course_json,
    enrolment_json,
    file_json,
    file_response,
    goal_json,
    learner_progress_json,
    lesson_json,
    pdf_response,
    question_json,
    read_upload,
    record_json,
)
from web.openapi import STR, obj
from web.request import json_response, read_json
from web.scheduling_shared import ID, path_params
from web.state import IDENTITY

routes = web.RouteTableDef()


@routes.get("/api/campus/staff/courses")
async def staff_courses(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    found = await request.app[CATALOGUE].courses(principal)
    return json_response([course_json(c) for c in found])


@routes.post("/api/campus/staff/courses")
async def add_course(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    body = await read_json(request)
    found = await request.app[CATALOGUE].add_course(
        principal,
        title=body.get("title"),
        summary=body.get("summary", ""),
        requires_course_id=body.get("requires_course_id"),
        pass_mark=body.get("pass_mark", 70),
    )
    return json_response(course_json(found), status=201)


@routes.get("/api/campus/staff/courses/{course_id}")
async def staff_course(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    found, lessons = await request.app[CATALOGUE].staff_course(
        principal, request.match_info["course_id"]
    )
    return json_response(
        {**course_json(found), "lesson_list": [lesson_json(x, staff=True) for x in lessons]}
    )


@routes.post("/api/campus/staff/courses/{course_id}/lessons")
async def add_lesson(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    body = await read_json(request)
    found, cleaned = await request.app[CATALOGUE].add_lesson(
        principal,
        request.match_info["course_id"],
        title=body.get("title"),
        body_html=body.get("body_html"),
    )
    return json_response(
        {**lesson_json(found, staff=True), "removed": list(cleaned.removed)}, status=201
    )


@routes.put("/api/campus/staff/courses/{course_id}/questions")
async def set_questions(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    body = await read_json(request)
    found = await request.app[CATALOGUE].set_questions(
        principal, request.match_info["course_id"], body.get("questions")
    )
    return json_response([question_json(q) for q in found])


@routes.post("/api/campus/staff/lessons/{lesson_id}/files")
async def upload(request: web.Request) -> web.Response:
    """The body is the file itself; its Content-Type is what the uploader says it is."""
    principal = await require(request, TEACH)
    data = await read_upload(request)
    found = await request.app[CATALOGUE].upload(
        principal,
        request.match_info["lesson_id"],
        data=data,
        claimed=request.headers.get("Content-Type"),
        name=request.query.get("name"),
    )
    return json_response(file_json(found, staff=True), status=201)


@routes.get("/api/campus/staff/files/{file_id}")
async def staff_file(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    found, data = await request.app[CATALOGUE].file_content(
        principal, request.match_info["file_id"]
    )
    return file_response(found, data)


@routes.get("/api/campus/staff/pending")
async def pending(request: web.Request) -> web.Response:
    principal = await require(request, APPROVE)
    found = await request.app[CATALOGUE].pending(principal)
    return json_response(
        [
            {
                "course": {"id": c.id, "title": c.title},
                "lesson": {"id": lesson.id, "title": lesson.title},
                "file": file_json(f, staff=True),
            }
            for c, lesson, f in found
        ]
    )


@routes.post("/api/campus/staff/files/{file_id}/decision")
async def decide(request: web.Request) -> web.Response:
    principal = await require(request, APPROVE)
    body = await read_json(request)
    found = await request.app[CATALOGUE].decide(
        principal, request.match_info["file_id"], approve=body.get("approve")
    )
    return json_response(file_json(found, staff=True))


@routes.get("/api/campus/staff/courses/{course_id}/progress")
async def course_progress(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    found = await request.app[LEARNING].course_progress(principal, request.match_info["course_id"])
    return json_response([learner_progress_json(p) for p in found])


@routes.post("/api/campus/staff/courses/{course_id}/enrolments")
async def staff_enrol(request: web.Request) -> web.Response:
    """Enrol a learner by their prison number (or id)."""
    principal = await require(request, TEACH)
    body = await read_json(request)
    learner = body.get("learner_id")
    number = body.get("prison_number")
    if learner is None and isinstance(number, str):
        try:
            learner = await request.app[IDENTITY].find_prisoner(validation.prison_number(number))
        except ServiceError:
            learner = None
    found, new = await request.app[LEARNING].enrol(
        principal, request.match_info["course_id"], learner or ""
    )
    return json_response(enrolment_json(found), status=201 if new else 200)


@routes.get("/api/campus/staff/learners/{learner_id}/record")
async def learner_record(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    found = await request.app[LEARNING].record(principal, request.match_info["learner_id"])
    return json_response(record_json(found))


@routes.get("/api/campus/staff/learners/{learner_id}/record.pdf")
async def learner_record_pdf(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    data = await request.app[LEARNING].record_pdf(principal, request.match_info["learner_id"])
    return pdf_response("learning-record.pdf", data)


@routes.post("/api/campus/staff/learners/{learner_id}/goals")
async def learner_goal(request: web.Request) -> web.Response:
    principal = await require(request, TEACH)
    body = await read_json(request)
    found = await request.app[LEARNING].add_goal(
        principal,
        goal=body.get("goal"),
        target_date=body.get("target_date"),
        learner_id=request.match_info["learner_id"],
    )
    return json_response(goal_json(found), status=201)


OPENAPI: dict[str, Any] = {
    "/api/campus/staff/courses": {
        "get": campus_op(
            "Education staff: the establishment's courses and the shared ones",
            TEACH,
            result={"type": "array", "items": COURSE},
            errors=(401, 403),
        ),
        "post": campus_op(
            "Education staff: add a course of the establishment",
            TEACH,
            body=obj(["title"], title=STR, summary=STR, requires_course_id=ID, pass_mark=INT),
            ok=201,
            result=COURSE,
            errors=(400, 401, 403, 404),
        ),
    },
    "/api/campus/staff/courses/{course_id}": {
        "get": campus_op(
            "Education staff: a course with every lesson and file, pending ones too",
            TEACH,
            result=COURSE,
            parameters=path_params("course_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/campus/staff/courses/{course_id}/lessons": {
        "post": campus_op(
            "Education staff: add a lesson; its HTML is sanitised and the answer names what "
            "was taken out (`removed`)",
            TEACH,
            body=obj(["title", "body_html"], title=STR, body_html=STR),
            ok=201,
            result=LESSON,
            parameters=path_params("course_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/campus/staff/courses/{course_id}/questions": {
        "put": campus_op(
            "Education staff: set the course's multiple-choice assessment",
            TEACH,
            body=obj(["questions"], questions={"type": "array", "items": QUESTION}),
            result={"type": "array", "items": QUESTION},
            parameters=path_params("course_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/campus/staff/lessons/{lesson_id}/files": {
        "post": {
            **campus_op(
                "Education staff: upload a lesson file (the body is the file; ?name= its name). "
                "Screened: its real type must be the one it claims and allowed, at most 5 MB, "
                "a PDF without script, launch, embedded file or outside link. Stored pending "
                "approval",
                TEACH,
                ok=201,
                result=FILE,
                parameters=path_params("lesson_id"),
                errors=(400, 401, 403, 404, 413),
            ),
            "requestBody": {"required": True, "content": {t: {"schema": BINARY} for t in MEDIA}},
        }
    },
    "/api/campus/staff/files/{file_id}": {
        "get": binary_op(
            campus_op(
                "Education staff: a lesson file, pending or not, to look at before approving",
                TEACH,
                parameters=path_params("file_id"),
                errors=(401, 403, 404),
            ),
            *MEDIA,
        )
    },
    "/api/campus/staff/pending": {
        "get": campus_op(
            "Education staff: the files waiting for approval",
            APPROVE,
            result={"type": "array", "items": {"type": "object"}},
            errors=(401, 403),
        )
    },
    "/api/campus/staff/files/{file_id}/decision": {
        "post": campus_op(
            "Education staff: approve or refuse a pending file (never one's own upload)",
            APPROVE,
            body=obj(["approve"], approve=BOOL),
            result=FILE,
            parameters=path_params("file_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/campus/staff/courses/{course_id}/progress": {
        "get": campus_op(
            "Education staff: each learner on the course held here, with their progress "
            "(logged per learner)",
            TEACH,
            result={"type": "array", "items": {"type": "object"}},
            parameters=path_params("course_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/campus/staff/courses/{course_id}/enrolments": {
        "post": campus_op(
            "Education staff: enrol a learner held here, by prison number",
            TEACH,
            body=obj(prison_number=STR, learner_id=ID),
            ok=201,
            result=ENROLMENT,
            parameters=path_params("course_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/campus/staff/learners/{learner_id}/record": {
        "get": campus_op(
            "Education staff: a learner's learning record as JSON (logged)",
            TEACH,
            result=RECORD,
            parameters=path_params("learner_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/campus/staff/learners/{learner_id}/record.pdf": {
        "get": binary_op(
            campus_op(
                "Education staff: a learner's learning record as a PDF (logged)",
                TEACH,
                parameters=path_params("learner_id"),
                errors=(401, 403, 404),
            ),
            "application/pdf",
        )
    },
    "/api/campus/staff/learners/{learner_id}/goals": {
        "post": campus_op(
            "Education staff: set a goal of a learner's plan with them",
            TEACH,
            body=obj(["goal", "target_date"], goal=STR, target_date=STR),
            ok=201,
            result=GOAL,
            parameters=path_params("learner_id"),
            errors=(400, 401, 403, 404),
        )
    },
}
