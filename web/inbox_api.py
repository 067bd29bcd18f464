"""Each person's inbox, and taking a rebooking offer from it (docs/notifications.md).

A notice comes as codes, times and ids; the page renders it in its reader's
language. New ones are announced on the signalling socket (`inbox`), after
which the page fetches this list again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from scheduling.inbox import Notice, RebookingOffer
from web.auth import require
from web.openapi import DATETIME, obj
from web.request import json_response, read_json
from web.scheduling_api import APPOINTMENT, appointment_json
from web.scheduling_shared import ID, api_op, iso_or_none, path_params
from web.state import SCHEDULING

routes = web.RouteTableDef()


def _notice_json(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "created_at": iso_or_none(n.created_at),
        "read": n.read,
        "fields": n.fields,
    }


def _offer_json(o: RebookingOffer) -> dict[str, Any]:
    return {
        "id": o.id,
        "appointment_id": o.appointment_id,
        "times": [t.isoformat() for t in o.times],
        "expires_at": iso_or_none(o.expires_at),
        "expired": o.expired,
        "taken": o.taken,
        "booked_appointment_id": o.booked_appointment_id,
    }


@routes.get("/api/inbox")
async def inbox(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    unread, notices = await request.app[SCHEDULING].inbox(principal)
    return json_response({"unread": unread, "notices": [_notice_json(n) for n in notices]})


@routes.post("/api/inbox/{notice_id}/read")
async def read_notice(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SELF)
    await request.app[SCHEDULING].mark_read(principal, request.match_info["notice_id"])
    return json_response({"id": request.match_info["notice_id"], "read": True})


@routes.get("/api/rebooking-offers/{offer_id}")
async def rebooking_offer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REBOOKING_TAKE)
    offer = await request.app[SCHEDULING].rebooking_offer(principal, request.match_info["offer_id"])
    return json_response(_offer_json(offer))


@routes.post("/api/rebooking-offers/{offer_id}/take")
async def take_offer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.REBOOKING_TAKE)
    body = await read_json(request)
    booked = await request.app[SCHEDULING].take_offer(
        principal, request.match_info["offer_id"], body.get("starts_at")
    )
    return json_response(appointment_json(booked), status=201)


NOTICE = obj(
    ["id", "kind", "created_at", "read", "fields"],
    id=ID,
    kind={"type": "string"},
    created_at=DATETIME,
    read={"type": "boolean"},
    fields={"type": "object"},
)
OFFER = obj(
    ["id", "appointment_id", "times", "expires_at", "expired", "taken"],
    id=ID,
    appointment_id=ID,
    times={"type": "array", "items": DATETIME},
    expires_at=DATETIME,
    expired={"type": "boolean"},
    taken={"type": "boolean"},
    booked_appointment_id={"type": ["string", "null"]},
)

OPENAPI: dict[str, Any] = {
    "/api/inbox": {
        "get": api_op(
            "The reader's unread count and latest notices (codes and times; the page words them)",
            Permission.SELF,
            result=obj(
                ["unread", "notices"],
                unread={"type": "integer"},
                notices={"type": "array", "items": NOTICE},
            ),
            errors=(401, 403),
        )
    },
    "/api/inbox/{notice_id}/read": {
        "post": api_op(
            "Record that the reader has read one of their notices",
            Permission.SELF,
            result=obj(["id", "read"], id=ID, read={"type": "boolean"}),
            parameters=path_params("notice_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/rebooking-offers/{offer_id}": {
        "get": api_op(
            "The prisoner's own rebooking offer: the times offered and whether it is still open",
            Permission.REBOOKING_TAKE,
            result=OFFER,
            parameters=path_params("offer_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/rebooking-offers/{offer_id}/take": {
        "post": api_op(
            "Book one of the offered times; the others are released",
            Permission.REBOOKING_TAKE,
            body=obj(["starts_at"], starts_at=DATETIME),
            ok=201,
            result=APPOINTMENT,
            parameters=path_params("offer_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
}
