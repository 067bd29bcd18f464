"""Test my connection: the device's pre-call test in Chromium, relay-only through coturn,
against the real test peer, with the result in words and, when it fails, the staff alert."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from media.echo import PEER_ID
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
    start_turnserver,
    visit,
)
from tests.browser.seed import ConsultWorld, consult_world
from tests.media.conftest import AIORTC_BLOCKING
from tests.turn import Turn
from tests.world import PASSWORD
from web.test_calls import CLIP_DIR
from web.ws import ICE_SERVERS

pytestmark = pytest.mark.slow

# The device has no camera: its browser refuses every request for video, as Chromium does
# when no camera is plugged in. The microphone (Chromium's fake one) still works.
NO_CAMERA = """
const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) =>
  constraints && constraints.video
    ? Promise.reject(new DOMException("Requested device not found", "NotFoundError"))
    : real(constraints);
"""


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The server's test peer is aiortc: its bounded thread joins are accepted (tests/media)."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        for filename, name in AIORTC_BLOCKING:
            function.can_block_in(filename, name)


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    proc, turn = start_turnserver(tmp_path_factory.mktemp("coturn"))
    yield turn
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def live_with_turn(
    make_live: LiveFactory, clock: FakeClock, coturn: Turn, clip_dir: Path
) -> Live:
    # coturn checks a credential's expiry against the real time, so the service must agree.
    clock.set(datetime.now(UTC))

    def configure(app: Any) -> None:
        app[ICE_SERVERS] = IceServers([coturn.url], coturn.secret)
        app[CLIP_DIR] = clip_dir

    return await make_live(configure)


async def a_consult_in_three_hours(live: Live) -> ConsultWorld:
    return await consult_world(
        live.app, relay_only=True, starts_in=timedelta(hours=3), cell="A1-02"
    )


async def sign_in_officer(page: Any, live: Live, world: ConsultWorld) -> None:
    await visit(page, live.url("/staff"))
    await page.get_by_label("Username").fill(world.officer.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(world.officer.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-officer:not([hidden])")


async def allocations(coturn: Turn) -> list[str]:
    log = await asyncio.to_thread(coturn.log.read_text, "utf-8", "replace")
    return [line for line in log.splitlines() if "ALLOCATE processed, success" in line]


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_a_device_tests_its_connection_through_turn_and_is_told_it_is_good(
    make_live: LiveFactory,
    browser: Any,
    axe_source: str,
    coturn: Turn,
    clock: FakeClock,
    precall_clip_dir: Path,
) -> None:
    live = await live_with_turn(make_live, clock, coturn, precall_clip_dir)
    world = await a_consult_in_three_hours(live)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    offer = device.locator("#testcall-offer")
    await offer.wait_for()
    await check_accessibility(device, axe_source, "device home with the test offered")
    await screenshot(device, "device-testcall-offer")
    await offer.get_by_role("link", name="Test my connection").click()
    await device.wait_for_selector("#screen-testcall:not([hidden])")
    await device.get_by_text("Testing your connection. Please wait.").wait_for()
    # The test picture comes back from the service while the device's own camera shows.
    await device.wait_for_function(
        "() => document.getElementById('testcall-remote').videoWidth > 0", timeout=30000
    )
    await check_accessibility(device, axe_source, "device test running")
    await screenshot(device, "device-testcall-running")
    await device.wait_for_selector("#testcall-result:not([hidden])", timeout=60000)
    verdict = await device.locator("#testcall-verdict").inner_text()
    assert verdict == (
        "Your connection is good. The health worker will be able to see and hear you."
    ), watch.problems
    checks = await device.locator("#testcall-checks li").all_inner_texts()
    assert checks == ["Camera: Working", "Microphone: Working", "Connection: Good"]
    numbers = await device.locator("#testcall-numbers").inner_text()
    assert numbers.startswith("Round trip ") and "frames a second" in numbers
    # What came back decoded on the device, and came the consult's way: through the relay.
    quality = await device.evaluate("() => window.tcTestCallQuality")
    assert quality["candidate_type"] == "relay"
    assert quality["frames_decoded"] > 0 and quality["width"] == 640
    await check_accessibility(device, axe_source, "device test result")
    await screenshot(device, "device-testcall-good")

    # Both ends allocated on coturn, each with credentials naming this appointment.
    made = await allocations(coturn)
    assert any(f":{world.appointment_id}:{world.prisoner.account_id}>" in a for a in made)
    assert any(f":{world.appointment_id}:{PEER_ID}>" in a for a in made)

    clinician = await new_page(browser, watch)
    await sign_in_clinician(clinician, live, world)
    row = clinician.locator(f"tr[data-appointment='{world.appointment_id}']")
    line = row.locator("[data-testcall]")
    await line.wait_for()
    assert (await line.inner_text()).startswith("Connection test at ")
    assert (await line.inner_text()).endswith(": good")
    await check_accessibility(clinician, axe_source, "clinician list with the test result")
    await screenshot(clinician, "clinician-list-testcall")

    officer = await new_page(browser, watch)
    await sign_in_officer(officer, live, world)
    await officer.locator("#test-call-alerts").get_by_text("No problems reported.").wait_for()
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_device_with_no_camera_is_told_in_welsh_and_its_wing_staff_see_the_alert(
    make_live: LiveFactory,
    browser: Any,
    axe_source: str,
    coturn: Turn,
    clock: FakeClock,
    precall_clip_dir: Path,
) -> None:
    live = await live_with_turn(make_live, clock, coturn, precall_clip_dir)
    world = await a_consult_in_three_hours(live)
    watch = PageWatch()
    device = await new_page(browser, watch)
    await device.add_init_script(NO_CAMERA)
    await sign_in_device(device, live, world)
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy'] #screen-home:not([hidden])")
    await device.locator("#testcall-offer").get_by_role("link").click()
    await device.wait_for_selector("#testcall-result:not([hidden])", timeout=60000)
    assert await device.locator("#testcall-verdict").inner_text() == (
        "Dydy eich camera ddim yn gweithio. Mae staff eich adain wedi cael gwybod,"
        " fel bod modd ei drwsio cyn eich apwyntiad."
    )
    checks = await device.locator("#testcall-checks li").all_inner_texts()
    assert checks == ["Camera: Ddim yn gweithio", "Meicroffon: Yn gweithio", "Cysylltiad: Da"]
    await check_accessibility(device, axe_source, "device test result in Welsh")
    await screenshot(device, "device-testcall-no-camera-cy")

    officer = await new_page(browser, watch)
    await sign_in_officer(officer, live, world)
    alert = officer.locator("#test-call-alerts li.problem")
    await alert.wait_for()
    lines = await alert.locator("p").all_inner_texts()
    assert lines[0] == "Cell A1-02: the camera is not working"
    assert lines[1].startswith("Wing A. Tested at ")
    text = await officer.locator("main").inner_text()
    for clinical in ("wound", "Nurse", "nurse", world.clinician.username):
        assert clinical not in text
    await check_accessibility(officer, axe_source, "officer with a test-call alert")
    await screenshot(officer, "staff-testcall-alert")
    assert watch.problems == []
