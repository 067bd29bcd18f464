"""The day's operations board for managers and officers: a page and its API.

`GET /api/operations/board` lists every consult of one day of the establishment
(`SchedulingService.operations_board`: times, names, numbers and cells; the
service and clinician only for managers) with where each stands now, read from
the signalling rooms: expected, waiting, in call, away (dropped out or gone
from the room before the end) or ended. The page asks again every few seconds.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from signalling.rooms import MemberStatus, Room
from web.auth import require
from web.openapi import STR, obj, op
from web.pages import page
from web.request import json_response
from web.state import CLOCK, IDENTITY, SCHEDULING, SIGNALLING

routes = web.RouteTableDef()
FINISHED = frozenset({"completed", "did_not_attend", "not_recorded"})
STATUSES = ("expected", "waiting", "in_call", "away", "ended")


def live_status(status: str, room: Room | None) -> str:
    """Where a consult stands: the room says more than the appointment while it is open."""
    if status in FINISHED:
        return "ended"
    if room is None:
        return "expected"
    if room.ended:
        return "ended"
    patient = next((m for m in room.members.values() if m.role == "patient"), None)
    if patient is None:
        return "expected"
    if patient.status is MemberStatus.WAITING:
        return "waiting"
    if patient.status is MemberStatus.PRESENT and patient.admitted:
        return "in_call"
    return "away"


@routes.get("/operations")
async def operations_page(request: web.Request) -> web.Response:
    return await page(request, "operations.html", "operations")


@routes.get("/api/operations/board")
async def operations_board(request: web.Request) -> web.Response:
    actor = await require(request, Permission.OPERATIONS_READ)
    establishment_id = request.query.get("establishment") or actor.establishment_id
    if establishment_id is None or len(establishment_id) > 36:
        raise ServiceError(Code.INVALID_REQUEST, "establishment is required.")
    place = await request.app[IDENTITY].establishment(establishment_id)
    if place is None:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
    zone = await asyncio.to_thread(ZoneInfo, place.timezone)
    raw = request.query.get("day")
    try:
        day = date.fromisoformat(raw) if raw else request.app[CLOCK].now().astimezone(zone).date()
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, "day is a date (YYYY-MM-DD).") from None
    start = datetime.combine(day, datetime.min.time(), zone)
    rows = await request.app[SCHEDULING].operations_board(actor, establishment_id, start)
    rooms = await request.app[SIGNALLING].rooms([r.appointment_id for r in rows])
    consults: list[dict[str, Any]] = []
    for r in rows:
        row: dict[str, Any] = {
            "appointment_id": r.appointment_id,
            "starts_at": r.starts_at.isoformat(),
            "ends_at": r.ends_at.isoformat(),
            "live": live_status(r.status, rooms.get(r.appointment_id)),
            "prisoner_name": r.prisoner_name,
            "prison_number": r.prison_number,
            "cell": r.cell,
        }
        if r.service is not None:
            row["service"] = r.service
            row["clinician"] = r.clinician
        consults.append(row)
    counts = {s: sum(1 for c in consults if c["live"] == s) for s in STATUSES}
    return json_response(
        {
            "establishment_id": establishment_id,
            "day": day.isoformat(),
            "timezone": place.timezone,
            "counts": counts,
            "consults": consults,
        }
    )


_CONSULT = obj(
    appointment_id=STR,
    starts_at=STR,
    ends_at=STR,
    live={"type": "string", "enum": list(STATUSES)},
    prisoner_name={"type": ["string", "null"]},
    prison_number={"type": ["string", "null"]},
    cell={"type": ["string", "null"]},
    service={"type": "string", "description": "Managers only"},
    clinician={"type": ["string", "null"], "description": "Managers only"},
)

OPENAPI = {
    "/api/operations/board": {
        "get": op(
            "Every consult of one day and where it stands now (no clinical text; the service "
            "and clinician only for those who may see what an appointment is for)",
            tag="operations",
            permission=Permission.OPERATIONS_READ,
            parameters=[
                {"name": "establishment", "in": "query", "required": False, "schema": STR},
                {
                    "name": "day",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date"},
                },
            ],
            result=obj(
                establishment_id=STR,
                day=STR,
                timezone=STR,
                counts={"type": "object"},
                consults={"type": "array", "items": _CONSULT},
            ),
            errors=(400, 401, 403, 404),
        )
    }
}
