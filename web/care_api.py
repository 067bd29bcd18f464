"""REST endpoints for a prisoner's care around the consult: consent, health requests,
transfer and release. Thin, like `web/scheduling_api.py`; their shared helpers are in
`web/scheduling_shared.py`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.permissions import Permission
from scheduling import Consent
from scheduling.release import Fate
from scheduling.types import HealthRequest
from web.auth import require
from web.openapi import STR, obj
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

routes = web.RouteTableDef()


def consent_json(c: Consent) -> dict[str, Any]:
    return {
        "id": c.id,
        "prisoner_id": c.prisoner_id,
        "scope": c.scope.value,
        "form_version": c.form_version,
        "decision": c.decision.value,
        "decided_at": iso_or_none(c.decided_at),
        "device_id": c.device_id,
        "witness_id": c.witness_id,
        "withdrawn_at": iso_or_none(c.withdrawn_at),
        "in_force": c.in_force,
        "appointment_id": c.appointment_id,
    }


def _request_json(r: HealthRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "category": r.category,
        "text": r.text,
        "text_status": r.text_status.value,
        "status": r.status,
        "urgency": r.urgency,
        "service_id": r.service_id,
        "created_at": iso_or_none(r.created_at),
        "triaged_at": iso_or_none(r.triaged_at),
        "appointment_id": r.appointment_id,
        "waited_days": r.waited_days,
        "target_days": r.target_days,
        "over_target": r.target_days is not None and r.waited_days > r.target_days,
        "prisoner_id": r.prisoner_id,
        "prisoner_name": r.prisoner_name,
        "prison_number": r.prison_number,
        # Advice given, or why the request was declined: written for the prisoner.
        "response": r.response,
    }


# ------------------------------------------------------------------ consent


@routes.post("/api/consents")
async def record_consent(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CONSENTS_MANAGE)
    body = await read_json(request)
    consent = await scheduling_of(request).record_consent(
        principal,
        prisoner_id=body.get("prisoner_id", principal.account_id if principal.role == P else None),
        scope_value=body.get("scope"),
        version=body.get("form_version"),
        decision=body.get("decision"),
        language=body.get("language", "en"),
        device_id=body.get("device_id"),
        appointment_id=body.get("appointment_id"),
    )
    return json_response(consent_json(consent), status=201)


@routes.get("/api/consents")
async def list_consents(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CONSENTS_MANAGE)
    prisoner_id = request.query.get("prisoner_id", principal.account_id)
    found = await scheduling_of(request).consents_of(principal, prisoner_id)
    return json_response([consent_json(c) for c in found])


@routes.post("/api/consents/{consent_id}/withdraw")
async def withdraw_consent(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CONSENTS_MANAGE)
    done = await scheduling_of(request).withdraw_consent(
        principal, request.match_info["consent_id"]
    )
    return json_response(consent_json(done))


# ---------------------------------------------------------- health requests


@routes.post("/api/health-requests")
async def make_request(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HEALTH_REQUESTS_CREATE)
    body = await read_json(request)
    receipt = await scheduling_of(request).make_request(
        principal, category=body.get("category"), text_value=body.get("text")
    )
    return json_response(_request_json(receipt), status=201)


@routes.get("/api/health-requests")
async def list_requests(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HEALTH_REQUESTS_READ)
    if principal.role == P:
        found = await scheduling_of(request).my_requests(principal)
    else:
        found = await scheduling_of(request).triage_queue(
            principal,
            establishment_asked(principal, request.query.get("establishment_id")),
            status=request.query.get("status"),
            service_id=request.query.get("service_id"),
        )
    return json_response([_request_json(r) for r in found])


@routes.get("/api/health-requests/{request_id}")
async def get_request(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HEALTH_REQUESTS_READ)
    found = await scheduling_of(request).health_request(principal, request.match_info["request_id"])
    return json_response(_request_json(found))


@routes.post("/api/health-requests/{request_id}/answer")
async def answer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HEALTH_REQUESTS_TRIAGE)
    body = await read_json(request)
    done = await scheduling_of(request).answer_request(
        principal,
        request.match_info["request_id"],
        decision=body.get("decision"),
        message=body.get("message"),
    )
    return json_response(_request_json(done))


@routes.post("/api/health-requests/{request_id}/triage")
async def triage(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HEALTH_REQUESTS_TRIAGE)
    body = await read_json(request)
    done = await scheduling_of(request).triage(
        principal,
        request.match_info["request_id"],
        urgency=body.get("urgency"),
        service_id=body.get("service_id"),
    )
    return json_response(_request_json(done))


# --------------------------------------------------------------- movements


@routes.post("/api/prisoners/{prisoner_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PRISONERS_MOVE)
    body = await read_json(request)
    to = body.get("to_establishment_id")
    if not isinstance(to, str):
        raise ServiceError(Code.INVALID_REQUEST, "to_establishment_id is required.")
    done = await scheduling_of(request).transfer(
        principal, request.match_info["prisoner_id"], to, body.get("to_cell")
    )
    return json_response(
        {
            "moved": done.moved,
            "reoffered": done.requested,
            "locale": done.locale,
            "appointments": _fates_json(done.appointments),
            "steps": dict(done.steps),
        }
    )


def _fates_json(fates: tuple[Fate, ...]) -> list[dict[str, Any]]:
    """Times and codes only: the prisoner's letter never carries a reason or clinical text."""
    return [
        {"appointment_id": f.appointment_id, "starts_at": iso_or_none(f.starts_at), "fate": f.fate}
        for f in sorted(fates, key=lambda f: f.starts_at)
    ]


@routes.post("/api/prisoners/{prisoner_id}/release")
async def release(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PRISONERS_MOVE)
    done = await scheduling_of(request).release(principal, request.match_info["prisoner_id"])
    return json_response(
        {
            "closed": done.closed,
            "locale": done.locale,
            "appointments": _fates_json(done.appointments),
            "steps": dict(done.steps),
            # The community account's claim code: for the letter, shown once.
            "handout": dict(done.handout),
        }
    )


@routes.get("/api/transfer-destinations")
async def transfer_destinations(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PRISONERS_MOVE)
    found = await scheduling_of(request).transfer_destinations(principal)
    return json_response(
        [{"id": e.id, "code": e.code, "name": e.name, "timezone": e.timezone} for e in found]
    )


@routes.get("/api/handover")
async def handover(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HANDOVER_READ)
    found = await scheduling_of(request).handover_list(
        principal, establishment_asked(principal, request.query.get("establishment_id"))
    )
    return json_response(
        [
            {
                "id": h.id,
                "prisoner_id": h.prisoner_id,
                "name": h.name,
                "prison_number": h.prison_number,
                "released_at": iso_or_none(h.released_at),
                "community_sharing": h.community_sharing,
                "status": h.status,
                "attempts": h.attempts,
                "last_error": h.last_error,
                "sent_at": iso_or_none(h.sent_at),
            }
            for h in found
        ]
    )


@routes.get("/api/handovers/{handover_id}/bundle")
async def handover_bundle(request: web.Request) -> web.Response:
    principal = await require(request, Permission.HANDOVER_DOWNLOAD)
    handover_id = request.match_info["handover_id"]
    bundle = await scheduling_of(request).handover_bundle(principal, handover_id)
    return web.Response(
        body=json.dumps(bundle, indent=2).encode(),
        content_type="application/fhir+json",
        headers={
            "Content-Disposition": f'attachment; filename="handover-{bundle["id"]}.json"',
            "Cache-Control": "no-store",
        },
    )


@routes.get("/api/establishments/{establishment_id}/community-endpoint")
async def community_endpoint(request: web.Request) -> web.Response:
    principal = await require(request, Permission.COMMUNITY_ENDPOINT_MANAGE)
    url = await scheduling_of(request).community_endpoint(
        principal, request.match_info["establishment_id"]
    )
    return json_response({"url": url})


@routes.put("/api/establishments/{establishment_id}/community-endpoint")
async def set_community_endpoint(request: web.Request) -> web.Response:
    principal = await require(request, Permission.COMMUNITY_ENDPOINT_MANAGE)
    body = await read_json(request)
    url = await scheduling_of(request).set_community_endpoint(
        principal, request.match_info["establishment_id"], body.get("url")
    )
    return json_response({"url": url})


@routes.put("/api/appointments/{appointment_id}/attendees")
async def set_attendees(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_INVITE)
    body = await read_json(request)
    invited = await scheduling_of(request).set_attendees(
        principal, request.match_info["appointment_id"], body.get("account_ids")
    )
    return json_response({"account_ids": invited})


@routes.get("/api/attending")
async def attending(request: web.Request) -> web.Response:
    principal = await require(request, Permission.APPOINTMENTS_ATTEND)
    found = await scheduling_of(request).attending(principal)
    return json_response(
        [
            {
                "appointment_id": a.appointment_id,
                "establishment_id": a.establishment_id,
                "starts_at": iso_or_none(a.starts_at),
                "ends_at": iso_or_none(a.ends_at),
                "status": a.status,
                "language": a.language,
            }
            for a in found
        ]
    )


OPENAPI: dict[str, Any] = {
    "/api/appointments/{appointment_id}/attendees": {
        "put": api_op(
            "Invite interpreters or chaperones to one appointment (replaces the list)",
            Permission.APPOINTMENTS_INVITE,
            body=obj(["account_ids"], account_ids={"type": "array", "items": ID}),
            result=obj(account_ids={"type": "array", "items": ID}),
            parameters=path_params("appointment_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/attending": {
        "get": api_op(
            "The appointments an interpreter or chaperone is invited to: times, no clinical text",
            Permission.APPOINTMENTS_ATTEND,
            result=ARRAY,
        )
    },
    "/api/consents": {
        "get": api_op(
            "Every consent a prisoner holds",
            Permission.CONSENTS_MANAGE,
            result=ARRAY,
            parameters=query_params("prisoner_id"),
        ),
        "post": api_op(
            "Give or decline consent (on the device, or witnessed by staff); recording "
            "consent names its appointment (asked at booking, confirmed on the device)",
            Permission.CONSENTS_MANAGE,
            body=obj(
                ["scope", "form_version", "decision"],
                scope={"enum": ["telehealth", "recording", "community_sharing"]},
                form_version=INT,
                decision={"enum": ["given", "declined"]},
                language={"enum": ["en", "cy"]},
                prisoner_id=ID,
                device_id=ID,
                appointment_id=ID,
            ),
            ok=201,
        ),
    },
    "/api/consents/{consent_id}/withdraw": {
        "post": api_op(
            "Withdraw a consent",
            Permission.CONSENTS_MANAGE,
            parameters=path_params("consent_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/health-requests": {
        "get": api_op(
            "Own requests (prisoner) or the triage queue (staff)",
            Permission.HEALTH_REQUESTS_READ,
            result=ARRAY,
            parameters=query_params("establishment_id", "status", "service_id"),
        ),
        "post": api_op(
            "Ask for a health appointment; returns the receipt",
            Permission.HEALTH_REQUESTS_CREATE,
            body=obj(["category", "text"], category=STR, text=STR),
            ok=201,
        ),
    },
    "/api/health-requests/{request_id}": {
        "get": api_op(
            "One request: the prisoner's own, or one of the reader's establishment",
            Permission.HEALTH_REQUESTS_READ,
            parameters=path_params("request_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/health-requests/{request_id}/answer": {
        "post": api_op(
            "Close a request without a consult: advise, or decline with a reason for the prisoner",
            Permission.HEALTH_REQUESTS_TRIAGE,
            body=obj(
                ["decision", "message"], decision={"enum": ["advise", "decline"]}, message=STR
            ),
            parameters=path_params("request_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/health-requests/{request_id}/triage": {
        "post": api_op(
            "Triage a request",
            Permission.HEALTH_REQUESTS_TRIAGE,
            body=obj(
                ["urgency", "service_id"],
                urgency={"enum": ["routine", "soon", "urgent"]},
                service_id=ID,
            ),
            parameters=path_params("request_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners/{prisoner_id}/transfer": {
        "post": api_op(
            "Transfer a prisoner; pending care moves with them; `steps` says what each"
            " module did (the kiosk's balances and cancelled orders)",
            Permission.PRISONERS_MOVE,
            body=obj(
                ["to_establishment_id"],
                to_establishment_id=ID,
                to_cell={"type": "string", "description": "a cell there, by name or id"},
            ),
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners/{prisoner_id}/release": {
        "post": api_op(
            "Release a prisoner: account disabled, sign-ins and sockets ended, consents that"
            " end with custody ended, pending care closed and handed over; `steps` says what"
            " each module did (the kiosk's payout and its receipt number); `handout` what is"
            " given to the person alone (the community account's one-time claim code)",
            Permission.PRISONERS_MOVE,
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/transfer-destinations": {
        "get": api_op(
            "Establishments a prisoner may be transferred to",
            Permission.PRISONERS_MOVE,
            result=ARRAY,
        )
    },
    "/api/handover": {
        "get": api_op(
            "Hand-overs to community services, and where each one's sending stands",
            Permission.HANDOVER_READ,
            result=ARRAY,
            parameters=query_params("establishment_id"),
        )
    },
    "/api/handovers/{handover_id}/bundle": {
        "get": api_op(
            "Download a hand-over: its FHIR R4B Bundle (the reading is logged)",
            Permission.HANDOVER_DOWNLOAD,
            parameters=path_params("handover_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/establishments/{establishment_id}/community-endpoint": {
        "get": api_op(
            "Where the establishment's hand-overs are sent",
            Permission.COMMUNITY_ENDPOINT_MANAGE,
            parameters=path_params("establishment_id"),
            errors=(401, 403, 404),
        ),
        "put": api_op(
            "Set (or clear, with null) where the establishment's hand-overs are sent",
            Permission.COMMUNITY_ENDPOINT_MANAGE,
            body=obj(["url"], url={"type": ["string", "null"], "format": "uri"}),
            parameters=path_params("establishment_id"),
            errors=(400, 401, 403, 404),
        ),
    },
}
