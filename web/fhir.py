"""Read-only FHIR R4 API over scheduling: Appointment, Slot, Schedule, Consent, Encounter.

Search by patient, practitioner and date. A search the server cannot run gets
an OperationOutcome, never a crash.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from core.errors import ServiceError
from core.identity import Principal
from core.permissions import Permission, allows, roles_with
from scheduling import fhir as resources
from scheduling.fhir import FhirSearchError, Search, parse_search
from scheduling.service import SchedulingService
from web.auth import require
from web.state import CLOCK, SCHEDULING

routes = web.RouteTableDef()
FHIR_JSON = "application/fhir+json"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _fhir(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type=FHIR_JSON)


def _outcome(message: str, status: int, code: str = "invalid") -> web.Response:
    return _fhir(resources.operation_outcome(message, code), status)


async def _search(request: web.Request, resource: str) -> tuple[Principal, Search]:
    principal = await require(request, Permission.FHIR_READ)
    search = parse_search(resource, list(request.query.items()), request.app[CLOCK].now())
    return principal, search


def _base(request: web.Request) -> str:
    return "/fhir"


async def _run(request: web.Request, resource: str) -> web.Response:
    try:
        principal, search = await _search(request, resource)
        found = await _HANDLERS[resource](request.app[SCHEDULING], principal, search)
    except FhirSearchError as error:
        return _outcome(str(error), 400)
    except ServiceError as error:
        code = "forbidden" if error.code.status == 403 else "processing"
        if error.code.status == 401:
            code = "login"
        return _outcome(error.detail or error.code.message, error.code.status, code)
    return _fhir(resources.bundle(_base(request), found[: search.count]))


async def _appointments(
    svc: SchedulingService, principal: Principal, search: Search
) -> list[dict[str, Any]]:
    # FHIR resources here carry no clinical free text, so none is decrypted.
    found = await svc.appointments(
        principal,
        start=search.start,
        end=search.end,
        prisoner_id=search.params.get("patient"),
        clinician_id=search.params.get("practitioner"),
        clinical=False,
    )
    return [resources.appointment(a) for a in found]


async def _encounters(
    svc: SchedulingService, principal: Principal, search: Search
) -> list[dict[str, Any]]:
    found = await svc.appointments(
        principal,
        start=search.start,
        end=search.end,
        prisoner_id=search.params.get("patient"),
        clinician_id=search.params.get("practitioner"),
        clinical=False,
    )
    return [e for e in (resources.encounter(a) for a in found) if e is not None]


async def _consents(
    svc: SchedulingService, principal: Principal, search: Search
) -> list[dict[str, Any]]:
    patient = search.params.get("patient")
    if patient is None:
        raise FhirSearchError("Consent search needs patient.")
    return [resources.consent(c) for c in await svc.consents_of(principal, patient)]


async def _schedules(
    svc: SchedulingService, principal: Principal, search: Search
) -> list[dict[str, Any]]:
    clinician = search.params.get("actor") or search.params.get("practitioner")
    if clinician is None:
        raise FhirSearchError("Schedule search needs actor or practitioner.")
    rules = await svc.availability_of(
        clinician,
        establishment_id=None
        if allows(principal, Permission.ANY_ESTABLISHMENT)
        else principal.establishment_id,
    )
    if not rules:
        return []
    services = {s.id: s for s in await svc.list_services(rules[0].establishment_id)}
    comment = "; ".join(
        f"{DAYS[r.weekday]} {r.start}-{r.end} {services[r.service_id].code}"
        for r in rules
        if r.service_id in services
    )
    used = [services[i] for i in sorted({r.service_id for r in rules}) if i in services]
    return [resources.schedule(clinician, used, (search.start, search.end), comment)]


async def _slots(
    svc: SchedulingService, principal: Principal, search: Search
) -> list[dict[str, Any]]:
    service_id = search.params.get("service-type")
    if service_id is None:
        raise FhirSearchError("Slot search needs service-type (a service id).")
    service = await svc.service(service_id)
    clinician = search.params.get("practitioner") or search.params.get("schedule")
    end = min(search.end, search.start + timedelta(days=60))
    # Another establishment's service answers as a missing one (404), not as an empty result.
    slots = await svc.search_slots(
        service_id=service_id,
        start=search.start,
        end=end,
        clinician_id=clinician,
        limit=min(search.count, 200),
        actor=principal,
    )
    return [resources.slot(s, service) for s in slots]


_HANDLERS = {
    "Appointment": _appointments,
    "Encounter": _encounters,
    "Consent": _consents,
    "Schedule": _schedules,
    "Slot": _slots,
}


@routes.get("/fhir/Appointment")
async def appointment(request: web.Request) -> web.Response:
    return await _run(request, "Appointment")


@routes.get("/fhir/Encounter")
async def encounter(request: web.Request) -> web.Response:
    return await _run(request, "Encounter")


@routes.get("/fhir/Consent")
async def consent(request: web.Request) -> web.Response:
    return await _run(request, "Consent")


@routes.get("/fhir/Schedule")
async def schedule(request: web.Request) -> web.Response:
    return await _run(request, "Schedule")


@routes.get("/fhir/Slot")
async def slot(request: web.Request) -> web.Response:
    return await _run(request, "Slot")


def _doc(resource: str) -> dict[str, Any]:
    params = sorted(resources.SEARCH_PARAMS[resource])
    return {
        "get": {
            "summary": f"Search {resource} (FHIR R4, read-only)",
            "tags": ["fhir"],
            "security": [{"bearer": []}, {"cookie": []}],
            "x-permission": Permission.FHIR_READ.value,
            "x-roles": roles_with(Permission.FHIR_READ),
            "parameters": [
                {"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
                for p in params
            ],
            "responses": {
                "200": {
                    "description": "A searchset Bundle.",
                    "content": {FHIR_JSON: {"schema": {"type": "object"}}},
                },
                "400": {"description": "An OperationOutcome."},
                "401": {"description": "An OperationOutcome."},
                "403": {"description": "An OperationOutcome."},
            },
        }
    }


OPENAPI = {f"/fhir/{name}": _doc(name) for name in _HANDLERS}
