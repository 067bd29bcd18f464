"""The staff faces' views in a real browser: whom officers bring where, the lockdown as the
server has it, the clinician's waiting room across appointments, the manager's filter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_clinician,
    sign_in_device,
    visit,
)
from tests.browser.seed import consult_world, seed_history
from tests.world import PASSWORD, Staff
from web.state import CLOCK, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow


async def sign_in_staff_page(page: Any, live: Live, path: str, staff: Staff) -> None:
    await visit(page, live.url(path))
    await page.get_by_label("Username").fill(staff.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(staff.code(live.app))
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_officer_sees_name_number_cell_and_the_servers_lockdown(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=True)
    tag = world.prisoner_name.split()[-1]
    # The prisoner signs in on their in-cell device: that is where the officer finds them.
    await live.app[IDENTITY].sign_in_prisoner(
        world.prisoner.device_credential, world.prisoner.prison_number, world.prisoner.pin
    )
    # A lockdown declared elsewhere (another officer, another browser) for later today.
    now = live.app[CLOCK].now()
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, session_id="")
    await live.app[SCHEDULING].declare_lockdown(
        officer,
        world.est,
        starts_at=(now + timedelta(hours=2)).isoformat(),
        ends_at=(now + timedelta(hours=3)).isoformat(),
    )

    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/staff", world.officer)
    row = page.locator(f"tr[data-appointment='{world.appointment_id}']")
    await row.wait_for()
    cells = await row.locator("td").all_inner_texts()
    assert cells == [
        "09:05–09:25",
        world.prisoner_name,
        world.prisoner.prison_number,
        f"cell-{tag}",
    ]
    text = await page.locator("main").inner_text()
    for clinical in ("wound", "Nurse", "nurse", world.clinician.username):
        assert clinical not in text

    state = page.locator("#lockdown-state")
    assert (await state.inner_text()).startswith("A lockdown is planned from")
    await check_accessibility(page, axe_source, "officer with lockdown")
    await screenshot(page, "staff-officer-views")
    await page.get_by_role("button", name="Lift lockdown").click()
    await page.get_by_text("No lockdown.").wait_for()
    assert await page.get_by_role("button", name="Declare lockdown").is_visible()
    # A fresh page reads the same from the server.
    await visit(page, live.url("/staff"))
    await page.wait_for_selector("#screen-officer:not([hidden])")
    await page.get_by_text("No lockdown.").wait_for()
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_clinician_sees_a_waiting_patient_without_opening_the_appointment(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await consult_world(live.app, relay_only=False)
    watch = PageWatch()
    clinician = await new_page(browser, watch)
    await sign_in_clinician(clinician, live, world)
    everyone = clinician.locator("#waiting-all")
    assert await everyone.inner_text() == "None of your patients is waiting."

    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("link", name="Join").click()
    await device.get_by_role("button", name="Yes, I agree").click()
    await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    await device.get_by_role("button", name="Go to the waiting room").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")

    waiting = clinician.locator(f"#waiting-all li[data-waiting='{world.appointment_id}']")
    await waiting.wait_for(timeout=15000)
    listed = await waiting.inner_text()
    assert world.prisoner_name in listed and world.prisoner.prison_number in listed
    alert = clinician.locator("#arrival-alert")
    assert await alert.is_visible()
    assert await alert.inner_text() == (
        f"{world.prisoner_name} ({world.prisoner.prison_number}) has arrived in the waiting room."
    )
    assert await clinician.evaluate("() => window.tcBeeps || 0") >= 1
    # The clinician never opened the appointment: its own room is not joined.
    assert await clinician.locator("#waiting li[data-participant]").count() == 0
    await check_accessibility(clinician, axe_source, "clinician waiting across appointments")
    await screenshot(clinician, "clinician-waiting-all")

    # From the list, open that appointment and the patient is there to admit.
    await waiting.get_by_role("button", name="Open").click()
    member = clinician.locator(f"#waiting li[data-participant='{world.prisoner.account_id}']")
    await member.wait_for()
    assert await member.get_by_role("button", name="Admit").is_visible()
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_manager_filter_lists_establishments_from_the_api(
    live: Live, browser: Any, axe_source: str
) -> None:
    first = await consult_world(live.app, relay_only=True)
    second = await consult_world(live.app, relay_only=True)
    await seed_history(live.app, second)
    admin_id, secret = await live.app[IDENTITY].create_staff(
        role=Role.ADMIN,
        establishment_id=None,
        username="admin.views",
        display_name="Admin Views",
        password=PASSWORD,
    )
    admin = Staff(admin_id, "admin.views", secret, Role.ADMIN, None)
    names = {w.est: (await live.app[IDENTITY].establishment(w.est)).name for w in (first, second)}

    watch = PageWatch()
    manager = await new_page(browser, watch)
    await sign_in_staff_page(manager, live, "/manager", second.manager)
    await manager.wait_for_selector("#volumes-chart[data-drawn='7']")
    select = manager.get_by_label("Establishment")
    assert await select.locator("option").all_inner_texts() == [names[second.est]]
    assert await select.input_value() == second.est
    assert (await manager.locator("#volumes-text").inner_text()).startswith("Booked: 4;")
    await check_accessibility(manager, axe_source, "manager with establishment filter")

    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/manager", admin)
    await page.wait_for_selector("#volumes-chart[data-drawn='7']")
    select = page.get_by_label("Establishment")
    offered = await select.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert {first.est, second.est} <= set(offered)
    for est, booked in ((second.est, 4), (first.est, 1)):
        await select.select_option(est)
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_function(
            "n => document.getElementById('volumes-text').textContent.startsWith(n)",
            arg=f"Booked: {booked};",
        )
    await screenshot(page, "manager-establishment-filter")
    assert watch.problems == []
