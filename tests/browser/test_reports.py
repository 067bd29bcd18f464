"""The manager's dashboard drawn from the server's reports, in English and Welsh: misses by
cause, cancellations by cause, waits, calls, quality per call, escorts priced from the
establishment's setting, pre-call failures by wing, and a report downloaded as CSV with a
formula-looking wing name made harmless."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from core.db.schema import cells, devices, wings
from core.events import Action, AuditRecord
from core.identity import Principal, Role
from scheduling.tables import services, test_calls
from tests.browser.conftest import Live, PageWatch, check_accessibility, new_page, screenshot, visit
from tests.browser.seed import ConsultWorld, consult_world, seed_history
from tests.world import PASSWORD, place
from web.state import AUDIT, CLOCK, DATABASE, SCHEDULING

pytestmark = pytest.mark.slow

FORMULA_WING = "=HYPERLINK"


async def _seed(live: Live) -> ConsultWorld:
    """The consult world's month: misses of each cause, two calls with their summaries,
    an escorted service seen by video, a failed pre-call test on a wing with a formula name."""
    app = live.app
    world = await consult_world(app, relay_only=True)
    await seed_history(app, world)
    scheduling = app[SCHEDULING]
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    now = app[CLOCK].now()

    def at(minutes: int) -> str:
        return str((now + timedelta(minutes=minutes)).isoformat())

    async with app[DATABASE].begin() as conn:
        await conn.execute(
            update(services)
            .where(services.c.id == world.service_id)
            .values(escort_if_in_person=True)
        )
    await scheduling.set_report_settings(
        manager,
        world.est,
        min_consult_s=120,
        escort_cost_pence=45000,
        escort_cost_source="Escort contract 2026",
    )
    await scheduling.record_call_event(world.appointment_id, "admitted", world.clinician.account_id)
    await scheduling.mark_attended(manager, world.appointment_id)
    await scheduling.record_call_summary(
        world.appointment_id,
        {
            "attended": ["clinician", "patient"],
            "patient_attended": True,
            "first_arrival_at": now.isoformat(),
            "first_admit_at": (now + timedelta(minutes=6)).isoformat(),
            "wait_s": 360,
            "admits": 2,
            "readmit_wait_s": 40,
            "call_s": 900,
            "ended_at": (now + timedelta(minutes=21)).isoformat(),
            "ended_reason": "clinician_ended",
            "answer": "answered",
            "mode_changes": 1,
            "final_mode": "audio",
            "worst_loss_pct": 7.5,
            "lowest_bitrate_kbps": 96.0,
            # The officer checked the identity and was put on hold until it left.
            "presence": [
                {"role": "clinician", "n": 1, "present": [[at(0), at(21)]], "on_hold": []},
                {"role": "patient", "n": 1, "present": [[at(1), at(21)]], "on_hold": []},
                {
                    "role": "officer",
                    "n": 1,
                    "present": [[at(6), at(12)]],
                    "on_hold": [[at(8), at(12)]],
                },
            ],
        },
    )
    cell = await place(app, world.est, "Q1-01")
    async with app[DATABASE].begin() as conn:
        wing = (await conn.execute(select(cells.c.wing_id).where(cells.c.id == cell))).scalar_one()
        device = (
            await conn.execute(select(devices.c.id).where(devices.c.establishment_id == world.est))
        ).scalar_one()
        await conn.execute(update(wings).where(wings.c.id == wing).values(name=FORMULA_WING))
        await conn.execute(
            insert(test_calls).values(
                id=str(uuid.uuid4()),
                establishment_id=world.est,
                device_id=device,
                prisoner_id=world.prisoner.account_id,
                appointment_id=world.appointment_id,
                wing_id=wing,
                cell_id=cell,
                started_at=now,
                finished_at=now + timedelta(seconds=40),
                outcome="failed",
            )
        )
    return world


async def _manager_page(
    browser: Any, live: Live, world: ConsultWorld, lang: str
) -> tuple[Any, PageWatch]:
    watch = PageWatch()
    page = await new_page(browser, watch, accept_downloads=True)
    await page.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    await visit(page, live.url("/manager"))
    await page.locator("#username").fill(world.manager.username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#totp").fill(world.manager.code(live.app))
    await page.locator("#staff-signin button[type='submit']").click()
    await page.wait_for_selector("#volumes-chart[data-drawn='7']")
    return page, watch


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_dashboard_shows_the_servers_reports_in_english_and_welsh(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await _seed(live)
    page, watch = await _manager_page(browser, live, world, "en")
    assert await page.locator("#volumes-text").inner_text() == (
        "Booked: 4; Completed: 1; Cancelled: 1; "
        "Did not attend: prison-caused: 1; Did not attend: patient-caused: 1; "
        "Did not attend: clinician-caused: 0; Not recorded: 0"
    )
    assert await page.locator("#cancelled-text").inner_text() == (
        "Prison: 0; Patient: 0; Clinician: 1; No cause given: 0"
    )
    assert await page.locator("#median-wait").inner_text() == "6.0 minutes"
    assert await page.locator("#readmits").inner_text() == "1 re-admits in 1 calls"
    assert await page.locator("#escorts").inner_text() == "1 · £450 avoided (Escort contract 2026)"
    assert await page.locator("#precall-text").inner_text() == f"{FORMULA_WING}: 1"
    row = page.locator("#call-rows tr[data-appointment]")
    assert await row.count() == 1
    assert "7.5%" in await row.inner_text() and "96 kbit/s" in await row.inner_text()
    assert await page.locator("#escort-rate").count() == 0  # no longer typed into the form
    # Who was present when, and on hold when: roles and times only.
    people = page.locator("#attendance-rows tr[data-appointment]")
    assert await people.count() == 3
    officer = page.locator("#attendance-rows tr[data-role='officer']")
    cells = await officer.locator("td").all_inner_texts()
    assert cells[1] == "Officer" and " to " in cells[2] and " to " in cells[3]
    assert "Chest" not in await page.locator("#attendance-rows").inner_text()
    await check_accessibility(page, axe_source, "manager reports (en)")
    await screenshot(page, "manager-reports-en")

    await page.get_by_label("Report", exact=True).select_option("precall")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download report (CSV)").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    assert text.splitlines()[1] == f"'{FORMULA_WING},1,1,0"
    await page.get_by_label("Report", exact=True).select_option("attendance")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download report (CSV)").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "appointment_id,scheduled_start,role,person,kind,from,to"
    assert [line.split(",")[2:5] for line in lines[1:]] == [
        ["clinician", "1", "present"],
        ["patient", "1", "present"],
        ["officer", "1", "present"],
        ["officer", "1", "on_hold"],
    ]

    # A period over a year gets the server's own sentence.
    await page.locator("#range-from").fill("2020-01-01")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_text("The period is at most a year. Choose a shorter one.").wait_for()

    # Welsh: the same signed-in manager chooses Welsh and reloads (a second sign-in
    # would replay the one-time code).
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await page.wait_for_selector("#volumes-chart[data-drawn='7']")
    cy = page
    assert (await cy.locator("#cancelled-text").inner_text()).startswith("Carchar: 0; Claf: 0;")
    assert await cy.locator("#median-wait").inner_text() == "6.0 munud"
    cells = await cy.locator("#attendance-rows tr[data-role='officer'] td").all_inner_texts()
    assert cells[1] == "Swyddog" and " i " in cells[3]
    await check_accessibility(cy, axe_source, "manager reports (cy)")
    await screenshot(cy, "manager-reports-cy")
    assert await cy.locator("html").get_attribute("lang") == "cy"
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_audit_log_names_people_and_pages_from_the_server(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    log = live.app[AUDIT]
    for n in range(30):
        await log.append(
            AuditRecord(
                Action.CHECKED_IN,
                actor=world.clinician.account_id,
                establishment=world.est,
                subject=world.prisoner.account_id,
                appointment=world.appointment_id,
                details={"n": n},
            )
        )
    page, watch = await _manager_page(browser, live, world, "en")
    search = page.get_by_label("Person, prison number or appointment")
    await search.fill(world.prisoner.prison_number)
    await page.get_by_label("Action").select_option("checked_in")
    await page.get_by_role("button", name="Find").click()
    rows = page.locator("#audit-rows tr[data-seq]")
    await page.get_by_text("Events 1 to 25").wait_for()
    first = await rows.first.inner_text()
    assert world.prisoner_name in first and world.prisoner.prison_number in first
    assert "Checked in" in first and "Clinician" in first
    await page.get_by_role("button", name="Older events").click()
    await page.get_by_text("Events 26 to 30").wait_for()
    assert await page.get_by_role("button", name="Older events").is_disabled()
    await check_accessibility(page, axe_source, "manager audit log (en)")
    await screenshot(page, "manager-audit-people-en")
    await page.get_by_role("button", name="Newer events").click()
    await page.get_by_text("Events 1 to 25").wait_for()

    # HTML typed into the search is only words: nothing found, nothing run.
    await search.fill('<img src=x onerror="document.body.dataset.owned=1">')
    await page.get_by_role("button", name="Find").click()
    await page.get_by_text("No events match.").wait_for()
    assert await page.evaluate("document.body.dataset.owned") is None

    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await page.get_by_label("Person, rhif carchar neu apwyntiad").fill(world.prisoner.prison_number)
    await page.get_by_role("button", name="Chwilio", exact=True).last.click()
    await page.get_by_text("Digwyddiadau 1 i 25").wait_for()
    assert "Wedi cofrestru" in await rows.first.inner_text()
    await check_accessibility(page, axe_source, "manager audit log (cy)")
    await screenshot(page, "manager-audit-people-cy")
    assert watch.problems == []
