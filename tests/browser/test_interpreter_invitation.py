"""An interpreter invited by email for a BSL consult (issue 18 item 1), as its users see it,
in English and Welsh, axe-clean: the clinician invites from today's list; the email reaches a
real SMTP server; the interpreter opens its link, adds the key to an app, makes an account,
lands on /attend with the consult and its language, joins the consult once it has started,
waits, and is admitted by the clinician (whose call screen is in English in both runs).
Before, only people with an account could be invited, with no language."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from core.clock import FakeClock
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_clinician,
    visit,
)
from tests.browser.seed import consult_world
from tests.browser.test_consult import run_consult
from tests.smtp import smtp_server
from web.state import CLOCK

pytestmark = pytest.mark.slow

EMAIL = "ines.bsl@example.org"
PASSWORD = "signs and words all day"
WORDS = {
    "en": {
        "invite": "Interpreter",
        "send": "Send the invitation",
        "bsl": "British Sign Language (BSL)",
        "title": "Interpreter invitation",
        "next": "Next",
        "make": "Make your interpreter account",
        "language": "Language: British Sign Language (BSL)",
        "join": "Join",
        "waiting": "Please wait: the health worker will let you in.",
        "in_call": "You are in the consult.",
    },
    "cy": {
        "invite": "Cyfieithydd",
        "send": "Anfon y gwahoddiad",
        "bsl": "Iaith Arwyddion Prydain (BSL)",
        "title": "Gwahoddiad i gyfieithydd",
        "next": "Nesaf",
        "make": "Gwnewch eich cyfrif cyfieithydd",
        "language": "Iaith: Iaith Arwyddion Prydain (BSL)",
        "join": "Ymuno",
        "waiting": "Arhoswch: bydd y gweithiwr iechyd yn eich gadael i mewn.",
        "in_call": "Rydych yn yr ymgynghoriad.",
    },
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_a_clinician_invites_an_interpreter_by_email_who_joins_and_is_admitted(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str, clock: FakeClock
) -> None:
    words = WORDS[lang]
    async with smtp_server() as inbox:
        live = await make_live(
            smtp_host="127.0.0.1",
            smtp_port=inbox.port,
            smtp_tls="none",
            smtp_from="throughcare@hmp.example",
        )
        world = await consult_world(live.app, relay_only=False)

        # The clinician invites a BSL interpreter from the consult's row on today's list.
        watch = PageWatch()
        clinician = await new_page(browser, watch)
        await sign_in_clinician(clinician, live, world)
        if lang == "cy":
            await clinician.locator("#lang-switch").click()
            await clinician.wait_for_selector("html[lang='cy'] body[data-ready='true']")
            await clinician.wait_for_selector("#screen-list:not([hidden])")
        row = clinician.locator(f"tr[data-appointment='{world.appointment_id}']")
        await row.locator("button[data-interpreter]").click()
        panel = clinician.locator("#interpreter-invite")
        await panel.wait_for()
        await panel.get_by_label({"en": "Language", "cy": "Iaith"}[lang]).select_option("bfi")
        await panel.locator("#interp-email").fill(EMAIL)
        await panel.get_by_role("button", name=words["send"]).click()
        status = panel.locator("#interp-status")
        await status.filter(has_text=words["bsl"]).wait_for()
        await check_accessibility(clinician, axe_source, f"clinician invites ({lang})")
        await screenshot(clinician, f"interp-invite-{lang}")

        # The email arrives; its link carries the code in the fragment.
        [message] = inbox.messages
        assert message["To"] == EMAIL
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found = re.search(r"(http\S+/interpreter/accept#code=([A-Z0-9-]+))", payload.decode())
        assert found is not None
        link, code = found.group(1), found.group(2)
        assert link.startswith(live.url("/"))

    # The interpreter opens it: the code is filled in and gone from the address bar.
    interp = await new_page(browser, watch)
    await interp.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    await visit(interp, link)
    assert await interp.locator("#code-heading").inner_text() == words["title"]
    assert await interp.locator("#code").input_value() == code
    assert code not in interp.url
    await interp.get_by_role("button", name=words["next"]).click()
    await interp.wait_for_selector("#screen-account:not([hidden])")
    assert await interp.locator("#account-heading").inner_text() == words["make"]
    assert words["bsl"] in await interp.locator("#invited-for").inner_text()
    secret = await interp.locator("#totp-secret").get_attribute("data-secret")
    assert secret
    await check_accessibility(interp, axe_source, f"interpreter makes the account ({lang})")
    await screenshot(interp, f"interp-accept-{lang}")
    await interp.fill("#display-name", "Ines Interpreter")
    await interp.fill("#username", f"ines.{lang}")
    await interp.fill("#password", PASSWORD)
    await interp.fill("#password-again", PASSWORD)
    await interp.fill("#totp", pyotp.TOTP(secret).at(live.app[CLOCK].now()))
    await interp.press("#totp", "Enter")

    # Signed in, on /attend: the one consult, with its language and no clinical text.
    await interp.wait_for_url(live.url("/attend"))
    card = interp.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.wait_for()
    assert words["language"] in await card.inner_text()
    await check_accessibility(interp, axe_source, f"interpreter's consult list ({lang})")
    await screenshot(interp, f"interp-attend-{lang}")

    # The consult starts (the clinician admits the patient, on a desk of their own); the
    # interpreter joins, waits, and is admitted by the clinician.
    if lang == "cy":  # the account remembers its language: the consult's desk is in English
        await clinician.locator("#lang-switch").click()
        await clinician.wait_for_selector("html[lang='en'] body[data-ready='true']")
    await clinician.context.close()
    clock.advance(seconds=30)  # the clinician's next TOTP code, not a replay
    desk, _device = await run_consult(live, world, browser, None, f"interp-{lang}-")
    await card.get_by_role("button", name=words["join"]).click()
    await interp.get_by_text(words["waiting"]).wait_for()
    await check_accessibility(interp, axe_source, f"interpreter waiting ({lang})")
    admit = desk.get_by_role("button", name="Admit: Interpreter")
    await admit.wait_for()
    await screenshot(desk, f"interp-clinician-waiting-{lang}")
    await admit.click()
    await interp.get_by_text(words["in_call"]).wait_for()
    await check_accessibility(interp, axe_source, f"interpreter admitted ({lang})")
    await screenshot(interp, f"interp-admitted-{lang}")
    assert watch.problems == []
