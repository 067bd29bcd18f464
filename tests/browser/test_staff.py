"""Officers in a real browser: appointment times without clinical detail, regime, lockdown."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_officer_sees_times_not_reasons_and_runs_the_regime(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/"))
    await check_accessibility(page, axe_source, "index")
    await page.get_by_role("link", name="Officers").click()
    await page.wait_for_selector("body[data-ready='true'] #screen-signin:not([hidden])")
    await page.get_by_label("Username").fill(world.officer.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(world.officer.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    row = page.locator(f"tr[data-appointment='{world.appointment_id}']")
    await row.wait_for()
    assert (await row.inner_text()).startswith("09:05–09:25")
    text = await page.locator("main").inner_text()
    for clinical in ("wound", "Nurse", "nurse", world.clinician.username):
        assert clinical not in text

    await page.get_by_label("What").fill("Lunch")
    await page.get_by_label("Day", exact=True).select_option("1")
    await page.get_by_label("Starts").fill("12:00")
    await page.get_by_label("Ends").fill("13:00")
    await page.get_by_role("button", name="Add window").click()
    window = page.locator("#regime-list li[data-window]")
    await window.wait_for()
    assert await window.inner_text() == "Tuesday 12:00–13:00: Lunch Remove"
    await check_accessibility(page, axe_source, "officer")
    await screenshot(page, "staff-officer")
    await window.get_by_role("button", name="Remove").click()
    await page.get_by_text("No regime windows set.").wait_for()

    await page.get_by_role("button", name="Declare lockdown").click()
    await page.get_by_role("button", name="Yes, declare the lockdown").click()
    await page.get_by_text("Lockdown declared until").wait_for()
    # The seeded consult is an in-cell video consult: it goes ahead.
    said = await page.locator("#lockdown-state").inner_text()
    assert "0 appointments that need an escort were offered new times; 1 video consults" in said
    await page.get_by_role("button", name="Lift lockdown").click()
    await page.get_by_text("No lockdown.").wait_for()
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_clinician_gets_no_officer_tools(live: Live, browser: Any) -> None:
    world = await consult_world(live.app, relay_only=True)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff"))
    await page.get_by_label("Username").fill(world.clinician.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(world.clinician.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-wrong-role:not([hidden])")
    assert await page.locator("#screen-officer").is_hidden()
    assert await page.get_by_role("button", name="Get a set-up code").count() == 0
    assert watch.problems == []
