"""The prisoner's week on both stores: regime, allocated activities, the times (never the
reasons) of health appointments; staff keep the allocations; bad input changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.errors import Code, ServiceError
from core.events import MemorySink
from kiosk.timetable import Timetable
from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.state import DATABASE


def _timetable(sched: Sched) -> tuple[Timetable, MemorySink]:
    sink = MemorySink()
    return Timetable(sched.app[DATABASE], clock=sched.clock, audit=sink), sink


async def test_the_week_has_regime_activities_and_health_times_only(sched: Sched) -> None:
    timetable, sink = _timetable(sched)
    await sched.svc.add_regime_window(
        sched.officer,
        sched.world.est,
        label="Roll check",
        weekday_value=0,
        start="08:00",
        end="08:30",
    )
    await timetable.allocate(
        sched.officer,
        sched.patient.account_id,
        kind="work",
        weekday_value=1,
        start="09:00",
        end="12:00",
    )
    await timetable.allocate(
        sched.officer,
        sched.patient.account_id,
        kind="gym",
        weekday_value=4,
        start="14:00",
        end="15:00",
    )
    await sched.book(reason_text="Chest pain when climbing stairs")
    week = await timetable.week(sched.patient)
    assert week.starts_on == date(2026, 3, 2)
    assert [(e.kind, e.starts_at, e.label) for e in week.entries] == [
        ("regime", at(2, 8), "Roll check"),
        ("work", at(3, 9), None),
        ("health", at(4, 10), None),
        ("gym", at(6, 14), None),
    ]
    assert "Chest" not in repr(week)
    # Another prisoner's week has the regime only.
    other = await timetable.week(sched.patient2)
    assert [e.kind for e in other.entries] == ["regime"]
    assert [r.action.value for r in sink.records] == ["allocation_added", "allocation_added"]


async def test_bad_allocations_change_nothing(sched: Sched) -> None:
    timetable, _ = _timetable(sched)
    pid = sched.patient.account_id
    await timetable.allocate(
        sched.officer, pid, kind="education", weekday_value=2, start="09:00", end="11:00"
    )
    for kwargs, code in (
        (
            {"kind": "party", "weekday_value": 1, "start": "09:00", "end": "10:00"},
            Code.INVALID_REQUEST,
        ),
        (
            {"kind": "gym", "weekday_value": 7, "start": "09:00", "end": "10:00"},
            Code.INVALID_REQUEST,
        ),
        (
            {"kind": "gym", "weekday_value": 1, "start": "10:00", "end": "09:00"},
            Code.INVALID_REQUEST,
        ),
        ({"kind": "gym", "weekday_value": 2, "start": "10:00", "end": "12:00"}, Code.CONFLICT),
    ):
        with pytest.raises(ServiceError) as caught:
            await timetable.allocate(sched.officer, pid, **kwargs)
        assert caught.value.code == code, kwargs
    with pytest.raises(ServiceError) as caught:
        await timetable.allocate(
            sched.officer,
            sched.world.other_prisoner.account_id if sched.world.other_prisoner else "",
            kind="gym",
            weekday_value=1,
            start="09:00",
            end="10:00",
        )
    assert caught.value.code == Code.NOT_FOUND
    with pytest.raises(ServiceError) as caught:
        await timetable.allocate(
            sched.clinician, pid, kind="gym", weekday_value=1, start="09:00", end="10:00"
        )
    assert caught.value.code == Code.FORBIDDEN
    assert [a.kind for a in await timetable.allocations(sched.officer, pid)] == ["education"]


async def test_timetable_over_http(client: Any, sched: Sched) -> None:
    prisoner = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    pid = sched.patient.account_id
    resp = await client.post(
        f"/api/kiosk/prisoners/{pid}/allocations",
        json={"kind": "work", "weekday": 1, "start": "09:00", "end": "12:00"},
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    resp = await client.post(
        f"/api/kiosk/prisoners/{pid}/allocations",
        json={"kind": "work", "weekday": 1, "start": "<b>", "end": "12:00"},
        headers=officer,
    )
    assert resp.status == 400
    resp = await client.post(
        f"/api/kiosk/prisoners/{pid}/allocations",
        json={"kind": "work", "weekday": 2, "start": "09:00", "end": "12:00"},
        headers=prisoner,
    )
    assert resp.status == 403
    week = await (await client.get("/api/kiosk/timetable", headers=prisoner)).json()
    assert [(e["kind"], e["starts_at"]) for e in week["entries"]] == [
        ("work", "2026-03-03T09:00:00+00:00")
    ]
    assert (await client.get("/api/kiosk/timetable", headers=officer)).status == 403
    resp = await client.delete(f"/api/kiosk/allocations/{made['id']}", headers=officer)
    assert resp.status == 204
    week = await (await client.get("/api/kiosk/timetable", headers=prisoner)).json()
    assert week["entries"] == []
