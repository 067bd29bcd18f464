"""The operations board over HTTP: every consult of the day for managers and officers,
officers without the service or clinician, and the room's word on where each stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.identity import Principal, Role
from scheduling.types import AppointmentView
from signalling.rooms import Member, MemberStatus, Room
from tests.world import World, bearer, sign_in_prisoner, sign_in_staff
from web.operations import live_status
from web.state import CLOCK, SCHEDULING


async def _book(client: Any, world: World) -> str:
    app = client.server.app
    svc = app[SCHEDULING]
    manager = Principal(world.staff["manager"].account_id, Role.MANAGER, world.est, "t")
    clinician = world.staff["clinician"].account_id
    service = await svc.create_service(
        manager, world.est, code="gp", name="GP", minutes=20, buffer_minutes=0
    )
    now = app[CLOCK].now()
    await svc.add_availability(
        manager,
        clinician_id=clinician,
        service_id=service.id,
        weekday_value=now.weekday(),
        start="00:00",
        end="23:59",
    )
    booked = await svc.book(
        manager,
        prisoner_id=world.prisoners[0].account_id,
        service_id=service.id,
        clinician_id=clinician,
        starts_at=now.replace(hour=14, minute=0).isoformat(),
        reason_text="Chest pain since Tuesday",
    )
    return str(booked.id)


async def test_officers_see_when_who_and_where_managers_also_what_service(
    client: Any, world: World
) -> None:
    appointment = await _book(client, world)
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    board = await (await client.get("/api/operations/board", headers=officer)).json()
    [row] = board["consults"]
    assert row["appointment_id"] == appointment and row["live"] == "expected"
    assert row["prison_number"] == world.prisoners[0].prison_number
    assert "service" not in row and "clinician" not in row
    assert "Chest" not in str(board)
    manager = bearer(await sign_in_staff(client, world.staff["manager"]))
    board = await (await client.get("/api/operations/board", headers=manager)).json()
    [row] = board["consults"]
    assert (row["service"], row["clinician"]) == ("GP", "Clinician One")
    assert "Chest" not in str(board)
    assert board["counts"] == {"expected": 1, "waiting": 0, "in_call": 0, "away": 0, "ended": 0}


async def test_prisoners_and_clinicians_are_refused_and_a_bad_day_is_answered(
    client: Any, world: World
) -> None:
    prisoner = bearer(await sign_in_prisoner(client, world.prisoners[0]))
    resp = await client.get("/api/operations/board", headers=prisoner)
    assert resp.status == 403
    clinician = bearer(await sign_in_staff(client, world.staff["clinician"]))
    resp = await client.get("/api/operations/board", headers=clinician)
    assert (await resp.json())["permission"] == "operations.read"
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    resp = await client.get("/api/operations/board", params={"day": "<b>"}, headers=officer)
    assert (await resp.json())["detail"] == "day is a date (YYYY-MM-DD)."
    resp = await client.get(
        "/api/operations/board", params={"establishment": world.other_est}, headers=officer
    )
    assert resp.status == 403


def _room(patient: MemberStatus | None, admitted: bool = False) -> Room:
    at = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    view = AppointmentView(
        id="a",
        establishment_id="e",
        prisoner_id="p",
        clinician_id="c",
        service="gp",
        starts_at=at,
        ends_at=at,
        window_opens=at,
        window_closes=at,
        status="booked",
        relay_only=True,
    )
    room = Room.open(view, at)
    if patient is not None:
        room.members["p"] = Member("p", "patient", patient, admitted, None, at.isoformat())
    return room


def test_where_a_consult_stands_comes_from_its_room() -> None:
    assert live_status("booked", None) == "expected"
    assert live_status("checked_in", _room(MemberStatus.WAITING)) == "waiting"
    assert live_status("in_progress", _room(MemberStatus.PRESENT, admitted=True)) == "in_call"
    assert live_status("in_progress", _room(MemberStatus.AWAY, admitted=True)) == "away"
    assert live_status("in_progress", _room(MemberStatus.LEFT)) == "away"
    assert live_status("completed", _room(MemberStatus.PRESENT, admitted=True)) == "ended"
