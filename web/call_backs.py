"""Call-back tasks on the staff page: bring a prisoner to a phone or a room.

The last step of a consult's fallback ladder (docs/signalling.md, "The fallback
ladder"): the clinician chose to phone, signalling opened the task through
scheduling, and the staff of the device's wing see it here, by wing and cell.
Who, where and when: never why.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from scheduling.types import CallBackTask
from web.auth import require
from web.openapi import DATETIME, obj
from web.request import json_response
from web.scheduling_shared import (
    ID,
    api_op,
    establishment_asked,
    iso_or_none,
    path_params,
    query_params,
)
from web.state import SCHEDULING

routes = web.RouteTableDef()

NULLABLE_STR = {"type": ["string", "null"]}


def _task_json(task: CallBackTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "appointment_id": task.appointment_id,
        "requested_at": iso_or_none(task.requested_at),
        "consult_at": iso_or_none(task.consult_at),
        "prisoner_name": task.prisoner_name,
        "prison_number": task.prison_number,
        "wing": task.wing,
        "cell": task.cell,
    }


@routes.get("/api/call-backs")
async def call_backs(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CALL_BACKS_MANAGE)
    est = establishment_asked(principal, request.query.get("establishment_id"))
    tasks = await request.app[SCHEDULING].call_back_tasks(principal, est)
    return json_response([_task_json(t) for t in tasks])


@routes.post("/api/call-backs/{task_id}/done")
async def call_back_done(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CALL_BACKS_MANAGE)
    await request.app[SCHEDULING].finish_call_back(principal, request.match_info["task_id"])
    return json_response({"id": request.match_info["task_id"], "done": True})


TASK = obj(
    ["id", "appointment_id", "requested_at", "consult_at", "wing", "cell"],
    id=ID,
    appointment_id=ID,
    requested_at=DATETIME,
    consult_at=DATETIME,
    prisoner_name=NULLABLE_STR,
    prison_number=NULLABLE_STR,
    wing=NULLABLE_STR,
    cell=NULLABLE_STR,
)

OPENAPI: dict[str, Any] = {
    "/api/call-backs": {
        "get": api_op(
            "Open call-backs: prisoners to bring to a phone, by wing and cell (no clinical detail)",
            Permission.CALL_BACKS_MANAGE,
            result={"type": "array", "items": TASK},
            parameters=query_params("establishment_id"),
        )
    },
    "/api/call-backs/{task_id}/done": {
        "post": api_op(
            "The prisoner was brought to a phone: the call-back leaves the list",
            Permission.CALL_BACKS_MANAGE,
            result=obj(["id", "done"], id=ID, done={"type": "boolean"}),
            parameters=path_params("task_id"),
            errors=(401, 403, 404, 409),
        )
    },
}
