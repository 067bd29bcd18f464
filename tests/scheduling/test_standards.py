"""FHIR R4 resources that validate, and a calendar feed that leaks no patient."""

from __future__ import annotations

import importlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_staff
from web.logs import AccessLogger, JsonFormatter

FHIR_MODELS = {
    "Bundle": "bundle",
    "Appointment": "appointment",
    "Encounter": "encounter",
    "Consent": "consent",
    "Schedule": "schedule",
    "Slot": "slot",
    "OperationOutcome": "operationoutcome",
}


def validate(resource: dict[str, Any]) -> Any:
    """Validate with fhir.resources (R4B, the R4-compatible model set)."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{FHIR_MODELS[kind]}")
    return getattr(module, kind).model_validate(resource)


async def _fhir(client: Any, headers: dict[str, str], path: str, **params: str) -> Any:
    resp = await client.get(path, params=params, headers=headers)
    assert resp.content_type == "application/fhir+json"
    return resp.status, await resp.json()


async def test_fhir_resources_validate_and_map_statuses(client: Any, sched: Sched) -> None:
    svc = sched.svc
    await sched.consent()
    seen = await sched.book(at(4, 9))
    await svc.check_in(sched.patient, seen.id)
    missed = await sched.book(at(4, 10))
    await svc.mark_did_not_attend(sched.clinician, missed.id, "no_escort")
    cancelled = await sched.book(at(4, 11))
    await svc.cancel(sched.clinician, cancelled.id, "clinician_unavailable")
    admitted = await sched.book(at(4, 12))
    await svc.record_call_event(admitted.id, "admitted", sched.clinician.account_id)
    me = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))

    status, body = await _fhir(
        client,
        me,
        "/fhir/Appointment",
        patient=f"Patient/{sched.patient.account_id}",
        date="2026-03-04",
    )
    assert status == 200
    validate(body)
    by_id = {e["resource"]["id"]: e["resource"] for e in body["entry"]}
    for resource in by_id.values():
        validate(resource)
    assert by_id[seen.id]["status"] == "checked-in"
    assert by_id[missed.id]["status"] == "noshow"
    assert by_id[missed.id]["cancelationReason"]["coding"][0]["code"] == "no_escort"
    assert by_id[cancelled.id]["status"] == "cancelled"
    assert by_id[admitted.id]["status"] == "arrived"

    status, body = await _fhir(
        client,
        me,
        "/fhir/Encounter",
        practitioner=sched.clinician.account_id,
        date="ge2026-03-04",
    )
    assert status == 200
    encounters = [e["resource"] for e in body["entry"]]
    assert {e["status"] for e in encounters} == {"arrived", "in-progress"}
    for resource in encounters:
        validate(resource)

    for path, params in (
        ("/fhir/Consent", {"patient": sched.patient.account_id}),
        ("/fhir/Schedule", {"actor": f"Practitioner/{sched.clinician.account_id}"}),
        ("/fhir/Slot", {"service-type": sched.gp.id, "start": "ge2026-03-05", "_count": "3"}),
    ):
        status, body = await _fhir(client, me, path, **params)
        assert status == 200, body
        assert body["total"] >= 1
        validate(body)
        for entry in body["entry"]:
            validate(entry["resource"])


async def test_fhir_search_with_unknown_parameter_is_an_operation_outcome(
    client: Any, sched: Sched
) -> None:
    me = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    for path, params in (
        ("/fhir/Appointment", {"colour": "blue"}),
        ("/fhir/Appointment", {"date": "yesterday"}),
        ("/fhir/Consent", {}),
    ):
        status, body = await _fhir(client, me, path, **params)
        assert status == 400
        validate(body)
        assert body["resourceType"] == "OperationOutcome"
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    status, body = await _fhir(client, officer, "/fhir/Appointment")
    assert status == 403 and body["resourceType"] == "OperationOutcome"


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


async def test_calendar_feed_has_no_patient_and_token_never_logged(
    aiohttp_client: Any, app: Any, access_log: io.StringIO, clock: Any
) -> None:
    from tests.scheduling.conftest import make_sched

    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    client = await aiohttp_client(server)
    sched = await make_sched(client, clock)
    await sched.book(at(4, 10))
    me = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    resp = await client.post("/api/calendar-tokens", headers=me)
    assert resp.status == 201
    issued = await resp.json()
    url = issued["url"]
    token = url.rsplit("/", 1)[1]
    feed = await client.get(url)
    assert feed.status == 200 and feed.content_type == "text/calendar"
    text = await feed.text()
    assert "BEGIN:VEVENT" in text and "DTSTART" in text
    prisoner = sched.world.prisoners[0]
    for secret in (
        prisoner.prison_number,
        f"Prisoner {prisoner.prison_number}",
        sched.patient.account_id,
    ):
        assert secret not in text
    resp = await client.delete(f"/api/calendar-tokens/{issued['id']}", headers=me)
    assert resp.status == 204
    assert (await client.get(url)).status == 404
    logged = access_log.getvalue()
    assert '"route": "/calendar/{token}"' in logged
    assert token not in logged
