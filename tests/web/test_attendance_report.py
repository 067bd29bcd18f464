"""The attendance report: who was present when, and on hold when, by role, on the page's API
and in its exports; roles and times only; refused to officers as every report is."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook

from tests.media.consults import book_consult
from tests.world import World, bearer, sign_in_staff
from web.state import CLOCK, SCHEDULING


async def _consult_with_an_officer(client: Any, world: World) -> tuple[str, list[str]]:
    """A call whose officer checked the identity and was put on hold, as the hub keeps it."""
    app = client.server.app
    now = app[CLOCK].now().replace(microsecond=0)
    booked = await book_consult(app[SCHEDULING], world, starts_at=now)
    t = [(now + timedelta(minutes=m)).isoformat() for m in range(8)]
    summary = {
        "ended_at": t[7],
        "answer": "answered",
        "attended": ["clinician", "patient", "officer"],
        "patient_attended": True,
        "presence": [
            {"role": "clinician", "n": 1, "present": [[t[0], t[7]]], "on_hold": []},
            {"role": "patient", "n": 1, "present": [[t[1], t[7]]], "on_hold": []},
            {
                "role": "officer",
                "n": 1,
                "present": [[t[1], t[6]]],
                "on_hold": [[t[2], t[6]]],
                "note": "Chest pain",  # not a field of presence: dropped when kept
            },
            {"role": "reason", "n": 1, "present": [[t[0], t[1]]], "on_hold": []},
        ],
    }
    await app[SCHEDULING].record_call_summary(booked.appointment, summary)
    return booked.appointment, t


async def test_the_manager_sees_who_was_present_and_on_hold_when(client: Any, world: World) -> None:
    appointment, t = await _consult_with_an_officer(client, world)
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    today = client.server.app[CLOCK].now().date().isoformat()
    period = {"from": today, "to": today}
    resp = await client.get("/api/reports/attendance", params=period, headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["calls_with_presence"] == 1
    [call] = body["calls"]
    assert call["appointment_id"] == appointment
    assert call["presence"] == [
        {"role": "clinician", "n": 1, "present": [[t[0], t[7]]], "on_hold": []},
        {"role": "patient", "n": 1, "present": [[t[1], t[7]]], "on_hold": []},
        {"role": "officer", "n": 1, "present": [[t[1], t[6]]], "on_hold": [[t[2], t[6]]]},
    ]
    assert "Chest pain" not in await resp.text()
    dashboard = await (
        await client.get("/api/reports/dashboard", params=period, headers=headers)
    ).json()
    assert dashboard["attendance"]["calls"] == body["calls"]

    resp = await client.get(
        "/api/reports/export",
        params={**period, "report": "attendance", "format": "csv"},
        headers=headers,
    )
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert rows[0] == ["appointment_id", "scheduled_start", "role", "person", "kind", "from", "to"]
    assert [r[2:] for r in rows[1:]] == [
        ["clinician", "1", "present", t[0], t[7]],
        ["patient", "1", "present", t[1], t[7]],
        ["officer", "1", "present", t[1], t[6]],
        ["officer", "1", "on_hold", t[2], t[6]],
    ]
    resp = await client.get(
        "/api/reports/export",
        params={**period, "report": "attendance", "format": "xlsx"},
        headers=headers,
    )
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[-1][2:] == ["officer", 1, "on_hold", t[2], t[6]]


async def test_an_officer_is_refused_the_attendance_report_and_its_export(
    client: Any, world: World
) -> None:
    await _consult_with_an_officer(client, world)
    today = client.server.app[CLOCK].now().date().isoformat()
    for who in ("officer", "clinician"):
        headers = bearer(await sign_in_staff(client, world.staff[who]))
        for path, extra in (
            ("/api/reports/attendance", {}),
            ("/api/reports/export", {"report": "attendance", "format": "csv"}),
        ):
            resp = await client.get(
                path, params={"from": today, "to": today, **extra}, headers=headers
            )
            body = await resp.json()
            assert (resp.status, body["permission"]) == (403, "reports.read"), (who, path)
