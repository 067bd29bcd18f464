"""Who reads clinical free text: one rule on every route (issue 12, item 4).

The attacks: an admin lists every establishment's appointments and reads
their reasons and notes; a healthcare manager reads clinical text and leaves
no trace; a clinician who is not on a sensitive service (sexual health, mental
health, substance misuse) reads its patients' reasons and requests.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.identity import Role
from tests.scheduling.conftest import Sched, at
from tests.world import PASSWORD, Staff, bearer, sign_in_prisoner, sign_in_staff
from web.state import IDENTITY

REASON, NOTES, OUTCOME = "Itching and discharge", "Partner tested positive", "Swab taken"
REQUEST = "I think I have an infection down there"
DAY = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-10T00:00:00Z"}


class SignedIn:
    """Each account signs in once per test (a TOTP code is accepted only once)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.headers: dict[str, dict[str, str]] = {}

    async def __call__(self, staff: Staff) -> dict[str, str]:
        if staff.username not in self.headers:
            self.headers[staff.username] = bearer(await sign_in_staff(self.client, staff))
        return self.headers[staff.username]


@pytest.fixture
def as_(client: Any) -> SignedIn:
    return SignedIn(client)


async def _second_clinician(sched: Sched) -> Staff:
    identity = sched.app[IDENTITY]
    account_id, secret = await identity.create_staff(
        role=Role.CLINICIAN,
        establishment_id=sched.world.est,
        username="nurse.two",
        display_name="Nurse Two",
        password=PASSWORD,
    )
    return Staff(account_id, "nurse.two", secret, Role.CLINICIAN, sched.world.est)


async def _book_with_text(
    client: Any, as_: SignedIn, sched: Sched, service_id: str, hour: int = 10
) -> str:
    clinician = await as_(sched.world.staff["clinician"])
    resp = await client.post(
        "/api/appointments",
        json={
            "prisoner_id": sched.patient.account_id,
            "service_id": service_id,
            "clinician_id": sched.clinician.account_id,
            "starts_at": at(4, hour).isoformat(),
            "reason": REASON,
            "notes": NOTES,
        },
        headers=clinician,
    )
    assert resp.status == 201, await resp.text()
    appointment_id: str = (await resp.json())["id"]
    resp = await client.post(
        f"/api/appointments/{appointment_id}/did-not-attend",
        json={"reason": "unwell", "note": OUTCOME},
        headers=clinician,
    )
    assert resp.status == 200, await resp.text()
    return appointment_id


async def _sensitive_service(client: Any, as_: SignedIn, sched: Sched) -> str:
    manager = await as_(sched.world.staff["manager"])
    resp = await client.post(
        "/api/services",
        json={"code": "sexual_health", "name": "Sexual health", "sensitive": True},
        headers=manager,
    )
    assert resp.status == 201, await resp.text()
    service_id: str = (await resp.json())["id"]
    for day in range(5):
        await sched.svc.add_availability(
            sched.clinician,
            clinician_id=sched.clinician.account_id,
            service_id=service_id,
            weekday_value=day,
            start="13:00",
            end="17:00",
        )
    return service_id


def _no_text(page: str) -> None:
    for secret in (REASON, NOTES, OUTCOME, REQUEST):
        assert secret not in page


async def _clinical_views(client: Any, as_: SignedIn, sched: Sched) -> list[dict[str, Any]]:
    manager = await as_(sched.world.staff["manager"])
    resp = await client.get(
        "/api/audit/events", params={"action": "clinical_viewed"}, headers=manager
    )
    assert resp.status == 200, await resp.text()
    events: list[dict[str, Any]] = (await resp.json())["events"]
    return events


async def test_an_admin_reads_no_clinical_text_on_any_route(
    client: Any, sched: Sched, as_: SignedIn
) -> None:
    appointment_id = await _book_with_text(client, as_, sched, sched.gp.id)
    me = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    resp = await client.post(
        "/api/health-requests", json={"category": "general", "text": REQUEST}, headers=me
    )
    assert resp.status == 201
    admin = await as_(sched.world.staff["admin"])
    pages = []
    for path, params in (
        ("/api/appointments", DAY),
        ("/api/appointments", {**DAY, "establishment_id": sched.world.est}),
        (f"/api/appointments/{appointment_id}", {}),
        ("/api/health-requests", {"establishment_id": sched.world.est}),
        ("/fhir/Appointment", {"patient": sched.patient.account_id}),
        ("/api/audit/events", {"prisoner": sched.patient.account_id}),
    ):
        resp = await client.get(path, params=params, headers=admin)
        assert resp.status == 200, (path, await resp.text())
        pages.append(await resp.text())
        _no_text(pages[-1])
    [listed] = await (await client.get("/api/appointments", params=DAY, headers=admin)).json()
    assert (listed["id"], listed["reason"], listed["notes"], listed["outcome_note"]) == (
        appointment_id,
        None,
        None,
        None,
    )
    assert listed["clinical_text"] == "withheld"
    # What admins run the service with is still there: who, when, what state, which code.
    assert (listed["status"], listed["outcome_reason"]) == ("did_not_attend", "unwell")
    # The patient's own clinician reads it all.
    clinician = await as_(sched.world.staff["clinician"])
    mine = await (await client.get(f"/api/appointments/{appointment_id}", headers=clinician)).json()
    assert (mine["reason"], mine["notes"], mine["outcome_note"]) == (REASON, NOTES, OUTCOME)


async def test_a_managers_reading_of_clinical_text_is_logged_and_a_clinicians_is_not(
    client: Any, sched: Sched, as_: SignedIn
) -> None:
    appointment_id = await _book_with_text(client, as_, sched, sched.gp.id)
    clinician = await as_(sched.world.staff["clinician"])
    assert (await client.get("/api/appointments", params=DAY, headers=clinician)).status == 200
    assert await _clinical_views(client, as_, sched) == []

    manager = await as_(sched.world.staff["manager"])
    resp = await client.get(f"/api/appointments/{appointment_id}", headers=manager)
    assert (await resp.json())["reason"] == REASON
    me = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    made = await client.post(
        "/api/health-requests", json={"category": "general", "text": REQUEST}, headers=me
    )
    request_id = (await made.json())["id"]
    queue = await (await client.get("/api/health-requests", headers=manager)).json()
    assert [r["text"] for r in queue] == [REQUEST]

    views = await _clinical_views(client, as_, sched)
    assert [(v["actor"], v["subject"], v["details"]) for v in reversed(views)] == [
        (
            sched.manager.account_id,
            sched.patient.account_id,
            {"appointments": [appointment_id]},
        ),
        (sched.manager.account_id, sched.patient.account_id, {"requests": [request_id]}),
    ]
    assert views[-1]["appointment_id"] == appointment_id


async def test_a_sensitive_services_text_is_read_only_by_its_clinician_and_named_staff(
    client: Any, sched: Sched, as_: SignedIn
) -> None:
    service_id = await _sensitive_service(client, as_, sched)
    appointment_id = await _book_with_text(client, as_, sched, service_id, hour=14)
    nurse = await _second_clinician(sched)
    outsider = await as_(nurse)
    manager = await as_(sched.world.staff["manager"])
    for reader in (outsider, manager):
        resp = await client.get(f"/api/appointments/{appointment_id}", headers=reader)
        assert resp.status == 200
        seen = await resp.json()
        assert (seen["reason"], seen["notes"], seen["clinical_text"]) == (None, None, "withheld")
        resp = await client.get("/api/appointments", params=DAY, headers=reader)
        _no_text(await resp.text())
    assert await _clinical_views(client, as_, sched) == []

    # The service names the manager: now they read it, and the reading is logged.
    resp = await client.put(
        f"/api/services/{service_id}/readers",
        json={"readers": [sched.manager.account_id]},
        headers=manager,
    )
    assert resp.status == 200, await resp.text()
    seen = await (await client.get(f"/api/appointments/{appointment_id}", headers=manager)).json()
    assert (seen["reason"], seen["clinical_text"]) == (REASON, "shown")
    assert len(await _clinical_views(client, as_, sched)) == 1
    # Still not the other clinician.
    seen = await (await client.get(f"/api/appointments/{appointment_id}", headers=outsider)).json()
    assert seen["reason"] is None

    # A request triaged to the sensitive service is hidden from the outsider from then on.
    me = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    made = await client.post(
        "/api/health-requests", json={"category": "other", "text": REQUEST}, headers=me
    )
    request_id = (await made.json())["id"]
    queue = await (await client.get("/api/health-requests", headers=outsider)).json()
    assert [r["text"] for r in queue] == [REQUEST]
    resp = await client.post(
        f"/api/health-requests/{request_id}/triage",
        json={"urgency": "soon", "service_id": service_id},
        headers=await as_(sched.world.staff["clinician"]),
    )
    assert resp.status == 200, await resp.text()
    queue = await (
        await client.get("/api/health-requests", params={"status": "triaged"}, headers=outsider)
    ).json()
    assert [(r["text"], r["text_status"]) for r in queue] == [(None, "withheld")]
    # The prisoner still reads their own request and the reason they gave.
    mine = await (await client.get("/api/health-requests", headers=me)).json()
    assert REQUEST in [r["text"] for r in mine]
    own = await (await client.get(f"/api/appointments/{appointment_id}", headers=me)).json()
    assert own["reason"] == REASON and "notes" not in own


async def test_a_service_names_only_clinicians_and_managers_of_its_own_establishment(
    client: Any, sched: Sched, as_: SignedIn
) -> None:
    service_id = await _sensitive_service(client, as_, sched)
    manager = await as_(sched.world.staff["manager"])
    world = sched.world
    assert world.other_prisoner is not None
    for bad in (
        [world.staff["officer"].account_id],
        [world.prisoners[0].account_id],
        [world.staff["admin"].account_id],
        ["no-such-account"],
        "not a list",
        [sched.clinician.account_id] * 51,
    ):
        resp = await client.put(
            f"/api/services/{service_id}/readers", json={"readers": bad}, headers=manager
        )
        assert resp.status == 400, bad
    resp = await client.get(f"/api/services/{service_id}/readers", headers=manager)
    assert await resp.json() == {"readers": []}
    clinician = await as_(world.staff["clinician"])
    resp = await client.put(
        f"/api/services/{service_id}/readers", json={"readers": []}, headers=clinician
    )
    assert resp.status == 403
