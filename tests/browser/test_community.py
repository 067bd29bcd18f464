"""Records that outlive custody (issue 17 item 4), as its users see them, in English and
Welsh, axe-clean: the officer releases a prisoner on the People page and the letter shows a
one-time code; at home the person claims their account with it (a key for their app, an
email and a password), signs out and in again with email, password and the app's code,
carries on their programme's next session and downloads their learning record as PDF and
JSON. Before, release closed the account and the programmes and record stayed behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pyotp
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
from tests.browser.seed import consult_world
from tests.browser.test_leaving import WORDS as LEAVING
from tests.browser.test_leaving import _open
from tests.browser.test_views import sign_in_staff_page
from web.demo_programmes import THINKING, create_programmes_of
from web.interventions import PROGRAMMES
from web.state import CLOCK, IDENTITY

pytestmark = pytest.mark.slow

EMAIL = "sam.home@example.org"
PASSWORD = "a long walk by the sea"
WORDS = {
    "en": {
        "carry_on": "Carry on at home",
        "claim": "Claim your account",
        "make": "Make your account",
        "home": "Carry on where you left off",
        "signin": "Sign in to carry on",
        "programme": "Thinking skills: stop and think",
        "session": "Other points of view",
        "wrong": "This code is not right. Check it against your release letter and try again.",
    },
    "cy": {
        "carry_on": "Parhau gartref",
        "claim": "Hawlio eich cyfrif",
        "make": "Gwneud eich cyfrif",
        "home": "Parhewch o'r man lle gwnaethoch adael",
        "signin": "Mewngofnodwch i barhau",
        "programme": "Sgiliau meddwl: stopio a meddwl",
        "session": "Safbwyntiau eraill",
        "wrong": "Nid yw'r cod hwn yn gywir. Gwiriwch ef yn erbyn eich llythyr rhyddhau a rhowch"
        " gynnig arall arni.",
    },
}


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_released_person_claims_their_account_and_carries_on_at_home(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    app = live.app
    world = await consult_world(app, relay_only=False, cell="A1-01")
    programmes = app[PROGRAMMES]
    [programme] = await create_programmes_of(programmes, None, THINKING)
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, "")
    await programmes.enrol_self(prisoner, programme)
    view = await programmes.my_programme(prisoner, programme)
    first = view.sessions[0].id
    for key, value in (("last_time", "I shouted at my brother"), ("often", "sometimes")):
        await programmes.record_answer(
            prisoner, first, key, value, client_id=f"00000000-0000-4000-8000-00000000000{len(key)}"
        )
    await programmes.complete_session(prisoner, first)
    # The letter is in the prisoner's own language, as are their pages once signed in.
    await app[IDENTITY].set_locale(prisoner, lang)
    words, leaving = WORDS[lang], LEAVING[lang]

    # The officer releases them: the letter carries the code, in the prisoner's language.
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/people", world.officer)
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")
    if lang == "cy":
        await page.locator("#lang-switch").click()
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    panel = await _open(page, leaving, world.prisoner_name)
    await panel.get_by_role("button", name=leaving["release"]).click()
    await page.locator("#leave-confirm").get_by_role("button", name=leaving["yes_release"]).click()
    part = page.locator("#letter-community-part")
    await part.wait_for()
    code = (await page.locator("#letter-community-code").inner_text()).strip()
    assert len(code) == 19 and code.count("-") == 3
    assert code in await page.locator("#leaving-result").inner_text()
    assert await part.get_by_role("heading", level=4).inner_text() == words["carry_on"]
    assert "/community/claim" in await page.locator("#letter-community").inner_text()
    assert code not in page.url
    await check_accessibility(page, axe_source, f"release letter with claim code ({lang})")
    await screenshot(page, f"community-release-letter-{lang}")

    # At home: the claim page, with a wrong code first.
    home = await new_page(browser, watch, accept_downloads=True)
    await home.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    await visit(home, live.url("/community/claim"))
    await home.wait_for_selector("body[data-ready='true']")
    assert await home.locator("#code-heading").inner_text() == words["claim"]
    await home.fill("#code", "ACDE-FGHJ-KLMN-PQRT" if code != "ACDE-FGHJ-KLMN-PQRT" else "AAAA")
    await home.get_by_role("button", name={"en": "Next", "cy": "Nesaf"}[lang]).click()
    error = home.locator("#code-error")
    await error.wait_for()
    assert await error.inner_text() == words["wrong"]
    await check_accessibility(home, axe_source, f"claim page, wrong code ({lang})")
    await screenshot(home, f"community-claim-wrong-{lang}")
    await home.fill("#code", code.lower())
    await home.get_by_role("button", name={"en": "Next", "cy": "Nesaf"}[lang]).click()
    await home.wait_for_selector("#screen-account:not([hidden])")
    assert await home.locator("#account-heading").inner_text() == words["make"]
    secret = await home.locator("#totp-secret").get_attribute("data-secret")
    assert secret and (await home.locator("#totp-secret").inner_text()).replace(" ", "") == secret
    assert code.lower() not in home.url
    await check_accessibility(home, axe_source, f"claim page, make the account ({lang})")
    await screenshot(home, f"community-claim-account-{lang}")
    await home.fill("#email", EMAIL)
    await home.fill("#password", PASSWORD)
    await home.fill("#password-again", PASSWORD)
    await home.fill("#totp", pyotp.TOTP(secret).at(app[CLOCK].now()))
    await home.press("#totp", "Enter")
    await home.wait_for_url(live.url("/community"))
    await home.wait_for_selector("body[data-ready='true'] #screen-home:not([hidden])")
    assert await home.locator("#home-heading").inner_text() == words["home"]

    # Sign out, and in again with email, password and the app's next code.
    await home.locator("#sign-out").click()
    await home.wait_for_selector("#screen-signin:not([hidden])")
    assert await home.locator("#signin-heading").inner_text() == words["signin"]
    await check_accessibility(home, axe_source, f"community sign-in ({lang})")
    await screenshot(home, f"community-signin-{lang}")
    app[CLOCK].advance(30)
    await home.fill("#email", EMAIL)
    await home.fill("#password", PASSWORD)
    await home.fill("#totp", pyotp.TOTP(secret).at(app[CLOCK].now()))
    await home.press("#totp", "Enter")
    await home.wait_for_selector("body[data-ready='true'] #screen-home:not([hidden])")
    card = home.locator("#programmes li")
    assert words["programme"] in await card.first.inner_text()
    await check_accessibility(home, axe_source, f"community home ({lang})")
    await screenshot(home, f"community-home-{lang}")

    # The learning record, as a PDF and as JSON.
    async with home.expect_download() as download:
        await home.locator("#record-pdf").click()
    saved = await (await download.value).path()
    assert (await asyncio.to_thread(Path(saved).read_bytes)).startswith(b"%PDF")
    async with home.expect_download() as download:
        await home.locator("#record-json").click()
    saved = await (await download.value).path()
    record = json.loads(await asyncio.to_thread(Path(saved).read_text, "utf-8"))
    assert record["format"] == "throughcare.learning-record/1"

    # Carry on the programme: the second session, where they left off.
    await card.first.get_by_role("link").click()
    await home.wait_for_selector("body[data-ready='true'] #screen-programme:not([hidden])")
    assert await home.locator("#sessions li[data-position='1']").get_attribute("data-state") == (
        "done"
    )
    await home.locator("#sessions li[data-position='2'] a").click()
    await home.wait_for_selector("body[data-ready='true'] #screen-session:not([hidden])")
    assert words["session"] in await home.locator("#session-heading").inner_text()
    await home.fill("#ex-their_view", "They were tired after a long shift")
    exercise = home.locator("[data-exercise='their_view']")
    await exercise.get_by_role("button").click()
    await home.wait_for_selector("[data-exercise='their_view'][data-saved='true']")
    await check_accessibility(home, axe_source, f"community programme session ({lang})")
    await screenshot(home, f"community-session-{lang}")
    await home.locator("#session-finish").click()
    await home.wait_for_selector("body[data-ready='true'] #screen-programme:not([hidden])")
    await home.wait_for_selector("#sessions li[data-position='2'][data-state='done']")
    await screenshot(home, f"community-programme-done-{lang}")
    after = await programmes.my_programme(
        Principal(world.prisoner.account_id, Role.COMMUNITY, None, ""), programme
    )
    assert after.progress.completed_sessions == 2
    assert after.sessions[1].answers["their_view"] == "They were tired after a long shift"
    assert watch.problems == []
