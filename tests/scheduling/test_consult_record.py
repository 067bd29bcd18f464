"""The consult screen's record: its context, notes typed during the call, and the outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import Code, ServiceError
from scheduling.tables import consult_notes
from tests.scheduling.conftest import Sched
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.state import DATABASE


async def _staff(client: Any, sched: Sched, key: str) -> dict[str, str]:
    return bearer(await sign_in_staff(client, sched.world.staff[key]))


async def test_context_has_reason_and_the_request_text_for_the_own_clinician(
    sched: Sched,
) -> None:
    asked = await sched.svc.make_request(
        sched.patient, category="general", text_value="Rash on my arm for a week"
    )
    booked = await sched.book(reason_text="Skin check", request_id=asked.id)
    found = await sched.svc.consult_context(sched.clinician, booked.id)
    assert found.appointment.reason == "Skin check"
    assert found.request is not None and found.request.text == "Rash on my arm for a week"
    assert found.test_call is None
    for other in (sched.officer, sched.manager, sched.admin, sched.patient):
        with pytest.raises(ServiceError):
            await sched.svc.consult_context(other, booked.id)


async def test_notes_are_sealed_and_a_stale_window_cannot_overwrite_them(sched: Sched) -> None:
    booked = await sched.book()
    assert (await sched.svc.consult_notes(sched.clinician, booked.id)).version == 0
    first = await sched.svc.save_consult_notes(sched.clinician, booked.id, "Chest clear", 0)
    assert first.version == 1
    # A second window that read version 0 saves: refused, with the version to catch up to.
    with pytest.raises(ServiceError) as refused:
        await sched.svc.save_consult_notes(sched.clinician, booked.id, "Other text", 0)
    assert refused.value.code == Code.CONFLICT
    assert refused.value.extra == {"field": "notes", "reason": "stale_version", "version": 1}
    second = await sched.svc.save_consult_notes(
        sched.clinician, booked.id, "Chest clear. BP 120/80", 1
    )
    assert second.version == 2
    read = await sched.svc.consult_notes(sched.clinician, booked.id)
    assert (read.text, read.version) == ("Chest clear. BP 120/80", 2)
    async with sched.app[DATABASE].connect() as conn:
        blob = await conn.scalar(select(consult_notes.c.text_enc))
    assert b"Chest" not in blob and b"120/80" not in blob
    for other in (sched.officer, sched.manager, sched.patient):
        with pytest.raises(ServiceError):
            await sched.svc.consult_notes(other, booked.id)


async def test_outcome_names_the_field_at_fault(sched: Sched) -> None:
    booked = await sched.book()
    cases: list[tuple[object, object, str]] = [
        ("maybe", None, "outcome"),
        ("completed", "declined", "reason"),
        ("did_not_attend", None, "reason"),
        ("did_not_attend", "<script>", "reason"),
    ]
    for outcome, code, field in cases:
        with pytest.raises(ServiceError) as refused:
            await sched.svc.record_outcome(sched.clinician, booked.id, outcome, code, None)
        assert refused.value.extra["field"] == field, (outcome, code)
    with pytest.raises(ServiceError) as refused:
        await sched.svc.record_outcome(sched.clinician, booked.id, "completed", None, "x" * 3000)
    assert refused.value.extra["field"] == "note"
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status.value == "booked"


async def test_outcome_twice_is_recorded_once_and_amended_within_a_day(sched: Sched) -> None:
    booked = await sched.book()
    await sched.svc.check_in(sched.clinician, booked.id)
    done, changed = await sched.svc.record_outcome(
        sched.clinician, booked.id, "completed", None, None
    )
    assert changed and done.status.value == "completed"
    again, changed = await sched.svc.record_outcome(
        sched.clinician, booked.id, "completed", None, None
    )
    assert not changed and again.status.value == "completed"
    assert sched.audit_actions.count("attended") == 1
    assert "outcome_amended" not in sched.audit_actions

    sched.clock.advance(hours=23)
    amended, changed = await sched.svc.record_outcome(
        sched.clinician, booked.id, "did_not_attend", "declined", None
    )
    assert changed and amended.status.value == "did_not_attend"
    assert amended.outcome_code == "declined"
    event = [r for r in sched.audit.records if r.action.value == "outcome_amended"]
    assert len(event) == 1
    assert event[0].details["previous"] == "completed"
    assert event[0].details["status"] == "did_not_attend"

    # The 24 hours run from the first recording, not from the amendment.
    sched.clock.advance(hours=2)
    with pytest.raises(ServiceError) as refused:
        await sched.svc.record_outcome(sched.clinician, booked.id, "completed", None, None)
    assert refused.value.code == Code.CONFLICT
    assert refused.value.extra == {"field": "outcome", "reason": "amend_window_closed"}
    assert (await sched.svc.appointment(sched.clinician, booked.id)).status.value == (
        "did_not_attend"
    )


async def test_officer_and_prisoner_get_none_of_the_consult_screen(
    client: Any, sched: Sched
) -> None:
    booked = await sched.book(reason_text="Low mood")
    await sched.svc.save_consult_notes(sched.clinician, booked.id, "Private note", 0)
    officer = await _staff(client, sched, "officer")
    prisoner = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    paths = [
        f"/api/appointments/{booked.id}/context",
        f"/api/appointments/{booked.id}/consult-notes",
        f"/api/appointments/{booked.id}/patient",
        f"/api/appointments/{booked.id}/patient/photo",
    ]
    assert (await client.get(f"/api/appointments/{booked.id}", headers=officer)).status == 403
    for who in (officer, prisoner):
        for path in paths:
            resp = await client.get(path, headers=who)
            assert resp.status in (403, 404), path
            text = await resp.text()
            assert "Low mood" not in text and "Private note" not in text
        resp = await client.put(
            f"/api/appointments/{booked.id}/consult-notes",
            json={"text": "x", "version": 1},
            headers=who,
        )
        assert resp.status in (403, 404)
        resp = await client.put(
            f"/api/appointments/{booked.id}/outcome", json={"outcome": "completed"}, headers=who
        )
        assert resp.status in (403, 404)
    clinician = await _staff(client, sched, "clinician")
    resp = await client.get(f"/api/appointments/{booked.id}/context", headers=clinician)
    assert resp.status == 200 and (await resp.json())["reason"] == "Low mood"
    resp = await client.get(f"/api/appointments/{booked.id}/consult-notes", headers=clinician)
    assert (await resp.json())["text"] == "Private note"


async def test_outcome_problem_names_its_field(client: Any, sched: Sched) -> None:
    booked = await sched.book()
    clinician = await _staff(client, sched, "clinician")
    resp = await client.put(
        f"/api/appointments/{booked.id}/outcome",
        json={"outcome": "did_not_attend"},
        headers=clinician,
    )
    assert resp.status == 400
    problem = await resp.json()
    assert problem["field"] == "reason"
    resp = await client.put(
        f"/api/appointments/{booked.id}/consult-notes",
        json={"text": "a", "version": 7},
        headers=clinician,
    )
    assert resp.status == 409 and (await resp.json())["version"] == 0


async def test_calendar_links_are_listed_and_a_revoked_one_is_gone(
    client: Any, sched: Sched
) -> None:
    clinician = await _staff(client, sched, "clinician")
    made = await (await client.post("/api/calendar-tokens", headers=clinician)).json()
    assert (await client.get(made["url"])).status == 200
    listed = await (await client.get("/api/calendar-tokens", headers=clinician)).json()
    assert [t["id"] for t in listed] == [made["id"]]
    assert "url" not in listed[0]
    resp = await client.delete(f"/api/calendar-tokens/{made['id']}", headers=clinician)
    assert resp.status == 204
    assert (await client.get(made["url"])).status == 404
    assert await (await client.get("/api/calendar-tokens", headers=clinician)).json() == []
    officer = await _staff(client, sched, "officer")
    assert (await client.get("/api/calendar-tokens", headers=officer)).status == 403


async def test_two_first_saves_at_once_keep_one_and_refuse_the_other(sched: Sched) -> None:
    booked = await sched.book()
    results = await asyncio.gather(
        sched.svc.save_consult_notes(sched.clinician, booked.id, "Window one", 0),
        sched.svc.save_consult_notes(sched.clinician, booked.id, "Window two", 0),
        return_exceptions=True,
    )
    saved = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(saved) == 1 and len(refused) == 1
    assert refused[0].code == Code.CONFLICT and refused[0].extra["version"] == 1
    read = await sched.svc.consult_notes(sched.clinician, booked.id)
    assert (read.text, read.version) == (saved[0].text, 1)
