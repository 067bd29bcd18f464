"""The reports over HTTP: who may ask, a bad period's clear answer, and exports that a
spreadsheet opens without running anything typed into a wing's or a service's name."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from core.db.schema import cells, wings
from scheduling.tables import appointments, report_settings, services, test_calls
from tests.world import World, bearer, place, sign_in_prisoner, sign_in_staff
from web.state import CLOCK, DATABASE

PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}


async def _failed_test_on_wing(client: Any, world: World, wing_name: str) -> None:
    app = client.server.app
    cell = await place(app, world.est, "Z9-01")
    now = app[CLOCK].now()
    prisoner = world.prisoners[0]
    async with app[DATABASE].begin() as conn:
        wing = (await conn.execute(select(cells.c.wing_id).where(cells.c.id == cell))).scalar_one()
        await conn.execute(wings.update().where(wings.c.id == wing).values(name=wing_name))
        appointment = str(uuid.uuid4())
        service = str(uuid.uuid4())
        await conn.execute(
            insert(services).values(
                id=service,
                establishment_id=world.est,
                code="gp",
                name="GP",
                minutes=20,
                buffer_minutes=0,
                target_days=14,
                sensitive=False,
            )
        )
        clinician = world.staff["clinician"].account_id
        await conn.execute(
            insert(appointments).values(
                id=appointment,
                establishment_id=world.est,
                prisoner_id=prisoner.account_id,
                clinician_id=clinician,
                service_id=service,
                starts_at=now,
                ends_at=now + timedelta(minutes=20),
                buffer_minutes=0,
                status="booked",
                same_sex=False,
                chaperone=False,
                created_by=clinician,
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(test_calls).values(
                id=str(uuid.uuid4()),
                establishment_id=world.est,
                device_id=prisoner.device_id,
                prisoner_id=prisoner.account_id,
                appointment_id=appointment,
                wing_id=wing,
                cell_id=cell,
                started_at=now,
                finished_at=now + timedelta(seconds=30),
                outcome="failed",
            )
        )


async def test_officers_prisoners_and_clinicians_are_refused_every_report(
    client: Any, world: World
) -> None:
    for who in ("officer", "clinician"):
        headers = bearer(await sign_in_staff(client, world.staff[who]))
        for path in ("/api/reports/dashboard", "/api/reports/misses", "/api/reports/export"):
            resp = await client.get(path, params=PERIOD, headers=headers)
            body = await resp.json()
            assert (resp.status, body["permission"]) == (403, "reports.read"), (who, path)
    headers = bearer(await sign_in_prisoner(client, world.prisoners[0]))
    resp = await client.get("/api/reports/waits", params=PERIOD, headers=headers)
    assert resp.status == 403


async def test_a_bad_period_gets_a_clear_answer(client: Any, world: World) -> None:
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    for params, detail in (
        ({"from": "2026-01-01", "to": "2027-03-01"}, "The period is at most a year."),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "The period ends before it starts."),
        (
            {"from": "'; DROP TABLE appointments; --", "to": "2026-03-01"},
            "from is a date (YYYY-MM-DD).",
        ),
        ({**PERIOD, "tz": "<script>alert(1)</script>"}, "tz is not a known time zone."),
    ):
        resp = await client.get("/api/reports/dashboard", params=params, headers=headers)
        body = await resp.json()
        assert (resp.status, body["detail"]) == (400, detail)
    resp = await client.get(
        "/api/reports/misses", params={**PERIOD, "establishment": world.other_est}, headers=headers
    )
    assert resp.status == 403
    async with client.server.app[DATABASE].connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(appointments))).scalar() == 0


async def test_exports_escape_cells_a_spreadsheet_would_run(client: Any, world: World) -> None:
    await _failed_test_on_wing(client, world, "=cmd|'/c calc'!A1")
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    today = client.server.app[CLOCK].now().date().isoformat()
    params = {"from": today, "to": today, "report": "precall"}
    resp = await client.get(
        "/api/reports/export", params={**params, "format": "csv"}, headers=headers
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    lines = (await resp.read()).decode("utf-8-sig").splitlines()
    assert lines == ["wing,tests,failed,poor", "'=cmd|'/c calc'!A1,1,1,0"]
    resp = await client.get(
        "/api/reports/export", params={**params, "format": "xlsx"}, headers=headers
    )
    assert resp.status == 200
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows == [["wing", "tests", "failed", "poor"], ["'=cmd|'/c calc'!A1", 1, 1, 0]]
    resp = await client.get(
        "/api/reports/export", params={**params, "format": "pdf"}, headers=headers
    )
    assert (await resp.json())["detail"] == "format must be csv or xlsx."


async def test_the_escort_cost_is_a_setting_with_its_source(client: Any, world: World) -> None:
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    url = f"/api/establishments/{world.est}/report-settings"
    before = await (await client.get(url, headers=headers)).json()
    assert (before["configured"], before["escort_cost_pence"]) == (False, None)
    resp = await client.put(
        url, json={"min_consult_s": 90, "escort_cost_pence": 45000}, headers=headers
    )
    assert resp.status == 400
    resp = await client.put(
        url, json={"min_consult_s": "<b>", "escort_cost_pence": None}, headers=headers
    )
    assert resp.status == 400
    async with client.server.app[DATABASE].connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(report_settings))).scalar() == 0
    resp = await client.put(
        url,
        json={
            "min_consult_s": 90,
            "escort_cost_pence": 45000,
            "escort_cost_source": "Contract 2026",
        },
        headers=headers,
    )
    assert resp.status == 200
    dashboard = await (
        await client.get("/api/reports/dashboard", params=PERIOD, headers=headers)
    ).json()
    assert dashboard["escorts"]["cost_source"] == "Contract 2026"
    assert dashboard["calls"]["min_consult_s"] == 90
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    resp = await client.put(url, json={"min_consult_s": 0}, headers=officer)
    assert resp.status == 403
