"""People and places in a real browser: the officers' page (wings, cells, devices, a prisoner's
cell, incentive level, date of birth and photo), the prisoner's level on the device, and the
photo and date of birth beside the patient on the clinician's desk. Each in English and Welsh,
checked by axe, with screenshots."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_clinician,
    sign_in_device,
)
from tests.browser.seed import consult_world
from tests.browser.test_views import sign_in_staff_page
from tests.people_photos import jpeg, jpeg_with_comment
from tests.world import PASSWORD, Staff
from web.state import IDENTITY, PEOPLE, PLACES

pytestmark = pytest.mark.slow


async def _welsh(page: Any) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_officer_keeps_places_moves_a_prisoner_sets_a_level_and_records_identity(
    live: Live, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    world = await consult_world(live.app, relay_only=True, cell="A1-01")
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/staff", world.officer)
    await page.get_by_role("link", name="People and places").click()
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")

    # Places: a new wing and a cell on it.
    await page.get_by_label("New wing").fill("C")
    await page.get_by_role("button", name="Add wing").click()
    await page.get_by_text("Wing C added.").wait_for()
    await page.get_by_label("On wing").select_option(label="C")
    await page.get_by_label("New cell").fill("C1-01")
    await page.get_by_role("button", name="Add cell").click()
    await page.get_by_text("Cell C1-01 added on wing C.").wait_for()
    # The same cell again: refused, in words.
    await page.get_by_label("New cell").fill("C1-01")
    await page.get_by_role("button", name="Add cell").click()
    await (
        page.locator("#cell-error")
        .get_by_text("There is a cell with that name already.")
        .wait_for()
    )
    assert await page.locator("#places-cells tr[data-cell='C1-01']").count() == 1

    # The device moves to the new cell: it is enrolled again, with a new code.
    await page.get_by_label("Move to cell").select_option(label="C1-01 (Wing C)")
    await page.get_by_role("button", name="Move and get a new set-up code").click()
    await page.get_by_text("Moved to cell C1-01.").wait_for()
    assert len(await page.locator("#device-code").inner_text()) == 14
    row = page.locator(f"#devices tr[data-device='{world.prisoner.device_id}']")
    assert await row.inner_text() == "C1-01\tC\tWaiting for its set-up code"

    # The prisoner: into cell C1-01, up to Enhanced (a reason is needed), identity recorded.
    await page.get_by_role("button", name=f"Open: {world.prisoner_name}").click()
    panel = page.locator("#prisoner")
    await panel.get_by_text("Not in a cell yet.").wait_for()
    await panel.get_by_label("Cell", exact=True).select_option(label="C1-01 (Wing C)")
    await panel.get_by_role("button", name="Move", exact=True).click()
    await page.locator("#prisoner-where").get_by_text("Cell C1-01 on wing C.").wait_for()
    await panel.get_by_label("New level").select_option("enhanced")
    await panel.get_by_role("button", name="Change level").click()
    await panel.get_by_text("Write the reason for the change.").wait_for()
    await panel.get_by_label("Reason for the change").fill("Helps new arrivals settle in")
    await panel.get_by_role("button", name="Change level").click()
    await page.locator("#level-now").get_by_text("Now on Enhanced.").wait_for()
    assert (
        "Standard to Enhanced. Helps new arrivals settle in"
        in await page.locator("#level-history").inner_text()
    )

    await panel.get_by_label("Date of birth").fill("1985-06-14")
    await panel.get_by_role("button", name="Save date of birth").click()
    await page.get_by_text("Date of birth saved.").wait_for()
    bad = tmp_path / "photo.jpg"
    await asyncio.to_thread(bad.write_bytes, jpeg_with_comment(b"<script>alert(1)</script>"))
    await panel.get_by_label("Photo (JPEG or PNG, up to 5 MB)").set_input_files(str(bad))
    await panel.get_by_role("button", name="Upload photo").click()
    await page.locator("#photo-error:not([hidden])").wait_for()
    refused = await page.locator("#photo-error").inner_text()
    assert refused.startswith("That file holds more than a photo. Save the photo again")
    good = tmp_path / "face.jpg"
    await asyncio.to_thread(good.write_bytes, jpeg(300, 400, exif_gps=True))
    await panel.get_by_label("Photo (JPEG or PNG, up to 5 MB)").set_input_files(str(good))
    await page.locator("#photo-preview:not([hidden])").wait_for()
    await panel.get_by_role("button", name="Upload photo").click()
    await page.get_by_text("Photo saved.", exact=False).wait_for()
    roll = page.locator(f"#roll tr[data-prisoner='{world.prisoner.account_id}']")
    assert await roll.inner_text() == (
        f"{world.prisoner_name}\t{world.prisoner.prison_number}\tC1-01\tEnhanced\t"
        "Date of birth and photo on file\tOpen"
    )
    # Recorded, never shown back: no photo or date on this page.
    text = await page.locator("main").inner_text()
    assert "1985" not in text and "14 June" not in text
    assert await page.locator("#prisoner img:not([hidden])").count() == 0
    await check_accessibility(page, axe_source, "people and places")
    await screenshot(page, "people-officer")

    await _welsh(page)
    await page.wait_for_selector("#screen-people:not([hidden])")
    assert await page.locator("#people-heading").inner_text() == "Pobl a lleoedd"
    await page.get_by_role("button", name=f"Agor: {world.prisoner_name}").click()
    await page.locator("#level-now").get_by_text("Ar lefel Uwch nawr.").wait_for()
    await check_accessibility(page, axe_source, "people and places (cy)")
    await screenshot(page, "people-officer-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_prisoner_reads_their_level_and_the_clinician_checks_photo_and_birth_date(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=False, cell="A1-02")
    people = live.app[PEOPLE]
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    await people.incentives.set_level(
        officer, world.prisoner.account_id, "basic", "Damaged the cell's kettle"
    )
    await people.details.record_date_of_birth(officer, world.prisoner.account_id, "1990-01-31")
    await people.details.record_photo(
        officer, world.prisoner.account_id, jpeg(300, 400), "image/jpeg"
    )
    watch = PageWatch()

    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    level = device.locator("#incentive-level")
    await level.wait_for()
    assert (await level.inner_text()).startswith("You are on Basic.")
    await device.get_by_text("Why your level changed").click()
    assert (
        "Standard to Basic. Damaged the cell's kettle"
        in await device.locator("#incentive-history").inner_text()
    )
    await check_accessibility(device, axe_source, "device home with incentive level")
    await screenshot(device, "device-incentive")
    await _welsh(device)
    await device.locator("#incentive-level").get_by_text("Rydych ar lefel Sylfaenol.").wait_for()
    await check_accessibility(device, axe_source, "device home with incentive level (cy)")
    await screenshot(device, "device-incentive-cy")
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='en'] body[data-ready='true']")

    # The patient goes to the waiting room; the clinician checks who it is before admitting.
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("link", name="Join").click()
    await device.get_by_role("button", name="Yes, I agree").click()
    await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    await device.get_by_role("button", name="Go to the waiting room").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")

    clinician = await new_page(browser, watch)
    await sign_in_clinician(clinician, live, world)
    waiting = clinician.locator(f"#waiting-all li[data-waiting='{world.appointment_id}']")
    await waiting.wait_for(timeout=15000)
    identity = waiting.locator(f"[data-identity='{world.appointment_id}']")
    await identity.wait_for()
    assert "Born 31 January 1990 (age " in await identity.inner_text()
    photo = identity.get_by_role(
        "img", name=f"Photo on file of {world.prisoner_name}, to check who they are"
    )
    loaded = (
        "id => { const i = document.querySelector(`#waiting-all [data-identity='${id}'] img`);"
        " return Boolean(i && i.complete && i.naturalWidth > 0); }"
    )
    await clinician.wait_for_function(loaded, arg=world.appointment_id)
    assert await photo.is_visible()
    await check_accessibility(clinician, axe_source, "clinician waiting with identity")
    await screenshot(clinician, "clinician-identity")

    await _welsh(clinician)
    cy = clinician.locator(f"#waiting-all [data-identity='{world.appointment_id}']")
    await cy.wait_for(timeout=15000)
    assert "Ganwyd 31 Ionawr 1990" in await cy.inner_text()
    await clinician.wait_for_function(loaded, arg=world.appointment_id)
    await check_accessibility(clinician, axe_source, "clinician waiting with identity (cy)")
    await screenshot(clinician, "clinician-identity-cy")

    # Admitted: the consult screen keeps the photo and date of birth beside the video.
    await clinician.locator(
        f"#waiting-all button[data-admit-appointment='{world.appointment_id}']"
    ).click()
    await clinician.wait_for_selector("#screen-call:not([hidden]) #call-identity [data-born]")
    assert "Ganwyd 31 Ionawr 1990" in await clinician.locator("#call-identity").inner_text()
    await screenshot(clinician, "clinician-consult-identity-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_an_admin_keeps_the_places_of_the_establishment_they_choose(
    live: Live, browser: Any, axe_source: str
) -> None:
    first = await consult_world(live.app, relay_only=True, cell="A1-01")
    second = await consult_world(live.app, relay_only=True, cell="K2-07")
    admin_id, secret = await live.app[IDENTITY].create_staff(
        role=Role.ADMIN,
        establishment_id=None,
        username="admin.people",
        display_name="Admin People",
        password=PASSWORD,
    )
    admin = Staff(admin_id, "admin.people", secret, Role.ADMIN, None)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/people", admin)
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")
    choice = page.get_by_label("Establishment")
    await choice.select_option(second.est)
    await page.locator("#places-cells tr[data-cell='K2-07']").wait_for()
    assert await page.locator("#places-cells tr[data-cell='A1-01']").count() == 0
    await page.get_by_label("New wing").fill("L")
    await page.get_by_role("button", name="Add wing").click()
    await page.get_by_text("Wing L added.").wait_for()
    # An admin reads no identity details either: the roll says only what is on file.
    assert second.prisoner_name in await page.locator("#roll").inner_text()
    await check_accessibility(page, axe_source, "people and places, admin")
    await screenshot(page, "people-admin")
    wings = [w.name for w in await live.app[PLACES].wings(second.est)]
    assert wings == ["K", "L"]
    assert [w.name for w in await live.app[PLACES].wings(first.est)] == ["A"]
    assert watch.problems == []
