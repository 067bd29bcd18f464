"""Leaving on purpose and coming back, a second screen, and a return too late.

Leave asks first, in the waiting room and in the call; after leaving, "Join again"
puts the patient back in the waiting room while the window is open, and the clinician
sees them there live and admits without reloading. A second screen for the same
consult takes over and the first says why it stopped; a device that comes back after
the consult's window closed is told so in words.
"""

from __future__ import annotations

import pytest

from core.clock import FakeClock
from tests.browser.conftest import Kiosks, LiveFactory, check_accessibility, screenshot
from tests.browser.journeys import (
    both_screens,
    clinician_signs_in,
    device_goes_to_waiting_room,
    device_signs_in,
    journey,
    media_flows,
    waiting_member,
)
from tests.turn import Turn

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_leave_asks_first_and_join_again_brings_the_patient_back_to_be_admitted(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    """Regression: Leave asked nothing and offered no way back; the clinician then had no
    Admit until the desk was reloaded."""
    j = await journey(make_live, kiosks, coturn, clock)
    device = await j.device.kiosk.open()
    clinician = await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)
    await clinician.locator(
        f"tr[data-appointment='{j.world.appointment_id}'] button[data-open]"
    ).click()
    await waiting_member(j).wait_for()

    # In the waiting room: Leave asks; "No, stay" stays.
    await device.locator("#waiting-leave").click()
    confirm = device.locator("#leave-confirm")
    await confirm.wait_for()
    question = confirm.locator("#leave-confirm-text")
    assert await question.inner_text() == "Do you want to leave the appointment?"
    await check_accessibility(device, axe_source, "device leave confirmation")
    await screenshot(device, "leave-confirm-waiting-device")
    await device.get_by_role("button", name="No, stay").click()
    await confirm.wait_for(state="hidden")
    assert await device.locator("#step-waiting").is_visible()
    await device.locator("#waiting-leave").click()
    await device.get_by_role("button", name="Yes, leave").click()
    await device.wait_for_selector("#step-left:not([hidden])")
    await clinician.locator("#waiting").get_by_text("Nobody is waiting.").wait_for()
    await both_screens(j, "left-waiting-room", axe_source)

    # Join again: the clinician, who has not reloaded, sees them arrive and admits.
    await device.get_by_role("button", name="Join again").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")
    await waiting_member(j).wait_for(timeout=10000)
    await waiting_member(j).locator("button[data-admit]").click()
    await device.wait_for_selector("#step-call:not([hidden])")
    await media_flows(j)

    # In the call: Leave asks too; after leaving, the clinician is told and may wait.
    await device.locator("#leave-call").click()
    await confirm.wait_for()
    await screenshot(device, "leave-confirm-call-device")
    await device.get_by_role("button", name="Yes, leave").click()
    await device.wait_for_selector("#step-left:not([hidden])")
    status = clinician.locator("#peer-status")
    await status.get_by_text("has left the consult").wait_for(timeout=10000)
    await both_screens(j, "left-call", axe_source)

    await device.get_by_role("button", name="Join again").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")
    await status.get_by_text("is back in the waiting room").wait_for(timeout=10000)
    await both_screens(j, "left-call-back")
    await clinician.locator("#peer-admit").click()
    await device.wait_for_selector("#step-call:not([hidden])")
    await media_flows(j)
    await both_screens(j, "left-call-admitted-again")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_second_screen_for_the_same_consult_takes_over_and_the_first_says_why(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    first = await j.device.kiosk.open()
    await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)

    second = j.watch.attach(await j.device.kiosk.context.new_page())
    await second.goto(j.device.url(f"/device#consult/{j.world.appointment_id}"))
    await second.wait_for_selector("#step-waiting:not([hidden])", timeout=15000)
    stopped = first.locator("#ended-text")
    await stopped.get_by_text(
        "This appointment was opened on another screen, so it stopped here."
    ).wait_for(timeout=10000)
    await check_accessibility(first, axe_source, "device replaced")
    await screenshot(first, "second-screen-first-device")
    await screenshot(second, "second-screen-second-device")

    # The first takes it back: now the second says why it stopped.
    await first.get_by_role("button", name="Use this screen instead").click()
    await first.wait_for_selector("#step-waiting:not([hidden])", timeout=15000)
    await (
        second.locator("#ended-text")
        .get_by_text("opened on another screen")
        .wait_for(timeout=10000)
    )
    await screenshot(second, "second-screen-taken-back-device")
    await j.clinician.page.locator(
        f"#waiting-all li[data-waiting='{j.world.appointment_id}']"
    ).wait_for(timeout=15000)
    # With no consult open, no second list contradicts that one with "Nobody is waiting".
    assert not await j.clinician.page.locator("#waiting").is_visible()
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_device_back_after_the_window_closed_is_told_the_appointment_has_ended(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock, cut_device=True)
    device = await j.device.kiosk.open()
    clinician = await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)
    await clinician.locator(
        f"tr[data-appointment='{j.world.appointment_id}'] button[data-open]"
    ).click()
    await waiting_member(j).wait_for()

    j.device.cut()
    await device.locator("#status").get_by_text("The connection dropped").wait_for(timeout=10000)
    clock.advance(minutes=41)  # past the window's close: the consult ends without them
    await clinician.wait_for_selector("#screen-outcome:not([hidden])", timeout=15000)
    j.device.restore()
    ended = device.locator("#ended-text")
    await ended.get_by_text("The appointment has ended.").wait_for(timeout=30000)
    assert await device.locator("#step-ended").is_visible()
    await both_screens(j, "back-after-window")
    assert j.watch.problems == []
