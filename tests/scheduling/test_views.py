"""What the staff faces read: officers' who-where-when, lockdowns in force, the clinician's
waiting room across appointments, and the establishments a manager may report on."""

from __future__ import annotations

from typing import Any

from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.state import SCHEDULING

CLINICAL_KEYS = {
    "service",
    "service_id",
    "reason",
    "notes",
    "clinician_id",
    "outcome_reason",
    "outcome_cause",
    "outcome_note",
    "same_sex",
    "chaperone",
    "request_id",
    "status",
}


async def _staff(client: Any, sched: Sched, key: str) -> dict[str, str]:
    return bearer(await sign_in_staff(client, sched.world.staff[key]))


async def test_officer_sees_whom_to_bring_where_and_when_but_nothing_clinical(
    client: Any, sched: Sched
) -> None:
    booked = await sched.book(at(4, 10), reason_text="Low mood", notes="Private note")
    # The prisoner signs in on their in-cell device: that is how the cell is known.
    await sign_in_prisoner(client, sched.world.prisoners[0])
    officer = await _staff(client, sched, "officer")
    resp = await client.get(
        "/api/appointments",
        params={"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"},
        headers=officer,
    )
    assert resp.status == 200, await resp.text()
    [seen] = await resp.json()
    assert seen == {
        "id": booked.id,
        "prisoner_id": sched.patient.account_id,
        "prisoner_name": "Prisoner A1234BC",
        "prison_number": "A1234BC",
        "cell": "W0-01",
        "starts_at": "2026-03-04T10:00:00+00:00",
        "ends_at": "2026-03-04T10:20:00+00:00",
    }
    assert not CLINICAL_KEYS & set(seen)
    text = await resp.text()
    for secret in ("Low mood", "Private note", "gp", "GP", sched.gp.id, sched.clinician.account_id):
        assert secret not in text

    # An officer of another establishment sees none of it, and may not ask for it.
    other = await _staff(client, sched, "officer2")
    resp = await client.get(
        "/api/appointments",
        params={"from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"},
        headers=other,
    )
    assert await resp.json() == []


async def test_officers_read_the_lockdowns_of_their_own_establishment(
    client: Any, sched: Sched
) -> None:
    officer = await _staff(client, sched, "officer")
    assert await (await client.get("/api/lockdowns", headers=officer)).json() == []
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T12:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    declared = await resp.json()
    resp = await client.get("/api/lockdowns", headers=officer)
    assert resp.status == 200
    assert await resp.json() == [
        {
            "id": declared["id"],
            "establishment_id": sched.world.est,
            "starts_at": "2026-03-03T12:00:00+00:00",
            "ends_at": "2026-03-03T18:00:00+00:00",
            "kind": "lockdown",
            "confirmed": True,
            # The modules the app registered at start-up (the kiosk's, the programmes').
            "suspended": list(sched.app[SCHEDULING].suspensions.modules),
        }
    ]
    other = await _staff(client, sched, "officer2")
    assert await (await client.get("/api/lockdowns", headers=other)).json() == []
    resp = await client.get(
        "/api/lockdowns", params={"establishment_id": sched.world.est}, headers=other
    )
    # An establishment one does not serve answers as a missing one (issue 13, item 7).
    assert resp.status == 404
    clinician = await _staff(client, sched, "clinician")
    assert (await client.get("/api/lockdowns", headers=clinician)).status == 403

    # Once lifted, or over, it is no longer listed.
    lift = await client.post(f"/api/lockdowns/{declared['id']}/lift", headers=officer)
    assert lift.status == 204
    assert await (await client.get("/api/lockdowns", headers=officer)).json() == []
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T12:00:00Z", "ends_at": "2026-03-03T13:00:00Z"},
        headers=officer,
    )
    assert len(await (await client.get("/api/lockdowns", headers=officer)).json()) == 1
    sched.clock.advance(hours=4)
    officer = await _staff(client, sched, "officer")
    assert await (await client.get("/api/lockdowns", headers=officer)).json() == []


async def test_the_clinician_sees_every_waiting_patient_without_opening_an_appointment(
    client: Any, sched: Sched
) -> None:
    first = await sched.book(at(3, 9, 25))
    second = await sched.book(at(3, 9, 50), prisoner_id=sched.patient2.account_id)
    later = await sched.book(at(4, 10))
    clinician = await _staff(client, sched, "clinician")
    assert await (await client.get("/api/waiting-room", headers=clinician)).json() == []

    sched.clock.advance(minutes=20)  # 09:20
    await sched.svc.record_call_event(first.id, "waiting", sched.patient.account_id)
    sched.clock.advance(minutes=20)  # 09:40
    await sched.svc.record_call_event(second.id, "waiting", sched.patient2.account_id)
    await sched.svc.record_call_event(later.id, "waiting", sched.patient.account_id)
    clinician = await _staff(client, sched, "clinician")
    resp = await client.get("/api/waiting-room", headers=clinician)
    assert resp.status == 200, await resp.text()
    waiting = await resp.json()
    assert [(w["appointment_id"], w["prisoner_name"], w["prison_number"]) for w in waiting] == [
        (first.id, "Prisoner A1234BC", "A1234BC"),
        (second.id, "Prisoner B2345CD", "B2345CD"),
    ]
    assert waiting[0]["waiting_since"] == "2026-03-03T09:20:00+00:00"

    # Admitted: no longer waiting.
    await sched.svc.record_call_event(first.id, "admitted", sched.clinician.account_id)
    waiting = await (await client.get("/api/waiting-room", headers=clinician)).json()
    assert [w["appointment_id"] for w in waiting] == [second.id]

    for who in ("manager", "officer"):
        headers = await _staff(client, sched, who)
        assert (await client.get("/api/waiting-room", headers=headers)).status == 403


async def test_establishments_are_listed_for_managers_and_admins_only(
    client: Any, sched: Sched
) -> None:
    manager = await _staff(client, sched, "manager")
    resp = await client.get("/api/establishments", headers=manager)
    assert resp.status == 200
    assert [(e["id"], e["code"], e["name"]) for e in await resp.json()] == [
        (sched.world.est, "HMP-ONE", "HMP One")
    ]
    admin = await _staff(client, sched, "admin")
    listed = await (await client.get("/api/establishments", headers=admin)).json()
    assert [e["id"] for e in listed] == [sched.world.est, sched.world.other_est]
    for who in ("officer", "clinician"):
        headers = await _staff(client, sched, who)
        assert (await client.get("/api/establishments", headers=headers)).status == 403
    assert (await client.get("/api/establishments")).status == 401
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["paths"]["/api/establishments"]["get"]["x-roles"] == ["manager", "admin"]
    assert doc["paths"]["/api/waiting-room"]["get"]["x-roles"] == ["clinician"]
    assert set(doc["paths"]["/api/lockdowns"]["get"]["x-roles"]) == {
        "officer",
        "manager",
        "admin",
        "governor",
    }
