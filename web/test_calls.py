"""Pre-call tests: wiring the test peer into signalling, and the staff's alert list.

The test itself runs on `/ws` (signalling/test_calls.py, docs/signalling.md
"Pre-call test"); media/echo.py is its far end. This module builds the two
for the hub and serves `/api/test-call-alerts`: the devices of an
establishment whose latest test failed, by wing and cell, for its officers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from core.permissions import Permission
from media.echo import EchoService
from scheduling import SchedulingService
from scheduling.types import PrecallAlert
from signalling.policy import IceServerIssuer
from signalling.test_calls import PrecallConfig, PrecallTests
from web.auth import require
from web.openapi import DATETIME, STR, obj
from web.request import json_response
from web.scheduling_shared import (
    ID,
    api_op,
    establishment_asked,
    iso_or_none,
    query_params,
)
from web.state import CLOCK, SCHEDULING, SETTINGS

PRECALL_CONFIG: web.AppKey[PrecallConfig] = web.AppKey("precall_config")
"""Optional: test-call timings for tests; otherwise the defaults (10 s of media)."""
CLIP_DIR: web.AppKey[Path] = web.AppKey("precall_clip_dir")
"""Optional: where the test peer's clip is kept; otherwise `DATA_DIR/media`."""

routes = web.RouteTableDef()


def build_test_calls(app: web.Application, ice_servers: IceServerIssuer) -> PrecallTests:
    """The hub's pre-call tests: scheduling's rules, media's peer, the consult's TURN issuer."""
    clip_dir = app.get(CLIP_DIR) or app[SETTINGS].data_dir / "media"
    return PrecallTests(
        policy=app[SCHEDULING],
        peers=EchoService(ice_servers=ice_servers, clip_dir=clip_dir),
        ice_servers=ice_servers,
        clock=app[CLOCK],
        config=app.get(PRECALL_CONFIG),
    )


async def add_test_calls(scheduling: SchedulingService, shown: list[dict[str, Any]]) -> None:
    """Each appointment's latest pre-call test, as the field `test_call` (or null)."""
    found = await scheduling.test_call_summaries([a["id"] for a in shown])
    for body in shown:
        summary = found.get(body["id"])
        body["test_call"] = (
            None
            if summary is None
            else {
                "at": iso_or_none(summary.at),
                "outcome": summary.outcome,
                "camera": summary.camera,
                "microphone": summary.microphone,
                "connection": summary.connection,
            }
        )


def _alert_json(alert: PrecallAlert) -> dict[str, Any]:
    """A place, a time and what to fix: nothing about the consult but when it is."""
    return {
        "id": alert.test_id,
        "at": iso_or_none(alert.at),
        "wing": alert.wing,
        "cell": alert.cell,
        "problems": list(alert.problems),
        "consult_at": iso_or_none(alert.consult_at),
    }


@routes.get("/api/test-call-alerts")
async def test_call_alerts(request: web.Request) -> web.Response:
    principal = await require(request, Permission.DEVICE_ALERTS_READ)
    est = establishment_asked(principal, request.query.get("establishment_id"))
    alerts = await request.app[SCHEDULING].test_call_alerts(principal, est)
    return json_response([_alert_json(a) for a in alerts])


OPENAPI: dict[str, Any] = {
    "/api/test-call-alerts": {
        "get": api_op(
            "Devices whose latest pre-call test failed, by wing and cell (no clinical detail)",
            Permission.DEVICE_ALERTS_READ,
            result={
                "type": "array",
                "items": obj(
                    ["id", "at", "wing", "cell", "problems", "consult_at"],
                    id=ID,
                    at=DATETIME,
                    wing=STR,
                    cell=STR,
                    problems={
                        "type": "array",
                        "items": {"type": "string", "enum": ["camera", "microphone", "connection"]},
                    },
                    consult_at=DATETIME,
                ),
            },
            parameters=query_params("establishment_id"),
        )
    }
}
