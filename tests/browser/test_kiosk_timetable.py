"""Issue 16 item 5 in a real browser, English and Welsh, axe-clean: the device's Timetable
tile opens the prisoner's week, with the regime, the activity staff allocated and the time
of a health appointment, never what it is for."""

from __future__ import annotations

from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import CLOCK, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow

WORDS = {
    "en": {
        "tile": "Timetable",
        "gym": "Gym",
        "health": "Health appointment",
        "day": "Tuesday",
        "overlap": "This overlaps another activity",
    },
    "cy": {
        "tile": "Amserlen",
        "gym": "Campfa",
        "health": "Apwyntiad iechyd",
        "day": "Dydd Mawrth",
        "overlap": "Mae hyn yn gorgyffwrdd",
    },
}


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_the_prisoner_sees_their_week_without_health_reasons(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    today = live.app[CLOCK].now().weekday()
    await live.app[SCHEDULING].add_regime_window(
        officer, world.est, label="Roll check", weekday_value=today, start="07:30", end="08:00"
    )
    for who, role in ((world.prisoner, Role.PRISONER), (world.officer, Role.OFFICER)):
        await live.app[IDENTITY].set_locale(Principal(who.account_id, role, world.est, ""), lang)
    words = WORDS[lang]
    watch = PageWatch()

    # The officer allocates the gym from the staff page.
    staff = await new_page(browser, watch)
    await visit(staff, live.url("/staff/timetable"))
    await staff.fill("#username", world.officer.username)
    await staff.fill("#password", PASSWORD)
    await staff.fill("#totp", world.officer.code(live.app))
    await staff.press("#totp", "Enter")
    await staff.wait_for_selector("#screen-timetable:not([hidden])")
    await staff.wait_for_selector("body[data-ready='true']")
    await staff.select_option("#stt-kind", "gym")
    await staff.select_option("#stt-day", str(today))
    await staff.fill("#stt-start", "16:00")
    await staff.fill("#stt-end", "17:00")
    await staff.click("#stt-form button[type=submit]")
    await staff.locator("#stt-list li[data-allocation]").wait_for()
    assert f"16:00–17:00: {words['gym']}" in await staff.locator("#stt-list").inner_text()
    await staff.fill("#stt-start", "16:30")
    await staff.fill("#stt-end", "17:30")
    await staff.click("#stt-form button[type=submit]")
    await staff.wait_for_selector("#stt-error:not([hidden])")
    assert words["overlap"] in await staff.locator("#stt-error").inner_text()
    assert await staff.locator("#stt-list li[data-allocation]").count() == 1
    await check_accessibility(staff, axe_source, f"staff timetable {lang}")
    await screenshot(staff, f"staff-timetable{'' if lang == 'en' else '-cy'}")
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name=words["tile"]).click()
    await device.wait_for_selector("#screen-timetable:not([hidden])")
    day = device.locator("#timetable-days section", has_text=words["day"])
    await day.locator("li").first.wait_for()
    text = await day.inner_text()
    assert "07:30–08:00 Roll check" in text
    assert f"16:00–17:00 {words['gym']}" in text
    assert words["health"] in text
    assert "Nurse" not in text and "wound" not in text
    await check_accessibility(device, axe_source, f"device timetable {lang}")
    await screenshot(device, f"device-timetable{'' if lang == 'en' else '-cy'}")
    assert watch.problems == []
