"""The in-cell device in a real browser: enrol, sign in, wrong PIN and lockout, tiles, Welsh."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD

pytestmark = pytest.mark.slow


async def sign_in_officer(page: Any, live: Live, world: Any) -> None:
    officer = world.staff["officer"]
    await visit(page, live.url("/staff"))
    await page.get_by_label("Username").fill(officer.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(officer.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-officer:not([hidden])")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_officer_enrols_a_device_and_a_prisoner_signs_in(
    live: Live, live_world: Any, browser: Any, axe_source: str
) -> None:
    watch = PageWatch()
    officer = await new_page(browser, watch)
    await visit(officer, live.url("/staff"))
    await check_accessibility(officer, axe_source, "staff sign-in")
    await screenshot(officer, "staff-signin")
    await sign_in_officer(officer, live, live_world)
    # Only a cell the establishment lists (issue 13): a new name is refused, not added.
    await officer.get_by_label("Cell").fill("A-1-01")
    await officer.get_by_role("button", name="Get a set-up code").click()
    await officer.locator("#enrol-error").get_by_text("We could not find that.").wait_for()
    await officer.get_by_label("Cell").fill("W0-01")
    await officer.get_by_role("button", name="Get a set-up code").click()
    await officer.locator("#enrol-result").wait_for()
    code = (await officer.locator("#enrol-code").inner_text()).strip()
    assert len(code.replace("-", "")) == 12
    await check_accessibility(officer, axe_source, "staff")
    await screenshot(officer, "staff")

    device = await new_page(browser, watch)
    await visit(device, live.url("/device"))
    await device.wait_for_selector("#screen-enrol:not([hidden])")
    await check_accessibility(device, axe_source, "device enrolment")
    await screenshot(device, "device-enrol")
    await device.get_by_label("Set-up code").fill("WRONG-CODE-1234")
    await device.get_by_role("button", name="Set up").click()
    await device.locator("#enrol-error").get_by_text("That code does not work.").wait_for()
    await device.get_by_label("Set-up code").fill(code.lower())
    await device.get_by_role("button", name="Set up").click()
    await device.wait_for_selector("#screen-signin:not([hidden])")
    assert await device.evaluate("localStorage.getItem('tc_device_credential')")

    prisoner = live_world.prisoners[0]
    await check_accessibility(device, axe_source, "device sign-in")
    await screenshot(device, "device-signin")
    await device.get_by_label("Your prison number").fill(prisoner.prison_number)
    await device.get_by_label("Your PIN").fill("9999")
    await device.get_by_role("button", name="Sign in").click()
    error = device.locator("#signin-error")
    await error.wait_for()
    assert await error.inner_text() == (
        "That prison number or PIN is not right. You have 4 tries left."
    )
    await device.get_by_label("Your PIN").fill(prisoner.pin)
    await device.get_by_role("button", name="Sign in").click()
    await device.wait_for_selector("#screen-home:not([hidden])")
    await check_accessibility(device, axe_source, "device home")
    await screenshot(device, "device-home")
    for tile in ("Health", "Money", "Shop", "Visits", "Applications", "Learning", "Programmes"):
        assert await device.get_by_role("link", name=tile).count() == 1

    # Money, Shop and Visits open real screens (tests/browser/test_money.py,
    # tests/browser/test_kiosk_visits.py).
    await device.get_by_role("link", name="Visits").click()
    await device.wait_for_selector("#screen-visits:not([hidden])")
    assert await device.locator("#visits-heading").inner_text() == "Visits"
    await device.get_by_role("link", name="Home").click()
    await device.wait_for_selector("#screen-home:not([hidden])")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_lockout_is_said_in_plain_words(live: Live, live_world: Any, browser: Any) -> None:
    watch = PageWatch()
    prisoner = live_world.prisoners[1]
    device = await new_page(browser, watch)
    await device.goto(live.url("/healthz"))
    await device.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", prisoner.device_credential
    )
    await visit(device, live.url("/device"))
    messages: list[str] = []
    for _ in range(5):
        await device.get_by_label("Your prison number").fill(prisoner.prison_number)
        await device.get_by_label("Your PIN").fill("0000")
        await device.get_by_role("button", name="Sign in").click()
        await device.wait_for_function(
            "() => document.querySelector('#signin-error').textContent.length > 0"
        )
        text = await device.locator("#signin-error").inner_text()
        messages.append(text)
        await device.evaluate("document.querySelector('#signin-error').textContent = ''")
    assert messages[3].endswith("You have 1 try left. After that you will have to wait 15 minutes.")
    assert messages[4].startswith("You have tried too many times. You can try again at ")
    assert "ask an officer" in messages[4]
    await screenshot(device, "device-locked")
    for text in messages:
        assert "locked_out" not in text and "invalid_credentials" not in text
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_language_switch_is_remembered_for_the_prisoner(
    live: Live, live_world: Any, browser: Any, axe_source: str
) -> None:
    watch = PageWatch()
    prisoner = live_world.prisoners[0]
    device = await new_page(browser, watch)
    await device.goto(live.url("/healthz"))
    await device.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", prisoner.device_credential
    )
    await visit(device, live.url("/device"))
    await device.get_by_label("Your prison number").fill(prisoner.prison_number)
    await device.get_by_label("Your PIN").fill(prisoner.pin)
    await device.get_by_role("button", name="Sign in").click()
    await device.wait_for_selector("#screen-home:not([hidden])")
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    assert await device.locator("#home-heading").inner_text() == "Beth ydych chi eisiau ei wneud?"
    await check_accessibility(device, axe_source, "device home in Welsh")
    await screenshot(device, "device-home-cy")
    # A new browser (cookie gone) still shows this prisoner's choice once signed in.
    other = await new_page(browser, watch)
    await other.goto(live.url("/healthz"))
    await other.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", prisoner.device_credential
    )
    await visit(other, live.url("/device"))
    assert await other.locator("html").get_attribute("lang") == "en"
    await other.get_by_label("Your prison number").fill(prisoner.prison_number)
    await other.get_by_label("Your PIN").fill(prisoner.pin)
    await other.get_by_role("button", name="Sign in").click()
    await other.wait_for_selector("html[lang='cy'] #screen-home:not([hidden])")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_health_shows_appointments_consents_and_requests_in_plain_words(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.wait_for()
    assert (await card.locator(".card-title").inner_text()) == (
        "Tuesday 3 March at 09:05, nurse, by video"
    )

    video = device.locator("li[data-consent='telehealth']")
    await video.wait_for()
    assert "You have not said yes" in await video.inner_text()
    await video.get_by_role("button", name="Say yes").click()
    await video.get_by_text("You said yes").wait_for()
    await video.get_by_role("button", name="Change to no").click()
    await video.get_by_text("You have not said yes").wait_for()

    await device.get_by_label("What is it about?").select_option("dental")
    await device.get_by_label("What is wrong? A few words is fine.").fill("Tooth hurts")
    await device.get_by_role("button", name="Send").click()
    receipt = device.locator("#request-receipt")
    await receipt.wait_for()
    assert (await receipt.inner_text()).startswith("We got your request. Your number is ")
    await device.locator("#requests").get_by_text("Waiting to be looked at").wait_for()
    await check_accessibility(device, axe_source, "device health after a request")
    await screenshot(device, "device-health-request")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_device_works_by_keyboard_alone_with_visible_focus(
    live: Live, live_world: Any, browser: Any
) -> None:
    watch = PageWatch()
    prisoner = live_world.prisoners[0]
    device = await new_page(browser, watch)
    await device.goto(live.url("/healthz"))
    await device.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", prisoner.device_credential
    )
    await visit(device, live.url("/device"))
    outline = "() => getComputedStyle(document.activeElement).outlineStyle"
    # Each screen puts focus on its heading, so the first Tab goes into the form.
    assert await device.evaluate("() => document.activeElement.id") == "signin-heading"
    focused: list[str] = []
    for _ in range(6):
        await device.keyboard.press("Tab")
        focused.append(await device.evaluate("() => document.activeElement.id"))
        assert await device.evaluate(outline) == "solid"
        if focused[-1] == "prison-number":
            break
    assert focused[-1] == "prison-number"
    await device.keyboard.type(prisoner.prison_number)
    await device.keyboard.press("Tab")
    await device.keyboard.type(prisoner.pin)
    await device.keyboard.press("Enter")
    await device.wait_for_selector("#screen-home:not([hidden])")
    for _ in range(10):
        await device.keyboard.press("Tab")
        if await device.evaluate("() => document.activeElement.classList.contains('tile-health')"):
            break
    assert await device.evaluate(outline) == "solid"
    await device.keyboard.press("Enter")
    await device.wait_for_selector("#screen-health:not([hidden])")
    assert watch.problems == []
