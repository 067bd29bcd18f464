"""The programmes' API: a prisoner's programmes, sessions and answers; staff's catalogue,
enrolment, caseload progress and (logged) reading of a person's answers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from interventions.programme_desk import CaseloadRow
from interventions.programme_records import Programme, ProgrammeView, Progress
from interventions.programmes import AnswerRecord
from web.auth import require
from web.interventions import PROGRAMMES
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response, read_json
from web.scheduling_shared import ID, iso_or_none, path_params

routes = web.RouteTableDef()


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="interventions", permission=permission, **kwargs)


def _programme_json(p: Programme) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "title": {"en": p.title, "cy": p.title_cy},
        "summary": {"en": p.summary, "cy": p.summary_cy},
        "self_enrol": p.self_enrol,
        "checks": list(p.check_kinds),
        "sessions": p.sessions,
    }


def _progress_json(p: Progress) -> dict[str, Any]:
    return {
        "enrolment_id": p.enrolment_id,
        "programme": _programme_json(p.programme),
        "enrolled_at": iso_or_none(p.enrolled_at),
        "completed_sessions": p.completed_sessions,
        "completed_at": iso_or_none(p.completed_at),
    }


def _view_json(v: ProgrammeView) -> dict[str, Any]:
    return {
        **_progress_json(v.progress),
        "session_list": [
            {
                "id": s.id,
                "position": s.position,
                "state": s.state,
                "completed_at": iso_or_none(s.completed_at),
                **s.content.json(),
                "answers": s.answers,
                "versions": s.versions,
            }
            for s in v.sessions
        ],
    }


def _answer_json(a: AnswerRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "session_id": a.session_id,
        "exercise": a.exercise,
        "client_id": a.client_id,
        "version": a.version,
        "updated_at": iso_or_none(a.updated_at),
        "replayed": a.replayed,
        "conflicted": a.conflicted,
    }


def _row_json(r: CaseloadRow) -> dict[str, Any]:
    return {
        "prisoner_id": r.prisoner_id,
        "display_name": r.display_name,
        "prison_number": r.prison_number,
        "programmes": [_progress_json(p) for p in r.programmes],
        "latest_scores": [
            {
                "kind": s.kind,
                "score": s.score,
                "band": s.band,
                "submitted_at": iso_or_none(s.submitted_at),
            }
            for s in r.latest_scores
        ],
    }


@routes.get("/api/me/programmes")
async def mine(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_TAKE)
    own, offered = await request.app[PROGRAMMES].mine(principal)
    return json_response(
        {
            "enrolled": [_progress_json(p) for p in own],
            "available": [_programme_json(p) for p in offered],
        }
    )


@routes.post("/api/me/programmes/{programme_id}/enrol")
async def enrol_self(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_TAKE)
    done = await request.app[PROGRAMMES].enrol_self(principal, request.match_info["programme_id"])
    return json_response(_progress_json(done), status=201)


@routes.get("/api/me/programmes/{programme_id}")
async def my_programme(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_TAKE)
    view = await request.app[PROGRAMMES].my_programme(principal, request.match_info["programme_id"])
    return json_response(_view_json(view))


@routes.put("/api/me/programme-sessions/{session_id}/answers/{exercise}")
async def answer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_TAKE)
    body = await read_json(request)
    saved = await request.app[PROGRAMMES].record_answer(
        principal,
        request.match_info["session_id"],
        request.match_info["exercise"],
        body.get("value"),
        client_id=body.get("client_id"),
        base_version=body.get("base_version"),
    )
    return json_response(_answer_json(saved))


@routes.post("/api/me/programme-sessions/{session_id}/complete")
async def complete(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_TAKE)
    done = await request.app[PROGRAMMES].complete_session(
        principal, request.match_info["session_id"]
    )
    return json_response(_progress_json(done))


@routes.get("/api/programmes")
async def catalogue(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_ENROL)
    found = await request.app[PROGRAMMES].desk.catalogue(principal)
    return json_response({"programmes": [_programme_json(p) for p in found]})


@routes.get("/api/programmes/caseload")
async def caseload(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_ENROL)
    rows = await request.app[PROGRAMMES].desk.caseload(principal)
    return json_response({"people": [_row_json(r) for r in rows]})


@routes.post("/api/prisoners/{prisoner_id}/programmes")
async def enrol(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMMES_ENROL)
    body = await read_json(request)
    done = await request.app[PROGRAMMES].enrol(
        principal, request.match_info["prisoner_id"], body.get("programme_id")
    )
    return json_response(_progress_json(done), status=201)


@routes.get("/api/prisoners/{prisoner_id}/programmes/{programme_id}/answers")
async def answers_of(request: web.Request) -> web.Response:
    principal = await require(request, Permission.PROGRAMME_ANSWERS_READ)
    view = await request.app[PROGRAMMES].desk.answers_of(
        principal, request.match_info["prisoner_id"], request.match_info["programme_id"]
    )
    return json_response(_view_json(view))


PROGRAMME = obj(
    ["id", "kind", "title", "summary", "self_enrol", "checks", "sessions"],
    id=ID,
    kind=STR,
    title={"type": "object"},
    summary={"type": "object"},
    self_enrol={"type": "boolean"},
    checks={"type": "array", "items": STR},
    sessions={"type": "integer"},
)
PROGRESS = obj(
    ["enrolment_id", "programme", "enrolled_at", "completed_sessions"],
    enrolment_id=ID,
    programme=PROGRAMME,
    enrolled_at=DATETIME,
    completed_sessions={"type": "integer"},
    completed_at={"type": ["string", "null"]},
)
VIEW = {
    **PROGRESS,
    "properties": {**PROGRESS["properties"], "session_list": {"type": "array"}},
}
ANSWER = obj(
    ["id", "session_id", "exercise", "client_id", "version", "updated_at", "replayed"],
    id=ID,
    session_id=ID,
    exercise=STR,
    client_id=ID,
    version={"type": "integer"},
    updated_at=DATETIME,
    replayed={"type": "boolean"},
    conflicted={"type": "boolean"},
)

OPENAPI: dict[str, Any] = {
    "/api/me/programmes": {
        "get": _op(
            "The prisoner's programmes with their progress, and those they may join themselves",
            Permission.PROGRAMMES_TAKE,
            result=obj(
                ["enrolled", "available"],
                enrolled={"type": "array", "items": PROGRESS},
                available={"type": "array", "items": PROGRAMME},
            ),
        )
    },
    "/api/me/programmes/{programme_id}/enrol": {
        "post": _op(
            "Join a programme that allows it; its baseline questionnaires are due at once",
            Permission.PROGRAMMES_TAKE,
            ok=201,
            result=PROGRESS,
            parameters=path_params("programme_id"),
            errors=(401, 403, 404, 409, 423),
        )
    },
    "/api/me/programmes/{programme_id}": {
        "get": _op(
            "One's programme: sessions in order (done, open, locked) with their exercises "
            "and one's saved answers",
            Permission.PROGRAMMES_TAKE,
            result=VIEW,
            parameters=path_params("programme_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/me/programme-sessions/{session_id}/answers/{exercise}": {
        "put": _op(
            "Save one exercise's answer (text, a choice's value, or a plan of triggers, "
            "avoid and cope). client_id is the device's id for this write: the same id "
            "again changes nothing (replayed: true); the later of two writes wins, and one "
            "that names the version it edited (base_version) and finds another is conflicted",
            Permission.PROGRAMMES_TAKE,
            body=obj(
                ["value", "client_id"], value={}, client_id=ID, base_version={"type": "integer"}
            ),
            result=ANSWER,
            parameters=path_params("session_id", "exercise"),
            errors=(400, 401, 403, 404, 409, 423),
        )
    },
    "/api/me/programme-sessions/{session_id}/complete": {
        "post": _op(
            "Complete a session once each exercise has an answer; the next one opens",
            Permission.PROGRAMMES_TAKE,
            result=PROGRESS,
            parameters=path_params("session_id"),
            errors=(400, 401, 403, 404, 409, 423),
        )
    },
    "/api/programmes": {
        "get": _op(
            "The programmes offered here (the establishment's and shared ones)",
            Permission.PROGRAMMES_ENROL,
            result=obj(["programmes"], programmes={"type": "array", "items": PROGRAMME}),
        )
    },
    "/api/programmes/caseload": {
        "get": _op(
            "The people one follows here (a keyworker's caseload; clinical staff: everyone on "
            "a programme) with programme progress and latest scores",
            Permission.PROGRAMMES_ENROL,
            result=obj(["people"], people={"type": "array"}),
        )
    },
    "/api/prisoners/{prisoner_id}/programmes": {
        "post": _op(
            "Put a person one follows on a programme offered here",
            Permission.PROGRAMMES_ENROL,
            body=obj(["programme_id"], programme_id=ID),
            ok=201,
            result=PROGRESS,
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/prisoners/{prisoner_id}/programmes/{programme_id}/answers": {
        "get": _op(
            "A followed person's programme with their answers (free text, choices, plan); "
            "each reading is logged",
            Permission.PROGRAMME_ANSWERS_READ,
            result=VIEW,
            parameters=path_params("prisoner_id", "programme_id"),
            errors=(401, 403, 404),
        )
    },
}
