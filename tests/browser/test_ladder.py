"""The fallback ladder in two browsers, one encounter: video fails, both sides are offered and
then moved to sound only, the sound fails too, the clinician chooses a call-back, and the staff
of the device's wing get the task. A consult that requires video goes straight to that choice.

The device is relay-only through coturn, reached through a relay the test controls
(tests/browser/netcut.py); cutting only that media link (signalling stays up) is what a
failing link looks like to both pages: each page's own `getStats` shows nothing coming in.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.review import ReviewQuery, search
from core.clock import FakeClock
from core.events import Action
from core.identity import Principal, Role
from scheduling.tables import appointments
from tests.browser.conftest import Kiosks, LiveFactory, check_accessibility, screenshot
from tests.browser.journeys import (
    Journey,
    both_screens,
    clinician_opens_and_admits,
    clinician_signs_in,
    device_goes_to_waiting_room,
    device_signs_in,
    in_a_call,
    journey,
    media_flows,
    media_stopped,
    visit,
)
from tests.turn import Turn
from tests.world import PASSWORD
from web.state import AUDIT, DATABASE, SCHEDULING

pytestmark = pytest.mark.slow

# Each step of the ladder waits 10 s of failure (and the offer 10 s more); ICE may fail too.
STEP_MS = 60000


async def mode_changes(j: Journey) -> list[dict[str, Any]]:
    manager = Principal(j.world.manager.account_id, Role.MANAGER, j.world.est, "test")
    events = await search(
        j.live.app[AUDIT],
        manager,
        ReviewQuery(action=Action.CALL_MODE_CHANGED, appointment=j.world.appointment_id),
    )
    return [e["details"] for e in sorted(events, key=lambda e: e["seq"])]


async def appointment_count(j: Journey) -> int:
    async with j.live.app[DATABASE].connect() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(appointments)
            .where(appointments.c.prisoner_id == j.world.prisoner.account_id)
        )
    return int(found or 0)


async def officer_sees_the_call_back(j: Journey, kiosks: Kiosks, axe_source: str, name: str) -> Any:
    kiosk = kiosks("officer", j.watch)
    page = await kiosk.open()
    await visit(page, j.live.url("/staff"))
    await page.get_by_label("Username").fill(j.world.officer.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(j.world.officer.code(j.live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-officer:not([hidden])")
    task = page.locator("#call-backs li[data-call-back]")
    await task.wait_for()
    text = await task.inner_text()
    cell = await task.get_attribute("data-cell")
    assert cell and f"cell {cell}" in text
    assert j.world.prisoner.prison_number in text
    assert "wound" not in text.lower()  # where and when, never why
    await check_accessibility(page, axe_source, f"{name} staff")
    await screenshot(page, f"{name}-staff")
    return page


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_video_then_sound_fail_and_the_clinician_calls_back_in_one_appointment(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    j = await journey(make_live, kiosks, coturn, clock, cut_device=True)
    await in_a_call(j)
    device, clinician = j.device.page, j.clinician.page
    booked = await appointment_count(j)
    assert j.device.turn_link is not None

    # The media path fails; the signalling does not.
    j.device.turn_link.cut()
    await media_stopped(device)
    await media_stopped(clinician)

    # Both sides are offered sound only, then moved to it.
    await device.locator("#mode-offer").wait_for(timeout=STEP_MS)
    await clinician.locator("#mode-offer").wait_for(timeout=STEP_MS)
    assert "Switching to sound only" in await device.locator("#mode-offer-text").inner_text()
    await both_screens(j, "ladder-offer", axe_source)
    await clinician.locator("#mode-status").get_by_text("Sound only").wait_for(timeout=STEP_MS)
    await device.locator("#call-mode").get_by_text("Sound only").wait_for(timeout=STEP_MS)
    await device.locator("#remote-video").wait_for(state="hidden")
    await clinician.locator("#remote-video").wait_for(state="hidden")
    # The pages stopped sending video.
    sending = await device.evaluate(
        """() => window.tcPeers.filter((pc) => pc.connectionState !== "closed")
              .flatMap((pc) => pc.getSenders()).some((s) => s.track && s.track.kind === "video")"""
    )
    assert sending is False
    await both_screens(j, "ladder-sound-only", axe_source)

    # The sound fails too: the clinician is offered a call-back, and takes it.
    choice = clinician.locator("#call-back-choice")
    await choice.wait_for(timeout=STEP_MS)
    assert "sound is not getting through either" in await choice.inner_text()
    await both_screens(j, "ladder-call-back-choice", axe_source)
    await clinician.get_by_role("button", name="Call back by phone").click()
    await device.locator("#step-call-back").wait_for()
    assert (
        "an officer will take you to a phone"
        in await device.locator("#step-call-back").inner_text()
    )
    await clinician.locator("#mode-status").get_by_text("Call-back requested").wait_for()
    await both_screens(j, "ladder-call-back", axe_source)

    # Every change of mode is in the log with its cause; it is still one appointment.
    changes = await mode_changes(j)
    assert [(c["previous"], c["mode"]) for c in changes] == [
        ("video", "audio"),
        ("audio", "call_back"),
    ]
    assert all(c["cause"] in {"low_bitrate", "high_loss", "ice_failed"} for c in changes)
    assert await appointment_count(j) == booked
    view = await j.live.app[SCHEDULING].appointment_view(j.world.appointment_id)
    assert view is not None and view.status == "in_progress"

    staff = await officer_sees_the_call_back(j, kiosks, axe_source, "ladder")
    await staff.locator("#call-backs button[data-done]").click()
    await staff.get_by_text("No call-backs waiting.").wait_for()

    # The clinician records the outcome of that same appointment.
    await clinician.get_by_role("button", name="Record outcome").click()
    await clinician.wait_for_selector("#screen-outcome:not([hidden])")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_consult_that_requires_video_goes_straight_to_the_call_back_choice(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    j = await journey(make_live, kiosks, coturn, clock, cut_device=True)
    await j.device.kiosk.open()
    await j.clinician.kiosk.open()
    clinician = await clinician_signs_in(j)
    # The clinician marks it in the list, where the appointment is.
    box = clinician.locator(f"#video-required-{j.world.appointment_id}")
    await box.check()
    for _ in range(50):
        view = await j.live.app[SCHEDULING].appointment_view(j.world.appointment_id)
        if view is not None and view.video_required:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the box did not mark the appointment as needing video")
    device = await device_signs_in(j)
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy']")
    await device_goes_to_waiting_room(j)
    await clinician_opens_and_admits(j)
    await media_flows(j)
    await clinician.locator("#video-required-note").wait_for()
    assert await clinician.locator("#toggle-audio-only").is_hidden()
    assert await device.locator("#toggle-audio-only").is_hidden()

    assert j.device.turn_link is not None
    j.device.turn_link.cut()
    choice = clinician.locator("#call-back-choice")
    await choice.wait_for(timeout=STEP_MS)
    assert "This consult needs video" in await choice.inner_text()
    # No sound-only step was offered to anyone.
    assert await device.locator("#mode-offer").is_hidden()
    assert await clinician.locator("#mode-offer").is_hidden()
    await both_screens(j, "ladder-video-required-choice", axe_source)
    await clinician.get_by_role("button", name="Call back by phone").click()
    await device.locator("#step-call-back").wait_for()
    # In Welsh on the device, from the app's own strings.
    assert (
        "Bydd eich gweithiwr iechyd yn eich ffonio"
        in await device.locator("#step-call-back").inner_text()
    )
    await both_screens(j, "ladder-video-required-call-back", axe_source)
    changes = await mode_changes(j)
    assert [(c["previous"], c["mode"]) for c in changes] == [("video", "call_back")]
    assert changes[0]["video_required"] is True
    await officer_sees_the_call_back(j, kiosks, axe_source, "ladder-video-required")
    assert j.watch.problems == []
