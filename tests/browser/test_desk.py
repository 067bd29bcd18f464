"""The booking desk in a real browser (issue 15 items 1-2): a healthcare administrator triages a
health request and books it from the slot search, through a reload and a double click, moves and
cancels it, is told in words when another administrator took the slot first, and declines a
request with words the prisoner reads; a clinician sets availability and leave and is told when
it overlaps; an officer is shown the door. Each page in English and Welsh, checked by axe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from tests.browser.seed import consult_world
from tests.browser.test_views import sign_in_staff_page
from tests.world import PASSWORD, Staff
from web.state import CLOCK, IDENTITY, SCHEDULING

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

pytestmark = pytest.mark.slow


async def _welsh(page: Any) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")


async def _english(page: Any) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='en'] body[data-ready='true']")


async def _healthcare_admin(live: Live, est: str, name: str) -> Staff:
    account_id, secret = await live.app[IDENTITY].create_staff(
        role=Role.HEALTHCARE_ADMIN,
        establishment_id=est,
        username=name,
        display_name=f"Admin {name}",
        password=PASSWORD,
    )
    return Staff(account_id, name, secret, Role.HEALTHCARE_ADMIN, est)


async def _booked(live: Live, world: Any) -> list[Any]:
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, session_id="")
    now = live.app[CLOCK].now()
    found = await live.app[SCHEDULING].appointments(
        manager,
        start=now - timedelta(days=1),
        end=now + timedelta(days=30),
        prisoner_id=world.prisoner.account_id,
    )
    return [a for a in found if a.status.value == "booked"]


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_administrator_triages_books_moves_and_cancels_from_the_screens(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    scheduling = live.app[SCHEDULING]
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, session_id="")
    asked = "<img src=x onerror=alert(1)> My knee is swollen"
    request = await scheduling.make_request(prisoner, category="general", text_value=asked)
    desk = await _healthcare_admin(live, world.est, "hca.desk")
    watch = PageWatch()
    page = await new_page(browser, watch)

    # The queue: the request, its patient, its wait; its text shown as text, never as markup.
    await sign_in_staff_page(page, live, "/triage", desk)
    await page.wait_for_selector("body[data-ready='true'] #screen-triage:not([hidden])")
    row = page.locator(f"#queue tr[data-request='{request.id}']")
    await row.wait_for()
    assert world.prisoner_name in await row.inner_text()
    assert "Not triaged\t0 days" in await row.inner_text()
    await check_accessibility(page, axe_source, "triage")
    await screenshot(page, "desk-triage-en")
    await page.get_by_role("button", name=f"Decide: {world.prisoner_name}").click()
    await page.locator("#decide-text").get_by_text(asked).wait_for()
    assert await page.locator("#decide-text img").count() == 0
    await check_accessibility(page, axe_source, "triage decide")
    await screenshot(page, "desk-triage-decide-en")

    # Book: triaged as urgent for the nurse clinic, straight to the slot search.
    await page.get_by_label("Book an appointment").check()
    await page.get_by_label("Service").select_option(label="Nurse clinic")
    await page.get_by_label("Urgency").select_option(label="Urgent")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"**/booking?request={request.id}*")
    await page.wait_for_selector("body[data-ready='true'] #screen-booking:not([hidden])")
    await page.locator("#request-text").get_by_text(asked).wait_for()
    heading = page.locator("#patient-heading")
    assert await heading.inner_text() == f"{world.prisoner_name} ({world.prisoner.prison_number})"

    # A reload mid-flow comes back to the same patient and request.
    await page.reload()
    await page.wait_for_selector("body[data-ready='true'] #screen-booking:not([hidden])")
    await page.locator("#request-text").get_by_text(asked).wait_for()
    assert await heading.inner_text() == f"{world.prisoner_name} ({world.prisoner.prison_number})"
    before = len(await _booked(live, world))

    # Search, and a double click on Book books once.
    await page.get_by_label("A chaperone is needed").uncheck()
    await page.get_by_role("button", name="Search").click()
    first = page.locator("#slots li[data-slot]").first
    await first.wait_for()
    await check_accessibility(page, axe_source, "booking slots")
    await screenshot(page, "desk-booking-slots-en")
    await first.get_by_role("button").dblclick()
    await page.locator("#booking-status").get_by_text("Booked:").wait_for()
    booked = await _booked(live, world)
    assert len(booked) == before + 1
    new = [a for a in booked if a.request_id == request.id]
    assert len(new) == 1
    assert (await scheduling.health_request(prisoner, request.id)).status == "booked"
    assert await page.locator("#request").is_hidden()
    await page.locator(f"#upcoming tr[data-appointment='{new[0].id}']").wait_for()
    await screenshot(page, "desk-booking-booked-en")

    # Move it, through a reload in the middle of the move.
    await (
        page.locator(f"#upcoming tr[data-appointment='{new[0].id}']")
        .get_by_role("button", name="Move")
        .click()
    )
    await page.reload()
    await page.wait_for_selector("body[data-ready='true'] #screen-booking:not([hidden])")
    await page.get_by_role("button", name="Stop moving").wait_for()
    await page.get_by_role("button", name="Search").click()
    slot = page.locator("#slots li[data-slot]").nth(1)
    await slot.wait_for()
    await slot.get_by_role("button", name="Move here").first.click()
    await page.locator("#booking-status").get_by_text("Moved to").wait_for()
    [moved] = [a for a in await _booked(live, world) if a.id == new[0].id]
    assert moved.starts_at != new[0].starts_at

    # Another administrator takes the time shown: this one is told in words, nothing booked.
    await page.get_by_role("button", name="Search").click()
    taken = page.locator("#slots li[data-slot]").first
    await taken.wait_for()
    starts = await taken.get_attribute("data-slot")
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, session_id="")
    other = await live.app[IDENTITY].create_prisoner(
        establishment_id=world.est, prison_number="E9876FG", display_name="Other", pin="1111"
    )
    await scheduling.book(
        manager,
        prisoner_id=other,
        service_id=world.service_id,
        clinician_id=world.clinician.account_id,
        starts_at=starts,
    )
    count = len(await _booked(live, world))
    await taken.get_by_role("button", name="Book").click()
    await (
        page.locator("#search-error")
        .get_by_text("Someone else has just booked the clinician at that time.")
        .wait_for()
    )
    assert len(await _booked(live, world)) == count
    await page.locator(f"#slots li[data-slot='{starts}']").wait_for(state="detached")
    await screenshot(page, "desk-booking-conflict-en")

    # Cancel with a reason.
    await (
        page.locator(f"#upcoming tr[data-appointment='{new[0].id}']")
        .get_by_role("button", name="Cancel")
        .click()
    )
    await page.get_by_label("Why is it cancelled?").select_option(label="Booked in error")
    await page.get_by_role("button", name="Cancel the appointment").click()
    await page.locator("#booking-status").get_by_text("Cancelled the appointment").wait_for()
    assert new[0].id not in {a.id for a in await _booked(live, world)}

    # Finding a patient: SQL and markup are only text that matches no one.
    await page.get_by_role("button", name="Choose another patient").click()
    for typed in ("' OR 1=1 --", "<b>Patient</b>"):
        await page.get_by_label("Name or prison number").fill(typed)
        await page.get_by_role("button", name="Find").click()
        await page.locator("#matches").get_by_text("No one matches that.").wait_for()
    await page.get_by_label("Name or prison number").fill(world.prisoner.prison_number.lower())
    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("button", name=f"Choose: {world.prisoner_name}").click()
    await page.locator(f"#upcoming tr[data-appointment='{world.appointment_id}']").wait_for()

    # The same screens in Welsh.
    await _welsh(page)
    await page.wait_for_selector("#screen-booking:not([hidden])")
    await page.get_by_role("button", name="Chwilio", exact=True).last.click()
    await page.locator("#slots li[data-slot]").first.wait_for()
    await check_accessibility(page, axe_source, "booking cy")
    await screenshot(page, "desk-booking-cy")
    await page.goto(live.url("/triage"))
    await page.wait_for_selector("html[lang='cy'] #screen-triage:not([hidden])")
    await check_accessibility(page, axe_source, "triage cy")
    await screenshot(page, "desk-triage-cy")
    await _english(page)
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_decline_with_words_reaches_the_prisoner_and_leaves_the_queue(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    scheduling = live.app[SCHEDULING]
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, session_id="")
    request = await scheduling.make_request(prisoner, category="dental", text_value="Loose filling")
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/triage", world.clinician)
    await page.wait_for_selector("body[data-ready='true'] #screen-triage:not([hidden])")
    await _welsh(page)
    await page.get_by_role("button", name=f"Penderfynu: {world.prisoner_name}").click()
    await page.get_by_label("Gwrthod").check()
    await check_accessibility(page, axe_source, "triage decide cy")
    await screenshot(page, "desk-triage-decide-cy")
    await _english(page)
    await page.wait_for_selector("#screen-triage:not([hidden])")
    await page.get_by_role("button", name=f"Decide: {world.prisoner_name}").click()
    await page.get_by_label("Decline").check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_text("Write the words the patient will read.").wait_for()
    words = "The dentist visits on Thursday; put your name on the wing list."
    await page.get_by_label("Words for the patient").fill(words)
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_text(f"Request from {world.prisoner_name} declined").wait_for()
    await page.get_by_text("No requests are waiting.").wait_for()
    [mine] = await scheduling.my_requests(prisoner)
    assert (mine.id, mine.status, mine.response) == (request.id, "declined", words)
    await screenshot(page, "desk-triage-declined-en")

    # The prisoner reads the answer on their device, under their request.
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    requests = device.locator("#requests")
    await requests.get_by_text("Not booked").wait_for()
    await requests.get_by_text(f"Healthcare's answer: {words}").wait_for()
    await check_accessibility(device, axe_source, "device request declined")
    await screenshot(device, "desk-device-request-declined")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_clinician_sets_availability_and_leave_and_hears_of_overlaps(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    # A day three days off: the seed keeps the consult's own days available all day.
    day = DAYS[(live.app[CLOCK].now().weekday() + 3) % 7]
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/availability", world.clinician)
    await page.wait_for_selector("body[data-ready='true'] #screen-availability:not([hidden])")
    weekly = page.locator("#weekly tr[data-rule]")
    rules = await weekly.count()

    await page.get_by_label("Day", exact=True).select_option(label=day)
    await page.get_by_label("From (hh:mm)").fill("09:00")
    await page.get_by_label("To (hh:mm)").fill("12:00")
    await page.get_by_role("button", name="Add weekly session").click()
    await page.get_by_text(f"Added: {day}, 09:00 to 12:00.").wait_for()
    # The same service on that day 11:00-13:00 overlaps the session just set.
    await page.get_by_label("From (hh:mm)").fill("11:00")
    await page.get_by_label("To (hh:mm)").fill("13:00")
    await page.get_by_role("button", name="Add weekly session").click()
    await (
        page.locator("#weekly-error")
        .get_by_text(
            f"This overlaps a session you already have for this service on {day}, 09:00 to 12:00."
        )
        .wait_for()
    )
    assert await weekly.count() == rules + 1

    await page.get_by_label("Kind", exact=True).select_option(label="Leave")
    await page.get_by_label("Starts", exact=True).fill("2030-01-07T08:00")
    await page.get_by_label("Ends", exact=True).fill("2030-01-11T18:00")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.get_by_text("Added: Leave from").wait_for()
    await page.get_by_label("Starts", exact=True).fill("2030-01-10T08:00")
    await page.get_by_label("Ends", exact=True).fill("2030-01-14T18:00")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.locator("#once-error").get_by_text("This overlaps leave you already have").wait_for()
    assert await page.locator("#once tr[data-exception]").count() == 1
    await check_accessibility(page, axe_source, "availability")
    await screenshot(page, "desk-availability-en")

    await page.reload()
    await page.wait_for_selector("body[data-ready='true'] #screen-availability:not([hidden])")
    assert await page.locator("#once tr[data-exception]").count() == 1
    await page.locator("#once tr[data-exception]").get_by_role("button").click()
    await page.get_by_text("No leave or extra sessions coming up.").wait_for()

    await _welsh(page)
    await page.wait_for_selector("#screen-availability:not([hidden])")
    await check_accessibility(page, axe_source, "availability cy")
    await screenshot(page, "desk-availability-cy")
    await _english(page)
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_an_officer_is_shown_none_of_the_desk(live: Live, browser: Any) -> None:
    world = await consult_world(live.app, relay_only=True)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/triage", world.officer)
    await page.wait_for_selector("body[data-ready='true'] #sign-out:not([hidden])")
    for path in ("/triage", "/booking", "/availability"):
        await page.goto(live.url(path))
        await page.wait_for_selector("body[data-ready='true']")
        await page.get_by_text("This page is not for your role.").wait_for()
        assert await page.locator(".screen:not([hidden]) table").count() == 0
    await screenshot(page, "desk-officer-refused")
