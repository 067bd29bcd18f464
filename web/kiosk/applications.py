"""Kiosk applications over HTTP: the prisoner's own (send, read, take further) and the
staff's department queues (read, answer). Rules live in `kiosk.applications`.

Sending takes an `Idempotency-Key` header: the same key again answers 200 with the
application it made the first time, so a double tap is one application.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.fields import FieldCipher
from core.permissions import Permission
from kiosk.applications import MODULE, Application, Applications, DepartmentChoice
from web.auth import require
from web.kiosk import IDEMPOTENCY, NULLABLE_STR, idempotency_key, kiosk_op
from web.openapi import DATETIME, STR, obj
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, iso_or_none, path_params
from web.state import AUDIT, CLOCK, DATABASE, KEYS, SCHEDULING, SUBJECT_KEYS

APPLICATIONS = web.AppKey("applications", Applications)

routes = web.RouteTableDef()


async def applications_ctx(app: web.Application) -> AsyncIterator[None]:
    """After scheduling's: applications close during a lockdown (its `require_open`)."""
    scheduling = app[SCHEDULING]
    scheduling.suspensions.register(MODULE)
    app[APPLICATIONS] = Applications(
        app[DATABASE],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
        gate=scheduling.require_open,
    )
    yield


def _application_json(a: Application) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": a.id,
        "receipt": a.receipt,
        "department": {"id": a.department_id, "code": a.department_code, "name": a.department_name},
        "stage": a.stage,
        "parent_id": a.parent_id,
        "confidential": a.confidential,
        "status": a.status,
        "text": a.text,
        "reply": a.reply,
        "created_at": iso_or_none(a.created_at),
        "target_at": iso_or_none(a.target_at),
        "answered_at": iso_or_none(a.answered_at),
        "taken_hours": a.taken_hours,
        "overdue": a.overdue,
        "escalated_to": a.escalated_to,
    }
    if a.prison_number is not None:
        found["prisoner"] = {
            "id": a.prisoner_id,
            "prison_number": a.prison_number,
            "name": a.prisoner_name,
        }
    return found


def _choice_json(d: DepartmentChoice) -> dict[str, Any]:
    return {"id": d.id, "code": d.code, "name": d.name}


@routes.get("/api/kiosk/departments")
async def departments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_SEND)
    found = await request.app[APPLICATIONS].departments(principal)
    return json_response([_choice_json(d) for d in found])


@routes.get("/api/kiosk/applications")
async def mine(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_SEND)
    found = await request.app[APPLICATIONS].mine(principal)
    return json_response([_application_json(a) for a in found])


@routes.post("/api/kiosk/applications")
async def send(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_SEND)
    body = await read_json(request)
    made, new = await request.app[APPLICATIONS].send(
        principal,
        department_id=body.get("department_id"),
        text=body.get("text"),
        key=idempotency_key(request),
    )
    return json_response(_application_json(made), status=201 if new else 200)


@routes.get("/api/kiosk/applications/{application_id}")
async def one(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_SEND)
    found = await request.app[APPLICATIONS].get(principal, request.match_info["application_id"])
    return json_response(_application_json(found))


@routes.post("/api/kiosk/applications/{application_id}/escalate")
async def escalate(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_SEND)
    body = await read_json(request)
    made, new = await request.app[APPLICATIONS].escalate(
        principal,
        request.match_info["application_id"],
        text=body.get("text"),
        confidential=body.get("confidential", False),
        key=idempotency_key(request),
    )
    return json_response(_application_json(made), status=201 if new else 200)


@routes.get("/api/kiosk/queues")
async def queues(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_ANSWER)
    found = await request.app[APPLICATIONS].my_queues(principal)
    return json_response([_choice_json(d) for d in found])


@routes.get("/api/kiosk/queues/{department_id}")
async def queue(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_ANSWER)
    found = await request.app[APPLICATIONS].queue(
        principal,
        request.match_info["department_id"],
        include_answered=request.query.get("answered") == "1",
    )
    return json_response([_application_json(a) for a in found])


@routes.get("/api/kiosk/staff/applications/{application_id}")
async def staff_one(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_ANSWER)
    found = await request.app[APPLICATIONS].get(principal, request.match_info["application_id"])
    return json_response(_application_json(found))


@routes.post("/api/kiosk/staff/applications/{application_id}/answer")
async def answer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATIONS_ANSWER)
    body = await read_json(request)
    found = await request.app[APPLICATIONS].answer(
        principal, request.match_info["application_id"], reply=body.get("reply")
    )
    return json_response(_application_json(found))


@routes.get("/api/kiosk/departments/{department_id}/targets")
async def targets(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEPARTMENTS_READ)
    found = await request.app[APPLICATIONS].targets(principal, request.match_info["department_id"])
    return json_response(found)


@routes.put("/api/kiosk/departments/{department_id}/targets")
async def set_targets(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPLICATION_TARGETS_MANAGE)
    body = await read_json(request)
    found = await request.app[APPLICATIONS].set_targets(
        principal, request.match_info["department_id"], body
    )
    return json_response(found)


CHOICE = obj(["id", "code", "name"], id=STR, code=STR, name=STR)
APPLICATION = obj(
    ["id", "receipt", "department", "stage", "status", "created_at", "target_at", "taken_hours"],
    id=ID,
    receipt=STR,
    department=CHOICE,
    stage={"type": "string", "enum": ["application", "complaint", "appeal"]},
    parent_id=NULLABLE_STR,
    confidential={"type": "boolean"},
    status={"type": "string", "enum": ["open", "answered"]},
    text=NULLABLE_STR,
    reply=NULLABLE_STR,
    created_at=DATETIME,
    target_at=DATETIME,
    answered_at=NULLABLE_STR,
    taken_hours={"type": "number"},
    overdue={"type": "boolean"},
    escalated_to=NULLABLE_STR,
    prisoner=obj(["id", "prison_number"], id=ID, prison_number=STR, name=NULLABLE_STR),
)
TARGETS = obj(
    ["application", "complaint", "appeal"],
    application={"type": "integer"},
    complaint={"type": "integer"},
    appeal={"type": "integer"},
)
LIST = {"type": "array", "items": APPLICATION}

OPENAPI: dict[str, Any] = {
    "/api/kiosk/departments": {
        "get": kiosk_op(
            "The departments of the prisoner's establishment an application can go to",
            Permission.APPLICATIONS_SEND,
            result={"type": "array", "items": CHOICE},
            errors=(401, 403),
        )
    },
    "/api/kiosk/applications": {
        "get": kiosk_op(
            "The prisoner's own applications, complaints and appeals, newest first",
            Permission.APPLICATIONS_SEND,
            result=LIST,
            errors=(401, 403),
        ),
        "post": kiosk_op(
            "Send an application to a department: a receipt at once (closed in a lockdown)",
            Permission.APPLICATIONS_SEND,
            body=obj(["department_id", "text"], department_id=ID, text=STR),
            ok=201,
            result=APPLICATION,
            parameters=[IDEMPOTENCY],
            errors=(400, 401, 403, 404, 423),
        ),
    },
    "/api/kiosk/applications/{application_id}": {
        "get": kiosk_op(
            "One of the prisoner's own applications",
            Permission.APPLICATIONS_SEND,
            result=APPLICATION,
            parameters=path_params("application_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/applications/{application_id}/escalate": {
        "post": kiosk_op(
            "Take an answered application further: to a complaint (confidential if asked), "
            "then an appeal",
            Permission.APPLICATIONS_SEND,
            body=obj(["text"], text=STR, confidential={"type": "boolean"}),
            ok=201,
            result=APPLICATION,
            parameters=[*path_params("application_id"), IDEMPOTENCY],
            errors=(400, 401, 403, 404, 409, 423),
        )
    },
    "/api/kiosk/queues": {
        "get": kiosk_op(
            "The application queues of the caller: their departments, and the governor's "
            "confidential queue",
            Permission.APPLICATIONS_ANSWER,
            result={"type": "array", "items": CHOICE},
            errors=(401, 403),
        )
    },
    "/api/kiosk/queues/{department_id}": {
        "get": kiosk_op(
            "A department's open applications (answered too with ?answered=1), for its members; "
            "reading is logged",
            Permission.APPLICATIONS_ANSWER,
            result=LIST,
            parameters=path_params("department_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/staff/applications/{application_id}": {
        "get": kiosk_op(
            "One application, to a member of its department (the governor for a confidential "
            "complaint); reading is logged",
            Permission.APPLICATIONS_ANSWER,
            result=APPLICATION,
            parameters=path_params("application_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/staff/applications/{application_id}/answer": {
        "post": kiosk_op(
            "Reply to an application; the prisoner is told in their inbox",
            Permission.APPLICATIONS_ANSWER,
            body=obj(["reply"], reply=STR),
            result=APPLICATION,
            parameters=path_params("application_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/kiosk/departments/{department_id}/targets": {
        "get": kiosk_op(
            "A department's target days for an application, a complaint and an appeal",
            Permission.DEPARTMENTS_READ,
            result=TARGETS,
            parameters=path_params("department_id"),
            errors=(401, 403, 404),
        ),
        "put": kiosk_op(
            "Set a department's target days (1-90) for each stage",
            Permission.APPLICATION_TARGETS_MANAGE,
            body=TARGETS,
            result=TARGETS,
            parameters=path_params("department_id"),
            errors=(400, 401, 403, 404),
        ),
    },
}


@routes.get("/staff/applications")
async def queue_page(request: web.Request) -> web.Response:
    """Staff: the application queues of their departments (and the governor's)."""
    return await page(request, "staff_applications.html", "staff_applications")
