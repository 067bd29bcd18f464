"""A lockdown that does what it says (issue 14 item 5).

It used to cancel the in-cell video consults (exactly what should go ahead), suspend nothing,
fail half-done with a 409 when a consult was in progress, and restore nothing when lifted.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from core.errors import Code, ServiceError
from core.identity import Principal, Role
from core.permissions import Permission
from scheduling import Status
from tests.scheduling.conftest import Sched, at, make_sched
from tests.world import PASSWORD, Staff, bearer, sign_in_prisoner, sign_in_staff
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.auth import require
from web.state import IDENTITY, JOBS, SCHEDULING

MODULE = "testmodule"


async def test_lockdown_lets_video_consults_go_ahead_and_moves_only_escorted_ones(
    sched: Sched,
) -> None:
    video = await sched.book(at(4, 10))
    dental = await sched.escorted_service()
    escorted = await sched.book(
        at(4, 11), service_id=dental.id, in_person=True, prisoner_id=sched.patient2.account_id
    )
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(4, 9), ends_at=at(4, 13)
    )
    assert [r.appointment_id for r in lockdown.affected] == [escorted.id]
    assert lockdown.going_ahead == 1
    assert (await sched.svc.appointment(sched.manager, video.id)).status == Status.BOOKED
    moved = await sched.svc.appointment(sched.manager, escorted.id)
    assert (moved.status, moved.outcome_code, moved.outcome_category) == (
        Status.CANCELLED,
        "lockdown",
        "prison",
    )
    assert lockdown.affected[0].offers[0].starts_at >= at(4, 13)
    # In-cell video consults can still be booked during it; an escorted visit cannot.
    again = await sched.book(at(4, 12), prisoner_id=sched.patient2.account_id)
    assert again.status == Status.BOOKED
    with pytest.raises(ServiceError) as caught:
        await sched.book(
            at(4, 12, 30),
            service_id=dental.id,
            in_person=True,
            prisoner_id=sched.patient.account_id,
        )
    assert caught.value.detail == "The establishment is in lockdown at this time."


async def test_a_consult_in_progress_never_makes_the_declaration_fail(sched: Sched) -> None:
    """It used to answer 409 half-way, some consults cancelled and the rest not."""
    dental = await sched.escorted_service()
    running = await sched.book(at(3, 10), service_id=dental.id, in_person=True)
    later = await sched.book(
        at(3, 11), service_id=dental.id, in_person=True, prisoner_id=sched.patient2.account_id
    )
    sched.clock.set(at(3, 10, 1))
    await sched.svc.record_call_event(running.id, "admitted", sched.clinician.account_id)
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(3, 10, 1), ends_at=at(3, 14)
    )
    assert [r.appointment_id for r in lockdown.affected] == [later.id]
    assert lockdown.going_ahead == 1
    assert (await sched.svc.appointment(sched.manager, running.id)).status == Status.IN_PROGRESS
    # Nor a communications restriction: the running consult goes on.
    video = await sched.book(at(3, 12), prisoner_id=sched.patient2.account_id)
    declared = await sched.svc.declare_lockdown(
        sched.officer,
        sched.world.est,
        starts_at=at(3, 10, 1),
        ends_at=at(3, 14),
        kind="communications",
    )
    confirmed = await sched.svc.confirm_restriction(_governor(sched), declared.id)
    assert [r.appointment_id for r in confirmed.affected] == [video.id]
    assert (await sched.svc.appointment(sched.manager, running.id)).status == Status.IN_PROGRESS


async def test_registered_modules_close_for_the_prisoner_and_reopen_when_lifted(
    sched: Sched,
) -> None:
    sched.svc.suspensions.register(MODULE)
    await sched.svc.require_open(sched.patient, MODULE)
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(3, 9), ends_at=at(3, 18)
    )
    assert lockdown.suspended == (MODULE,)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.require_open(sched.patient, MODULE)
    assert caught.value.code == Code.LOCKDOWN
    # Staff and another establishment's prisoners are not closed.
    await sched.svc.require_open(sched.officer, MODULE)
    other = Principal(
        sched.world.other_prisoner.account_id,  # type: ignore[union-attr]
        sched.patient.role,
        sched.world.other_est,
        "test",
    )
    await sched.svc.require_open(other, MODULE)
    await sched.svc.lift_lockdown(sched.officer, lockdown.id)
    await sched.svc.require_open(sched.patient, MODULE)
    assert sched.audit_actions.count("suspended_refused") == 1
    lifted = [r for r in sched.audit.records if r.action.value == "lockdown_lifted"]
    assert lifted[0].details["restored"] == [MODULE]


async def test_the_job_runner_reopens_modules_at_the_end_time(sched: Sched) -> None:
    sched.svc.suspensions.register(MODULE)
    await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(3, 9), ends_at=at(3, 12)
    )
    with pytest.raises(ServiceError):
        await sched.svc.require_open(sched.patient, MODULE)
    sched.clock.set(at(3, 12, 1))
    await sched.app[JOBS].run_due()
    await sched.svc.require_open(sched.patient, MODULE)


@pytest.mark.parametrize(
    ("start", "end", "detail"),
    [
        (at(4, 13), at(4, 9), "A lockdown ends after it starts, within 31 days."),
        (at(4, 9), at(4, 9), "A lockdown ends after it starts, within 31 days."),
        (
            at(4, 9),
            at(4, 9).replace(month=4, day=5),
            "A lockdown ends after it starts, within 31 days.",
        ),
    ],
)
async def test_bad_lockdown_times_change_nothing(
    sched: Sched, start: Any, end: Any, detail: str
) -> None:
    booked = await sched.book(at(4, 10))
    before = len(sched.audit.records)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.declare_lockdown(
            sched.officer, sched.world.est, starts_at=start, ends_at=end
        )
    assert (caught.value.code, caught.value.detail) == (Code.INVALID_REQUEST, detail)
    assert await sched.svc.current_lockdowns(sched.officer, sched.world.est) == []
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.BOOKED
    assert len(sched.audit.records) == before


async def test_a_second_overlapping_lockdown_is_refused_and_changes_nothing(sched: Sched) -> None:
    first = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(4, 9), ends_at=at(4, 13)
    )
    before = len(sched.audit.records)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.declare_lockdown(
            sched.manager, sched.world.est, starts_at=at(4, 12), ends_at=at(4, 15)
        )
    assert (caught.value.code, caught.value.detail) == (
        Code.CONFLICT,
        "A lockdown is already declared for part of this time.",
    )
    assert [x.id for x in await sched.svc.current_lockdowns(sched.officer, sched.world.est)] == [
        first.id
    ]
    assert len(sched.audit.records) == before
    # Back to back is not an overlap.
    await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(4, 13), ends_at=at(4, 15)
    )


async def test_a_communications_restriction_takes_a_second_person_and_rebooks_consults(
    sched: Sched,
) -> None:
    video = await sched.book(at(4, 10))
    declared = await sched.svc.declare_lockdown(
        sched.officer,
        sched.world.est,
        starts_at=at(4, 9),
        ends_at=at(4, 13),
        kind="communications",
    )
    assert (declared.kind, declared.confirmed, declared.affected) == ("communications", False, [])
    # Not in force until confirmed: the consult stands.
    assert (await sched.svc.appointment(sched.manager, video.id)).status == Status.BOOKED
    # A governor confirms (security.confirm); an officer or a manager cannot.
    for other in (sched.officer, sched.manager):
        with pytest.raises(ServiceError) as caught:
            await sched.svc.confirm_restriction(other, declared.id)
        assert caught.value.code == Code.FORBIDDEN
    confirmed = await sched.svc.confirm_restriction(_governor(sched), declared.id)
    assert [r.appointment_id for r in confirmed.affected] == [video.id]
    stopped = await sched.svc.appointment(sched.manager, video.id)
    assert (stopped.status, stopped.outcome_code, stopped.outcome_category) == (
        Status.CANCELLED,
        "communications",
        "prison",
    )
    assert confirmed.affected[0].offers[0].starts_at == at(4, 13)
    with pytest.raises(ServiceError) as again:
        await sched.svc.confirm_restriction(_governor(sched), declared.id)
    assert again.value.code == Code.CONFLICT
    assert "lockdown_confirmed" in sched.audit_actions


def _governor(sched: Sched) -> Principal:
    return Principal("governor-of-est", Role.GOVERNOR, sched.world.est, session_id="test")


async def test_the_declarer_cannot_confirm_their_own_restriction(sched: Sched) -> None:
    declared = await sched.svc.declare_lockdown(
        _governor(sched),
        sched.world.est,
        starts_at=at(4, 9),
        ends_at=at(4, 13),
        kind="communications",
    )
    with pytest.raises(ServiceError) as caught:
        await sched.svc.confirm_restriction(_governor(sched), declared.id)
    assert caught.value.detail == "Someone other than the declarer confirms a restriction."


# ------------------------------------------------------------------ over HTTP


async def test_a_registered_module_answers_closed_during_lockdown_over_http(
    app: Any, aiohttp_client: Any, clock: Any
) -> None:
    """A stand-in for the kiosk: one route behind `require_open`."""

    async def shop(request: web.Request) -> web.Response:
        principal = await require(request, Permission.SELF)
        await request.app[SCHEDULING].require_open(principal, MODULE)
        return web.json_response({"open": True})

    async def register(app: web.Application) -> None:
        app[SCHEDULING].suspensions.register(MODULE)

    app.on_startup.append(register)
    app.router.add_get("/api/testmodule", shop)
    client = await aiohttp_client(app)
    sched = await make_sched(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    assert (await client.get("/api/testmodule", headers=prisoner)).status == 200
    assert await (await client.get("/api/lockdown-status", headers=prisoner)).json() == {
        "lockdown": None
    }
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    declared = await resp.json()
    # The kiosk's and the programmes' modules register themselves at start-up (web/kiosk,
    # web/interventions); the test's module after them.
    registered = list(client.server.app[SCHEDULING].suspensions.modules)
    assert {"shop", "applications", "interventions"} <= set(registered)
    assert registered[-1] == MODULE
    assert declared["suspended"] == registered
    closed = await client.get("/api/testmodule", headers=prisoner)
    assert closed.status == 423
    assert (await closed.json())["code"] == "lockdown"
    status = await (await client.get("/api/lockdown-status", headers=prisoner)).json()
    assert status == {
        "lockdown": {
            "kind": "lockdown",
            "ends_at": "2026-03-03T18:00:00+00:00",
            "closed": registered,
        }
    }
    overlap = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T10:00:00Z", "ends_at": "2026-03-03T11:00:00Z"},
        headers=officer,
    )
    assert overlap.status == 409
    lift = await client.post(f"/api/lockdowns/{declared['id']}/lift", headers=officer)
    assert lift.status == 204
    assert (await client.get("/api/testmodule", headers=prisoner)).status == 200


async def test_bad_lockdowns_over_http_change_nothing(client: Any, sched: Sched) -> None:
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    for body in (
        {"starts_at": "2026-03-04T12:00:00Z", "ends_at": "2026-03-04T09:00:00Z"},
        {"starts_at": "2026-03-04T09:00:00Z", "ends_at": "2026-04-05T09:00:00Z"},
        {"starts_at": "2026-03-04T09:00:00Z", "ends_at": "2026-03-04T10:00:00Z", "kind": "x"},
    ):
        resp = await client.post("/api/lockdowns", json=body, headers=officer)
        assert resp.status == 400, body
    assert await (await client.get("/api/lockdowns", headers=officer)).json() == []


async def test_restriction_confirmed_over_http_by_a_second_person(
    client: Any, sched: Sched
) -> None:
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    account_id, secret = await client.server.app[IDENTITY].create_staff(
        role=Role.GOVERNOR,
        establishment_id=sched.world.est,
        username="governor.one",
        display_name="Governor One",
        password=PASSWORD,
    )
    governor = bearer(
        await sign_in_staff(
            client, Staff(account_id, "governor.one", secret, Role.GOVERNOR, sched.world.est)
        )
    )
    resp = await client.post(
        "/api/lockdowns",
        json={
            "starts_at": "2026-03-04T09:00:00Z",
            "ends_at": "2026-03-04T13:00:00Z",
            "kind": "communications",
        },
        headers=officer,
    )
    assert resp.status == 201
    declared = await resp.json()
    assert (declared["kind"], declared["confirmed"]) == ("communications", False)
    for not_a_governor in (officer, manager):
        refused = await client.post(
            f"/api/lockdowns/{declared['id']}/confirm", headers=not_a_governor
        )
        assert refused.status == 403
    ok = await client.post(f"/api/lockdowns/{declared['id']}/confirm", headers=governor)
    assert ok.status == 200
    assert (await ok.json())["confirmed"] is True
