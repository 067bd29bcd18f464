"""The patient's device reloads, restarts or drops, in the waiting room and in the call.

Within the reclaim window it is back where it was, without a new check, and the media
flows again; past it, it is back in the waiting room and the clinician is told and can
admit again. The clinician is told within seconds that the patient has gone, and past
the window that the patient has left.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.clock import FakeClock
from tests.browser.conftest import Kiosks, LiveFactory
from tests.browser.journeys import (
    both_screens,
    clinician_signs_in,
    device_goes_to_waiting_room,
    device_signs_in,
    in_a_call,
    journey,
    media_flows,
    visit,
    waiting_member,
)
from tests.turn import Turn

pytestmark = pytest.mark.slow


async def not_checked_again(page: Any) -> None:
    """The consent and check steps never ran on this page load."""
    assert await page.locator("#check-camera").inner_text() == "Checking…"
    assert await page.locator("#step-consent").is_hidden()
    assert await page.locator("#step-check").is_hidden()


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_patient_page_that_reloads_is_back_where_it_was_without_a_new_check(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    """Regression: a reloaded device page was answered `room` (`in_call`, you `present`),
    ignored it, and sat on "Check your camera and sound" while the clinician saw nobody."""
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

    # Reloaded in the waiting room: back in it, no check, and still waiting to be admitted.
    await device.reload()
    await device.wait_for_selector("#step-waiting:not([hidden])")
    await device.locator("#waiting-position").get_by_text("number 1 in the queue").wait_for()
    await not_checked_again(device)
    await waiting_member(j).wait_for()
    await both_screens(j, "patient-reload-waiting", axe_source)

    await waiting_member(j).locator("button[data-admit]").click()
    await device.wait_for_selector("#step-call:not([hidden])")
    await media_flows(j)

    # Reloaded in the call: back in the call, no check, the media flowing again.
    reloaded = time.monotonic()
    await device.reload()
    await device.wait_for_selector("#step-call:not([hidden])", timeout=15000)
    await not_checked_again(device)
    await media_flows(j)
    print(f"media again {time.monotonic() - reloaded:.1f} s after the reload")
    assert await clinician.locator("#peer-status").is_hidden()
    await both_screens(j, "patient-reload-call", axe_source)
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_patient_device_restarted_past_the_reclaim_window_waits_to_be_admitted_again(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    await in_a_call(j)
    clinician = j.clinician.page

    # The kiosk goes off: the clinician is told within seconds.
    await j.device.kiosk.close()
    status = clinician.locator("#peer-status")
    await status.get_by_text("has lost connection. Please wait.").wait_for(timeout=5000)
    await both_screens(j, "patient-restart-lost")

    # Past the reclaim window: "has left", with a choice to wait or to end.
    clock.advance(seconds=31)
    await status.get_by_text("has left the consult").wait_for(timeout=10000)
    assert await clinician.locator("#peer-keep-waiting").is_visible()
    assert await clinician.locator("#peer-end").is_visible()
    await both_screens(j, "patient-restart-left", axe_source)
    await clinician.locator("#peer-keep-waiting").click()
    await status.get_by_text("Waiting for").wait_for()

    # The kiosk starts again at its home page, and goes back to the consult by itself:
    # the waiting room, with no new check; the clinician is alerted and admits.
    device = await j.device.kiosk.open()
    await visit(device, j.device.url("/device"))
    await device.wait_for_selector("#step-waiting:not([hidden])", timeout=15000)
    await not_checked_again(device)
    await status.get_by_text("is back in the waiting room").wait_for(timeout=10000)
    await clinician.locator("#arrival-alert").get_by_text("has arrived").wait_for()
    await both_screens(j, "patient-restart-back", axe_source)
    await clinician.locator("#peer-admit").click()
    await device.wait_for_selector("#step-call:not([hidden])")
    await media_flows(j)
    await both_screens(j, "patient-restart-call-again")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_patient_device_restarted_within_the_window_is_back_in_the_call(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    await in_a_call(j)
    await j.device.kiosk.close()
    await (
        j.clinician.page.locator("#peer-status")
        .get_by_text("has lost connection")
        .wait_for(timeout=5000)
    )
    device = await j.device.kiosk.open()
    await visit(device, j.device.url("/device"))
    await device.wait_for_selector("#step-call:not([hidden])", timeout=15000)
    await not_checked_again(device)
    await media_flows(j)
    await both_screens(j, "patient-restart-within-window")
    assert j.watch.problems == []
