"""Notices in a real browser: the device's home shows unread ones and gets new ones live, the
prisoner takes a rebooking offer, and the clinician's desk shows theirs live; EN and CY,
axe-clean. Before, scheduling wrote notices that nobody read and offers nobody could take."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from core.identity import Principal, Role
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import add_governor, consult_world
from tests.world import PASSWORD, Staff, bearer
from web.state import CLOCK, JOBS, SCHEDULING

pytestmark = pytest.mark.slow


async def _api_sign_in(http: aiohttp.ClientSession, live: Any, who: Staff) -> dict[str, str]:
    async with http.post(
        live.url("/api/auth/staff"),
        json={"username": who.username, "password": PASSWORD, "totp": who.code(live.app)},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return bearer(await resp.json())


async def _api(
    http: aiohttp.ClientSession,
    live: Any,
    path: str,
    headers: dict[str, str],
    body: Any,
    status: int,
) -> Any:
    async with http.post(live.url(path), json=body, headers=headers) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def sign_in_device(page: Any, live: Any, world: Any) -> None:
    await page.goto(live.url("/healthz"))
    await page.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", world.prisoner.device_credential
    )
    await visit(page, live.url("/device"))
    await page.get_by_label("Your prison number").fill(world.prisoner.prison_number)
    await page.get_by_label("Your PIN").fill(world.prisoner.pin)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-home:not([hidden]) #inbox[data-live='true']")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_notices_arrive_live_and_the_prisoner_takes_an_offered_time(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    runner = live.app[JOBS]
    await runner.run_due()  # "booked" and, 5 minutes ahead, both reminders: to both

    watch = PageWatch()
    desk = await new_page(browser, watch)
    await visit(desk, live.url("/clinician"))
    await desk.get_by_label("Username").fill(world.clinician.username)
    await desk.get_by_label("Password").fill(PASSWORD)
    await desk.get_by_label("6-digit code").fill(world.clinician.code(live.app))
    await desk.get_by_role("button", name="Sign in").click()
    await desk.wait_for_selector("#inbox[data-live='true']")
    assert await desk.locator("#inbox .inbox-count").inner_text() == "3 new messages."

    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    home = device.locator("#inbox")
    await device.wait_for_selector("#inbox[data-live='true'][data-unread='3']")
    booked = await home.locator("li[data-kind='booked']").inner_text()
    assert "A health appointment is booked for" in booked

    # A communications restriction while both pages are open (a plain lockdown lets
    # in-cell video consults go ahead): the notices arrive without a reload. Declared by
    # the officer and confirmed by a real governor, over HTTP as their desks do it.
    clock = live.app[CLOCK]
    governor = await add_governor(live.app, world.est)
    async with aiohttp.ClientSession() as http:
        declared = await _api(
            http,
            live,
            "/api/lockdowns",
            await _api_sign_in(http, live, world.officer),
            {
                "kind": "communications",
                "starts_at": (clock.now() + timedelta(minutes=1)).isoformat(),
                "ends_at": (clock.now() + timedelta(hours=2)).isoformat(),
            },
            201,
        )
        assert declared["confirmed"] is False
        confirmed = await _api(
            http,
            live,
            f"/api/lockdowns/{declared['id']}/confirm",
            await _api_sign_in(http, live, governor),
            None,
            200,
        )
        assert confirmed["confirmed"] is True
    await runner.run_due()
    await device.wait_for_selector("#inbox[data-unread='5']")
    cancelled = await home.locator("li[data-kind='cancelled']").inner_text()
    assert "is cancelled. This is because in-cell calls are restricted for security." in cancelled
    await home.locator("li[data-kind='rebook_offer']").wait_for()
    await check_accessibility(device, axe_source, "device notices")
    await screenshot(device, "device-notices")

    await desk.wait_for_selector("#inbox[data-unread='5']")
    await desk.locator("#inbox li[data-kind='rebook_offer']").wait_for()
    await check_accessibility(desk, axe_source, "clinician notices")
    await screenshot(desk, "clinician-notices")

    # Reading one is recorded: after a reload it is still read.
    await home.locator("li[data-kind='booked']").get_by_role("button", name="Mark as read").click()
    await device.wait_for_selector("#inbox[data-unread='4']")

    link = home.get_by_role("link", name="Choose a new time")
    offer_id = (await link.get_attribute("href") or "").removeprefix("#offer/")
    await link.click()
    await device.wait_for_selector("#screen-offer:not([hidden]) #offer-times button")
    times = device.locator("#offer-times button")
    assert await times.count() == 3
    await check_accessibility(device, axe_source, "device offer")
    await screenshot(device, "device-offer")
    chosen = await times.nth(1).get_attribute("data-time")
    await times.nth(1).click()
    await device.wait_for_selector("#screen-health:not([hidden])")
    await device.get_by_text("Booked for").wait_for()
    scheduling = live.app[SCHEDULING]
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, "test")
    offer = await scheduling.rebooking_offer(prisoner, offer_id)
    assert offer.taken and offer.booked_appointment_id is not None
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "test")
    rebooked = await scheduling.appointment(manager, offer.booked_appointment_id)
    assert rebooked.starts_at.isoformat() == chosen
    await screenshot(device, "device-offer-booked")

    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await device.evaluate("() => { window.location.hash = '#home'; }")
    await device.wait_for_selector("html[lang='cy'] #inbox[data-live='true']")
    assert await device.locator("#inbox-heading").inner_text() == "Negeseuon"
    cancelled_cy = await device.locator("#inbox li[data-kind='cancelled']").inner_text()
    assert "Mae hyn oherwydd bod galwadau yn y gell wedi'u cyfyngu" in cancelled_cy
    await check_accessibility(device, axe_source, "device notices (cy)")
    await screenshot(device, "device-notices-cy")
    # The offer, taken: a second take is refused in words, in Welsh.
    await device.locator("#inbox li[data-kind='rebook_offer'] a").click()
    await device.get_by_text("Rydych eisoes wedi dewis amser o'r cynnig hwn.").wait_for()
    await check_accessibility(device, axe_source, "device offer taken (cy)")
    await screenshot(device, "device-offer-taken-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_officers_desk_shows_a_call_back_live_as_a_time_and_a_cell(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False, cell="2-14")
    runner = live.app[JOBS]
    await runner.run_due()
    watch = PageWatch()
    desk = await new_page(browser, watch)
    await visit(desk, live.url("/staff"))
    await desk.get_by_label("Username").fill(world.officer.username)
    await desk.get_by_label("Password").fill(PASSWORD)
    await desk.get_by_label("6-digit code").fill(world.officer.code(live.app))
    await desk.get_by_role("button", name="Sign in").click()
    await desk.wait_for_selector("#inbox[data-live='true'][data-unread='0']")
    assert await desk.locator("#inbox .inbox-count").inner_text() == "No new messages."

    await live.app[SCHEDULING].request_call_back(
        world.appointment_id, world.clinician.account_id, world.prisoner.device_id
    )
    await runner.run_due()
    notice = desk.locator("#inbox li[data-kind='call_back']")
    await notice.wait_for()
    words = await notice.locator(".card-title").inner_text()
    assert words.startswith("Call-back: bring the prisoner in ")
    assert "2-14" in words and "Patient" not in words and "wound" not in words
    # The call-back list beside it comes up at once too, not at its next 30-second poll.
    await desk.locator("#call-backs li[data-call-back]").wait_for()
    await check_accessibility(desk, axe_source, "officer notices")
    await screenshot(desk, "officer-notices")

    await desk.locator("#lang-switch").click()
    await desk.wait_for_selector("html[lang='cy'] #inbox[data-live='true']")
    await desk.locator("#inbox li[data-kind='call_back']").wait_for()
    assert await desk.locator("#inbox-heading").inner_text() == "Negeseuon"
    await check_accessibility(desk, axe_source, "officer notices (cy)")
    await screenshot(desk, "officer-notices-cy")
    assert watch.problems == []
