"""A stored consult recording played in Chromium by its clinician and their manager.

The recording is made as the recorder will hand it over: each side a distinct tone and
picture (ffmpeg's lavfi, through pipes), finalised into one file and sealed into the store.
In the browser it plays (time advances, the length is right); the bytes at rest are not the
file, the file's digest is the logged one; a shredded patient's recording does not play and
says why. English and Welsh, axe-checked, with screenshots."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from media.finalise import finalise
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
from tests.media.sources import two_sides
from web.recordings_api import RECORDINGS
from web.state import AUDIT, SCHEDULING

pytestmark = pytest.mark.slow


async def _welsh(page: Any) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")


async def _plays(page: Any) -> dict[str, Any]:
    """Play the first recording until its time has moved on; its duration and time."""
    video = page.locator("video.recording-player").first
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.recording-player');"
        " return v && v.currentTime > 1.0; }"
    )
    state: dict[str, Any] = await video.evaluate(
        "v => ({duration: v.duration, time: v.currentTime, width: v.videoWidth,"
        " height: v.videoHeight, error: v.error && v.error.code})"
    )
    await video.evaluate("v => v.pause()")
    return state


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_clinician_plays_a_stored_recording_and_a_shredded_one_is_refused(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=False)
    recordings = live.app[RECORDINGS]
    rec = await finalise(
        recordings, world.appointment_id, two_sides(3.0), actor=world.clinician.account_id
    )
    # At rest: not the file; the file's digest is the one logged when it was stored.
    stored = b"".join([p async for p in recordings.stored_object(rec.id)])
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(
        page, live, f"/recordings?appointment={world.appointment_id}", world.clinician
    )
    await page.wait_for_selector("#screen-recordings:not([hidden]) video.recording-player")
    state = await _plays(page)
    assert state["error"] is None
    assert abs(state["duration"] - rec.duration_ms / 1000) < 0.3
    assert 2.7 < state["duration"] < 3.4
    assert (state["width"], state["height"]) == (1280, 360)
    file = await page.evaluate(
        """async url => {
            const r = await fetch(url, {credentials: 'same-origin'});
            const b = new Uint8Array(await r.arrayBuffer());
            const d = await crypto.subtle.digest('SHA-256', b);
            return {hex: [...new Uint8Array(d)].map(x => x.toString(16).padStart(2, '0')).join(''),
                    head: [...b.slice(0, 4096)]};
        }""",
        f"/api/recordings/{rec.id}/media",
    )
    assert file["hex"] == rec.sha256 == await page.locator("code.digest").inner_text()
    assert bytes(file["head"]) not in stored
    assert hashlib.sha256(stored).hexdigest() == rec.stored_sha256 != rec.sha256
    await check_accessibility(page, axe_source, "recordings: the clinician's player")
    await screenshot(page, "recordings-clinician-en")

    # Welsh, then the manager puts it on legal hold.
    await _welsh(page)
    await page.wait_for_selector("video.recording-player")
    await check_accessibility(page, axe_source, "recordings: the player in Welsh")
    await screenshot(page, "recordings-clinician-cy")

    manager = await new_page(browser, watch)
    await sign_in_staff_page(
        manager, live, f"/recordings?appointment={world.appointment_id}", world.manager
    )
    await manager.wait_for_selector("video.recording-player")
    await manager.get_by_label("Reason for a legal hold").select_option("inquest")
    await manager.get_by_role("button", name="Put on legal hold").click()
    await manager.get_by_text("On legal hold: kept until the hold is lifted").wait_for()
    await check_accessibility(manager, axe_source, "recordings: the manager's hold")
    await screenshot(manager, "recordings-manager-hold-en")
    # Reload: the hold is the server's, not the page's.
    await manager.reload()
    await manager.get_by_role("button", name="Lift the legal hold").wait_for()

    # The patient is shredded: the recording no longer plays, and the page says why.
    await live.app[AUDIT].shred(world.prisoner.account_id, "admin-test")
    await page.reload()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    refusal = page.get_by_text("Ni ellir chwarae'r recordiad hwn mwyach")
    await refusal.wait_for()
    assert await page.locator("video.recording-player").first.is_hidden()
    await check_accessibility(page, axe_source, "recordings: a shredded patient's, Welsh")
    await screenshot(page, "recordings-shredded-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_prisoner_says_yes_to_recording_one_appointment_and_withdraws_it(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    scheduling = live.app[SCHEDULING]
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    block = device.locator(f"[data-recording-for='{world.appointment_id}']")
    await block.get_by_text("It will not be recorded unless you say yes.").wait_for()
    # Recording is asked on the appointment, no longer among the prisoner's consents.
    assert await device.locator("li[data-consent='recording']").count() == 0
    await block.get_by_role("button", name="Yes, it can be recorded").click()
    await block.get_by_text("You said yes").wait_for()
    assert await scheduling.recording_allowed(world.appointment_id)
    await check_accessibility(device, axe_source, "device: recording consent given")
    await screenshot(device, "recordings-device-consent-en")
    # A reload shows the server's answer, in Welsh too; withdrawing stops it at once.
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    if not await device.locator("#screen-health").is_visible():
        await device.get_by_role("link", name="Iechyd").click()
    block = device.locator(f"[data-recording-for='{world.appointment_id}']")
    await block.get_by_text("Rydych wedi dweud ie").wait_for()
    await check_accessibility(device, axe_source, "device: recording consent, Welsh")
    await screenshot(device, "recordings-device-consent-cy")
    await block.get_by_role("button", name="Stopio: peidiwch â'i recordio").click()
    await block.get_by_text("Ni chaiff ei recordio oni bai").wait_for()
    assert not await scheduling.recording_allowed(world.appointment_id)
    assert watch.problems == []
