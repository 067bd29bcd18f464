"""The timetable over HTTP: the prisoner's own week, and the staff's keeping of each
prisoner's activities. Rules live in `kiosk.timetable`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.permissions import Permission
from kiosk.timetable import Allocation, Timetable
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, path_params
from web.state import AUDIT, CLOCK, DATABASE

TIMETABLE = web.AppKey("timetable", Timetable)

routes = web.RouteTableDef()


async def timetable_ctx(app: web.Application) -> AsyncIterator[None]:
    app[TIMETABLE] = Timetable(app[DATABASE], clock=app[CLOCK], audit=app[AUDIT])
    yield


def _allocation_json(a: Allocation) -> dict[str, Any]:
    return {
        "id": a.id,
        "prisoner_id": a.prisoner_id,
        "kind": a.kind,
        "weekday": a.weekday,
        "start": a.start,
        "end": a.end,
    }


@routes.get("/api/kiosk/timetable")
async def week(request: web.Request) -> web.Response:
    principal = await require(request, Permission.TIMETABLE_READ)
    found = await request.app[TIMETABLE].week(principal)
    return json_response(
        {
            "starts_on": found.starts_on.isoformat(),
            "timezone": found.timezone,
            "entries": [
                {
                    "kind": e.kind,
                    "starts_at": e.starts_at.isoformat(),
                    "ends_at": e.ends_at.isoformat(),
                    "label": e.label,
                }
                for e in found.entries
            ],
        }
    )


@routes.get("/api/kiosk/prisoners/{prisoner_id}/allocations")
async def allocations(request: web.Request) -> web.Response:
    principal = await require(request, Permission.ALLOCATIONS_MANAGE)
    found = await request.app[TIMETABLE].allocations(principal, request.match_info["prisoner_id"])
    return json_response([_allocation_json(a) for a in found])


@routes.post("/api/kiosk/prisoners/{prisoner_id}/allocations")
async def allocate(request: web.Request) -> web.Response:
    principal = await require(request, Permission.ALLOCATIONS_MANAGE)
    body = await read_json(request)
    made = await request.app[TIMETABLE].allocate(
        principal,
        request.match_info["prisoner_id"],
        kind=body.get("kind"),
        weekday_value=body.get("weekday"),
        start=body.get("start"),
        end=body.get("end"),
    )
    return json_response(_allocation_json(made), status=201)


@routes.delete("/api/kiosk/allocations/{allocation_id}")
async def remove(request: web.Request) -> web.Response:
    principal = await require(request, Permission.ALLOCATIONS_MANAGE)
    await request.app[TIMETABLE].remove(principal, request.match_info["allocation_id"])
    return web.Response(status=204)


ALLOCATION = obj(
    ["id", "prisoner_id", "kind", "weekday", "start", "end"],
    id=ID,
    prisoner_id=ID,
    kind={"type": "string", "enum": ["work", "education", "gym"]},
    weekday={"type": "integer", "minimum": 0, "maximum": 6},
    start=STR,
    end=STR,
)
ENTRY = obj(
    ["kind", "starts_at", "ends_at"],
    kind={"type": "string", "enum": ["regime", "work", "education", "gym", "health", "visit"]},
    starts_at=DATETIME,
    ends_at=DATETIME,
    label={"type": ["string", "null"]},
)

OPENAPI: dict[str, Any] = {
    "/api/kiosk/timetable": {
        "get": op(
            "The prisoner's own week: regime, allocated activities, and the times (only) of "
            "health appointments",
            tag="kiosk",
            permission=Permission.TIMETABLE_READ,
            result=obj(
                ["starts_on", "timezone", "entries"],
                starts_on=STR,
                timezone=STR,
                entries={"type": "array", "items": ENTRY},
            ),
            errors=(401, 403),
        )
    },
    "/api/kiosk/prisoners/{prisoner_id}/allocations": {
        "get": op(
            "A prisoner's weekly activities (work, education, gym)",
            tag="kiosk",
            permission=Permission.ALLOCATIONS_MANAGE,
            result={"type": "array", "items": ALLOCATION},
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        ),
        "post": op(
            "Allocate a weekly activity to a prisoner of the establishment",
            tag="kiosk",
            permission=Permission.ALLOCATIONS_MANAGE,
            body=obj(
                ["kind", "weekday", "start", "end"],
                kind=STR,
                weekday={"type": "integer"},
                start=STR,
                end=STR,
            ),
            ok=201,
            result=ALLOCATION,
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/kiosk/allocations/{allocation_id}": {
        "delete": op(
            "Remove a prisoner's weekly activity",
            tag="kiosk",
            permission=Permission.ALLOCATIONS_MANAGE,
            ok=204,
            parameters=path_params("allocation_id"),
            errors=(401, 403, 404),
        )
    },
}


@routes.get("/staff/timetable")
async def allocations_page(request: web.Request) -> web.Response:
    """Officers: each prisoner's weekly activities."""
    return await page(request, "staff_timetable.html", "staff_timetable")
