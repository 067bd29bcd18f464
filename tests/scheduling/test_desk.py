"""The booking desk's API as a healthcare administrator uses it (issue 15 items 1-2): the triage
queue and its answers, refusals that say why and change nothing, the patient look-up, and who
may ask at all."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from core.identity import Role
from scheduling.tables import (
    appointments,
    availability,
    availability_exceptions,
    notifications,
)
from tests.scheduling.conftest import Sched, at
from tests.world import PASSWORD, Staff, bearer, sign_in_prisoner, sign_in_staff
from web.state import IDENTITY


async def _healthcare_admin(client: Any, sched: Sched, name: str = "hca.one") -> dict[str, str]:
    account_id, secret = await client.server.app[IDENTITY].create_staff(
        role=Role.HEALTHCARE_ADMIN,
        establishment_id=sched.world.est,
        username=name,
        display_name=f"Admin {name}",
        password=PASSWORD,
    )
    staff = Staff(account_id, name, secret, Role.HEALTHCARE_ADMIN, sched.world.est)
    return bearer(await sign_in_staff(client, staff))


async def _count(sched: Sched, table: Any) -> int:
    async with sched.svc._db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_triage_queue_orders_by_urgency_then_age_and_a_decline_reaches_the_prisoner(
    client: Any, sched: Sched
) -> None:
    desk = await _healthcare_admin(client, sched)
    first, second = sched.world.prisoners[0], sched.world.prisoners[1]
    device1 = bearer(await sign_in_prisoner(client, first))
    device2 = bearer(await sign_in_prisoner(client, second))
    older = await client.post(
        "/api/health-requests", json={"category": "dental", "text": "Tooth ache"}, headers=device1
    )
    sched.clock.advance(300)
    newer = await client.post(
        "/api/health-requests", json={"category": "general", "text": "Chest pain"}, headers=device2
    )
    older_id, newer_id = (await older.json())["id"], (await newer.json())["id"]

    queue = await (await client.get("/api/health-requests", headers=desk)).json()
    assert [r["id"] for r in queue] == [older_id, newer_id]
    assert queue[0]["prisoner_name"] == f"Prisoner {first.prison_number}"
    assert queue[0]["prison_number"] == first.prison_number
    assert queue[0]["text"] == "Tooth ache"

    resp = await client.post(
        f"/api/health-requests/{newer_id}/triage",
        json={"urgency": "urgent", "service_id": sched.gp.id},
        headers=desk,
    )
    assert resp.status == 200, await resp.text()
    queue = await (await client.get("/api/health-requests", headers=desk)).json()
    assert [r["id"] for r in queue] == [newer_id, older_id]
    only_gp = await client.get(f"/api/health-requests?service_id={sched.gp.id}", headers=desk)
    assert [r["id"] for r in await only_gp.json()] == [newer_id]

    words = "<b>See the dentist</b> at the next dental list; '; DROP TABLE health_requests; --"
    resp = await client.post(
        f"/api/health-requests/{older_id}/answer",
        json={"decision": "decline", "message": words},
        headers=desk,
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "declined"
    again = await client.post(
        f"/api/health-requests/{older_id}/answer",
        json={"decision": "advise", "message": "Something else"},
        headers=desk,
    )
    assert again.status == 409
    assert (await again.json())["reason"] == "request_closed"

    mine = await (await client.get("/api/health-requests", headers=device1)).json()
    assert [(r["status"], r["response"]) for r in mine] == [("declined", words)]
    queue = await (await client.get("/api/health-requests", headers=desk)).json()
    assert [r["id"] for r in queue] == [newer_id]
    async with sched.svc._db.connect() as conn:
        kinds = set(
            (
                await conn.execute(
                    select(notifications.c.kind).where(
                        notifications.c.recipient_id == first.account_id
                    )
                )
            ).scalars()
        )
    assert "request_declined" in kinds


async def test_answering_needs_words_and_a_known_decision(client: Any, sched: Sched) -> None:
    desk = await _healthcare_admin(client, sched)
    device = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    made = await client.post(
        "/api/health-requests", json={"category": "dental", "text": "Tooth"}, headers=device
    )
    request_id = (await made.json())["id"]
    for body in ({"decision": "decline"}, {"decision": "shrug", "message": "x"}):
        resp = await client.post(
            f"/api/health-requests/{request_id}/answer", json=body, headers=desk
        )
        assert resp.status == 400
    [still] = await (await client.get("/api/health-requests", headers=desk)).json()
    assert still["status"] == "received" and still["response"] is None


async def test_officers_and_prisoners_are_refused_every_desk_endpoint(
    client: Any, sched: Sched
) -> None:
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    device = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    made = await client.post(
        "/api/health-requests", json={"category": "dental", "text": "Tooth"}, headers=device
    )
    request_id = (await made.json())["id"]
    answer = {"decision": "decline", "message": "No"}
    for headers in (officer, device):
        assert (await client.get("/api/patients?q=A1", headers=headers)).status == 403
        assert (await client.get("/api/clinicians", headers=headers)).status == 403
        resp = await client.post(
            f"/api/health-requests/{request_id}/answer", json=answer, headers=headers
        )
        assert resp.status == 403
    assert (await client.get("/api/health-requests", headers=officer)).status == 403
    assert (await client.get("/api/slots?service_id=x", headers=officer)).status == 403
    mine = await (await client.get("/api/health-requests", headers=device)).json()
    assert [r["status"] for r in mine] == ["received"]


async def test_booking_refusals_say_why_and_book_nothing(client: Any, sched: Sched) -> None:
    desk = await _healthcare_admin(client, sched)
    await sched.svc.add_regime_window(
        sched.manager,
        sched.world.est,
        label="Roll check",
        weekday_value=2,
        start="12:00",
        end="13:00",
    )
    await sched.svc.add_exception(
        sched.clinician,
        clinician_id=sched.clinician.account_id,
        establishment_id=sched.world.est,
        kind="leave",
        starts_at=at(5, 0).isoformat(),
        ends_at=at(6, 0).isoformat(),
    )

    async def book(when: Any, prisoner: str | None = None) -> tuple[int, Any]:
        resp = await client.post(
            "/api/appointments",
            json={
                "prisoner_id": prisoner or sched.patient.account_id,
                "service_id": sched.gp.id,
                "clinician_id": sched.clinician.account_id,
                "starts_at": when.isoformat(),
            },
            headers=desk,
        )
        return resp.status, (await resp.json()).get("reason")

    assert await book(at(2, 8)) == (400, "in_the_past")
    assert await book(at(4, 12, 10)) == (409, "regime_window")
    assert await book(at(5, 10)) == (409, "clinician_on_leave")
    assert await book(at(4, 18)) == (409, "clinician_unavailable")
    await sched.svc.release(sched.officer, sched.patient2.account_id)
    assert await book(at(4, 10), sched.patient2.account_id) == (409, "prisoner_released")
    slots = await client.get(
        "/api/slots",
        params={"service_id": sched.gp.id, "prisoner_id": sched.patient2.account_id},
        headers=desk,
    )
    assert (slots.status, (await slots.json())["reason"]) == (409, "prisoner_released")
    assert await _count(sched, appointments) == 0


async def test_two_administrators_booking_one_slot_one_wins_the_other_is_told(
    client: Any, sched: Sched
) -> None:
    first = await _healthcare_admin(client, sched, "hca.one")
    second = await _healthcare_admin(client, sched, "hca.two")
    body = {
        "service_id": sched.gp.id,
        "clinician_id": sched.clinician.account_id,
        "starts_at": at(4, 10).isoformat(),
    }
    results = await asyncio.gather(
        client.post(
            "/api/appointments",
            json={**body, "prisoner_id": sched.patient.account_id},
            headers=first,
        ),
        client.post(
            "/api/appointments",
            json={**body, "prisoner_id": sched.patient2.account_id},
            headers=second,
        ),
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [201, 409]
    [loser] = [r for r in results if r.status == 409]
    assert (await loser.json())["reason"] == "clinician_busy"
    assert await _count(sched, appointments) == 1


async def test_availability_that_overlaps_itself_is_refused_in_words(
    client: Any, sched: Sched
) -> None:
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    rules, leave = await _count(sched, availability), await _count(sched, availability_exceptions)
    resp = await client.post(
        "/api/availability",
        json={"service_id": sched.gp.id, "weekday": 1, "start": "16:00", "end": "18:00"},
        headers=clinician,
    )
    assert resp.status == 409
    body = await resp.json()
    assert (body["reason"], body["weekday"], body["start"], body["end"]) == (
        "availability_overlap",
        1,
        "09:00",
        "17:00",
    )
    once = {"kind": "leave", "starts_at": at(5, 0).isoformat(), "ends_at": at(6, 0).isoformat()}
    assert (
        await client.post("/api/availability/exceptions", json=once, headers=clinician)
    ).status == 201
    overlapping = {**once, "starts_at": at(5, 12).isoformat(), "ends_at": at(7, 0).isoformat()}
    resp = await client.post("/api/availability/exceptions", json=overlapping, headers=clinician)
    assert resp.status == 409 and (await resp.json())["reason"] == "leave_overlap"
    assert await _count(sched, availability) == rules
    assert await _count(sched, availability_exceptions) == leave + 1
    listed = await client.get(
        f"/api/clinicians/{sched.clinician.account_id}/exceptions", headers=clinician
    )
    [only] = await listed.json()
    gone = await client.delete(f"/api/availability/exceptions/{only['id']}", headers=clinician)
    assert gone.status == 204
    assert await _count(sched, availability_exceptions) == leave


async def test_patient_search_takes_sql_and_html_as_plain_text(client: Any, sched: Sched) -> None:
    desk = await _healthcare_admin(client, sched)
    for q in ("' OR 1=1 --", "<script>alert(1)</script>", "%%", "_%"):
        resp = await client.get("/api/patients", params={"q": q}, headers=desk)
        assert resp.status == 200 and await resp.json() == []
    resp = await client.get("/api/patients", params={"q": "a1234"}, headers=desk)
    assert [p["prison_number"] for p in await resp.json()] == ["A1234BC"]
    assert sched.world.other_prisoner is not None
    other = sched.world.other_prisoner.prison_number
    assert await (await client.get("/api/patients", params={"q": other}, headers=desk)).json() == []
    assert (await client.get("/api/patients", params={"q": "A"}, headers=desk)).status == 400


async def test_a_chaperone_need_finds_only_times_a_chaperone_is_free(
    client: Any, sched: Sched
) -> None:
    desk = await _healthcare_admin(client, sched)
    query = {
        "service_id": sched.gp.id,
        "prisoner_id": sched.patient.account_id,
        "from": at(4, 9).isoformat(),
        "to": at(4, 11).isoformat(),
        "chaperone": "true",
    }
    resp = await client.get("/api/slots", params=query, headers=desk)
    assert await resp.json() == []
    await client.server.app[IDENTITY].create_staff(
        role=Role.CHAPERONE,
        establishment_id=sched.world.est,
        username="chaperone.one",
        display_name="Chaperone One",
        password=PASSWORD,
    )
    resp = await client.get("/api/slots", params=query, headers=desk)
    assert len(await resp.json()) > 0
