"""What the device says when a consult cannot go ahead: always in words, never a code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.clock import FakeClock
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from tests.browser.seed import consult_world

pytestmark = pytest.mark.slow

REFUSE_CAMERA = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) =>
    constraints && constraints.video
      ? Promise.reject(new DOMException("Permission denied", "NotAllowedError"))
      : real(constraints);
})();
"""


async def reach_waiting_room(device: Any, appointment_id: str, live: Live) -> None:
    await device.goto(live.url(f"/device#consult/{appointment_id}"))
    await device.get_by_role("button", name="Yes, I agree").click()
    await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    await device.get_by_role("button", name="Go to the waiting room").click()


async def assert_no_codes(page: Any) -> None:
    text = await page.locator("main").inner_text()
    for code in ("join_refused", "too_early", "too_late", "token_expired", "Traceback", "{"):
        assert code not in text


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_joining_too_early_is_explained(live: Live, browser: Any) -> None:
    world = await consult_world(live.app, relay_only=False, starts_in=timedelta(hours=2))
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await reach_waiting_room(device, world.appointment_id, live)
    await device.wait_for_selector("#step-ended:not([hidden])")
    assert await device.locator("#ended-text").inner_text() == (
        "It is too early to join. You can join 10 minutes before the appointment."
    )
    await assert_no_codes(device)
    await screenshot(device, "device-too-early")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_joining_too_late_is_explained(live: Live, browser: Any, clock: FakeClock) -> None:
    world = await consult_world(live.app, relay_only=False)
    clock.advance(minutes=45)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await reach_waiting_room(device, world.appointment_id, live)
    await device.wait_for_selector("#step-ended:not([hidden])")
    assert await device.locator("#ended-text").inner_text() == (
        "It is too late to join this appointment. Staff will book you a new one."
    )
    await assert_no_codes(device)
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_clinician_not_arriving_says_what_happens_next(
    live: Live, browser: Any, clock: FakeClock, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=False)
    clock.advance(minutes=16)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await reach_waiting_room(device, world.appointment_id, live)
    await device.wait_for_selector("#step-waiting:not([hidden])")
    no_show = device.locator("#waiting-no-show")
    await no_show.wait_for()
    assert "they will book you a new appointment" in await no_show.inner_text()
    await check_accessibility(device, axe_source, "device clinician late")
    await screenshot(device, "device-no-show")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_refused_camera_offers_sound_only(live: Live, browser: Any, axe_source: str) -> None:
    world = await consult_world(live.app, relay_only=False)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await device.add_init_script(REFUSE_CAMERA)
    await sign_in_device(device, live, world)
    await device.goto(live.url(f"/device#consult/{world.appointment_id}"))
    await device.get_by_role("button", name="Yes, I agree").click()
    advice = device.locator("#check-advice")
    await advice.wait_for()
    assert await advice.inner_text() == (
        "We cannot use the camera. You can join with sound only, or tell an officer."
    )
    assert await device.locator("#check-camera").inner_text() == "Not working"
    assert await device.locator("#check-mic").inner_text() == "Working"
    await check_accessibility(device, axe_source, "device camera refused")
    await screenshot(device, "device-camera-refused")
    await device.get_by_role("button", name="Join with sound only").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_an_expired_session_asks_to_sign_in_again(
    live: Live, browser: Any, clock: FakeClock
) -> None:
    world = await consult_world(live.app, relay_only=False)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    clock.advance(hours=13)
    await device.get_by_role("link", name="Health").click()
    await device.wait_for_selector("#screen-signin:not([hidden])")
    message = await device.locator("#signin-error").inner_text()
    assert message in (
        "You were signed out because the time ran out. Please sign in again.",
        "You were signed out. Please sign in again.",
    )
    await assert_no_codes(device)
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_short_break_renews_the_session_silently(
    live: Live, browser: Any, clock: FakeClock
) -> None:
    world = await consult_world(live.app, relay_only=False)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    clock.advance(minutes=20)
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.wait_for()
    assert await device.locator("#screen-signin").is_hidden()
    assert watch.problems == []
