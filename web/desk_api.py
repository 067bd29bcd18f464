"""The booking desk's endpoints and pages: triage, slot search and booking, availability.

The pages (`/triage`, `/booking`, `/availability`) are shells like every other
page: what each may show is decided by the API calls their scripts make, each
authorised here with `require`. The slot search itself stays `GET /api/slots`
(`web/scheduling_api.py`), one API for every caller that books.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission, allows
from scheduling.catalogue import AvailabilityException
from web.auth import require
from web.pages import page
from web.request import json_response
from web.scheduling_shared import (
    ARRAY,
    api_op,
    establishment_asked,
    iso_or_none,
    path_params,
    query_params,
    scheduling_of,
)

routes = web.RouteTableDef()


def exception_json(x: AvailabilityException) -> dict[str, Any]:
    return {
        "id": x.id,
        "clinician_id": x.clinician_id,
        "establishment_id": x.establishment_id,
        "service_id": x.service_id,
        "kind": x.kind,
        "starts_at": iso_or_none(x.starts_at),
        "ends_at": iso_or_none(x.ends_at),
    }


@routes.get("/triage")
async def triage_page(request: web.Request) -> web.Response:
    """Clinicians and healthcare administrators: the health requests waiting (triage.js)."""
    return await page(request, "triage.html", "triage")


@routes.get("/booking")
async def booking_page(request: web.Request) -> web.Response:
    """Find a prisoner, search slots, book, move or cancel (booking.js)."""
    return await page(request, "booking.html", "booking")


@routes.get("/availability")
async def availability_page(request: web.Request) -> web.Response:
    """A clinician's weekly sessions, extra sessions and leave (availability.js)."""
    return await page(request, "availability.html", "availability")


@routes.get("/api/patients")
async def find_patients(request: web.Request) -> web.Response:
    principal = await require(request, Permission.BOOKING_DESK)
    found = await scheduling_of(request).find_patients(
        principal,
        establishment_asked(principal, request.query.get("establishment_id")),
        request.query.get("q"),
    )
    return json_response(
        [
            {
                "prisoner_id": p.prisoner_id,
                "name": p.name,
                "prison_number": p.prison_number,
                "released": p.released,
            }
            for p in found
        ]
    )


@routes.get("/api/clinicians")
async def list_clinicians(request: web.Request) -> web.Response:
    principal = await require(request, Permission.BOOKING_DESK)
    found = await scheduling_of(request).clinicians_at(
        principal, establishment_asked(principal, request.query.get("establishment_id"))
    )
    return json_response(
        [{"clinician_id": c.clinician_id, "name": c.name, "sex": c.sex} for c in found]
    )


@routes.get("/api/clinicians/{clinician_id}/exceptions")
async def list_exceptions(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    found = await scheduling_of(request).exceptions_of(
        principal,
        request.match_info["clinician_id"],
        establishment_id=None
        if allows(principal, Permission.ANY_ESTABLISHMENT)
        else principal.establishment_id,
    )
    return json_response([exception_json(x) for x in found])


@routes.delete("/api/availability/exceptions/{exception_id}")
async def remove_exception(request: web.Request) -> web.Response:
    principal = await require(request, Permission.AVAILABILITY_MANAGE)
    await scheduling_of(request).remove_exception(principal, request.match_info["exception_id"])
    return web.Response(status=204)


OPENAPI: dict[str, Any] = {
    "/api/patients": {
        "get": api_op(
            "Find prisoners of the establishment by part of a name or prison number",
            Permission.BOOKING_DESK,
            result=ARRAY,
            parameters=query_params("q", "establishment_id"),
        )
    },
    "/api/clinicians": {
        "get": api_op(
            "The establishment's clinicians: id, name and sex (for a same-sex preference)",
            Permission.BOOKING_DESK,
            result=ARRAY,
            parameters=query_params("establishment_id"),
        )
    },
    "/api/clinicians/{clinician_id}/exceptions": {
        "get": api_op(
            "A clinician's leave and extra sessions that have not ended",
            Permission.AVAILABILITY_MANAGE,
            result=ARRAY,
            parameters=path_params("clinician_id"),
        )
    },
    "/api/availability/exceptions/{exception_id}": {
        "delete": api_op(
            "Remove leave or an extra session",
            Permission.AVAILABILITY_MANAGE,
            ok=204,
            parameters=path_params("exception_id"),
            errors=(401, 403, 404),
        )
    },
}
