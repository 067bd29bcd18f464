"""REST endpoints for a prisoner's care around the consult: consent, health requests,
transfer and release. Thin, like `web/scheduling_api.py`, whose helpers it shares."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from scheduling import Consent
from scheduling.types import HealthRequest
from web.auth import require
from web.openapi import STR, obj
from web.request import json_response, read_json
from web.scheduling_api import (
    ARRAY,
    CLINICAL,
    ID,
    INT,
    A,
    C,
    M,
    O,
    P,
    _est,
    _iso,
    _op,
    _path,
    _query,
    _svc,
)

routes = web.RouteTableDef()


def consent_json(c: Consent) -> dict[str, Any]:
    return {
        "id": c.id,
        "prisoner_id": c.prisoner_id,
        "scope": c.scope.value,
        "form_version": c.form_version,
        "decision": c.decision.value,
        "decided_at": _iso(c.decided_at),
        "device_id": c.device_id,
        "witness_id": c.witness_id,
        "withdrawn_at": _iso(c.withdrawn_at),
        "in_force": c.in_force,
    }


def _request_json(r: HealthRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "category": r.category,
        "text": r.text,
        "status": r.status,
        "urgency": r.urgency,
        "service_id": r.service_id,
        "created_at": _iso(r.created_at),
        "triaged_at": _iso(r.triaged_at),
        "appointment_id": r.appointment_id,
        "waited_days": r.waited_days,
        "target_days": r.target_days,
        "over_target": r.target_days is not None and r.waited_days > r.target_days,
        "prisoner_id": r.prisoner_id,
    }


# ------------------------------------------------------------------ consent


@routes.post("/api/consents")
async def record_consent(request: web.Request) -> web.Response:
    principal = await require(request, P, C, M, A)
    body = await read_json(request)
    consent = await _svc(request).record_consent(
        principal,
        prisoner_id=body.get("prisoner_id", principal.account_id if principal.role == P else None),
        scope_value=body.get("scope"),
        version=body.get("form_version"),
        decision=body.get("decision"),
        language=body.get("language", "en"),
        device_id=body.get("device_id"),
    )
    return json_response(consent_json(consent), status=201)


@routes.get("/api/consents")
async def list_consents(request: web.Request) -> web.Response:
    principal = await require(request, P, C, M, A)
    prisoner_id = request.query.get("prisoner_id", principal.account_id)
    found = await _svc(request).consents_of(principal, prisoner_id)
    return json_response([consent_json(c) for c in found])


@routes.post("/api/consents/{consent_id}/withdraw")
async def withdraw_consent(request: web.Request) -> web.Response:
    principal = await require(request, P, C, M, A)
    done = await _svc(request).withdraw_consent(principal, request.match_info["consent_id"])
    return json_response(consent_json(done))


# ---------------------------------------------------------- health requests


@routes.post("/api/health-requests")
async def make_request(request: web.Request) -> web.Response:
    principal = await require(request, P)
    body = await read_json(request)
    receipt = await _svc(request).make_request(
        principal, category=body.get("category"), text_value=body.get("text")
    )
    return json_response(_request_json(receipt), status=201)


@routes.get("/api/health-requests")
async def list_requests(request: web.Request) -> web.Response:
    principal = await require(request, P, C, M, A)
    if principal.role == P:
        found = await _svc(request).my_requests(principal)
    else:
        found = await _svc(request).triage_queue(
            principal,
            _est(principal, request.query.get("establishment_id")),
            status=request.query.get("status"),
        )
    return json_response([_request_json(r) for r in found])


@routes.post("/api/health-requests/{request_id}/triage")
async def triage(request: web.Request) -> web.Response:
    principal = await require(request, *CLINICAL)
    body = await read_json(request)
    done = await _svc(request).triage(
        principal,
        request.match_info["request_id"],
        urgency=body.get("urgency"),
        service_id=body.get("service_id"),
    )
    return json_response(_request_json(done))


# --------------------------------------------------------------- movements


@routes.post("/api/prisoners/{prisoner_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    principal = await require(request, O, M, A)
    body = await read_json(request)
    to = body.get("to_establishment_id")
    if not isinstance(to, str):
        raise ServiceError(Code.INVALID_REQUEST, "to_establishment_id is required.")
    moved = await _svc(request).transfer(principal, request.match_info["prisoner_id"], to)
    return json_response({"reoffered": moved})


@routes.post("/api/prisoners/{prisoner_id}/release")
async def release(request: web.Request) -> web.Response:
    principal = await require(request, O, M, A)
    closed = await _svc(request).release(principal, request.match_info["prisoner_id"])
    return json_response({"closed": closed})


@routes.get("/api/handover")
async def handover(request: web.Request) -> web.Response:
    principal = await require(request, *CLINICAL)
    found = await _svc(request).handover_list(
        principal, _est(principal, request.query.get("establishment_id"))
    )
    return json_response(
        [
            {
                "prisoner_id": h.prisoner_id,
                "released_at": _iso(h.released_at),
                "community_sharing": h.community_sharing,
            }
            for h in found
        ]
    )


OPENAPI: dict[str, Any] = {
    "/api/consents": {
        "get": _op(
            "Every consent a prisoner holds",
            (P, C, M, A),
            result=ARRAY,
            parameters=_query("prisoner_id"),
        ),
        "post": _op(
            "Give or decline consent (on the device, or witnessed by staff)",
            (P, C, M, A),
            body=obj(
                ["scope", "form_version", "decision"],
                scope={"enum": ["telehealth", "recording", "community_sharing"]},
                form_version=INT,
                decision={"enum": ["given", "declined"]},
                language={"enum": ["en", "cy"]},
                prisoner_id=ID,
                device_id=ID,
            ),
            ok=201,
        ),
    },
    "/api/consents/{consent_id}/withdraw": {
        "post": _op(
            "Withdraw a consent",
            (P, C, M, A),
            parameters=_path("consent_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/health-requests": {
        "get": _op(
            "Own requests (prisoner) or the triage queue (staff)",
            (P, C, M, A),
            result=ARRAY,
            parameters=_query("establishment_id", "status"),
        ),
        "post": _op(
            "Ask for a health appointment; returns the receipt",
            (P,),
            body=obj(["category", "text"], category=STR, text=STR),
            ok=201,
        ),
    },
    "/api/health-requests/{request_id}/triage": {
        "post": _op(
            "Triage a request",
            CLINICAL,
            body=obj(
                ["urgency", "service_id"],
                urgency={"enum": ["routine", "soon", "urgent"]},
                service_id=ID,
            ),
            parameters=_path("request_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners/{prisoner_id}/transfer": {
        "post": _op(
            "Transfer a prisoner; pending care moves with them",
            (O, M, A),
            body=obj(["to_establishment_id"], to_establishment_id=ID),
            parameters=_path("prisoner_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/prisoners/{prisoner_id}/release": {
        "post": _op(
            "Release a prisoner; pending care closed and listed for hand-over",
            (O, M, A),
            parameters=_path("prisoner_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/handover": {
        "get": _op(
            "Released prisoners for hand-over to community services",
            CLINICAL,
            result=ARRAY,
            parameters=_query("establishment_id"),
        )
    },
}
