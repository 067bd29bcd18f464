"""REST endpoints for lockdowns and communications restrictions.

Declaring, confirming and lifting are the security desk's; what a lockdown
closes is the modules registered with the suspension mechanism at start-up;
the device asks only whether one is in force for its establishment and what
it closes. Officers learn how many consults moved and when, never what they were.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from scheduling.lockdown import Lockdown
from web.auth import require
from web.openapi import DATETIME, obj
from web.request import json_response, read_json
from web.scheduling_shared import (
    ARRAY,
    ID,
    api_op,
    establishment_asked,
    iso_or_none,
    path_params,
    query_params,
    scheduling_of,
)

routes = web.RouteTableDef()


def _lockdown_json(lockdown: Lockdown) -> dict[str, Any]:
    return {
        "id": lockdown.id,
        "establishment_id": lockdown.establishment_id,
        "starts_at": iso_or_none(lockdown.starts_at),
        "ends_at": iso_or_none(lockdown.ends_at),
        "kind": lockdown.kind,
        "confirmed": lockdown.confirmed,
        "suspended": list(lockdown.suspended),
    }


@routes.post("/api/lockdowns")
async def declare_lockdown(request: web.Request) -> web.Response:
    principal = await require(request, Permission.LOCKDOWN_MANAGE)
    body = await read_json(request)
    lockdown = await scheduling_of(request).declare_lockdown(
        principal,
        establishment_asked(principal, body.get("establishment_id")),
        starts_at=body.get("starts_at"),
        ends_at=body.get("ends_at"),
        kind=body.get("kind", "lockdown"),
    )
    return json_response(_declared_json(lockdown), status=201)


@routes.post("/api/lockdowns/{lockdown_id}/confirm")
async def confirm_restriction(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SECURITY_CONFIRM)
    lockdown = await scheduling_of(request).confirm_restriction(
        principal, request.match_info["lockdown_id"]
    )
    return json_response(_declared_json(lockdown))


def _declared_json(lockdown: Lockdown) -> dict[str, Any]:
    """Officers learn how many consults moved and when, never what they were."""
    return {
        **_lockdown_json(lockdown),
        "going_ahead": lockdown.going_ahead,
        "affected": [
            {
                "appointment_id": r.appointment_id,
                "offers": [iso_or_none(s.starts_at) for s in r.offers],
            }
            for r in lockdown.affected
        ],
    }


@routes.get("/api/suspensions")
async def suspensions(request: web.Request) -> web.Response:
    """What a lockdown would close: the modules registered with the suspension mechanism."""
    await require(request, Permission.LOCKDOWN_READ)
    return json_response({"modules": list(scheduling_of(request).suspensions.modules)})


@routes.get("/api/lockdown-status")
async def lockdown_status(request: web.Request) -> web.Response:
    """The prisoner's device: is a lockdown in force here, and what is closed."""
    principal = await require(request, Permission.SELF)
    est = principal.establishment_id
    found = await scheduling_of(request).in_force(est) if est else None
    if found is None:
        return json_response({"lockdown": None})
    return json_response(
        {
            "lockdown": {
                "kind": found.kind,
                "ends_at": iso_or_none(found.ends_at),
                "closed": list(found.suspended),
            }
        }
    )


@routes.get("/api/lockdowns")
async def list_lockdowns(request: web.Request) -> web.Response:
    principal = await require(request, Permission.LOCKDOWN_READ)
    est = establishment_asked(principal, request.query.get("establishment_id"))
    found = await scheduling_of(request).current_lockdowns(principal, est)
    return json_response([_lockdown_json(x) for x in found])


@routes.post("/api/lockdowns/{lockdown_id}/lift")
async def lift_lockdown(request: web.Request) -> web.Response:
    principal = await require(request, Permission.LOCKDOWN_MANAGE)
    await scheduling_of(request).lift_lockdown(principal, request.match_info["lockdown_id"])
    return web.Response(status=204)


OPENAPI: dict[str, Any] = {
    "/api/lockdowns": {
        "get": api_op(
            "Lockdowns in force or to come at the establishment (not lifted, not over)",
            Permission.LOCKDOWN_READ,
            result=ARRAY,
            parameters=query_params("establishment_id"),
        ),
        "post": api_op(
            "Declare a lockdown (registered modules suspended; in-cell video consults go ahead;"
            " escorted appointments cancelled, prison-caused, and re-offered) or a"
            " communications restriction (in force once a second person, a governor, confirms)",
            Permission.LOCKDOWN_MANAGE,
            body=obj(
                ["ends_at"],
                starts_at=DATETIME,
                ends_at=DATETIME,
                establishment_id=ID,
                kind={"type": "string", "enum": ["lockdown", "communications"]},
            ),
            ok=201,
            errors=(400, 401, 403, 404, 409),
        ),
    },
    "/api/lockdowns/{lockdown_id}/confirm": {
        "post": api_op(
            "Confirm a communications restriction: a governor other than its declarer; every"
            " consult in it not yet started is cancelled (prison-caused) and re-offered",
            Permission.SECURITY_CONFIRM,
            parameters=path_params("lockdown_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/suspensions": {
        "get": api_op(
            "The modules a lockdown closes (registered at start-up)", Permission.LOCKDOWN_READ
        )
    },
    "/api/lockdown-status": {
        "get": api_op(
            "The prisoner's establishment: the lockdown in force now, if any, and what it closes",
            Permission.SELF,
        )
    },
    "/api/lockdowns/{lockdown_id}/lift": {
        "post": api_op(
            "Lift a lockdown",
            Permission.LOCKDOWN_MANAGE,
            ok=204,
            parameters=path_params("lockdown_id"),
        )
    },
}
