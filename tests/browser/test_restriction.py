"""Issue 14 items 2 and 5 in a real browser, English and Welsh, axe-clean, through HTTP only:
an officer declares a communications restriction from the officer screen, told first what
will happen; a governor sees it waiting on their desk and confirms it, and only then is the
in-cell consult cancelled as prison-caused and offered new times. And staff opt in to email
about new messages on their desk. Before, a restriction could be declared and confirmed only
through the API, and the email choice did not exist."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from core.db.schema import staff_emails
from core.identity import Principal
from scheduling import Status
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import add_governor, consult_world
from tests.world import PASSWORD
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import CLOCK, DATABASE, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow

WORDS = {
    "en": {
        "calls": "In-cell video calls are suspended, health consults included.",
        "offered": "recorded as caused by the prison, and the prisoner is offered new times",
        "governor": "Nothing happens until a governor, not you, confirms it",
        "pending": "is waiting for a governor to confirm it. Nothing has changed yet.",
        "in_force": "A communications restriction is in force until",
        "waiting": "Waiting for your confirmation",
        "confirmed": "1 health consults were offered new times.",
        "email_on": "New messages are emailed to nurse.c@nhs.example.",
    },
    "cy": {
        "calls": "Mae galwadau fideo yn y gell wedi'u hatal, gan gynnwys ymgynghoriadau iechyd.",
        "offered": "eu cofnodi fel rhai a achoswyd gan y carchar, a chynigir amseroedd newydd",
        "governor": "Nid oes dim yn digwydd nes bod llywodraethwr, nid chi, yn ei gadarnhau",
        "pending": "yn aros i lywodraethwr ei gadarnhau. Nid oes dim wedi newid eto.",
        "in_force": "Mae cyfyngiad ar gyfathrebu mewn grym tan",
        "waiting": "Yn aros i chi ei gadarnhau",
        "confirmed": "Cynigiwyd amseroedd newydd i 1 ymgynghoriad iechyd.",
        "email_on": "Anfonir negeseuon newydd drwy e-bost i nurse.c@nhs.example.",
    },
}


async def _page(browser: Any, watch: PageWatch, live: Any, lang: str) -> Any:
    page = await new_page(browser, watch)
    await page.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    return page


async def _speak(live: Any, lang: str, *people: Any) -> None:
    for person in people:
        who = Principal(person.account_id, person.role, person.establishment_id, "")
        await live.app[IDENTITY].set_locale(who, lang)


async def _staff_sign_in(page: Any, live: Any, path: str, who: Any, ready: str) -> None:
    await visit(page, live.url(path))
    await page.fill("#username", who.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", who.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector(f"{ready}:not([hidden])")


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_an_officer_declares_a_restriction_and_a_governor_confirms_it_on_their_desk(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=True)
    governor = await add_governor(live.app, world.est)
    await _speak(live, lang, world.officer, governor)
    words = WORDS[lang]
    watch = PageWatch()

    officer = await _page(browser, watch, live, lang)
    await _staff_sign_in(officer, live, "/staff", world.officer, "#screen-officer")
    await officer.click("#restriction-declare")
    confirm = officer.locator("#restriction-confirm")
    await confirm.wait_for()
    said = await confirm.inner_text()
    for key in ("calls", "offered", "governor"):
        assert words[key] in said, key
    await check_accessibility(officer, axe_source, f"officer-restriction-confirm-{lang}")
    await screenshot(officer, f"restriction-confirm-{lang}")
    await officer.click("#restriction-confirm-yes")
    await officer.wait_for_selector("#restriction-state[data-restriction='pending']")
    assert words["pending"] in await officer.locator("#restriction-state").inner_text()
    # Declared, not confirmed: the in-cell consult is untouched.
    appointment = await live.app[SCHEDULING].appointment_view(world.appointment_id)
    assert appointment.status == Status.BOOKED.value
    await screenshot(officer, f"restriction-pending-{lang}")

    desk = await _page(browser, watch, live, lang)
    await _staff_sign_in(desk, live, "/governor", governor, "#screen-governor")
    waiting = desk.locator("#restrictions li[data-confirmed='false']")
    await waiting.wait_for()
    assert words["waiting"] in await waiting.inner_text()
    await check_accessibility(desk, axe_source, f"governor-pending-{lang}")
    await screenshot(desk, f"governor-pending-{lang}")
    await waiting.get_by_role("button").click()
    await desk.locator("#restrictions li[data-confirmed='true']").wait_for()
    assert words["confirmed"] in await desk.locator("#restrictions-result").inner_text()
    await check_accessibility(desk, axe_source, f"governor-confirmed-{lang}")
    await screenshot(desk, f"governor-confirmed-{lang}")

    # Now in force: the consult is cancelled, prison-caused, and the officer's screen says so.
    appointment = await live.app[SCHEDULING].appointment_view(world.appointment_id)
    assert appointment.status == Status.CANCELLED.value
    await officer.reload()
    await officer.wait_for_selector("#restriction-state[data-restriction='confirmed']")
    assert words["in_force"] in await officer.locator("#restriction-state").inner_text()
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_a_clinician_opts_in_and_out_of_email_about_new_messages(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=True)
    await _speak(live, lang, world.clinician)
    async with live.app[DATABASE].begin() as conn:
        await conn.execute(
            insert(staff_emails).values(
                account_id=world.clinician.account_id,
                email="nurse.c@nhs.example",
                verified_at=live.app[CLOCK].now(),
            )
        )
    watch = PageWatch()
    page = await _page(browser, watch, live, lang)
    await _staff_sign_in(page, live, "/clinician", world.clinician, "#screen-list")
    setting = page.locator("#notice-email")
    await setting.wait_for()
    box = page.locator("#notice-email-on")
    assert not await box.is_checked()
    await box.check()
    await page.wait_for_selector("#notice-email[data-opted-in='true']")
    assert words_on(lang) in await page.locator("#notice-email-state").inner_text()
    await check_accessibility(page, axe_source, f"notice-email-{lang}")
    await screenshot(page, f"notice-email-on-{lang}")
    # Kept: after a reload it is still on; then off.
    await page.reload()
    await page.wait_for_selector("#notice-email[data-opted-in='true']")
    await page.locator("#notice-email-on").uncheck()
    await page.wait_for_selector("#notice-email[data-opted-in='false']")
    await page.reload()
    await page.wait_for_selector("#notice-email[data-opted-in='false']")
    assert watch.problems == []


def words_on(lang: str) -> str:
    return WORDS[lang]["email_on"]
