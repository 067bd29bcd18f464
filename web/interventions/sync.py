"""The device's offline queue: its key, its sync, its conflicts, and the service worker.

`core.offline.OfflineSync` is generic; it is built here because the
questionnaires are its first kind (`interventions.sync.QueuedAnswers`), with the
programme sessions' work (`interventions.programme_sync`). A module that queues
another kind registers it on `OFFLINE` in its own ctx, after `offline_ctx` (the
campus: `web.campus.sync`). See docs/offline.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.offline import MAX_BATCH, OfflineSync, Outcome
from core.permissions import Permission
from interventions.programme_sync import KIND as PROGRAMME_KIND
from interventions.programme_sync import QueuedProgrammeWork
from interventions.sync import KIND, QueuedAnswers
from web.auth import require
from web.interventions import PROGRAMMES
from web.openapi import STR, obj, op
from web.pages import PAGES
from web.request import json_response, read_json
from web.scheduling_shared import iso_or_none
from web.state import AUDIT, CLOCK, DATABASE, KEYS, SCHEDULING, SUBJECT_KEYS

OFFLINE = web.AppKey("offline", OfflineSync)
WORKER = "js/offline_sw.js"

routes = web.RouteTableDef()


async def offline_ctx(app: web.Application) -> AsyncIterator[None]:
    # Its own secret, so the queue keys never equal anything else derived from the field key.
    secret = hmac.new(app[KEYS].field_key, b"offline-queue-secret", hashlib.sha256).digest()
    service = OfflineSync(
        app[DATABASE],
        secret=secret,
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
        require_open=app[SCHEDULING].require_open,
    )
    service.register(KIND, QueuedAnswers(subject_keys=app[SUBJECT_KEYS], audit=app[AUDIT]))
    service.register(
        PROGRAMME_KIND,
        QueuedProgrammeWork(
            app[DATABASE], app[PROGRAMMES], subject_keys=app[SUBJECT_KEYS], audit=app[AUDIT]
        ),
    )
    app[OFFLINE] = service
    yield


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {"id": o.client_id, "status": o.status, **o.summary}


@routes.get("/api/me/offline-key")
async def offline_key(request: web.Request) -> web.Response:
    principal = await require(request, Permission.OFFLINE_SYNC)
    key = request.app[OFFLINE].key_for(principal)
    return _no_store(json_response({"key": base64.b64encode(key.key).decode(), "tag": key.tag}))


@routes.post("/api/sync")
async def sync(request: web.Request) -> web.Response:
    principal = await require(request, Permission.OFFLINE_SYNC)
    body = await read_json(request)
    outcomes = await request.app[OFFLINE].sync(principal, body.get("items"))
    return _no_store(json_response({"results": [_outcome_json(o) for o in outcomes]}))


@routes.get("/api/me/sync/conflicts")
async def conflicts(request: web.Request) -> web.Response:
    principal = await require(request, Permission.OFFLINE_SYNC)
    found = await request.app[OFFLINE].conflicts(principal)
    return _no_store(
        json_response(
            {"conflicts": [{**c, "received_at": iso_or_none(c["received_at"])} for c in found]}
        )
    )


@routes.get("/device/sw.js")
async def service_worker(request: web.Request) -> web.Response:
    """Served from /device/ so that its scope covers the device's pages."""
    found = request.app[PAGES].static.get(WORKER)
    if found is None:
        raise ServiceError(Code.NOT_FOUND)
    return web.Response(
        body=found.body,
        content_type=found.content_type,
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/device/"},
    )


ITEM = obj(["id", "nonce", "data"], id=STR, nonce=STR, data=STR)
RESULT = obj(["id", "status"], id=STR, status=STR)

OPENAPI: dict[str, Any] = {
    "/api/me/offline-key": {
        "get": op(
            "The signed-in person's queue key on this device (AES-GCM, base64) and the tag "
            "their queued items carry; never cached, held by the page as a non-extractable key",
            tag="offline",
            permission=Permission.OFFLINE_SYNC,
            result=obj(["key", "tag"], key=STR, tag=STR),
        )
    },
    "/api/sync": {
        "post": op(
            f"Send up to {MAX_BATCH} sealed items from the device's queue (questionnaire, "
            "programme, lesson, assessment; played in order); each is stored, "
            "replayed (received before, nothing changed), a conflict (the first received "
            "stands) or refused. An item not sealed by this person on this device, or an id "
            "another person sent, refuses the whole batch (409); a lockdown too (423)",
            tag="offline",
            permission=Permission.OFFLINE_SYNC,
            body=obj(["items"], items={"type": "array", "items": ITEM}),
            result=obj(["results"], results={"type": "array", "items": RESULT}),
            errors=(400, 401, 403, 409, 423),
        )
    },
    "/api/me/sync/conflicts": {
        "get": op(
            "The person's queued answers that lost to an earlier one for the same slot",
            tag="offline",
            permission=Permission.OFFLINE_SYNC,
            result=obj(["conflicts"], conflicts={"type": "array"}),
        )
    },
}
