"""The scheduling API as people use it: roles on the server and in the document."""

from __future__ import annotations

from typing import Any

from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_prisoner, sign_in_staff


async def _staff(client: Any, sched: Sched, key: str) -> dict[str, str]:
    return bearer(await sign_in_staff(client, sched.world.staff[key]))


async def test_officer_sees_when_but_never_what(client: Any, sched: Sched) -> None:
    clinician = await _staff(client, sched, "clinician")
    resp = await client.post(
        "/api/appointments",
        json={
            "prisoner_id": sched.patient.account_id,
            "service_id": sched.gp.id,
            "clinician_id": sched.clinician.account_id,
            "starts_at": "2026-03-04T10:00:00Z",
            "reason": "Low mood",
            "notes": "Private note",
        },
        headers=clinician,
    )
    assert resp.status == 201, await resp.text()
    booked = await resp.json()
    assert booked["reason"] == "Low mood" and booked["service"] == "gp"

    officer = await _staff(client, sched, "officer")
    resp = await client.get(
        "/api/appointments",
        params={"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"},
        headers=officer,
    )
    assert resp.status == 200
    seen = await resp.json()
    assert seen == [
        {
            "id": booked["id"],
            "prisoner_id": sched.patient.account_id,
            "prisoner_name": "Prisoner A1234BC",
            "prison_number": "A1234BC",
            "cell": None,
            "starts_at": "2026-03-04T10:00:00+00:00",
            "ends_at": "2026-03-04T10:20:00+00:00",
        }
    ]
    text = await resp.text()
    for secret in ("Low mood", "Private note", "gp", sched.gp.id):
        assert secret not in text
    assert (await client.get(f"/api/appointments/{booked['id']}", headers=officer)).status == 403
    assert (await client.get("/api/health-requests", headers=officer)).status == 403
    assert (await client.get("/api/consents?prisoner_id=x", headers=officer)).status == 403


async def test_roles_are_enforced_on_the_server(client: Any, sched: Sched) -> None:
    clinician = await _staff(client, sched, "clinician")
    officer = await _staff(client, sched, "officer")
    resp = await client.post(
        "/api/services", json={"code": "dental", "name": "Dental"}, headers=clinician
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/appointments",
        json={
            "service_id": sched.gp.id,
            "clinician_id": sched.clinician.account_id,
            "prisoner_id": sched.patient.account_id,
            "starts_at": "2026-03-04T10:00:00Z",
        },
        headers=officer,
    )
    assert resp.status == 403
    resp = await client.post(
        "/api/regime-windows",
        json={"label": "Lunch", "weekday": 2, "start": "12:00", "end": "13:00"},
        headers=officer,
    )
    assert resp.status == 201
    assert (await client.get("/api/slots", params={"service_id": sched.gp.id})).status == 401
    elsewhere = await _staff(client, sched, "officer2")
    resp = await client.get(
        "/api/regime-windows", params={"establishment_id": sched.world.est}, headers=elsewhere
    )
    # An establishment one does not serve answers as a missing one (issue 13, item 7).
    assert resp.status == 404
    resp = await client.post(
        f"/api/prisoners/{sched.patient.account_id}/release", headers=elsewhere
    )
    # Another establishment's prisoner answers as a missing one (issue 12, item 5).
    assert resp.status == 404


async def test_prisoner_asks_consents_and_books_own_slot(client: Any, sched: Sched) -> None:
    me = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    forms = await (await client.get("/api/consent-forms", headers=me)).json()
    assert {f["scope"] for f in forms} == {"telehealth", "recording", "community_sharing"}
    assert all(f["text"]["cy"] and f["text"]["en"] for f in forms)
    resp = await client.post(
        "/api/consents",
        json={"scope": "telehealth", "form_version": 1, "decision": "given", "language": "cy"},
        headers=me,
    )
    assert resp.status == 201
    assert (await resp.json())["device_id"] == sched.world.prisoners[0].device_id
    resp = await client.post(
        "/api/consents",
        json={"scope": "telehealth", "form_version": 99, "decision": "given"},
        headers=me,
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == "There is no consent form with this version."
    resp = await client.post(
        "/api/health-requests", json={"category": "general", "text": "Headaches"}, headers=me
    )
    assert resp.status == 201
    assert (await resp.json())["status"] == "received"
    slots = await (
        await client.get(
            "/api/slots",
            params={"service_id": sched.gp.id, "from": "2026-03-04T00:00:00Z", "limit": "2"},
            headers=me,
        )
    ).json()
    assert len(slots) == 2
    resp = await client.post(
        "/api/appointments",
        json={
            "service_id": sched.gp.id,
            "clinician_id": slots[0]["clinician_id"],
            "starts_at": slots[0]["starts_at"],
            "notes": "x",
        },
        headers=me,
    )
    assert resp.status == 201, await resp.text()
    assert "notes" not in await resp.json()
    resp = await client.post(
        "/api/appointments",
        json={
            "service_id": sched.gp.id,
            "clinician_id": slots[1]["clinician_id"],
            "starts_at": slots[1]["starts_at"],
            "prisoner_id": sched.patient2.account_id,
        },
        headers=me,
    )
    assert resp.status == 403


async def test_every_scheduling_operation_lists_its_roles(client: Any, sched: Sched) -> None:
    from web import calendar_feed, care_api, fhir, scheduling_api

    doc = await (await client.get("/api/openapi.json")).json()
    mine = [*scheduling_api.OPENAPI, *care_api.OPENAPI, *fhir.OPENAPI, *calendar_feed.OPENAPI]
    assert len(mine) >= 30
    for path in mine:
        for method, operation in doc["paths"][path].items():
            assert operation.get("x-roles"), (path, method)
    assert set(doc["paths"]["/api/lockdowns"]["post"]["x-roles"]) == {
        "officer",
        "manager",
        "admin",
        "governor",
    }


async def test_reasons_are_listed_by_cause(client: Any, sched: Sched) -> None:
    me = await _staff(client, sched, "manager")
    reasons = await (await client.get("/api/reasons", headers=me)).json()
    causes = {r["cause"] for r in reasons}
    assert causes == {"prison", "patient", "clinician"}
    assert {"lockdown", "no_escort", "transfer", "court", "release"} <= {
        r["code"] for r in reasons if r["cause"] == "prison"
    }


async def test_lockdown_over_api_tells_officer_only_times(client: Any, sched: Sched) -> None:
    dental = await sched.escorted_service()
    await sched.book(at(4, 10), reason_text="Sensitive", service_id=dental.id, in_person=True)
    officer = await _staff(client, sched, "officer")
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-04T09:00:00Z", "ends_at": "2026-03-04T12:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201
    body = await resp.json()
    assert len(body["affected"]) == 1
    assert body["affected"][0]["offers"][0] == "2026-03-04T12:20:00+00:00"
    assert "Sensitive" not in await resp.text()
