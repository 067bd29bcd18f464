"""The interventions' pages: the device's programmes screen and the duty healthcare queue."""

from __future__ import annotations

from aiohttp import web

from web.pages import page

routes = web.RouteTableDef()


@routes.get("/device/programmes")
async def programmes(request: web.Request) -> web.Response:
    """Questionnaires one question at a time (programmes.js); the device's Programmes tile."""
    return await page(request, "interventions/programmes.html", "programmes")


@routes.get("/healthcare/risk-alerts")
async def risk_queue(request: web.Request) -> web.Response:
    """Clinicians and healthcare managers: risk answers to acknowledge (risk_queue.js)."""
    return await page(request, "interventions/risk_queue.html", "risk_queue")


@routes.get("/scores")
async def scores(request: web.Request) -> web.Response:
    """Keyworkers (their caseload) and clinical staff: each score's trend as a chart (scores.js)."""
    return await page(request, "interventions/scores.html", "scores")


@routes.get("/device/programme-work")
async def programme_work(request: web.Request) -> web.Response:
    """A prisoner's programmes: sessions in order, each exercise saved as it is answered
    (programme_work.js); the place in it is in the address's fragment, so a reload returns."""
    return await page(request, "interventions/programme_work.html", "programme_work")


@routes.get("/programmes/caseload")
async def caseload(request: web.Request) -> web.Response:
    """Keyworkers and clinical staff: the people they follow, programme progress, latest
    scores, and (each reading logged) a person's answers (programme_caseload.js)."""
    return await page(request, "interventions/caseload.html", "programme_caseload")
