"""REST endpoints for scheduling and consent. Thin: parse, authorise, call one service method.

Each operation's roles are checked here with `require` and again by the
service, and are listed in the OpenAPI document as `x-roles`. Which clinical
text a response carries is decided by the service (`core.clinical`'s rule):
`clinical_text` says whether it is `shown`, `withheld` from this reader, or
`shredded`. A record the caller cannot see answers as a missing one (404).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal
from core.permissions import Permission, allows
from scheduling import REASONS, Appointment
from scheduling.catalogue import AvailabilityRule, RegimeWindow
from scheduling.consent_forms import current_forms
from scheduling.search import slot_dict
from scheduling.times import instant
from scheduling.types import (
    EstablishmentView,
    OfficerAppointment,
    Service,
    TextStatus,
    WaitingPatient,
)
from web.auth import require
from web.openapi import DATETIME, STR, obj
from web.request import json_response, read_json
from web.scheduling_shared import (
    ARRAY,
    ID,
    INT,
    P,
    api_op,
    establishment_asked,
    iso_or_none,
    path_params,
    query_params,
    scheduling_of,
)
from web.state import CLOCK
from web.test_calls import add_test_calls

routes = web.RouteTableDef()


def _range(request: web.Request, default_days: int = 14) -> tuple[Any, Any]:
    now = request.app[CLOCK].now()
    q = request.query
    start = instant(q["from"], "from") if "from" in q else now - timedelta(days=1)
    end = instant(q["to"], "to") if "to" in q else start + timedelta(days=default_days)
    return start, end


def appointment_json(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id,
        "establishment_id": a.establishment_id,
        "prisoner_id": a.prisoner_id,
        "clinician_id": a.clinician_id,
        "service_id": a.service_id,
        "service": a.service_code,
        "starts_at": iso_or_none(a.starts_at),
        "ends_at": iso_or_none(a.ends_at),
        "status": a.status.value,
        "reason": a.reason,
        "notes": a.notes,
        "outcome_reason": a.outcome_code,
        "outcome_cause": a.outcome_category,
        "outcome_note": a.outcome_note,
        "clinical_text": a.clinical_text.value,
        "same_sex": a.same_sex,
        "chaperone": a.chaperone,
        "video_required": a.video_required,
        "in_person": a.in_person,
        "request_id": a.request_id,
        "rebook_of": a.rebook_of,
    }


def _patient_json(a: Appointment) -> dict[str, Any]:
    """The prisoner's own view: no clinician's notes."""
    body = appointment_json(a)
    body.pop("notes")
    body.pop("outcome_note")
    return body


def _officer_json(a: OfficerAppointment) -> dict[str, Any]:
    """Whom to bring where and when: never the service, reason, notes or clinician."""
    return {
        "id": a.id,
        "prisoner_id": a.prisoner_id,
        "prisoner_name": a.prisoner_name,
        "prison_number": a.prison_number,
        "cell": a.cell,
        "starts_at": iso_or_none(a.starts_at),
        "ends_at": iso_or_none(a.ends_at),
    }


def _waiting_json(w: WaitingPatient) -> dict[str, Any]:
    return {
        "appointment_id": w.appointment_id,
        "prisoner_id": w.prisoner_id,
        "prisoner_name": w.prisoner_name,
        "prison_number": w.prison_number,
        "starts_at": iso_or_none(w.starts_at),
        "ends_at": iso_or_none(w.ends_at),
        "waiting_since": iso_or_none(w.waiting_since),
    }


def _establishment_json(e: EstablishmentView) -> dict[str, Any]:
    return {"id": e.id, "code": e.code, "name": e.name, "timezone": e.timezone}


def _service_json(s: Service) -> dict[str, Any]:
    return dict(s.__dict__)


def _rule_json(r: AvailabilityRule | RegimeWindow) -> dict[str, Any]:
    return dict(r.__dict__)


def _shown(principal: Principal, a: Appointment) -> dict[str, Any]:
    return _patient_json(a) if principal.role == P else appointment_json(a)


# ---------------------------------------------------------------- reference


@routes.get("/api/reasons")
async def list_reasons(request: web.Request) -> web.Response:
    await require(request, Permission.REFERENCE_READ)
    return json_response(
        [{"code": r.code, "cause": r.cause.value, "label": r.label} for r in REASONS.values()]
    )


@routes.get("/api/consent-forms")
async def consent_forms(request: web.Request) -> web.Response:
    await require(request, Permission.REFERENCE_READ)
    return json_response([f.as_dict() for f in current_forms()])


@routes.get("/api/services")
async def list_services(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REFERENCE_READ)
    est = establishment_asked(principal, request.query.get("establishment_id"))
    return json_response(
        [_service_json(s) for s in await scheduling_of(request).list_services(est)]
    )


@routes.post("/api/services")
async def create_service(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SERVICES_MANAGE)
    body = await read_json(request)
    service = await scheduling_of(request).create_service(
        principal,
        establishment_asked(principal, body.get("establishment_id")),
        code=body.get("code"),
        name=body.get("name"),
        minutes=body.get("minutes", 20),
        buffer_minutes=body.get("buffer_minutes", 5),
        target_days=body.get("target_days", 14),
        sensitive=body.get("sensitive", False),
        escort_if_in_person=body.get("escort_if_in_person", False),
    )
    return json_response(_service_json(service), status=201)


@routes.get("/api/services/{service_id}/readers")
async def service_readers(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SERVICES_MANAGE)
    found = await scheduling_of(request).service_readers(
        principal, request.match_info["service_id"]
    )
    return json_response({"readers": found})


@routes.put("/api/services/{service_id}/readers")
async def set_service_readers(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SERVICES_MANAGE)
    body = await read_json(request)
    found = await scheduling_of(request).set_service_readers(
        principal, request.match_info["service_id"], body.get("readers")
    )
    return json_response({"readers": found})


# ------------------------------------------------------------- availability


@routes.post("/api/availability")
async def add_availability(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    body = await read_json(request)
    rule = await scheduling_of(request).add_availability(
        principal,
        clinician_id=body.get("clinician_id", principal.account_id),
        service_id=body.get("service_id"),
        weekday_value=body.get("weekday"),
        start=body.get("start"),
        end=body.get("end"),
    )
    return json_response(_rule_json(rule), status=201)


@routes.delete("/api/availability/{rule_id}")
async def remove_availability(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    await scheduling_of(request).remove_availability(principal, request.match_info["rule_id"])
    return web.Response(status=204)


@routes.get("/api/clinicians/{clinician_id}/availability")
async def clinician_availability(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    rules = await scheduling_of(request).availability_of(
        request.match_info["clinician_id"],
        establishment_id=None
        if allows(principal, Permission.ANY_ESTABLISHMENT)
        else principal.establishment_id,
    )
    return json_response([_rule_json(r) for r in rules])


@routes.post("/api/availability/exceptions")
async def add_exception(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    body = await read_json(request)
    exc = await scheduling_of(request).add_exception(
        principal,
        clinician_id=body.get("clinician_id", principal.account_id),
        establishment_id=establishment_asked(principal, body.get("establishment_id")),
        kind=body.get("kind"),
        starts_at=body.get("starts_at"),
        ends_at=body.get("ends_at"),
        service_id=body.get("service_id"),
    )
    return json_response({**exc.__dict__}, status=201)


# ------------------------------------------------------------------ regime


@routes.get("/api/regime-windows")
async def list_regime(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REGIME_READ)
    est = establishment_asked(principal, request.query.get("establishment_id"))
    return json_response(
        [_rule_json(w) for w in await scheduling_of(request).regime_windows_of(est)]
    )


@routes.post("/api/regime-windows")
async def add_regime(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REGIME_MANAGE)
    body = await read_json(request)
    window = await scheduling_of(request).add_regime_window(
        principal,
        establishment_asked(principal, body.get("establishment_id")),
        label=body.get("label"),
        weekday_value=body.get("weekday"),
        start=body.get("start"),
        end=body.get("end"),
    )
    return json_response(_rule_json(window), status=201)


@routes.delete("/api/regime-windows/{window_id}")
async def remove_regime(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REGIME_MANAGE)
    await scheduling_of(request).remove_regime_window(principal, request.match_info["window_id"])
    return web.Response(status=204)


@routes.get("/api/misses")
async def misses(request: web.Request) -> web.Response:
    principal = await require(request, Permission.MISSES_CODE)
    found = await scheduling_of(request).misses_to_code(principal)
    return json_response([appointment_json(a) for a in found])


@routes.get("/api/establishments")
async def list_establishments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.ESTABLISHMENTS_READ)
    found = await scheduling_of(request).establishments_for(principal)
    return json_response([_establishment_json(e) for e in found])


@routes.get("/api/waiting-room")
async def waiting_room(request: web.Request) -> web.Response:
    principal = await require(request, Permission.WAITING_ROOM)
    found = await scheduling_of(request).waiting_room(principal)
    return json_response([_waiting_json(w) for w in found])


# -------------------------------------------------------------------- slots


@routes.get("/api/slots")
async def search_slots(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SLOTS_SEARCH)
    q = request.query
    prisoner_id = q.get("prisoner_id")
    if principal.role == P:
        if prisoner_id not in (None, principal.account_id):
            raise ServiceError(Code.FORBIDDEN)
        prisoner_id = principal.account_id
    start, end = _range(request)
    limit = q.get("limit", "20")
    if not limit.isdigit():
        raise ServiceError(Code.INVALID_REQUEST, "The limit is 1 to 200.")
    service_id = q.get("service_id")
    if service_id is None:
        raise ServiceError(Code.INVALID_REQUEST, "service_id is required.")
    slots = await scheduling_of(request).search_slots(
        service_id=service_id,
        start=start,
        end=end,
        clinician_id=q.get("clinician_id"),
        prisoner_id=prisoner_id,
        same_sex=q.get("same_sex") == "true",
        limit=int(limit),
        actor=principal,
        chaperone=q.get("chaperone") == "true",
    )
    return json_response([slot_dict(s) for s in slots])


# ------------------------------------------------------------- appointments


@routes.post("/api/appointments")
async def book(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_BOOK)
    body = await read_json(request)
    appointment = await scheduling_of(request).book(
        principal,
        prisoner_id=body.get("prisoner_id", principal.account_id if principal.role == P else None),
        service_id=body.get("service_id"),
        clinician_id=body.get("clinician_id"),
        starts_at=body.get("starts_at"),
        reason_text=body.get("reason"),
        notes=body.get("notes"),
        same_sex=body.get("same_sex", False),
        chaperone=body.get("chaperone", False),
        video_required=body.get("video_required", False),
        in_person=body.get("in_person", False),
        request_id=body.get("request_id"),
    )
    return json_response(_shown(principal, appointment), status=201)


@routes.get("/api/appointments")
async def list_appointments(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_READ)
    start, end = _range(request)
    prisoner_id = request.query.get("prisoner_id")
    if not allows(principal, Permission.APPOINTMENTS_DETAIL):
        seen = await scheduling_of(request).officer_view(
            principal, start=start, end=end, prisoner_id=prisoner_id
        )
        return json_response([_officer_json(a) for a in seen])
    found = await scheduling_of(request).appointments(
        principal,
        start=start,
        end=end,
        prisoner_id=prisoner_id,
        clinician_id=request.query.get("clinician_id"),
        establishment_id=request.query.get("establishment_id"),
    )
    shown = [_shown(principal, a) for a in found]
    if allows(principal, Permission.APPOINTMENTS_DETAIL) and principal.role != P:
        await add_test_calls(scheduling_of(request), shown)
    return json_response(shown)


@routes.get("/api/appointments/{appointment_id}")
async def get_appointment(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_DETAIL)
    found = await scheduling_of(request).appointment(
        principal, request.match_info["appointment_id"]
    )
    return json_response(_shown(principal, found))


@routes.post("/api/appointments/{appointment_id}/reschedule")
async def reschedule(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_RESCHEDULE)
    body = await read_json(request)
    moved = await scheduling_of(request).reschedule(
        principal, request.match_info["appointment_id"], body.get("starts_at")
    )
    return json_response(appointment_json(moved))


@routes.post("/api/appointments/{appointment_id}/rebook")
async def rebook(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_BOOK)
    body = await read_json(request)
    booked = await scheduling_of(request).rebook(
        principal, request.match_info["appointment_id"], body.get("starts_at")
    )
    return json_response(_shown(principal, booked), status=201)


@routes.post("/api/appointments/{appointment_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_CANCEL)
    body = await read_json(request)
    done = await scheduling_of(request).cancel(
        principal, request.match_info["appointment_id"], body.get("reason"), body.get("note")
    )
    if not allows(principal, Permission.APPOINTMENTS_DETAIL):
        return json_response({"id": done.id, "status": done.status.value})
    return json_response(_shown(principal, done))


@routes.post("/api/appointments/{appointment_id}/check-in")
async def check_in(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_CHECK_IN)
    done = await scheduling_of(request).check_in(principal, request.match_info["appointment_id"])
    if not allows(principal, Permission.APPOINTMENTS_DETAIL):
        return json_response({"id": done.id, "status": done.status.value})
    return json_response(_shown(principal, done))


@routes.post("/api/appointments/{appointment_id}/attended")
async def attended(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_OUTCOME)
    body = await read_json(request) if request.can_read_body else {}
    done = await scheduling_of(request).mark_attended(
        principal, request.match_info["appointment_id"], body.get("note")
    )
    return json_response(appointment_json(done))


@routes.post("/api/appointments/{appointment_id}/video-required")
async def video_required(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_VIDEO_REQUIRED)
    body = await read_json(request)
    done = await scheduling_of(request).set_video_required(
        principal, request.match_info["appointment_id"], body.get("video_required")
    )
    return json_response(appointment_json(done))


@routes.post("/api/appointments/{appointment_id}/did-not-attend")
async def did_not_attend(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_OUTCOME)
    body = await read_json(request)
    done = await scheduling_of(request).mark_did_not_attend(
        principal, request.match_info["appointment_id"], body.get("reason"), body.get("note")
    )
    return json_response(appointment_json(done))


# ------------------------------------------------------------------ OpenAPI


HHMM = {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}
WEEKDAY = {"type": "integer", "minimum": 0, "maximum": 6}
BOOL = {"type": "boolean"}
APPOINTMENT = obj(
    id=ID,
    prisoner_id=ID,
    clinician_id=ID,
    service_id=ID,
    service=STR,
    starts_at=DATETIME,
    ends_at=DATETIME,
    status={
        "type": "string",
        "enum": [
            s
            for s in (
                "booked",
                "checked_in",
                "in_progress",
                "completed",
                "did_not_attend",
                "cancelled",
                "not_recorded",
            )
        ],
    },
    outcome_reason=STR,
    outcome_cause={"type": "string", "enum": ["prison", "patient", "clinician"]},
    reason={"type": ["string", "null"]},
    notes={"type": ["string", "null"]},
    outcome_note={"type": ["string", "null"]},
    clinical_text={"type": "string", "enum": [s.value for s in TextStatus]},
    video_required=BOOL,
    in_person=BOOL,
)
READERS = obj(["readers"], readers={"type": "array", "items": ID})
RANGE = query_params("from", "to")
REASON_BODY = obj(["reason"], reason=STR, note=STR)

OPENAPI: dict[str, Any] = {
    "/api/reasons": {
        "get": api_op("Reason codes, split by cause", Permission.REFERENCE_READ, result=ARRAY)
    },
    "/api/consent-forms": {
        "get": api_op(
            "Current consent forms in English and Welsh", Permission.REFERENCE_READ, result=ARRAY
        )
    },
    "/api/services": {
        "get": api_op(
            "Services at an establishment",
            Permission.REFERENCE_READ,
            result=ARRAY,
            parameters=query_params("establishment_id"),
        ),
        "post": api_op(
            "Create a service (length, buffer, target wait)",
            Permission.SERVICES_MANAGE,
            body=obj(
                ["code", "name"],
                code=STR,
                name=STR,
                minutes=INT,
                buffer_minutes=INT,
                target_days=INT,
                sensitive=BOOL,
                escort_if_in_person=BOOL,
                establishment_id=ID,
            ),
            ok=201,
        ),
    },
    "/api/services/{service_id}/readers": {
        "get": api_op(
            "Staff a sensitive service names as readers of its clinical text",
            Permission.SERVICES_MANAGE,
            result=READERS,
            parameters=path_params("service_id"),
            errors=(401, 403, 404),
        ),
        "put": api_op(
            "Name the staff (clinicians, managers of its establishment) who, besides each "
            "appointment's own clinician, read a sensitive service's clinical text",
            Permission.SERVICES_MANAGE,
            body=READERS,
            result=READERS,
            parameters=path_params("service_id"),
            errors=(400, 401, 403, 404),
        ),
    },
    "/api/availability": {
        "post": api_op(
            "Add weekly availability in the establishment's local time",
            Permission.AVAILABILITY_MANAGE,
            body=obj(
                ["service_id", "weekday", "start", "end"],
                clinician_id=ID,
                service_id=ID,
                weekday=WEEKDAY,
                start=HHMM,
                end=HHMM,
            ),
            ok=201,
        )
    },
    "/api/availability/{rule_id}": {
        "delete": api_op(
            "Remove weekly availability",
            Permission.AVAILABILITY_MANAGE,
            ok=204,
            parameters=path_params("rule_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/availability/exceptions": {
        "post": api_op(
            "Add leave or a one-off extra session",
            Permission.AVAILABILITY_MANAGE,
            body=obj(
                ["kind", "starts_at", "ends_at"],
                kind={"enum": ["leave", "extra"]},
                clinician_id=ID,
                service_id=ID,
                starts_at=DATETIME,
                ends_at=DATETIME,
            ),
            ok=201,
        )
    },
    "/api/clinicians/{clinician_id}/availability": {
        "get": api_op(
            "A clinician's weekly availability",
            Permission.AVAILABILITY_MANAGE,
            result=ARRAY,
            parameters=path_params("clinician_id"),
        )
    },
    "/api/regime-windows": {
        "get": api_op(
            "Regime windows (no consults)",
            Permission.REGIME_READ,
            result=ARRAY,
            parameters=query_params("establishment_id"),
        ),
        "post": api_op(
            "Add a weekly regime window (roll check, meals, movement)",
            Permission.REGIME_MANAGE,
            body=obj(
                ["label", "weekday", "start", "end"],
                label=STR,
                weekday=WEEKDAY,
                start=HHMM,
                end=HHMM,
                establishment_id=ID,
            ),
            ok=201,
        ),
    },
    "/api/regime-windows/{window_id}": {
        "delete": api_op(
            "Remove a regime window",
            Permission.REGIME_MANAGE,
            ok=204,
            parameters=path_params("window_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/misses": {
        "get": api_op(
            "Appointments whose window closed with no outcome, to code: a clinician's own,"
            " or the establishment's for a manager",
            Permission.MISSES_CODE,
            result=ARRAY,
        )
    },
    "/api/establishments": {
        "get": api_op(
            "Establishments to report on: a manager their own, an admin all",
            Permission.ESTABLISHMENTS_READ,
            result={
                "type": "array",
                "items": obj(["id", "code", "name"], id=ID, code=STR, name=STR, timezone=STR),
            },
        )
    },
    "/api/waiting-room": {
        "get": api_op(
            "The clinician's own patients checked in and waiting now, across appointments",
            Permission.WAITING_ROOM,
            result=ARRAY,
        )
    },
    "/api/slots": {
        "get": api_op(
            "Free slots for a service",
            Permission.SLOTS_SEARCH,
            result=ARRAY,
            parameters=query_params(
                "service_id",
                "from",
                "to",
                "clinician_id",
                "prisoner_id",
                "same_sex",
                "chaperone",
                "limit",
            ),
        )
    },
    "/api/appointments": {
        "get": api_op(
            "Appointments (officers see only who, where and when: name, number, cell, time;"
            " clinical staff also see the latest pre-call test as `test_call`)",
            Permission.APPOINTMENTS_READ,
            result=ARRAY,
            parameters=[*RANGE, *query_params("prisoner_id", "clinician_id", "establishment_id")],
        ),
        "post": api_op(
            "Book a consult",
            Permission.APPOINTMENTS_BOOK,
            body=obj(
                ["service_id", "clinician_id", "starts_at"],
                prisoner_id=ID,
                service_id=ID,
                clinician_id=ID,
                starts_at=DATETIME,
                reason=STR,
                notes=STR,
                same_sex=BOOL,
                chaperone=BOOL,
                video_required=BOOL,
                in_person=BOOL,
                request_id=ID,
            ),
            ok=201,
            result=APPOINTMENT,
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/appointments/{appointment_id}": {
        "get": api_op(
            "One appointment",
            Permission.APPOINTMENTS_DETAIL,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/appointments/{appointment_id}/reschedule": {
        "post": api_op(
            "Move a booked consult",
            Permission.APPOINTMENTS_RESCHEDULE,
            body=obj(["starts_at"], starts_at=DATETIME),
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/rebook": {
        "post": api_op(
            "Take up a rebooking offer",
            Permission.APPOINTMENTS_BOOK,
            body=obj(["starts_at"], starts_at=DATETIME),
            ok=201,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/cancel": {
        "post": api_op(
            "Cancel with a reason code",
            Permission.APPOINTMENTS_CANCEL,
            body=REASON_BODY,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/check-in": {
        "post": api_op(
            "Check in",
            Permission.APPOINTMENTS_CHECK_IN,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/attended": {
        "post": api_op(
            "Mark attended",
            Permission.APPOINTMENTS_OUTCOME,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/video-required": {
        "post": api_op(
            "Mark a consult as needing video (no audio-only step), or not",
            Permission.APPOINTMENTS_VIDEO_REQUIRED,
            body=obj(["video_required"], video_required=BOOL),
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/appointments/{appointment_id}/did-not-attend": {
        "post": api_op(
            "Mark did not attend, with a reason code",
            Permission.APPOINTMENTS_OUTCOME,
            body=REASON_BODY,
            result=APPOINTMENT,
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
}
