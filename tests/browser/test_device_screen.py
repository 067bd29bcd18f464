"""The device's call screen at its own size, 1024x768, and dates in Welsh on both faces.

The remote video, the self-view, Mute and Leave are all on the screen without scrolling,
in English and in Welsh, and with a message about the health worker above the video.
Dates and times come from the app's own strings: Chromium has no Welsh data for `Intl`,
whose fallback wrote "Monday, November 30 at 03:45 AM" on a Welsh page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.clock import FakeClock
from core.identity import Principal, Role
from tests.browser.conftest import Kiosks, LiveFactory
from tests.browser.journeys import (
    DEVICE_SCREEN,
    both_screens,
    in_a_call,
    journey,
    visit,
)
from tests.turn import Turn
from web.state import IDENTITY

pytestmark = pytest.mark.slow

CALL_PARTS = ("remote-video", "self-video", "toggle-mute", "leave-call")


async def all_on_screen(page: Any, ids: tuple[str, ...] = CALL_PARTS) -> None:
    assert await page.evaluate("() => window.scrollY") == 0
    for part in ids:
        box = await page.locator(f"#{part}").bounding_box()
        assert box is not None, part
        assert box["width"] > 0 and box["height"] > 0, (part, box)
        assert box["x"] >= 0 and box["y"] >= 0, (part, box)
        assert box["x"] + box["width"] <= DEVICE_SCREEN["width"], (part, box)
        assert box["y"] + box["height"] <= DEVICE_SCREEN["height"], (part, box)
    remote = await page.locator("#remote-video").bounding_box()
    assert remote is not None and remote["height"] >= 250, remote


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_device_call_screen_fits_1024_by_768_in_both_languages(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    """Regression: at 1024x768 Mute and Leave were below the fold."""
    j = await journey(make_live, kiosks, coturn, clock)
    await in_a_call(j)
    device = j.device.page
    await all_on_screen(device)

    # With the longest message and its buttons above the video.
    await j.clinician.kiosk.close()
    await device.locator("#call-peer").get_by_text("has lost connection").wait_for(timeout=5000)
    clock.advance(seconds=31)
    await device.locator("#peer-wait").wait_for(timeout=10000)
    await all_on_screen(device, (*CALL_PARTS, "peer-wait", "peer-leave"))
    await both_screens(j, "device-screen-1024-left")

    # In Welsh (the page reloads in the new language and goes back to the call).
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy']")
    await device.wait_for_selector("#step-call:not([hidden])", timeout=15000)
    peer = device.locator("#call-peer")
    await peer.get_by_text("wedi gadael yr apwyntiad").wait_for(timeout=10000)
    await all_on_screen(device, (*CALL_PARTS, "peer-wait", "peer-leave"))
    await both_screens(j, "device-screen-1024-cy")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_welsh_dates_and_times_come_from_the_apps_own_words(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    for account_id, role in (
        (j.world.prisoner.account_id, Role.PRISONER),
        (j.world.clinician.account_id, Role.CLINICIAN),
    ):
        who = Principal(
            account_id=account_id, role=role, establishment_id=j.world.est, session_id=""
        )
        await j.live.app[IDENTITY].set_locale(who, "cy")
    await in_a_call(j)
    starts = datetime.fromisoformat(
        await j.device.page.evaluate(
            "id => fetch('/api/appointments/' + id).then(r => r.json()).then(a => a.starts_at)",
            j.world.appointment_id,
        )
    ).astimezone(ZoneInfo(j.live.settings.default_timezone))
    days = [
        "Dydd Llun",
        "Dydd Mawrth",
        "Dydd Mercher",
        "Dydd Iau",
        "Dydd Gwener",
        "Dydd Sadwrn",
        "Dydd Sul",
    ]
    months = [
        "Ionawr",
        "Chwefror",
        "Mawrth",
        "Ebrill",
        "Mai",
        "Mehefin",
        "Gorffennaf",
        "Awst",
        "Medi",
        "Hydref",
        "Tachwedd",
        "Rhagfyr",
    ]
    welsh = f"{days[starts.weekday()]} {starts.day} {months[starts.month - 1]} am {starts:%H:%M}"

    # On the device: its Health page lists the appointment with its Welsh date.
    device = j.device.page
    await visit(device, j.device.url("/device#health"))
    card = device.locator(f"li[data-appointment='{j.world.appointment_id}']")
    await card.wait_for()
    assert welsh in await card.inner_text()
    # On the desk: today's date heads the list, in Welsh.
    clinician = j.clinician.page
    await visit(clinician, j.clinician.url("/clinician"))
    today = datetime.now(UTC).astimezone(ZoneInfo(j.live.settings.default_timezone))
    heading = f"{days[today.weekday()]} {today.day} {months[today.month - 1]} {today.year}"
    assert await clinician.locator("#list-date").inner_text() == heading
    await both_screens(j, "welsh-dates")
    for page in (device, clinician):
        text = await page.locator("main").inner_text()
        assert " AM" not in text and " PM" not in text
        for english in ("Monday", "Tuesday", "November", "December", "March"):
            assert english not in text, english
    assert j.watch.problems == []
