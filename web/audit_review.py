"""Audit review for managers: search, integrity check and evidence export.

Thin edge: parse the query, authenticate, call `audit.review` / `audit.export`
/ `audit.integrity`; the scoping and the who-sees-what rules live there. Every
read is logged by the service as `log_viewed`, every export as `log_exported`.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from audit.export import export_bundle
from audit.integrity import verify_log
from audit.review import ReviewQuery, scope_for, search
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.identity import validation
from core.identity.service import AccountView
from core.permissions import Permission
from web.auth import require
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response
from web.state import AUDIT, IDENTITY

routes = web.RouteTableDef()

_FILTERS = ("establishment", "prisoner", "clinician", "appointment")


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, f"{name} must be an ISO 8601 time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _int(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ServiceError(Code.INVALID_REQUEST, f"{name} must be a whole number.")
    return int(raw)


MAX_SEARCH = 100
_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


async def _resolve(request: web.Request, establishment: str | None, text: str) -> frozenset[str]:
    """What a search box's words name: an appointment or account id as typed, a prisoner
    by prison number, or people of the establishment by name (names are encrypted, so
    they are matched in the identity service, not in SQL). Never SQL or HTML: the words
    are only compared, and shown back as text."""
    if len(text) > MAX_SEARCH:
        raise ServiceError(Code.INVALID_REQUEST, f"The search is at most {MAX_SEARCH} characters.")
    identity = request.app[IDENTITY]
    if _ID.match(text):
        return frozenset({text.lower()})
    try:
        number = validation.prison_number(text)
    except ServiceError:
        number = None
    if number is not None:
        found = await identity.find_prisoner(number)
        return frozenset({found}) if found else frozenset()
    if establishment is None:
        raise ServiceError(
            Code.INVALID_REQUEST, "Choose an establishment to search the log by name."
        )
    return frozenset(await identity.find_people(establishment, text))


def _people_json(people: dict[str, AccountView]) -> dict[str, dict[str, Any]]:
    return {
        i: {"name": v.display_name, "prison_number": v.prison_number, "role": v.role.value}
        for i, v in people.items()
    }


def _query(request: web.Request) -> ReviewQuery:
    action = request.query.get("action")
    if action is not None:
        try:
            parsed_action: Action | None = Action(action)
        except ValueError:
            raise ServiceError(
                Code.INVALID_REQUEST, "The audit action is not in the vocabulary."
            ) from None
    else:
        parsed_action = None
    for name in _FILTERS:
        value = request.query.get(name)
        if value is not None and len(value) > 36:
            raise ServiceError(Code.INVALID_REQUEST, f"{name} is not a valid id.")
    return ReviewQuery(
        establishment=request.query.get("establishment"),
        start=_time(request, "from"),
        end=_time(request, "to"),
        prisoner=request.query.get("prisoner"),
        clinician=request.query.get("clinician"),
        appointment=request.query.get("appointment"),
        action=parsed_action,
        limit=_int(request, "limit", 100) or 0,
        before=_int(request, "before", None),
    )


@routes.get("/api/audit/events")
async def audit_events(request: web.Request) -> web.Response:
    """One page of the log, newest first; `next_before` continues below it.

    With `q`, only the events by or about what it names; `people` resolves the
    names and prison numbers of the page for a reader shown details (a manager
    of the establishment), never for an admin, who sees metadata only.
    """
    reader = await require(request, Permission.AUDIT_READ)
    query = _query(request)
    establishment, show = scope_for(reader, query.establishment)
    text = (request.query.get("q") or "").strip()
    if text:
        query = replace(query, any_of=await _resolve(request, establishment, text), text=text)
    events = await search(request.app[AUDIT], reader, query)
    people: dict[str, dict[str, Any]] = {}
    if show:
        ids = {e["actor"] for e in events} | {e["subject"] for e in events if e["subject"]}
        people = _people_json(await request.app[IDENTITY].people(ids))
    next_before = events[-1]["seq"] if len(events) == query.limit else None
    return json_response({"events": events, "people": people, "next_before": next_before})


@routes.get("/api/audit/export")
async def audit_export(request: web.Request) -> web.Response:
    reader = await require(request, Permission.AUDIT_READ)
    establishment, _ = scope_for(reader, request.query.get("establishment"))
    bundle = await export_bundle(
        request.app[AUDIT],
        actor=reader.account_id,
        start=_time(request, "from"),
        end=_time(request, "to"),
        establishment=establishment,
    )
    response = web.Response(
        body=json.dumps(bundle).encode(),
        content_type="application/json",
    )
    response.headers["Content-Disposition"] = 'attachment; filename="audit-bundle.json"'
    return response


@routes.get("/api/audit/integrity")
async def audit_integrity(request: web.Request) -> web.Response:
    reader = await require(request, Permission.AUDIT_READ)
    establishment, _ = scope_for(reader, None)
    log = request.app[AUDIT]
    report = await verify_log(log)
    await log.append(
        AuditRecord(
            Action.LOG_VIEWED,
            actor=reader.account_id,
            establishment=establishment,
            details={"integrity_check": report.ok, "size": report.size},
        )
    )
    return json_response({**report.as_dict(), "key_id": log.signer.key_id})


_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in (
        ("from", DATETIME),
        ("to", DATETIME),
        ("establishment", STR),
        ("prisoner", STR),
        ("clinician", STR),
        ("appointment", STR),
        ("action", STR),
        ("q", {"type": "string", "maxLength": 100}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
        ("before", {"type": "integer", "minimum": 0}),
    )
]
_EVENT = obj(
    seq={"type": "integer"},
    at=DATETIME,
    establishment_id=STR,
    actor=STR,
    action=STR,
    subject=STR,
    appointment_id=STR,
    details={"type": ["object", "null"]},
    details_status={"type": "string", "enum": ["shown", "withheld", "shredded", "unreadable"]},
)

OPENAPI = {
    "/api/audit/events": {
        "get": op(
            "Search the audit log (managers: own establishment, details shown; "
            "admins: metadata only). The read is itself logged.",
            tag="audit",
            permission=Permission.AUDIT_READ,
            parameters=_QUERY,
            result=obj(
                events={"type": "array", "items": _EVENT},
                people={"type": "object"},
                next_before={"type": ["integer", "null"]},
            ),
        )
    },
    "/api/audit/export": {
        "get": op(
            "Export an evidence bundle (events in range, proofs, checkpoints, public key); "
            "check it offline with `python -m audit.verify`",
            tag="audit",
            permission=Permission.AUDIT_READ,
            parameters=_QUERY[:3],
            result={"type": "object"},
            errors=(400, 401, 403, 409),
        )
    },
    "/api/audit/integrity": {
        "get": op(
            "Verify the whole log against its signed checkpoints",
            tag="audit",
            permission=Permission.AUDIT_READ,
            result=obj(
                ok={"type": "boolean"},
                size={"type": "integer"},
                checkpoints={"type": "integer"},
                first_bad_seq={"type": ["integer", "null"]},
                problem={"type": ["string", "null"]},
                root=STR,
                unsigned_tail={"type": "integer"},
                kept={"type": "integer"},
                kept_size={"type": ["integer", "null"]},
                key_id=STR,
            ),
        )
    },
}
