"""Where each of a clinician's consults stands now, from the signalling rooms.

The appointment's status in scheduling says booked, checked in or in progress;
it cannot say that the patient is back in the waiting room after dropping out
of the call, or that the clinician's own tab closed mid-call. The clinician's
list asks here, so that from the list it can rejoin, admit again, or record an
outcome for any consult in progress or stuck.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from scheduling.consult_record import MAX_NOTES, ConsultNotes
from web.auth import require
from web.openapi import STR, obj, op
from web.request import json_response, read_json
from web.scheduling_api import appointment_json
from web.scheduling_shared import iso_or_none, path_params, scheduling_of
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


# ------------------------------------------------- context, notes, outcome


@routes.get("/api/appointments/{appointment_id}/context")
async def consult_context(request: web.Request) -> web.Response:
    """What the consult's own clinician needs in front of them: reason, request, pre-call test."""
    principal = await require(request, Permission.CONSULTS_CONDUCT)
    found = await scheduling_of(request).consult_context(
        principal, request.match_info["appointment_id"]
    )
    a, asked, test = found.appointment, found.request, found.test_call
    return json_response(
        {
            "appointment_id": a.id,
            "service": a.service_code,
            "reason": a.reason,
            "notes": a.notes,
            "clinical_text": a.clinical_text.value,
            "request": None
            if asked is None
            else {
                "id": asked.id,
                "category": asked.category,
                "urgency": asked.urgency,
                "text": asked.text,
                "text_status": asked.text_status.value,
                "created_at": iso_or_none(asked.created_at),
            },
            "test_call": None
            if test is None
            else {
                "at": iso_or_none(test.at),
                "outcome": test.outcome,
                "camera": test.camera,
                "microphone": test.microphone,
                "connection": test.connection,
            },
        }
    )


def _notes_json(notes: ConsultNotes) -> dict[str, Any]:
    return {
        "text": notes.text,
        "version": notes.version,
        "updated_at": iso_or_none(notes.updated_at),
        "text_status": notes.text_status.value,
    }


@routes.get("/api/appointments/{appointment_id}/consult-notes")
async def read_notes(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CONSULT_NOTES_WRITE)
    notes = await scheduling_of(request).consult_notes(
        principal, request.match_info["appointment_id"]
    )
    return json_response(_notes_json(notes))


@routes.put("/api/appointments/{appointment_id}/consult-notes")
async def save_notes(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CONSULT_NOTES_WRITE)
    body = await read_json(request)
    notes = await scheduling_of(request).save_consult_notes(
        principal, request.match_info["appointment_id"], body.get("text"), body.get("version")
    )
    return json_response(_notes_json(notes))


@routes.put("/api/appointments/{appointment_id}/outcome")
async def record_outcome(request: web.Request) -> web.Response:
    """Record the outcome, or amend it within 24 hours; the same outcome twice changes nothing."""
    principal = await require(request, Permission.APPOINTMENTS_OUTCOME)
    body = await read_json(request)
    done, changed = await scheduling_of(request).record_outcome(
        principal,
        request.match_info["appointment_id"],
        body.get("outcome"),
        body.get("reason"),
        body.get("note"),
    )
    return json_response({**appointment_json(done), "changed": changed})


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

_NULL_STR = {"type": ["string", "null"]}
_APPOINTMENT = path_params("appointment_id")
_NOTES = obj(text=STR, version={"type": "integer"}, updated_at=_NULL_STR, text_status=STR)

OPENAPI = {
    "/api/appointments/{appointment_id}/context": {
        "get": op(
            "The consult's reason, the health request it came from and the pre-call test, "
            "for its own clinician",
            tag="scheduling",
            permission=Permission.CONSULTS_CONDUCT,
            parameters=_APPOINTMENT,
            result=obj(
                appointment_id=STR,
                service=STR,
                reason=_NULL_STR,
                notes=_NULL_STR,
                clinical_text=STR,
                request={"type": ["object", "null"]},
                test_call={"type": ["object", "null"]},
            ),
            errors=(401, 403, 404),
        )
    },
    "/api/appointments/{appointment_id}/consult-notes": {
        "get": op(
            "The notes of one's own consult, with the version a save must name",
            tag="scheduling",
            permission=Permission.CONSULT_NOTES_WRITE,
            parameters=_APPOINTMENT,
            result=_NOTES,
            errors=(401, 403, 404),
        ),
        "put": op(
            "Save the consult's notes; 409 with the current `version` if another window saved",
            tag="scheduling",
            permission=Permission.CONSULT_NOTES_WRITE,
            parameters=_APPOINTMENT,
            body=obj(
                ["text", "version"],
                text={"type": "string", "maxLength": MAX_NOTES},
                version={"type": "integer", "minimum": 0},
            ),
            result=_NOTES,
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/appointments/{appointment_id}/outcome": {
        "put": op(
            "Record the outcome, or amend it within 24 hours (logged); a refusal names its `field`",
            tag="scheduling",
            permission=Permission.APPOINTMENTS_OUTCOME,
            parameters=_APPOINTMENT,
            body=obj(
                ["outcome"],
                outcome={"enum": ["completed", "did_not_attend"]},
                reason=STR,
                note=STR,
            ),
            result=obj(id=STR, status=STR, changed={"type": "boolean"}),
            errors=(400, 401, 403, 404, 409),
        )
    },
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
    },
}
