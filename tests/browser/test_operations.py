"""The day's operations board, live: an officer watches a consult go from expected to
waiting to in call to ended without reloading, and sees when and where, never what for;
the manager also sees the service and the clinician. English and Welsh, axe-clean."""

from __future__ import annotations

import pytest

from core.clock import FakeClock
from tests.browser.conftest import Kiosks, LiveFactory, check_accessibility, screenshot
from tests.browser.journeys import (
    clinician_opens_and_admits,
    clinician_signs_in,
    device_goes_to_waiting_room,
    device_signs_in,
    journey,
    visit,
)
from tests.turn import Turn
from tests.world import PASSWORD, Staff

pytestmark = pytest.mark.slow


async def _sign_in(page: object, url: str, staff: Staff, app: object) -> None:
    await visit(page, url)
    await page.locator("#username").fill(staff.username)  # type: ignore[attr-defined]
    await page.locator("#password").fill(PASSWORD)  # type: ignore[attr-defined]
    await page.locator("#totp").fill(staff.code(app))  # type: ignore[arg-type, attr-defined]
    await page.locator("#staff-signin button[type='submit']").click()  # type: ignore[attr-defined]
    await page.wait_for_selector("#screen-operations:not([hidden])")  # type: ignore[attr-defined]


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_board_follows_a_consult_live_and_officers_see_no_clinical_detail(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    officer = await kiosks("officer", j.watch).open()
    await _sign_in(officer, j.live.url("/operations"), j.world.officer, j.live.app)
    row = officer.locator(f"tr[data-appointment='{j.world.appointment_id}']")
    await row.wait_for()
    assert await row.get_attribute("data-live") == "expected"
    text = await row.inner_text()
    assert j.world.prisoner.prison_number in text and "Expected" in text
    # Officers: when, who, where; not the service, the clinician or the reason.
    assert "Nurse clinic" not in text and "Clinician" not in text
    assert "wound" not in (await officer.content()).lower()
    assert await officer.locator("th:visible").all_inner_texts() == [
        "Time",
        "Prisoner",
        "Cell",
        "Now",
    ]
    await check_accessibility(officer, axe_source, "operations board (officer)")

    await j.device.kiosk.open()
    await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)
    await officer.wait_for_selector(
        f"tr[data-appointment='{j.world.appointment_id}'][data-live='waiting']", timeout=15000
    )
    await clinician_opens_and_admits(j)
    await officer.wait_for_selector(
        f"tr[data-appointment='{j.world.appointment_id}'][data-live='in_call']", timeout=15000
    )
    assert "In call: 1" in await officer.locator("#operations-counts").inner_text()
    await screenshot(officer, "operations-board-officer-en")

    manager = await kiosks("manager", j.watch).open()
    await _sign_in(manager, j.live.url("/operations"), j.world.manager, j.live.app)
    manager_row = manager.locator(f"tr[data-appointment='{j.world.appointment_id}']")
    await manager_row.wait_for()
    assert "Nurse clinic" in await manager_row.inner_text()
    await manager.locator("#lang-switch").click()
    await manager.wait_for_selector("html[lang='cy'] #screen-operations:not([hidden])")
    await manager.wait_for_selector(
        f"tr[data-appointment='{j.world.appointment_id}'][data-live='in_call']"
    )
    assert "Mewn galwad" in await manager_row.inner_text()
    await check_accessibility(manager, axe_source, "operations board (manager, cy)")
    await screenshot(manager, "operations-board-manager-cy")

    await j.clinician.page.locator("#end-call").click()
    await officer.wait_for_selector(
        f"tr[data-appointment='{j.world.appointment_id}'][data-live='ended']", timeout=15000
    )
    assert j.watch.problems == []
