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
)
from tests.browser.seed import consult_world
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.kiosk.timetable import TIMETABLE
from web.state import CLOCK, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow

WORDS = {
    "en": {"tile": "Timetable", "gym": "Gym", "health": "Health appointment", "day": "Tuesday"},
    "cy": {"tile": "Amserlen", "gym": "Campfa", "health": "Apwyntiad iechyd", "day": "Dydd Mawrth"},
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
    await live.app[TIMETABLE].allocate(
        officer,
        world.prisoner.account_id,
        kind="gym",
        weekday_value=today,
        start="16:00",
        end="17:00",
    )
    await live.app[IDENTITY].set_locale(
        Principal(world.prisoner.account_id, Role.PRISONER, world.est, ""), lang
    )
    words = WORDS[lang]
    watch = PageWatch()
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
