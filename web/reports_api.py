"""The manager's reports: `/api/reports/<name>`, the whole dashboard, exports, settings.

Thin edge: parse the period, authorise (`reports.read`), call
`SchedulingService.report_period` then one report; the counting is in
`scheduling/reports.py`. Officers and prisoners are refused by the table.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal
from core.permissions import Permission
from scheduling.reports import REPORTS, Period
from web.auth import require
from web.openapi import STR, obj, op
from web.report_export import table, to_csv, to_xlsx
from web.request import json_response, read_json
from web.state import SCHEDULING

routes = web.RouteTableDef()
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def _period(request: web.Request, actor: Principal) -> Period:
    q = request.query
    return await request.app[SCHEDULING].report_period(
        actor,
        q.get("establishment") or actor.establishment_id,
        q.get("from"),
        q.get("to"),
        q.get("tz"),
    )


def _report_handler(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        actor = await require(request, Permission.REPORTS_READ)
        period = await _period(request, actor)
        return json_response(await request.app[SCHEDULING].report(period, name))

    handler.__name__ = f"report_{name}"
    return handler


for _name in REPORTS:
    routes.get(f"/api/reports/{_name}")(_report_handler(_name))


@routes.get("/api/reports/dashboard")
async def report_dashboard(request: web.Request) -> web.Response:
    actor = await require(request, Permission.REPORTS_READ)
    period = await _period(request, actor)
    return json_response(await request.app[SCHEDULING].dashboard(period))


@routes.get("/api/reports/export")
async def report_export(request: web.Request) -> web.Response:
    actor = await require(request, Permission.REPORTS_READ)
    name = request.query.get("report", "")
    kind = request.query.get("format", "csv")
    if name not in REPORTS:
        raise ServiceError(Code.INVALID_REQUEST, "report must be one of: " + ", ".join(REPORTS))
    if kind not in FORMATS:
        raise ServiceError(Code.INVALID_REQUEST, "format must be csv or xlsx.")
    period = await _period(request, actor)
    data = await request.app[SCHEDULING].report(period, name, full=True)
    header, rows = table(name, data)
    if kind == "csv":
        body = to_csv(header, rows)
    else:
        body = await asyncio.to_thread(to_xlsx, name, header, rows)
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.{kind}"
    return web.Response(
        body=body,
        headers={
            "Content-Type": FORMATS[kind],
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


@routes.get("/api/establishments/{establishment_id}/report-settings")
async def get_report_settings(request: web.Request) -> web.Response:
    actor = await require(request, Permission.REPORTS_READ)
    found = await request.app[SCHEDULING].report_settings(
        actor, request.match_info["establishment_id"]
    )
    return json_response(found.as_dict())


@routes.put("/api/establishments/{establishment_id}/report-settings")
async def put_report_settings(request: web.Request) -> web.Response:
    actor = await require(request, Permission.REPORTS_CONFIGURE)
    body = await read_json(request)
    found = await request.app[SCHEDULING].set_report_settings(
        actor,
        request.match_info["establishment_id"],
        min_consult_s=body.get("min_consult_s"),
        escort_cost_pence=body.get("escort_cost_pence"),
        escort_cost_source=body.get("escort_cost_source"),
    )
    return json_response(found.as_dict())


_PERIOD = [
    {"name": "establishment", "in": "query", "required": False, "schema": STR},
    {
        "name": "from",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
    },
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    {"name": "tz", "in": "query", "required": False, "schema": STR},
]
_SETTINGS = obj(
    establishment_id=STR,
    min_consult_s={"type": "integer", "minimum": 0, "maximum": 3600},
    escort_cost_pence={"type": ["integer", "null"], "minimum": 0},
    escort_cost_source={"type": ["string", "null"], "maxLength": 200},
    configured={"type": "boolean"},
)
_SUMMARIES = {
    "misses": "Did-not-attend by cause (prison, patient, clinician, not recorded), "
    "cancellations by cause",
    "waits": "Median and 90th-percentile wait to the first admit; re-admits apart",
    "calls": "Answered, unanswered and abandoned calls; consults over the minimum length",
    "quality": "Worst loss and lowest bitrate per call, and calls by loss band",
    "escorts": "Escort journeys avoided and their configured cost",
    "precall": "Pre-call tests and failures by wing",
    "requests": "Health requests' waiting time against their service's target",
    "attendance": "Per call, who was present when and on hold when, by role (roles and times only)",
}

OPENAPI: dict[str, Any] = {
    f"/api/reports/{name}": {
        "get": op(
            summary + " (one establishment, a period of at most a year)",
            tag="reports",
            permission=Permission.REPORTS_READ,
            parameters=_PERIOD,
            result={"type": "object"},
            errors=(400, 401, 403, 404),
        )
    }
    for name, summary in _SUMMARIES.items()
}
OPENAPI["/api/reports/dashboard"] = {
    "get": op(
        "Every report of the manager's dashboard at once",
        tag="reports",
        permission=Permission.REPORTS_READ,
        parameters=_PERIOD,
        result={"type": "object"},
        errors=(400, 401, 403, 404),
    )
}
OPENAPI["/api/reports/export"] = {
    "get": op(
        "One report as CSV or XLSX (cells that would be formulas are escaped)",
        tag="reports",
        permission=Permission.REPORTS_READ,
        parameters=[
            {"name": "report", "in": "query", "required": True, "schema": {"enum": list(REPORTS)}},
            {"name": "format", "in": "query", "required": False, "schema": {"enum": list(FORMATS)}},
            *_PERIOD,
        ],
        errors=(400, 401, 403, 404),
    )
}
OPENAPI["/api/establishments/{establishment_id}/report-settings"] = {
    "get": op(
        "The establishment's report settings: minimum consult length, escort cost and its source",
        tag="reports",
        permission=Permission.REPORTS_READ,
        parameters=[{"name": "establishment_id", "in": "path", "required": True, "schema": STR}],
        result=_SETTINGS,
    ),
    "put": op(
        "Set the minimum consult length and the escort cost (with where it comes from)",
        tag="reports",
        permission=Permission.REPORTS_CONFIGURE,
        parameters=[{"name": "establishment_id", "in": "path", "required": True, "schema": STR}],
        body=obj(
            ["min_consult_s"],
            min_consult_s={"type": "integer", "minimum": 0, "maximum": 3600},
            escort_cost_pence={"type": ["integer", "null"], "minimum": 0},
            escort_cost_source={"type": ["string", "null"], "maxLength": 200},
        ),
        result=_SETTINGS,
    ),
}
