"""REST endpoints for places and people: wings and cells, devices in cells, where each
prisoner is, incentive levels, and identity details for the clinician's check.

Thin, like `web/scheduling_api.py`: parse, authorise (`require` with role names,
then the service again), call one service method. Officers of an establishment
and admins keep all of it; the prisoner reads their own incentive level; the
identity photo goes only to the consult's own clinician (and a manager, logged),
by `core.clinical`'s rule, applied in `core.people.details`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.clinical import ClinicalRecord
from core.errors import Code, ServiceError
from core.identity import Principal
from core.identity.devices import Enrolment
from core.people.types import CellMove, Incentive, Location, RollEntry
from core.permissions import Permission, require_in
from core.places import Cell, Wing
from core.places.service import may_keep
from web.auth import require
from web.openapi import DATETIME, STR, obj
from web.request import json_response, read_json
from web.scheduling_shared import (
    ARRAY,
    ID,
    C,
    api_op,
    iso_or_none,
    path_params,
    query_params,
    scheduling_of,
)
from web.state import IDENTITY, PEOPLE, PLACES, SETTINGS

routes = web.RouteTableDef()


def _establishment(principal: Principal, value: object) -> str:
    """The establishment asked about; an officer's own unless an admin names one."""
    est = value if value is not None else principal.establishment_id
    if not isinstance(est, str) or not est:
        raise ServiceError(Code.INVALID_REQUEST, "establishment_id is required.")
    may_keep(principal, est)
    return est


def _wing_json(w: Wing) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "establishment_id": w.establishment_id}


def _cell_json(c: Cell) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "wing_id": c.wing_id,
        "wing": c.wing,
        "establishment_id": c.establishment_id,
    }


def _enrolment_json(e: Enrolment) -> dict[str, Any]:
    return {
        "device_id": e.device_id,
        "enrolment_code": e.code,
        "expires_at": e.expires_at.isoformat(),
        "cell": e.cell,
        "wing": e.wing,
    }


def _location_json(loc: Location) -> dict[str, Any]:
    return {
        "prisoner_id": loc.prisoner_id,
        "establishment_id": loc.establishment_id,
        "cell_id": loc.cell_id,
        "cell": loc.cell,
        "wing": loc.wing,
        "since": iso_or_none(loc.since),
    }


def _move_json(m: CellMove) -> dict[str, Any]:
    return {
        "kind": m.kind.value,
        "at": iso_or_none(m.at),
        "actor": m.actor,
        "from_establishment_id": m.from_establishment_id,
        "from_cell": m.from_cell,
        "to_establishment_id": m.to_establishment_id,
        "to_cell": m.to_cell,
    }


def _incentive_json(i: Incentive) -> dict[str, Any]:
    return {
        "level": i.level.value,
        "since": iso_or_none(i.since),
        "history": [
            {
                "at": iso_or_none(c.at),
                "from_level": c.from_level.value,
                "level": c.level.value,
                "reason": c.reason,
            }
            for c in i.history
        ],
    }


def _roll_json(e: RollEntry) -> dict[str, Any]:
    return {
        "prisoner_id": e.prisoner_id,
        "name": e.name,
        "prison_number": e.prison_number,
        "cell_id": e.cell_id,
        "cell": e.cell,
        "wing": e.wing,
        "incentive_level": e.level.value,
        "has_date_of_birth": e.has_date_of_birth,
        "has_photo": e.has_photo,
    }


# ------------------------------------------------------------------- places


@routes.get("/api/places")
async def list_places(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    est = _establishment(principal, request.query.get("establishment_id"))
    places = request.app[PLACES]
    wings = await places.wings(est)
    cells = await places.cells(est)
    occupied = await places.occupancy(est)
    return json_response(
        {
            "establishment_id": est,
            "wings": [
                {
                    **_wing_json(w),
                    "cells": [
                        {
                            **_cell_json(c),
                            "prisoners": occupied.get(c.id, (0, 0))[0],
                            "devices": occupied.get(c.id, (0, 0))[1],
                        }
                        for c in cells
                        if c.wing_id == w.id
                    ],
                }
                for w in wings
            ],
        }
    )


@routes.post("/api/wings")
async def add_wing(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    est = _establishment(principal, body.get("establishment_id"))
    wing = await request.app[PLACES].add_wing(principal, est, body.get("name"))
    return json_response(_wing_json(wing), status=201)


@routes.post("/api/cells")
async def add_cell(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    est = _establishment(principal, body.get("establishment_id"))
    cell = await request.app[PLACES].add_cell(
        principal, est, body.get("wing_id", body.get("wing")), body.get("name")
    )
    return json_response(_cell_json(cell), status=201)


@routes.put("/api/wings/{wing_id}/name")
async def rename_wing(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    est = _establishment(principal, body.get("establishment_id"))
    wing = await request.app[PLACES].rename_wing(
        principal, est, request.match_info["wing_id"], body.get("name")
    )
    return json_response(_wing_json(wing))


@routes.delete("/api/wings/{wing_id}")
async def remove_wing(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    est = _establishment(principal, request.query.get("establishment_id"))
    await request.app[PLACES].remove_wing(principal, est, request.match_info["wing_id"])
    return web.Response(status=204)


@routes.put("/api/cells/{cell_id}/name")
async def rename_cell(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    est = _establishment(principal, body.get("establishment_id"))
    cell = await request.app[PLACES].rename_cell(
        principal, est, request.match_info["cell_id"], body.get("name")
    )
    return json_response(_cell_json(cell))


@routes.delete("/api/cells/{cell_id}")
async def remove_cell(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    est = _establishment(principal, request.query.get("establishment_id"))
    await request.app[PLACES].remove_cell(principal, est, request.match_info["cell_id"])
    return web.Response(status=204)


# ------------------------------------------------------------------ devices


@routes.get("/api/devices")
async def list_devices(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    est = _establishment(principal, request.query.get("establishment_id"))
    found = await request.app[IDENTITY].devices.in_establishment(principal, est)
    return json_response(
        [
            {
                "device_id": s.device.id,
                "cell_id": s.device.cell_id,
                "cell": s.device.cell,
                "wing": s.device.wing,
                "enrolled": s.enrolled,
            }
            for s in found
        ]
    )


@routes.post("/api/devices/{device_id}/move")
async def move_device(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    enrolment = await request.app[IDENTITY].devices.move(
        principal, request.match_info["device_id"], body.get("cell")
    )
    return json_response(_enrolment_json(enrolment), status=201)


# ------------------------------------------------------------------- people


@routes.get("/api/prisoners")
async def roll(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    est = _establishment(principal, request.query.get("establishment_id"))
    found = await request.app[PEOPLE].roll(principal, est)
    return json_response([_roll_json(e) for e in found])


@routes.post("/api/prisoners")
async def create_prisoner(request: web.Request) -> web.Response:
    """Reception creates a prisoner's account, optionally in a cell of this establishment.

    The date of birth is sealed under the prisoner's own key, as the CLI's is;
    the PIN is the one the prisoner first signs in with. A number sent twice
    (a double click) makes one account: the second answers 409.
    """
    principal = await require(request, Permission.PRISONERS_CREATE)
    body = await read_json(request)
    est = body.get("establishment_id", principal.establishment_id)
    if not isinstance(est, str) or not est:
        raise ServiceError(Code.INVALID_REQUEST, "establishment_id is required.")
    require_in(principal, est, Permission.PRISONERS_CREATE)
    born = body.get("date_of_birth")
    cell = body.get("cell")
    account_id = await request.app[IDENTITY].create_prisoner(
        establishment_id=est,
        prison_number=body.get("prison_number"),
        display_name=body.get("name"),
        pin=body.get("pin"),
        sex=body.get("sex") or None,
        date_of_birth=born if born not in ("", None) else None,
        cell=cell if cell not in ("", None) else None,
        actor=principal.account_id,
    )
    where = await request.app[PEOPLE].locations.where(principal, account_id)
    return json_response(
        {
            "prisoner_id": account_id,
            "establishment_id": est,
            "cell": where.cell,
            "wing": where.wing,
        },
        status=201,
    )


@routes.post("/api/prisoners/{prisoner_id}/cell")
async def move_prisoner(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    where = await request.app[PEOPLE].locations.move(
        principal, request.match_info["prisoner_id"], body.get("cell")
    )
    return json_response(_location_json(where))


@routes.get("/api/prisoners/{prisoner_id}/cells")
async def cell_history(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    people = request.app[PEOPLE]
    where = await people.locations.where(principal, request.match_info["prisoner_id"])
    moves = await people.locations.history(principal, where.prisoner_id)
    return json_response({**_location_json(where), "history": [_move_json(m) for m in moves]})


@routes.get("/api/prisoners/{prisoner_id}/incentive")
async def incentive(request: web.Request) -> web.Response:
    principal = await require(request, Permission.INCENTIVES_READ)
    found = await request.app[PEOPLE].incentives.of(principal, request.match_info["prisoner_id"])
    return json_response(_incentive_json(found))


@routes.post("/api/prisoners/{prisoner_id}/incentive")
async def set_incentive(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    found = await request.app[PEOPLE].incentives.set_level(
        principal, request.match_info["prisoner_id"], body.get("level"), body.get("reason")
    )
    return json_response(_incentive_json(found))


@routes.get("/api/me/incentive")
async def my_incentive(request: web.Request) -> web.Response:
    principal = await require(request, Permission.INCENTIVES_READ)
    found = await request.app[PEOPLE].incentives.of(principal, principal.account_id)
    return json_response(_incentive_json(found))


@routes.put("/api/prisoners/{prisoner_id}/date-of-birth")
async def set_date_of_birth(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PEOPLE_MANAGE)
    body = await read_json(request)
    await request.app[PEOPLE].details.record_date_of_birth(
        principal, request.match_info["prisoner_id"], body.get("date_of_birth")
    )
    return web.Response(status=204)


async def _read_upload(request: web.Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes `limit` (the app's JSON cap is far lower)."""
    too_large = ServiceError(
        Code.BODY_TOO_LARGE,
        f"A photo is at most {limit // (1024 * 1024)} MB.",
        extra={"reason": "too_large"},
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@routes.put("/api/prisoners/{prisoner_id}/photo")
async def upload_photo(request: web.Request) -> web.Response:
    """Reception's upload: the body is the image itself (image/jpeg or image/png)."""
    principal = await require(request, Permission.PEOPLE_MANAGE)
    if request.content_type not in ("image/jpeg", "image/png"):
        raise ServiceError(
            Code.UNSUPPORTED_MEDIA_TYPE,
            "A photo is a JPEG or PNG image.",
            extra={"reason": "not_an_image"},
        )
    data = await _read_upload(request, request.app[SETTINGS].photo_max_bytes)
    await request.app[PEOPLE].details.record_photo(
        principal, request.match_info["prisoner_id"], data, request.content_type
    )
    return web.Response(status=204)


# ------------------------------------------------------- the identity check


async def identity_record(request: web.Request, principal: Principal) -> ClinicalRecord:
    """The consult's record for `core.clinical`'s rule; a clinician must be its own."""
    appointment = await scheduling_of(request).appointment(
        principal, request.match_info["appointment_id"], clinical=False
    )
    if principal.role == C and appointment.clinician_id != principal.account_id:
        raise ServiceError(Code.FORBIDDEN)
    return ClinicalRecord(
        appointment.establishment_id, appointment.prisoner_id, appointment.clinician_id
    )


@routes.get("/api/appointments/{appointment_id}/patient/photo")
async def patient_photo(request: web.Request) -> web.Response:
    principal = await require(request, Permission.IDENTITY_PHOTO_READ)
    record = await identity_record(request, principal)
    photo = await request.app[PEOPLE].details.photo_for_check(principal, record)
    if photo is None:
        raise ServiceError(Code.NOT_FOUND, "No photo is on file.")
    return web.Response(
        body=photo,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
    )


_CELL = obj(id=ID, name=STR, wing_id=ID, wing=STR, establishment_id=ID)
_INCENTIVE = obj(
    level={"enum": ["basic", "standard", "enhanced"]},
    since=DATETIME,
    history=ARRAY,
)
_ENROLMENT = obj(device_id=ID, enrolment_code=STR, expires_at=DATETIME, cell=STR, wing=STR)
_EST = query_params("establishment_id")

OPENAPI: dict[str, Any] = {
    "/api/places": {
        "get": api_op(
            "The establishment's wings and cells, with how many prisoners and devices each holds",
            Permission.PEOPLE_MANAGE,
            result=obj(establishment_id=ID, wings=ARRAY),
            parameters=_EST,
        )
    },
    "/api/wings": {
        "post": api_op(
            "Add a wing",
            Permission.PEOPLE_MANAGE,
            body=obj(["name"], name=STR, establishment_id=ID),
            ok=201,
            result=obj(id=ID, name=STR, establishment_id=ID),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/cells": {
        "post": api_op(
            "Add a cell on one of the establishment's wings",
            Permission.PEOPLE_MANAGE,
            body=obj(["name"], name=STR, wing=STR, wing_id=ID, establishment_id=ID),
            ok=201,
            result=_CELL,
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/wings/{wing_id}/name": {
        "put": api_op(
            "Rename a wing",
            Permission.PEOPLE_MANAGE,
            body=obj(["name"], name=STR, establishment_id=ID),
            result=obj(id=ID, name=STR, establishment_id=ID),
            parameters=path_params("wing_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/wings/{wing_id}": {
        "delete": api_op(
            "Remove a wing that has no cells and that no record names",
            Permission.PEOPLE_MANAGE,
            ok=204,
            parameters=path_params("wing_id") + _EST,
            errors=(401, 403, 404, 409),
        )
    },
    "/api/cells/{cell_id}/name": {
        "put": api_op(
            "Rename a cell: whoever and whatever is in it stays",
            Permission.PEOPLE_MANAGE,
            body=obj(["name"], name=STR, establishment_id=ID),
            result=_CELL,
            parameters=path_params("cell_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/cells/{cell_id}": {
        "delete": api_op(
            "Remove an empty cell (no prisoner, no enrolled device) that no record names",
            Permission.PEOPLE_MANAGE,
            ok=204,
            parameters=path_params("cell_id") + _EST,
            errors=(401, 403, 404, 409),
        )
    },
    "/api/devices": {
        "get": api_op(
            "The establishment's devices, with their cell and wing",
            Permission.PEOPLE_MANAGE,
            result=ARRAY,
            parameters=_EST,
        )
    },
    "/api/devices/{device_id}/move": {
        "post": api_op(
            "Move a device to another cell: it is enrolled again with a new one-time code",
            Permission.PEOPLE_MANAGE,
            body=obj(["cell"], cell=STR),
            ok=201,
            result=_ENROLMENT,
            parameters=path_params("device_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners": {
        "get": api_op(
            "The establishment's prisoners: cell, wing, incentive level, identity on file",
            Permission.PEOPLE_MANAGE,
            result=ARRAY,
            parameters=_EST,
        ),
        "post": api_op(
            "Create a prisoner's account (date of birth sealed under their key), "
            "optionally in a cell of this establishment",
            Permission.PRISONERS_CREATE,
            body=obj(
                ["prison_number", "name", "pin"],
                prison_number=STR,
                name=STR,
                pin=STR,
                sex={"enum": ["F", "M", "X"]},
                date_of_birth={"type": "string", "format": "date"},
                cell=STR,
                establishment_id=ID,
            ),
            ok=201,
            result=obj(prisoner_id=ID, establishment_id=ID, cell=STR, wing=STR),
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/prisoners/{prisoner_id}/cell": {
        "post": api_op(
            "Move a prisoner to another cell of their establishment",
            Permission.PEOPLE_MANAGE,
            body=obj(["cell"], cell=STR),
            result=obj(prisoner_id=ID, cell_id=ID, cell=STR, wing=STR, since=DATETIME),
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners/{prisoner_id}/cells": {
        "get": api_op(
            "A prisoner's cell now, and every move",
            Permission.PEOPLE_MANAGE,
            result=obj(cell=STR, wing=STR, since=DATETIME, history=ARRAY),
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/prisoners/{prisoner_id}/incentive": {
        "get": api_op(
            "A prisoner's incentive level and its history (the prisoner: their own)",
            Permission.INCENTIVES_READ,
            result=_INCENTIVE,
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        ),
        "post": api_op(
            "Change a prisoner's incentive level, with the reason",
            Permission.PEOPLE_MANAGE,
            body=obj(
                ["level", "reason"],
                level={"enum": ["basic", "standard", "enhanced"]},
                reason=STR,
            ),
            result=_INCENTIVE,
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/me/incentive": {
        "get": api_op(
            "The signed-in prisoner's incentive level and its history",
            Permission.INCENTIVES_READ,
            result=_INCENTIVE,
            errors=(401, 403),
        )
    },
    "/api/prisoners/{prisoner_id}/date-of-birth": {
        "put": api_op(
            "Record a prisoner's date of birth (sealed under their key; never read back here)",
            Permission.PEOPLE_MANAGE,
            body=obj(["date_of_birth"], date_of_birth={"type": "string", "format": "date"}),
            ok=204,
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/prisoners/{prisoner_id}/photo": {
        "put": {
            **api_op(
                "Upload a prisoner's identity photo: the body is the JPEG or PNG itself",
                Permission.PEOPLE_MANAGE,
                ok=204,
                parameters=path_params("prisoner_id"),
                errors=(400, 401, 403, 404, 413, 415),
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                },
            },
        }
    },
    "/api/appointments/{appointment_id}/patient/photo": {
        "get": {
            **api_op(
                "The patient's identity photo, for the consult's clinician",
                Permission.IDENTITY_PHOTO_READ,
                parameters=path_params("appointment_id"),
                errors=(401, 403, 404),
            ),
            "responses": {
                "200": {
                    "description": "The photo.",
                    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                },
                "401": {"$ref": "#/components/responses/Problem"},
                "403": {"$ref": "#/components/responses/Problem"},
                "404": {"$ref": "#/components/responses/Problem"},
            },
        }
    },
}
