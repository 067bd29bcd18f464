"""The last step of the fallback ladder in the store: a call-back task for the staff of the
device's wing, on the same appointment; and consults that require video."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import ServiceError
from scheduling.tables import appointments
from tests.scheduling.conftest import Sched
from tests.world import bearer, sign_in_staff
from web.state import DATABASE


async def _staff(client: Any, sched: Sched, key: str) -> dict[str, str]:
    return bearer(await sign_in_staff(client, sched.world.staff[key]))


async def test_a_call_back_is_a_task_for_the_wing_and_books_nothing(
    client: Any, sched: Sched
) -> None:
    booked = await sched.book()
    db = client.server.app[DATABASE]

    async def count() -> int:
        async with db.connect() as conn:
            return len((await conn.execute(appointments.select())).all())

    before = await count()
    opened = await sched.svc.request_call_back(
        booked.id, sched.clinician.account_id, sched.patient.device_id
    )
    assert opened is True
    # Asked again (two nodes, two clicks): still one task.
    again = await sched.svc.request_call_back(
        booked.id, sched.clinician.account_id, sched.patient.device_id
    )
    assert again is False
    assert await count() == before

    officer = await _staff(client, sched, "officer")
    resp = await client.get("/api/call-backs", headers=officer)
    assert resp.status == 200
    [task] = await resp.json()
    assert task["appointment_id"] == booked.id
    assert task["prison_number"] == "A1234BC"
    assert task["cell"] and task["wing"]  # the device's cell, and the wing it gives
    text = await resp.text()
    assert "gp" not in text and sched.gp.id not in text
    assert "call_back_requested" in sched.audit_actions

    # Nobody but staff of the establishment sees or closes it.
    clinician = await _staff(client, sched, "clinician")
    assert (await client.get("/api/call-backs", headers=clinician)).status == 403
    other = await _staff(client, sched, "officer2")
    assert (await client.post(f"/api/call-backs/{task['id']}/done", headers=other)).status == 404

    resp = await client.post(f"/api/call-backs/{task['id']}/done", headers=officer)
    assert resp.status == 200
    assert await (await client.get("/api/call-backs", headers=officer)).json() == []
    assert (await client.post(f"/api/call-backs/{task['id']}/done", headers=officer)).status == 409


async def test_only_the_consults_own_clinician_opens_a_call_back(sched: Sched) -> None:
    booked = await sched.book()
    with pytest.raises(ServiceError):
        await sched.svc.request_call_back(booked.id, sched.manager.account_id, None)


async def test_video_required_is_set_at_booking_and_changed_by_the_clinician(
    client: Any, sched: Sched
) -> None:
    clinician = await _staff(client, sched, "clinician")
    resp = await client.post(
        "/api/appointments",
        json={
            "prisoner_id": sched.patient.account_id,
            "service_id": sched.gp.id,
            "clinician_id": sched.clinician.account_id,
            "starts_at": "2026-03-04T10:00:00Z",
            "video_required": True,
        },
        headers=clinician,
    )
    assert resp.status == 201, await resp.text()
    booked = await resp.json()
    assert booked["video_required"] is True
    view = await sched.svc.appointment_view(booked["id"])
    assert view is not None and view.video_required is True

    url = f"/api/appointments/{booked['id']}/video-required"
    resp = await client.post(url, json={"video_required": False}, headers=clinician)
    assert resp.status == 200
    assert (await resp.json())["video_required"] is False
    await sched.svc.set_video_required(sched.clinician, booked["id"], True)
    assert "video_required_changed" in sched.audit_actions
    await sched.svc.set_video_required(sched.clinician, booked["id"], False)

    # Bad input and the wrong people change nothing.
    assert (await client.post(url, json={"video_required": "yes"}, headers=clinician)).status == 400
    officer = await _staff(client, sched, "officer")
    assert (await client.post(url, json={"video_required": True}, headers=officer)).status == 403
    view = await sched.svc.appointment_view(booked["id"])
    assert view is not None and view.video_required is False
