"""Where each of a clinician's consults stands now, from the signalling rooms.

The appointment's status in scheduling says booked, checked in or in progress;
it cannot say that the patient is back in the waiting room after dropping out
of the call, or that the clinician's own tab closed mid-call. The clinician's
list asks here, so that from the list it can rejoin, admit again, or record an
outcome for any consult in progress or stuck.
"""

from __future__ import annotations

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from web.auth import require
from web.openapi import STR, obj, op
from web.request import json_response
from web.state import SIGNALLING

routes = web.RouteTableDef()

MAX_ASKED = 50


@routes.get("/api/consults/live")
async def live_consults(request: web.Request) -> web.Response:
    """The live rooms among the `appointment` ids asked for, of this clinician only.

    Rooms of another clinician's appointments are left out, as unknown ones are:
    the answer says nothing about appointments that are not the caller's.
    """
    principal = await require(request, Permission.CONSULTS_CONDUCT)
    asked = request.query.getall("appointment", [])
    if len(asked) > MAX_ASKED or any(len(a) > 64 for a in asked):
        raise ServiceError(Code.INVALID_REQUEST, "Ask for at most 50 appointments.")
    rooms = await request.app[SIGNALLING].rooms(list(dict.fromkeys(asked)))
    return json_response(
        [room.summary() for room in rooms.values() if room.clinician_id == principal.account_id]
    )


_MEMBER = {
    "type": ["object", "null"],
    "properties": {
        "participant": STR,
        "status": {"type": "string", "enum": ["waiting", "present", "away", "left"]},
        "admitted": {"type": "boolean"},
        "since": STR,
        "waiting_since": {"type": ["string", "null"]},
    },
}

OPENAPI = {
    "/api/consults/live": {
        "get": op(
            "Where the caller's consults stand now: who is waiting, in the call, away or gone",
            tag="signalling",
            permission=Permission.CONSULTS_CONDUCT,
            parameters=[
                {
                    "name": "appointment",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "array", "items": STR, "maxItems": MAX_ASKED},
                    "style": "form",
                    "explode": True,
                }
            ],
            result={
                "type": "array",
                "items": obj(
                    appointment=STR,
                    state={"type": "string", "enum": ["waiting", "admitted", "in_call", "ended"]},
                    patient=_MEMBER,
                    clinician=_MEMBER,
                    ended_reason={"type": ["string", "null"]},
                ),
            },
            errors=(400, 401, 403),
        )
    }
}
