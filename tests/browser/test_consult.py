"""A whole consult in two browser contexts: the device and the clinician."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.clock import FakeClock
from core.events import Action, AuditRecord
from media.participant import Participant
from media.turn import IceServers
from tests.browser.conftest import (
    Live,
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_clinician,
    sign_in_device,
    visit,
)
from tests.browser.seed import ConsultWorld, consult_world, seed_history
from tests.turn import Turn
from tests.world import PASSWORD
from web.state import AUDIT
from web.ws import ICE_SERVERS

pytestmark = pytest.mark.slow

MEDIA_FLOWING = """() => {
  const q = window.tcLastQuality;
  return q && q.frames_decoded > 0 && q.audio_packets > 0;
}"""


async def run_consult(
    live: Live,
    world: ConsultWorld,
    browser: Any,
    axe_source: str | None,
    prefix: str,
    prepare_device: Callable[[Any], Awaitable[None]] | None = None,
) -> tuple[Any, Any]:
    watch = PageWatch()
    clinician = await new_page(browser, watch)
    await sign_in_clinician(clinician, live, world)
    row = clinician.locator(f"tr[data-appointment='{world.appointment_id}']")
    await row.wait_for()
    listed = await row.inner_text()
    assert "Booked" in listed and world.prisoner.prison_number in listed
    if axe_source:
        await check_accessibility(clinician, axe_source, "clinician list")
        await screenshot(clinician, f"{prefix}clinician-list")
    await row.get_by_role("button", name="Open").click()

    device = await new_page(browser, watch)
    if prepare_device is not None:
        await prepare_device(device)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.wait_for()
    assert "nurse, by video" in await card.inner_text()
    if axe_source:
        await check_accessibility(device, axe_source, "device health")
        await screenshot(device, f"{prefix}device-health")
    await card.get_by_role("link", name="Join").click()

    await device.wait_for_selector("#step-consent:not([hidden])")
    if axe_source:
        await check_accessibility(device, axe_source, "device consent")
    await device.get_by_role("button", name="Yes, I agree").click()
    join = device.get_by_role("button", name="Go to the waiting room")
    await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    assert await device.locator("#check-camera").inner_text() == "Working"
    assert await device.locator("#check-mic").inner_text() == "Working"
    assert await device.locator("#check-connection").inner_text() == "Working"
    if axe_source:
        await check_accessibility(device, axe_source, "device check")
        await screenshot(device, f"{prefix}device-check")
    await join.click()
    await device.wait_for_selector("#step-waiting:not([hidden])")
    assert "number 1 in the queue" in await device.locator("#waiting-position").inner_text()

    alert = clinician.locator("#arrival-alert")
    await alert.wait_for()
    assert await alert.inner_text() == (
        f"{world.prisoner_name} ({world.prisoner.prison_number}) has arrived in the waiting room."
    )
    waiting = clinician.locator(f"li[data-participant='{world.prisoner.account_id}']")
    assert "camera and microphone working" in await waiting.inner_text()
    if axe_source:
        await check_accessibility(clinician, axe_source, "clinician waiting room")
        await screenshot(clinician, f"{prefix}clinician-waiting")
    await waiting.get_by_label("Message").fill("Running five minutes late")
    await waiting.get_by_role("button", name="Send message").click()
    await device.get_by_text("Running five minutes late").wait_for()
    if axe_source:
        await check_accessibility(device, axe_source, "device waiting room")
        await screenshot(device, f"{prefix}device-waiting")
    await waiting.get_by_role("button", name="Admit").click()

    await device.wait_for_selector("#step-call:not([hidden])")
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    try:
        await clinician.wait_for_function(MEDIA_FLOWING, timeout=30000)
        await device.wait_for_function(MEDIA_FLOWING, timeout=30000)
    except Exception:
        q = [await p.evaluate("() => window.tcLastQuality") for p in (clinician, device)]
        raise AssertionError(
            f"no media: clinician {q[0]}, device {q[1]}, {watch.problems}"
        ) from None
    if axe_source:
        await check_accessibility(device, axe_source, "device call")
        await check_accessibility(clinician, axe_source, "clinician call")
    await screenshot(device, f"{prefix}device-call")
    await screenshot(clinician, f"{prefix}clinician-call")
    assert watch.problems == []
    return clinician, device


async def end_and_record(
    clinician: Any, device: Any, axe_source: str | None, follow_up: str | None = None
) -> str | None:
    """Ends the call and records it as seen; with `follow_up` (a date), books the first time
    the slot search offers from that date, and returns its times as the list shows them."""
    await clinician.get_by_role("button", name="End call").click()
    await clinician.wait_for_selector("#screen-outcome:not([hidden])")
    await device.wait_for_selector("#step-ended:not([hidden])")
    assert (
        await device.locator("#ended-text").inner_text() == "The appointment has ended. Thank you."
    )
    if axe_source:
        await check_accessibility(clinician, axe_source, "clinician outcome")
        await screenshot(clinician, "clinician-outcome")
    await clinician.get_by_label("Seen").check()
    chosen = None
    if follow_up is not None:
        await clinician.get_by_label("Follow-up needed").check()
        await clinician.get_by_label("Look for times from").fill(follow_up)
        await clinician.get_by_role("button", name="Find times").click()
        slot = clinician.locator("#follow-up-slots input[type='radio']").first
        await slot.wait_for()
        label = await clinician.locator("#follow-up-slots label").first.inner_text()
        chosen = label.rsplit(" ", 1)[1]
        await slot.check()
    await clinician.get_by_role("button", name="Record outcome").click()
    await clinician.locator("#outcome-done").wait_for()
    return chosen


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_full_consult_between_two_browsers(live: Live, browser: Any, axe_source: str) -> None:
    world = await consult_world(live.app, relay_only=False)
    clinician, device = await run_consult(live, world, browser, axe_source, "")
    await clinician.locator("#quality").get_by_text("Good").wait_for()
    # The patient's own report has reached the clinician (and so the audit log the manager's
    # quality chart reads): a consult ended before the first report would leave it empty.
    await clinician.wait_for_function(
        "() => { const n = document.getElementById('quality-to');"
        " return n && /\\d/.test(n.textContent); }"
    )

    mute = device.locator("#toggle-mute")
    await mute.click()
    assert await mute.get_attribute("aria-pressed") == "true"
    assert await mute.inner_text() == "Unmute"
    audio_only = device.locator("#toggle-audio-only")
    await audio_only.click()
    await device.locator("#remote-video").wait_for(state="hidden")
    assert await audio_only.inner_text() == "Video back on"
    await audio_only.click()
    await mute.click()
    await device.locator("#remote-video").wait_for(state="visible")
    assert await mute.get_attribute("aria-pressed") == "false"

    follow_up = await end_and_record(clinician, device, axe_source, follow_up="2026-03-03")
    row = clinician.locator(f"tr[data-appointment='{world.appointment_id}']")
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    assert "Done" in await row.inner_text()
    rows = await clinician.locator("#today tr[data-appointment]").all_inner_texts()
    assert follow_up is not None
    assert any(r.startswith(follow_up) and "Booked" in r for r in rows)
    await seed_history(live.app, world)
    await manager_reviews_the_consult(live, world, browser, axe_source)


async def manager_reviews_the_consult(
    live: Live, world: ConsultWorld, browser: Any, axe_source: str
) -> None:
    watch = PageWatch()
    manager = await new_page(browser, watch, accept_downloads=True)
    await visit(manager, live.url("/manager"))
    await manager.get_by_label("Username").fill(world.manager.username)
    await manager.get_by_label("Password").fill(PASSWORD)
    await manager.get_by_label("6-digit code").fill(world.manager.code(live.app))
    await manager.get_by_role("button", name="Sign in").click()
    await manager.wait_for_selector("#volumes-chart[data-drawn='7']")
    await manager.wait_for_selector("#quality-chart[data-drawn='4']")
    volumes = await manager.locator("#volumes-text").inner_text()
    assert volumes == (
        "Booked: 5; Completed: 1; Cancelled: 1; "
        "Did not attend: prison-caused: 1; Did not attend: patient-caused: 1; "
        "Did not attend: clinician-caused: 0; Not recorded: 0"
    )
    cancelled = await manager.locator("#cancelled-text").inner_text()
    assert cancelled == "Prison: 0; Patient: 0; Clinician: 1; No cause given: 0"
    # The consult's own call summary, written when the call ended: its wait and its link.
    assert "minutes" in await manager.locator("#median-wait").inner_text()
    assert (await manager.locator("#calls").inner_text()).startswith("1 answered")
    assert await manager.locator("#call-rows tr[data-appointment]").count() == 1

    await manager.get_by_label("Person, prison number or appointment").fill(world.appointment_id)
    await manager.get_by_label("Action").select_option("admitted")
    await manager.get_by_role("button", name="Find").click()
    found = manager.locator("#audit-rows tr[data-seq]")
    await found.first.wait_for()
    rows = await found.all_inner_texts()
    assert rows and all(world.appointment_id in row for row in rows)
    assert any("waited_s" in row for row in rows)

    await manager.get_by_role("button", name="Verify now").click()
    await manager.get_by_text("The log is intact").wait_for()
    # A busy period holds more events than one page of the review API (500): the CSV
    # must still carry every one of them, oldest included.
    log = live.app[AUDIT]
    for n in range(600):
        await log.append(
            AuditRecord(
                action=Action.MESSAGE_SENT,
                actor=world.clinician.account_id,
                establishment=world.est,
                details={"marker": f"bulk-{n:03d}"},
            )
        )
    async with manager.expect_download() as csv_download:
        await manager.get_by_role("button", name="Download CSV").click()
    csv_path = await (await csv_download.value).path()
    csv_text = await asyncio.to_thread(Path(csv_path).read_text, "utf-8")
    assert csv_text.startswith("seq,at,") and world.appointment_id in csv_text
    markers = {f"bulk-{n:03d}" for n in range(600)}
    assert {m for m in markers if m in csv_text} == markers
    async with manager.expect_download() as bundle_download:
        await manager.get_by_role("button", name="Download verifiable bundle").click()
    assert (await bundle_download.value).suggested_filename == "audit-bundle.json"
    await check_accessibility(manager, axe_source, "manager dashboard")
    await screenshot(manager, "manager-dashboard")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_device_relays_through_coturn_with_credentials_for_this_appointment(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock
) -> None:

    # coturn checks a credential's expiry against the real time, so the service must agree.
    clock.set(datetime.now(UTC))

    def with_turn(app: Any) -> None:
        app[ICE_SERVERS] = IceServers([coturn.url], coturn.secret)

    live = await make_live(with_turn)
    world = await consult_world(live.app, relay_only=True)
    clinician, device = await run_consult(live, world, browser, None, "relay-")
    used = await device.evaluate("() => window.tcLastQuality.candidate_type")
    assert used == "relay"
    # The device's relay allocation was made with a username naming this appointment.
    log = await asyncio.to_thread(coturn.log.read_text, "utf-8", "replace")
    allocations = [line for line in log.splitlines() if "ALLOCATE processed, success" in line]
    assert any(f":{world.appointment_id}:{world.prisoner.account_id}>" in a for a in allocations)
    await end_and_record(clinician, device, None)


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_browser_device_calls_a_python_aiortc_clinician(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock
) -> None:
    """The two WebRTC stacks interoperate: Chromium answers aiortc's offer, media both ways.

    Both sides relay through coturn on loopback, so no media leaves 127.0.0.1.
    """

    clock.set(datetime.now(UTC))

    def with_turn(app: Any) -> None:
        app[ICE_SERVERS] = IceServers([coturn.url], coturn.secret)

    live = await make_live(with_turn)
    world = await consult_world(live.app, relay_only=True)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            live.url("/api/auth/staff"),
            json={
                "username": world.clinician.username,
                "password": PASSWORD,
                "totp": world.clinician.code(live.app),
            },
        )
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["access_token"]
    clinician = Participant(
        urls=[live.url("/ws")], token=token, name="aiortc-clinician", relay_only=True
    )
    try:
        await clinician.connect()
        await clinician.join(world.appointment_id)

        watch = PageWatch()
        device = await new_page(browser, watch)
        await sign_in_device(device, live, world)
        await device.goto(live.url(f"/device#consult/{world.appointment_id}"))
        await device.get_by_role("button", name="Yes, I agree").click()
        await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
        await device.get_by_role("button", name="Go to the waiting room").click()
        await device.wait_for_selector("#step-waiting:not([hidden])")

        arrived = await clinician.expect("arrived")
        assert arrived["participant"] == world.prisoner.account_id
        await clinician.admit(world.prisoner.account_id)
        await clinician.expect("joined")
        await clinician.call(world.prisoner.account_id)
        await device.wait_for_selector("#step-call:not([hidden])")
        await clinician.received["video"].wait_for(20, within=20)
        await clinician.received["audio"].wait_for(20, within=20)
        await device.wait_for_function(MEDIA_FLOWING, timeout=30000)
        assert await device.evaluate("() => window.tcLastQuality.candidate_type") == "relay"
        await screenshot(device, "device-call-with-aiortc")

        await clinician.end()
        await device.wait_for_selector("#step-ended:not([hidden])")
        assert watch.problems == []
    finally:
        await clinician.close()


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_device_reconnects_by_itself_and_says_so(live: Live, browser: Any) -> None:
    """The device's signalling socket is cut mid-call; it resumes and says so in words."""
    world = await consult_world(live.app, relay_only=False)
    sockets: list[Any] = []

    async def through_a_cuttable_link(page: Any) -> None:
        def proxy(route: Any) -> None:
            route.connect_to_server()
            sockets.append(route)

        await page.route_web_socket("**/ws", proxy)

    clinician, device = await run_consult(
        live, world, browser, None, "reconnect-", prepare_device=through_a_cuttable_link
    )
    await sockets[-1].close(code=1011, reason="network dropped")
    await device.locator("#status").get_by_text("Connected again.").wait_for(timeout=20000)
    await clinician.locator("#call-status").get_by_text("Connected again.").wait_for()
    frames = await device.evaluate("() => window.tcLastQuality.frames_decoded")
    await device.wait_for_function(
        "n => window.tcLastQuality.frames_decoded > n", arg=frames, timeout=15000
    )
    await end_and_record(clinician, device, None)
