"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from core.errors import Code, ServiceError
from web.request import json_response
from web.state import BUS, DATABASE, JOBS, METRICS
from web.ws import WS_PATH

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
READY_TIMEOUT_S = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    # Which way /ws carries frames (web/ws.py, chosen at start-up): worth seeing after an
    # aiohttp upgrade, which may leave only the public path.
    path = request.app.get(WS_PATH)
    return json_response({"status": "ok", "ws_path": path.name if path else None})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, probe in (("store", request.app[DATABASE].ping), ("bus", request.app[BUS].ping)):
        try:
            await asyncio.wait_for(probe(), READY_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is logged
            log.warning(
                "readiness check failed", extra={"check": name, "error": type(exc).__name__}
            )
            checks[name] = "failed"
    if any(v != "ok" for v in checks.values()):
        raise ServiceError(Code.UNAVAILABLE, extra={"checks": checks})
    return json_response({"status": "ready", "checks": checks})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(request.app[JOBS].refresh_counts(), READY_TIMEOUT_S)
    except Exception as exc:  # the scrape still answers, with the last counts
        log.warning("job counts not refreshed", extra={"error": type(exc).__name__})
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


OPENAPI: dict[str, object] = {}
