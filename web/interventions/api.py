"""The questionnaires' API: ask, answer, see scores; the duty queue of risk alerts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.permissions import Permission
from interventions.instruments import INSTRUMENTS, describe, instrument
from interventions.questionnaires import CheckPlan, RiskAlert, ScorePoint, Submission
from web.auth import require
from web.interventions import INTERVENTIONS
from web.openapi import DATETIME, STR, obj, op
from web.request import json_response, read_json
from web.scheduling_shared import ID, iso_or_none, path_params

routes = web.RouteTableDef()


def _op(summary: str, permission: Permission, **kwargs: Any) -> dict[str, Any]:
    return op(summary, tag="interventions", permission=permission, **kwargs)


def _submission_json(s: Submission) -> dict[str, Any]:
    return {
        "id": s.id,
        "kind": s.kind,
        "score": s.score,
        "band": s.band,
        "substance": s.substance,
        "risk": s.risk,
        "submitted_at": iso_or_none(s.submitted_at),
    }


def _point_json(p: ScorePoint) -> dict[str, Any]:
    found = {
        "id": p.id,
        "kind": p.kind,
        "substance": p.substance,
        "score": p.score,
        "band": p.band,
        "submitted_at": iso_or_none(p.submitted_at),
    }
    if p.comment is not None:
        found["comment"] = p.comment
    return found


def _alert_json(a: RiskAlert) -> dict[str, Any]:
    return {
        "id": a.id,
        "prisoner_id": a.prisoner_id,
        "prisoner_name": a.prisoner_name,
        "created_at": iso_or_none(a.created_at),
        "acknowledged_at": iso_or_none(a.acknowledged_at),
        "escalated_at": iso_or_none(a.escalated_at),
    }


def _plan_json(p: CheckPlan) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "every_days": p.every_days,
        "next_due_at": iso_or_none(p.next_due_at),
        "due": p.due,
    }


@routes.get("/api/me/checks")
async def my_checks(request: web.Request) -> web.Response:
    principal = await require(request, Permission.QUESTIONNAIRES_ANSWER)
    plans = await request.app[INTERVENTIONS].my_checks(principal)
    return json_response({"checks": [_plan_json(p) for p in plans]})


@routes.get("/api/prisoners/{prisoner_id}/checks")
async def checks(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CHECKS_SCHEDULE)
    plans = await request.app[INTERVENTIONS].checks_of(principal, request.match_info["prisoner_id"])
    return json_response({"checks": [_plan_json(p) for p in plans]})


@routes.post("/api/prisoners/{prisoner_id}/checks")
async def schedule_checks(request: web.Request) -> web.Response:
    principal = await require(request, Permission.CHECKS_SCHEDULE)
    body = await read_json(request)
    plan = await request.app[INTERVENTIONS].schedule_checks(
        principal, request.match_info["prisoner_id"], body.get("kind"), body.get("every_days")
    )
    return json_response(_plan_json(plan), status=201)


@routes.get("/api/questionnaires")
async def questionnaires(request: web.Request) -> web.Response:
    await require(request, Permission.QUESTIONNAIRES_ANSWER)
    return json_response({"questionnaires": [describe(i) for i in INSTRUMENTS.values()]})


@routes.get("/api/questionnaires/{kind}")
async def questionnaire(request: web.Request) -> web.Response:
    await require(request, Permission.QUESTIONNAIRES_ANSWER)
    return json_response(describe(instrument(request.match_info["kind"])))


@routes.post("/api/questionnaires/{kind}/responses")
async def answer(request: web.Request) -> web.Response:
    principal = await require(request, Permission.QUESTIONNAIRES_ANSWER)
    body = await read_json(request)
    done = await request.app[INTERVENTIONS].submit(
        principal,
        request.match_info["kind"],
        body.get("answers"),
        substance=body.get("substance"),
        comment=body.get("comment"),
        client_id=body.get("client_id"),
    )
    return json_response(_submission_json(done), status=201)


@routes.get("/api/me/scores")
async def my_scores(request: web.Request) -> web.Response:
    principal = await require(request, Permission.QUESTIONNAIRES_ANSWER)
    points = await request.app[INTERVENTIONS].scores(principal)
    return json_response({"scores": [_point_json(p) for p in points]})


@routes.get("/api/prisoners/{prisoner_id}/scores")
async def scores(request: web.Request) -> web.Response:
    principal = await require(request, Permission.SCORES_READ)
    points = await request.app[INTERVENTIONS].scores(principal, request.match_info["prisoner_id"])
    return json_response({"scores": [_point_json(p) for p in points]})


@routes.get("/api/risk-alerts")
async def risk_alerts(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RISK_ALERTS_HANDLE)
    alerts = await request.app[INTERVENTIONS].risk_queue(principal)
    return json_response({"alerts": [_alert_json(a) for a in alerts]})


@routes.post("/api/risk-alerts/{alert_id}/acknowledge")
async def acknowledge(request: web.Request) -> web.Response:
    principal = await require(request, Permission.RISK_ALERTS_HANDLE)
    alert = await request.app[INTERVENTIONS].acknowledge(principal, request.match_info["alert_id"])
    return json_response(_alert_json(alert))


QUESTIONNAIRE = obj(["kind", "title", "stem", "items"], kind=STR, title=STR, stem=STR)
SUBMISSION = obj(
    ["id", "kind", "score", "band", "risk", "submitted_at"],
    id=ID,
    kind=STR,
    score={"type": "integer"},
    band=STR,
    risk={"type": "boolean"},
    submitted_at=DATETIME,
)
SCORES = obj(["scores"], scores={"type": "array"})
ALERT = obj(
    ["id", "prisoner_id", "created_at"],
    id=ID,
    prisoner_id=ID,
    prisoner_name=STR,
    created_at=DATETIME,
    acknowledged_at={"type": ["string", "null"]},
    escalated_at={"type": ["string", "null"]},
)

PLAN = obj(
    ["id", "kind", "every_days", "next_due_at", "due"],
    id=ID,
    kind=STR,
    every_days={"type": "integer"},
    next_due_at=DATETIME,
    due={"type": "boolean"},
)
PLANS = obj(["checks"], checks={"type": "array", "items": PLAN})

OPENAPI: dict[str, Any] = {
    "/api/me/checks": {
        "get": _op(
            "The prisoner's planned checks: which questionnaire, when next due, due now",
            Permission.QUESTIONNAIRES_ANSWER,
            result=PLANS,
        )
    },
    "/api/prisoners/{prisoner_id}/checks": {
        "get": _op(
            "A person's planned baseline and progress checks",
            Permission.CHECKS_SCHEDULE,
            result=PLANS,
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        ),
        "post": _op(
            "Plan a questionnaire now (the baseline) and every every_days (7-182) after each "
            "answer; the person is told in their inbox when each is due",
            Permission.CHECKS_SCHEDULE,
            body=obj(["kind", "every_days"], kind=STR, every_days={"type": "integer"}),
            ok=201,
            result=PLAN,
            parameters=path_params("prisoner_id"),
            errors=(400, 401, 403, 404),
        ),
    },
    "/api/questionnaires": {
        "get": _op(
            "The questionnaires a prisoner may answer, with items, choices and the risk rule",
            Permission.QUESTIONNAIRES_ANSWER,
            result=obj(["questionnaires"], questionnaires={"type": "array"}),
        )
    },
    "/api/questionnaires/{kind}": {
        "get": _op(
            "One questionnaire (audit, sds, phq9, gad7)",
            Permission.QUESTIONNAIRES_ANSWER,
            result=QUESTIONNAIRE,
            parameters=path_params("kind"),
        )
    },
    "/api/questionnaires/{kind}/responses": {
        "post": _op(
            "Answer a questionnaire: scored at once; a risk answer alerts the duty healthcare "
            "queue. A client_id already used returns the first answer and changes nothing",
            Permission.QUESTIONNAIRES_ANSWER,
            body=obj(
                ["answers"],
                answers={"type": "object"},
                substance=STR,
                comment=STR,
                client_id=ID,
            ),
            ok=201,
            result=SUBMISSION,
            parameters=path_params("kind"),
            errors=(400, 401, 403, 423),
        )
    },
    "/api/me/scores": {
        "get": _op(
            "The prisoner's own scores over time, oldest first",
            Permission.QUESTIONNAIRES_ANSWER,
            result=SCORES,
        )
    },
    "/api/prisoners/{prisoner_id}/scores": {
        "get": _op(
            "A person's scores over time: clinical staff of their establishment (with any "
            "free text), or their keyworker (scores only). Each read is logged",
            Permission.SCORES_READ,
            result=SCORES,
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/risk-alerts": {
        "get": _op(
            "The establishment's duty healthcare queue of risk answers",
            Permission.RISK_ALERTS_HANDLE,
            result=obj(["alerts"], alerts={"type": "array", "items": ALERT}),
            errors=(401, 403),
        )
    },
    "/api/risk-alerts/{alert_id}/acknowledge": {
        "post": _op(
            "Acknowledge a risk alert: it stops its escalation to the healthcare managers",
            Permission.RISK_ALERTS_HANDLE,
            result=ALERT,
            parameters=path_params("alert_id"),
            errors=(401, 403, 404, 409),
        )
    },
}
