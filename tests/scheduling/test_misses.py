"""Misses are coded (issue 14 item 4): an appointment whose window closed with no outcome
used to stay booked for ever, and the dashboard guessed."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Code, ServiceError
from scheduling import Status
from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_staff
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import JOBS


async def test_the_job_marks_a_closed_window_not_recorded_and_only_then(sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    seen = await sched.book(at(4, 11), prisoner_id=sched.patient2.account_id)
    sched.clock.set(at(4, 11, 5))
    await sched.svc.check_in(sched.clinician, seen.id)
    await sched.svc.mark_attended(sched.clinician, seen.id)
    # The window stays open 15 minutes after the end (10:20 + 15).
    sched.clock.set(at(4, 10, 35))
    await sched.app[JOBS].run_due()
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.BOOKED
    sched.clock.set(at(4, 10, 36))
    await sched.app[JOBS].run_due()
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.NOT_RECORDED
    assert (await sched.svc.appointment(sched.manager, seen.id)).status == Status.COMPLETED
    # Repeating changes nothing.
    assert await sched.svc.close_windows() == 0


async def test_not_recorded_lands_on_both_to_do_lists_until_coded(sched: Sched) -> None:
    first = await sched.book(at(4, 10))
    second = await sched.book(at(4, 11), prisoner_id=sched.patient2.account_id)
    sched.clock.set(at(4, 13))
    assert await sched.svc.close_windows() == 2
    assert [a.id for a in await sched.svc.misses_to_code(sched.clinician)] == [first.id, second.id]
    assert [a.id for a in await sched.svc.misses_to_code(sched.manager)] == [first.id, second.id]
    assert "not_recorded" in sched.audit_actions
    coded = await sched.svc.mark_did_not_attend(sched.clinician, first.id, "no_escort")
    assert (coded.status, coded.outcome_code, coded.outcome_category) == (
        Status.DID_NOT_ATTEND,
        "no_escort",
        "prison",
    )
    await sched.svc.mark_attended(sched.manager, second.id)
    assert await sched.svc.misses_to_code(sched.clinician) == []
    assert await sched.svc.misses_to_code(sched.manager) == []
    with pytest.raises(ServiceError) as caught:
        await sched.svc.misses_to_code(sched.officer)
    assert caught.value.code == Code.FORBIDDEN


async def test_coding_a_miss_needs_a_known_reason_and_changes_nothing_otherwise(
    sched: Sched,
) -> None:
    booked = await sched.book(at(4, 10))
    sched.clock.set(at(4, 13))
    await sched.svc.close_windows()
    with pytest.raises(ServiceError):
        await sched.svc.mark_did_not_attend(sched.clinician, booked.id, "made_up")
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.NOT_RECORDED


async def test_the_to_do_list_over_http(client: Any, sched: Sched) -> None:
    booked = await sched.book(at(4, 10))
    sched.clock.set(at(4, 13))
    await sched.svc.close_windows()
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    listed = await (await client.get("/api/misses", headers=clinician)).json()
    assert [(a["id"], a["status"]) for a in listed] == [(booked.id, "not_recorded")]
    assert len(await (await client.get("/api/misses", headers=manager)).json()) == 1
    assert (await client.get("/api/misses", headers=officer)).status == 403
    bad = await client.post(
        f"/api/appointments/{booked.id}/did-not-attend", json={"reason": "x"}, headers=clinician
    )
    assert bad.status == 400
    ok = await client.post(
        f"/api/appointments/{booked.id}/did-not-attend",
        json={"reason": "unwell"},
        headers=clinician,
    )
    assert ok.status == 200, await ok.text()
    body = await ok.json()
    assert (body["status"], body["outcome_cause"]) == ("did_not_attend", "patient")
    assert await (await client.get("/api/misses", headers=manager)).json() == []
