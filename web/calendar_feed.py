"""A clinician's iCalendar feed behind a revocable secret URL.

The token is in the path so calendar apps can subscribe; the access log prints
the route pattern (`/calendar/{token}`), never the path, so it cannot leak there.
"""

from __future__ import annotations

from aiohttp import web

from core.permissions import Permission
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response
from web.state import SCHEDULING

routes = web.RouteTableDef()


@routes.post("/api/calendar-tokens")
async def issue(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CALENDAR_MANAGE)
    token = await request.app[SCHEDULING].issue_calendar_token(principal)
    return json_response(
        {
            "id": token.id,
            "url": f"/calendar/{token.token}",
            "created_at": token.created_at.isoformat(),
        },
        status=201,
    )


@routes.get("/api/calendar-tokens")
async def listed(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CALENDAR_MANAGE)
    found = await request.app[SCHEDULING].calendar_tokens(principal)
    return json_response([{"id": t.id, "created_at": t.created_at.isoformat()} for t in found])


@routes.delete("/api/calendar-tokens/{token_id}")
async def revoke(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CALENDAR_MANAGE)
    await request.app[SCHEDULING].revoke_calendar_token(principal, request.match_info["token_id"])
    return web.Response(status=204)


@routes.get("/calendar/{token}")
async def feed(request: web.Request) -> web.Response:
    body = await request.app[SCHEDULING].calendar_feed(request.match_info["token"])
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


OPENAPI = {
    "/api/calendar-tokens": {
        "get": op(
            "The caller's calendar links in force (when each was made; the secret is not kept)",
            tag="scheduling",
            permission=Permission.CALENDAR_MANAGE,
            result={"type": "array", "items": obj(id=STR, created_at=DATETIME)},
        ),
        "post": (
            op(
                "Create a secret calendar link (iCalendar, no patient names)",
                tag="scheduling",
                permission=Permission.CALENDAR_MANAGE,
                ok=201,
                result=obj(id=STR, url=STR, created_at=DATETIME),
            )
        ),
    },
    "/api/calendar-tokens/{token_id}": {
        "delete": (
            op(
                "Revoke a calendar link",
                tag="scheduling",
                permission=Permission.CALENDAR_MANAGE,
                ok=204,
                parameters=[{"name": "token_id", "in": "path", "required": True, "schema": STR}],
                errors=(401, 403, 404),
            )
        )
    },
}
