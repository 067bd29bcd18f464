"""Release and transfer as their users see them (issue 14 item 6), in English and Welsh,
axe-clean: the manager sees a hand-over whose sending fails and downloads its Bundle; a
transferred prisoner's device, in the new cell, says what happened to each appointment.
Before, the hand-over was a list of ids and the prisoner was told nothing about their care."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web as aioweb
from aiohttp.test_utils import TestServer
from sqlalchemy import insert

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from core.db.schema import staff_establishments
from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD, place
from web.state import CLOCK, DATABASE, IDENTITY, JOBS, SCHEDULING

pytestmark = pytest.mark.slow
SYSTEM = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")

WORDS = {
    "en": {
        "heading": "Hand-overs to community services",
        "failing": "Not sent yet: the community service answered with error 500. Tries so far: 1.",
        "download": "Download the hand-over for",
        "moved": "moves with you: it goes ahead at your new establishment, at the same time.",
        "cancelled": "This is because you moved establishment. The healthcare team there will"
        " offer you a new time.",
        "transferred": "You have moved establishment.",
    },
    "cy": {
        "heading": "Trosglwyddiadau i wasanaethau cymunedol",
        "failing": "Heb ei anfon eto: atebodd y gwasanaeth cymunedol gyda gwall 500."
        " Nifer y cynigion hyd yma: 1.",
        "download": "Lawrlwytho'r trosglwyddiad ar gyfer",
        "moved": "yn symud gyda chi: bydd yn mynd yn ei flaen yn eich sefydliad newydd",
        "cancelled": "Mae hyn oherwydd i chi symud sefydliad. Bydd y tîm gofal iechyd yno yn"
        " cynnig amser newydd i chi.",
        "transferred": "Rydych wedi symud sefydliad.",
    },
}


async def _page(browser: Any, watch: PageWatch, live: Any, lang: str) -> Any:
    page = await new_page(browser, watch, accept_downloads=True)
    await page.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    return page


async def _refusing_receiver() -> tuple[TestServer, list[str]]:
    """A community endpoint on loopback that answers 500 to everything."""
    keys: list[str] = []

    async def refuse(request: aioweb.Request) -> aioweb.Response:
        keys.append(request.headers.get("Idempotency-Key", ""))
        return aioweb.Response(status=500, text="down for maintenance")

    app = aioweb.Application()
    app.router.add_post("/fhir", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, keys


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_the_manager_sees_a_failing_hand_over_and_downloads_its_bundle(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    scheduling = live.app[SCHEDULING]
    clinician = Principal(world.clinician.account_id, Role.CLINICIAN, world.est, "")
    await scheduling.record_consent(
        clinician,
        prisoner_id=world.prisoner.account_id,
        scope_value="community_sharing",
        version=1,
        decision="given",
    )
    receiver, keys = await _refusing_receiver()
    try:
        await scheduling.set_community_endpoint(SYSTEM, world.est, str(receiver.make_url("/fhir")))
        officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
        await scheduling.release(officer, world.prisoner.account_id)
        await live.app[JOBS].run_due()
    finally:
        await receiver.close()
    assert len(keys) == 1
    manager_account = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    await live.app[IDENTITY].set_locale(manager_account, lang)

    watch = PageWatch()
    page = await _page(browser, watch, live, lang)
    await visit(page, live.url("/manager"))
    await page.fill("#username", world.manager.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", world.manager.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector("#screen-dashboard:not([hidden])")
    words = WORDS[lang]
    card = page.locator("#handover-list li[data-handover]")
    await card.wait_for()
    assert await page.locator("#handover-heading").inner_text() == words["heading"]
    text = await card.inner_text()
    assert words["failing"] in text and world.prisoner.prison_number in text
    await check_accessibility(page, axe_source, f"manager hand-over ({lang})")
    await screenshot(page, f"manager-handover-{lang}")

    link = card.get_by_role("link", name=f"{words['download']} {world.prisoner_name}")
    async with page.expect_download() as download:
        await link.click()
    saved = await (await download.value).path()
    bundle = json.loads(await asyncio.to_thread(Path(saved).read_text, "utf-8"))
    # The same Bundle the receiver was sent, valid R4B, with the patient and their care.
    assert bundle["identifier"]["value"] == keys[0]
    models = importlib.import_module("fhir.resources.R4B.bundle")
    models.Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "Appointment", "Consent"]
    assert watch.problems == []


async def _transferred_world(live: Any) -> tuple[Any, str, str]:
    """The consult world's prisoner, with a second consult of a service the new
    establishment lacks, transferred to a new establishment where the same clinician
    also runs the nurse clinic; a device enrolled in their new cell."""
    app = live.app
    world = await consult_world(app, relay_only=False)
    scheduling = app[SCHEDULING]
    identity = app[IDENTITY]
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    dental = await scheduling.create_service(manager, world.est, code="dental", name="Dental")
    tomorrow = app[CLOCK].now() + timedelta(days=1)
    await scheduling.add_availability(
        manager,
        clinician_id=world.clinician.account_id,
        service_id=dental.id,
        weekday_value=tomorrow.weekday(),
        start="00:00",
        end="23:59",
    )
    dental_at = tomorrow.replace(minute=0, second=0, microsecond=0)
    await scheduling.book(
        manager,
        prisoner_id=world.prisoner.account_id,
        service_id=dental.id,
        clinician_id=world.clinician.account_id,
        starts_at=dental_at,
    )
    new_est = await identity.create_establishment(f"HMP-N{world.est[:4]}", "HMP New")
    async with app[DATABASE].begin() as conn:
        await conn.execute(
            insert(staff_establishments).values(
                account_id=world.clinician.account_id,
                establishment_id=new_est,
                created_at=app[CLOCK].now(),
            )
        )
    nurse = await scheduling.create_service(
        SYSTEM, new_est, code="nurse", name="Nurse clinic", minutes=20, buffer_minutes=0
    )
    now = app[CLOCK].now()
    await scheduling.add_availability(
        SYSTEM,
        clinician_id=world.clinician.account_id,
        service_id=nurse.id,
        weekday_value=now.weekday(),
        start="00:00",
        end="23:59",
    )
    await place(app, new_est, "N1-01")
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    done = await scheduling.transfer(officer, world.prisoner.account_id, new_est, "N1-01")
    assert (done.moved, done.requested) == (1, 1)
    enrolment = await identity.devices.start_enrolment(SYSTEM, new_est, "N1-01")
    _, credential = await identity.devices.complete_enrolment(enrolment.code)
    await app[JOBS].run_due()
    return world, new_est, credential


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_a_transferred_prisoners_device_says_what_happened_to_each_appointment(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world, new_est, credential = await _transferred_world(live)
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, new_est, "")
    await live.app[IDENTITY].set_locale(prisoner, lang)

    watch = PageWatch()
    page = await _page(browser, watch, live, lang)
    await page.goto(live.url("/healthz"))
    await page.evaluate("c => localStorage.setItem('tc_device_credential', c)", credential)
    await visit(page, live.url("/device"))
    await page.fill("#prison-number", world.prisoner.prison_number)
    await page.fill("#pin", world.prisoner.pin)
    await page.press("#pin", "Enter")
    await page.wait_for_selector("#screen-home:not([hidden]) #inbox[data-live='true']")
    words = WORDS[lang]
    home = page.locator("#inbox")
    await home.locator("li[data-kind='transfer_moved']").wait_for()
    assert words["moved"] in await home.locator("li[data-kind='transfer_moved']").inner_text()
    assert words["cancelled"] in await home.locator("li[data-kind='cancelled']").inner_text()
    told = await home.locator("li[data-kind='transferred']").inner_text()
    assert words["transferred"] in told
    # Every notice is worded for what it is: none falls back to "You have a new message".
    assert await home.locator("li[data-kind]").count() == 7
    for kind in await home.locator("li[data-kind]").evaluate_all(
        "items => items.map(i => i.dataset.kind)"
    ):
        assert kind in {
            "booked",
            "reminder_24h",
            "reminder_15m",
            "transferred",
            "transfer_moved",
            "cancelled",
        }, kind
    await check_accessibility(page, axe_source, f"device after transfer ({lang})")
    await screenshot(page, f"device-transferred-{lang}")
    assert watch.problems == []
