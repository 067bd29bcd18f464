"""Applications over HTTP: what the device and the staff's queue page send and get."""

from __future__ import annotations

from typing import Any

from tests.kiosk.conftest import make_kiosk
from tests.world import bearer, sign_in_prisoner, sign_in_staff


async def test_send_read_answer_and_escalate_over_http(client: Any, clock: Any) -> None:
    k = await make_kiosk(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, k.world.prisoners[0]))
    other = bearer(await sign_in_prisoner(client, k.world.prisoners[1]))
    wing = bearer(await sign_in_staff(client, k.wing_staff))
    governor = bearer(await sign_in_staff(client, k.governor_staff))

    found = await (await client.get("/api/kiosk/departments", headers=prisoner)).json()
    codes = {d["code"]: d["id"] for d in found}
    assert {"wing-office", "property", "chaplaincy", "education", "finance"} <= set(codes)

    tap = {**prisoner, "Idempotency-Key": "device-tap-0001"}
    body = {"department_id": codes["wing-office"], "text": "Can I change cells?"}
    first = await client.post("/api/kiosk/applications", json=body, headers=tap)
    assert first.status == 201, await first.text()
    made = await first.json()
    again = await client.post("/api/kiosk/applications", json=body, headers=tap)
    assert again.status == 200 and (await again.json())["id"] == made["id"]
    mine = await (await client.get("/api/kiosk/applications", headers=prisoner)).json()
    assert [a["receipt"] for a in mine] == [made["receipt"]]

    # Another prisoner cannot read it, nor can staff through the prisoner's route.
    resp = await client.get(f"/api/kiosk/applications/{made['id']}", headers=other)
    assert resp.status == 404
    resp = await client.get(f"/api/kiosk/applications/{made['id']}", headers=wing)
    assert resp.status == 403

    queues = await (await client.get("/api/kiosk/queues", headers=wing)).json()
    assert [q["code"] for q in queues] == ["wing-office"]
    queue = await (
        await client.get(f"/api/kiosk/queues/{codes['wing-office']}", headers=wing)
    ).json()
    assert [(a["receipt"], a["text"], a["prisoner"]["prison_number"]) for a in queue] == [
        (made["receipt"], "Can I change cells?", "A1234BC")
    ]
    resp = await client.post(
        f"/api/kiosk/staff/applications/{made['id']}/answer",
        json={"reply": "Speak to the SO on Monday."},
        headers=wing,
    )
    assert resp.status == 200, await resp.text()
    read = await (
        await client.get(f"/api/kiosk/applications/{made['id']}", headers=prisoner)
    ).json()
    assert read["status"] == "answered" and read["reply"] == "Speak to the SO on Monday."

    resp = await client.post(
        f"/api/kiosk/applications/{made['id']}/escalate",
        json={"text": "The SO said no without a reason", "confidential": True},
        headers={**prisoner, "Idempotency-Key": "device-tap-0002"},
    )
    assert resp.status == 201, await resp.text()
    complaint = await resp.json()
    assert complaint["stage"] == "complaint" and complaint["confidential"] is True
    resp = await client.get(f"/api/kiosk/staff/applications/{complaint['id']}", headers=wing)
    assert resp.status == 404
    queues = await (await client.get("/api/kiosk/queues", headers=governor)).json()
    assert queues[0]["id"] == "confidential"
    confidential = await (
        await client.get("/api/kiosk/queues/confidential", headers=governor)
    ).json()
    assert [a["id"] for a in confidential] == [complaint["id"]]
    resp = await client.get("/api/kiosk/queues/confidential", headers=wing)
    assert resp.status == 403


async def test_bad_input_over_http_gets_a_clear_answer_and_changes_nothing(
    client: Any, clock: Any
) -> None:
    k = await make_kiosk(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, k.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, k.world.staff["officer"]))
    wing = k.departments["wing-office"]
    for body, status in (
        ({"department_id": "nope", "text": "Hello"}, 404),
        ({"department_id": wing, "text": "<img src=x onerror=alert(1)>"}, 400),
        # 100 KB is over the app's body limit (64 KiB): refused before it is read.
        ({"department_id": wing, "text": "x" * 100_000}, 413),
        ({"department_id": wing, "text": "x" * 2001}, 400),
        ({"department_id": wing}, 400),
        ({"text": "Hello"}, 400),
    ):
        resp = await client.post("/api/kiosk/applications", json=body, headers=prisoner)
        assert resp.status == status, (body, await resp.text())
        problem = await resp.json()
        assert problem["code"] and "onerror" not in str(problem)
    resp = await client.post(
        "/api/kiosk/applications",
        json={"department_id": wing, "text": "Hi"},
        headers={**prisoner, "Idempotency-Key": "<bad key>"},
    )
    assert resp.status == 400
    assert await (await client.get("/api/kiosk/applications", headers=prisoner)).json() == []

    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    closed = await client.post(
        "/api/kiosk/applications", json={"department_id": wing, "text": "Hi"}, headers=prisoner
    )
    assert closed.status == 423 and (await closed.json())["code"] == "lockdown"
    status = await (await client.get("/api/lockdown-status", headers=prisoner)).json()
    assert "applications" in status["lockdown"]["closed"]
    assert (await client.get("/api/kiosk/applications", headers=prisoner)).status == 200
