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


async def _field_error(page: Any, field: str, words: str) -> None:
    """The refusal is shown beside the field it is about, and the field is marked."""
    await page.locator(f"#{field}-error:not([hidden])").get_by_text(words).wait_for()
    assert await page.locator(f"#{field}").get_attribute("aria-invalid") == "true"


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_reception_creates_a_prisoner_once_and_officers_rename_and_remove_places(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True, cell="A1-01")
    elsewhere = await consult_world(live.app, relay_only=True, cell="K2-07")
    their_cell = (await live.app[PLACES].cells(elsewhere.est))[0].id
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/people", world.officer)
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")
    form = page.locator("#new-prisoner-form")
    rows = page.locator("#roll tr[data-prisoner]")
    assert await rows.count() == 1

    async def fill(number: str, born: str, cell: str = "") -> None:
        await form.get_by_label("Prison number").fill(number)
        await form.get_by_label("Full name").fill("Evan Newman")
        await form.get_by_label("Date of birth").fill(born)
        await form.get_by_label("First PIN").fill("2468")
        await form.get_by_label("Cell (optional)").select_option(cell)

    create = form.get_by_role("button", name="Create account")
    # Bad input, each refused beside its field; no account is made.
    await fill("A12", "1991-03-04")
    await create.click()
    await _field_error(page, "new-number", "A prison number looks like A1234BC.")
    await fill(world.prisoner.prison_number, "1991-03-04")
    await create.click()
    await _field_error(page, "new-number", "This prison number already has an account.")
    await fill("E7654FG", "1899-12-31")
    await create.click()
    await _field_error(page, "new-dob", "Give a real date of birth, after 1 January 1900.")
    assert await page.locator("#new-number-error").is_hidden()
    await fill("E7654FG", "2999-01-01")
    await create.click()
    await _field_error(page, "new-dob", "A date of birth is in the past, not today or later.")
    # A page left open while the cell list changed, or a tampered form: another's cell.
    await page.evaluate(
        "id => document.getElementById('new-cell').add(new Option('K2-07', id))", their_cell
    )
    await fill("E7654FG", "1991-03-04", their_cell)
    await create.click()
    await _field_error(
        page, "new-cell", "That cell is in another establishment. Transfer the prisoner instead."
    )
    await check_accessibility(page, axe_source, "new prisoner, refused")
    await screenshot(page, "people-new-prisoner-refused")
    assert await rows.count() == 1

    # Pressed twice: one account, no error, in cell A1-01.
    await fill("e7654fg", "1991-03-04", (await live.app[PLACES].cells(world.est))[0].id)
    await create.dblclick()
    await page.get_by_text("Account created for Evan Newman (E7654FG).").wait_for()
    new_row = page.locator("#roll tr", has_text="E7654FG")
    await new_row.wait_for()
    assert await new_row.count() == 1
    assert await page.locator("#new-prisoner-form [role='alert']:not([hidden])").count() == 0
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    roll = await live.app[PEOPLE].roll(officer, world.est)
    assert [p.prison_number for p in roll].count("E7654FG") == 1
    await check_accessibility(page, axe_source, "new prisoner created")
    await screenshot(page, "people-new-prisoner")
    # A reload shows them, where they were put, with the date of birth on file (not shown).
    await page.reload()
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")
    assert await new_row.inner_text() == (
        "Evan Newman\tE7654FG\tA1-01\tStandard\tDate of birth on file, no photo\tOpen"
    )
    assert "1991" not in await page.locator("main").inner_text()

    # Places: renaming keeps who is in the cell; removing what is in use is refused.
    places = page.locator("#place-form")
    await places.get_by_label("Wing or cell").select_option(label="Cell A1-01 (wing A)")
    await places.get_by_label("New name").fill("A1-10")
    await places.get_by_role("button", name="Rename").click()
    await page.get_by_text("Cell A1-01 is now A1-10.").wait_for()
    await new_row.get_by_text("A1-10").wait_for()
    await places.get_by_label("Wing or cell").select_option(label="Cell A1-10 (wing A)")
    await places.get_by_role("button", name="Remove").click()
    await (
        page.locator("#place-error")
        .get_by_text("A prisoner is in that cell. Move them first.")
        .wait_for()
    )
    await places.get_by_label("Wing or cell").select_option(label="Wing A")
    await places.get_by_role("button", name="Remove").click()
    await (
        page.locator("#place-error")
        .get_by_text("That wing still has cells. Remove them first.")
        .wait_for()
    )
    assert await page.locator("#places-cells tr[data-cell='A1-10']").count() == 1
    await page.get_by_label("New wing").fill("Q")
    await page.get_by_role("button", name="Add wing").click()
    await page.get_by_text("Wing Q added.").wait_for()
    await page.get_by_label("On wing").select_option(label="Q")
    await page.get_by_label("New cell").fill("Q1-01")
    await page.get_by_role("button", name="Add cell").click()
    await page.get_by_text("Cell Q1-01 added on wing Q.").wait_for()
    await places.get_by_label("Wing or cell").select_option(label="Cell Q1-01 (wing Q)")
    await places.get_by_role("button", name="Remove").click()
    await page.get_by_text("Cell Q1-01 removed.").wait_for()
    await places.get_by_label("Wing or cell").select_option(label="Wing Q")
    await places.get_by_role("button", name="Remove").click()
    await page.get_by_text("Wing Q removed.").wait_for()
    assert await page.locator("#places-cells tr[data-wing='Q']").count() == 0
    await check_accessibility(page, axe_source, "places renamed and removed")
    await screenshot(page, "people-places-changed")
    assert [c.name for c in await live.app[PLACES].cells(world.est)] == ["A1-10"]
    assert [w.name for w in await live.app[PLACES].wings(world.est)] == ["A"]

    await _welsh(page)
    await page.wait_for_selector("#screen-people:not([hidden])")
    form = page.locator("#new-prisoner-form")
    await form.get_by_label("Rhif carchar").fill("E7654FG")
    await form.get_by_label("Enw llawn").fill("Evan Newman")
    await form.get_by_label("PIN cyntaf").fill("2468")
    await form.get_by_role("button", name="Creu cyfrif").click()
    await _field_error(page, "new-number", "Mae gan y rhif carchar hwn gyfrif yn barod.")
    places = page.locator("#place-form")
    await places.get_by_label("Adain neu gell").select_option(label="Adain A")
    await places.get_by_role("button", name="Dileu").click()
    await (
        page.locator("#place-error")
        .get_by_text("Mae gan yr adain honno gelloedd o hyd. Dilëwch nhw yn gyntaf.")
        .wait_for()
    )
    await check_accessibility(page, axe_source, "new prisoner and places (cy)")
    await screenshot(page, "people-new-prisoner-cy")
    assert [p.prison_number for p in await live.app[PEOPLE].roll(officer, world.est)].count(
        "E7654FG"
    ) == 1
    assert watch.problems == []
