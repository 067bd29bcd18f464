"""Issue 14 items 4 and 5 in a real browser, in English and Welsh: an officer declares and
lifts a lockdown (told first what will happen), the device shows the banner while the
in-cell consult still goes ahead, and misses nobody recorded are coded from the to-do list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.identity import Principal, Role
from scheduling import Status
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import CLOCK, IDENTITY, SCHEDULING

I18N = Path(__file__).resolve().parents[2] / "web" / "i18n"

pytestmark = pytest.mark.slow

MODULE = "shop"
"""The test stands in for the kiosk: the shop registers with the suspension mechanism."""


async def _page(browser: Any, watch: PageWatch, live: Any, lang: str) -> Any:
    page = await new_page(browser, watch)
    await page.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    return page


async def _speak(live: Any, world: Any, lang: str) -> None:
    """Everyone's saved language (a signed-in account's choice wins over the cookie)."""
    for person in (world.officer, world.clinician, world.manager):
        who = Principal(person.account_id, person.role, world.est, "")
        await live.app[IDENTITY].set_locale(who, lang)
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, "")
    await live.app[IDENTITY].set_locale(prisoner, lang)


async def _staff_sign_in(page: Any, live: Any, path: str, who: Any, ready: str) -> None:
    await visit(page, live.url(path))
    await page.fill("#username", who.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", who.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector(f"{ready}:not([hidden])")


async def _device_sign_in(page: Any, live: Any, world: Any) -> None:
    await page.goto(live.url("/healthz"))
    await page.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", world.prisoner.device_credential
    )
    await visit(page, live.url("/device"))
    await page.fill("#prison-number", world.prisoner.prison_number)
    await page.fill("#pin", world.prisoner.pin)
    await page.press("#pin", "Enter")
    await page.wait_for_selector("#screen-home:not([hidden])")


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_officer_declares_and_lifts_a_lockdown_and_the_consult_goes_ahead(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    def configure(app: Any) -> None:
        async def register(app: Any) -> None:
            app[SCHEDULING].suspensions.register(MODULE)

        app.on_startup.append(register)

    live = await make_live(configure)
    world = await consult_world(live.app, relay_only=True)
    await _speak(live, world, lang)
    watch = PageWatch()
    officer = await _page(browser, watch, live, lang)
    await _staff_sign_in(officer, live, "/staff", world.officer, "#screen-officer")
    await officer.click("#lockdown-declare")
    confirm = officer.locator("#lockdown-confirm")
    await confirm.wait_for()
    said = await confirm.inner_text()
    # Every module registered at start-up, in the page's language (not a list written here:
    # a module added later must appear without this test changing).
    words = json.loads((I18N / f"{lang}.json").read_text())
    named = {words[f"module.{m}"] for m in live.app[SCHEDULING].suspensions.modules}
    lead = words["officer.lockdown_closed"].split("{")[0]
    [closed] = [x for x in said.splitlines() if x.startswith(lead)]
    assert set(closed[len(lead) :].strip(" .").split(", ")) == named
    video = {
        "en": "In-cell video health consults go ahead",
        "cy": "Mae ymgynghoriadau iechyd fideo yn y gell yn mynd yn eu blaen",
    }[lang]
    assert video in said
    await check_accessibility(officer, axe_source, f"officer-lockdown-confirm-{lang}")
    await screenshot(officer, f"lockdown-confirm-{lang}")
    await officer.click("#lockdown-confirm-yes")
    state = officer.locator("#lockdown-state")
    await officer.wait_for_function(
        "() => document.querySelector('#lockdown-lift') && "
        "!document.querySelector('#lockdown-lift').hidden"
    )
    assert closed in await state.inner_text()
    await screenshot(officer, f"lockdown-declared-{lang}")

    # The in-cell consult goes ahead: still booked, and on the device's Health list.
    appointment = await live.app[SCHEDULING].appointment_view(world.appointment_id)
    assert appointment.status == Status.BOOKED.value
    device = await _page(browser, watch, live, lang)
    await _device_sign_in(device, live, world)
    banner = device.locator("#lockdown-banner")
    await banner.wait_for()
    text = await banner.inner_text()
    assert {"en": "closed", "cy": "ar gau"}[lang] in text
    assert all(name in text for name in named), (named, text)
    await check_accessibility(device, axe_source, f"device-lockdown-{lang}")
    await screenshot(device, f"device-lockdown-{lang}")
    await visit(device, live.url("/device#health"))
    await device.locator(f"[data-appointment='{world.appointment_id}']").first.wait_for()

    await officer.click("#lockdown-lift")
    await officer.wait_for_function("() => document.querySelector('#lockdown-lift').hidden")
    await visit(device, live.url("/device#home"))
    await device.wait_for_selector("#screen-home:not([hidden])")
    await device.wait_for_function("() => document.querySelector('#lockdown-banner').hidden")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_a_miss_nobody_recorded_is_coded_from_the_to_do_list(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=True)
    await _speak(live, world, lang)
    live.app[CLOCK].advance(hours=1)
    assert await live.app[SCHEDULING].close_windows() == 1
    watch = PageWatch()
    page = await _page(browser, watch, live, lang)
    await _staff_sign_in(page, live, "/clinician", world.clinician, "#screen-list")
    item = page.locator(f"[data-miss='{world.appointment_id}']")
    await item.wait_for()
    await check_accessibility(page, axe_source, f"misses-{lang}")
    await screenshot(page, f"misses-{lang}")
    # No reason is chosen for them, and each reason is in the page's language.
    select = item.locator("select")
    assert await select.input_value() == ""
    no_escort = {
        "en": "No officer available to escort or unlock",
        "cy": "Dim swyddog ar gael i hebrwng neu ddatgloi",
    }[lang]
    assert await select.locator("option[value='no_escort']").inner_text() == no_escort
    await item.locator("button.primary").click()
    await page.locator("#misses-error:not([hidden])").wait_for()
    still = await live.app[SCHEDULING].appointment_view(world.appointment_id)
    assert still.status == Status.NOT_RECORDED.value
    await select.select_option("no_escort")
    await item.locator("button.primary").click()
    await item.wait_for(state="detached")
    none = {"en": "Nothing to record.", "cy": "Dim byd i'w gofnodi."}[lang]
    await page.get_by_text(none).wait_for()
    coded = await live.app[SCHEDULING].appointment_view(world.appointment_id)
    assert coded.status == Status.DID_NOT_ATTEND.value
    await screenshot(page, f"misses-coded-{lang}")
    assert watch.problems == []
