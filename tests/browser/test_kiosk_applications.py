"""Issue 16 item 4 in a real browser, English and Welsh, axe-clean: the prisoner sends an
application from the device's Applications tile and gets a receipt at once (a double tap is
one application); the wing office answers from its queue; the reply reaches the device's
inbox and the Applications screen; the prisoner takes it further as a confidential
complaint, which the governor sees in their queue and the wing office does not."""

from __future__ import annotations

from typing import Any

import pytest

from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import add_governor, consult_world
from tests.world import PASSWORD
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import ACCESS, IDENTITY, JOBS

pytestmark = pytest.mark.slow

WORDS = {
    "en": {
        "tile": "Applications",
        "department": "Department",
        "wing": "Wing office",
        "text": "What do you want to ask?",
        "send": "Send application",
        "no_html": "Write plain words only, without < and > around words.",
        "receipt": "Sent. Your receipt number is",
        "health": "Ask for a health appointment",
        "reply_label": "Your reply",
        "send_reply": "Send reply",
        "replied": "The prisoner is told in their inbox.",
        "notice": "There is a reply to your application",
        "complain": "Not happy? Make a complaint",
        "complaint_label": "Why are you not happy with the reply?",
        "confidential": "Confidential: send it to the governor only, not to wing staff",
        "empty": "Nothing waiting in this queue.",
        "from": "Complaint",
    },
    "cy": {
        "tile": "Ceisiadau",
        "department": "Adran",
        "wing": "Swyddfa'r adain",
        "text": "Beth ydych chi am ei ofyn?",
        "send": "Anfon cais",
        "no_html": "Ysgrifennwch eiriau plaen yn unig, heb < a > o amgylch geiriau.",
        "receipt": "Wedi'i anfon. Eich rhif derbynneb yw",
        "health": "Gofyn am apwyntiad iechyd",
        "reply_label": "Eich ateb",
        "send_reply": "Anfon ateb",
        "replied": "Dywedir wrth y carcharor yn ei fewnflwch.",
        "notice": "Mae ateb i'ch cais",
        "complain": "Ddim yn hapus? Gwnewch gwyn",
        "complaint_label": "Pam nad ydych yn hapus gyda'r ateb?",
        "confidential": "Cyfrinachol: ei anfon at y llywodraethwr yn unig, nid at staff yr adain",
        "empty": "Dim byd yn aros yn y ciw hwn.",
        "from": "Cwyn",
    },
}

SYSTEM = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")


async def _staff_page(browser: Any, watch: PageWatch, live: Any, who: Any) -> Any:
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff/applications"))
    await page.fill("#username", who.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", who.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector("#screen-applications:not([hidden])")
    await page.wait_for_selector("body[data-ready='true']")
    return page


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_prisoner_applies_reads_reply_and_only_the_governor_sees_a_confidential_complaint(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    governor = await add_governor(live.app, world.est)
    departments = {
        d.code: d.id for d in await live.app[ACCESS].departments.of_establishment(SYSTEM, world.est)
    }
    await live.app[ACCESS].departments.set_members(
        SYSTEM, departments["wing-office"], [world.officer.account_id]
    )
    for person, role in (
        (world.officer, Role.OFFICER),
        (governor, Role.GOVERNOR),
        (world.prisoner, Role.PRISONER),
    ):
        await live.app[IDENTITY].set_locale(Principal(person.account_id, role, world.est, ""), lang)
    words = WORDS[lang]
    watch = PageWatch()
    suffix = "" if lang == "en" else "-cy"

    # The prisoner writes to the wing office from the device.
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name=words["tile"]).click()
    await device.wait_for_selector("#screen-applications:not([hidden])")
    assert await device.get_by_role("link", name=words["health"]).count() == 1
    await device.get_by_label(words["department"], exact=True).select_option(label=words["wing"])
    await device.get_by_label(words["text"]).fill("<b>pillow</b>")
    await device.get_by_role("button", name=words["send"]).click()
    await device.wait_for_selector("#apps-error:not([hidden])")
    assert await device.locator("#apps-error").inner_text() == words["no_html"]
    await device.get_by_label(words["text"]).fill("Please may I have a second pillow?")
    await device.get_by_role("button", name=words["send"]).dblclick()
    receipt_line = device.locator("#apps-receipt")
    await receipt_line.wait_for()
    assert words["receipt"] in await receipt_line.inner_text()
    cards = device.locator("#apps-list li.application")
    await cards.first.wait_for()
    assert await cards.count() == 1
    receipt = await cards.first.get_attribute("data-receipt")
    assert receipt and receipt in await receipt_line.inner_text()
    await check_accessibility(device, axe_source, f"device applications {lang}")
    await screenshot(device, f"device-applications-sent{suffix}")

    # The wing office answers from its queue.
    officer = await _staff_page(browser, watch, live, world.officer)
    card = officer.locator(f"#sapps-list li[data-receipt='{receipt}']")
    await card.wait_for()
    assert "Please may I have a second pillow?" in await card.inner_text()
    await check_accessibility(officer, axe_source, f"wing queue {lang}")
    await screenshot(officer, f"staff-applications-queue{suffix}")
    await card.get_by_label(words["reply_label"]).fill("<i>Yes</i>, collect it")
    await card.get_by_role("button", name=words["send_reply"]).click()
    await card.locator(".error:not([hidden])").wait_for()
    assert await card.locator(".error").inner_text() == words["no_html"]
    await card.get_by_label(words["reply_label"]).fill(
        "Yes, collect it from the wing office at 5pm."
    )
    await card.get_by_role("button", name=words["send_reply"]).click()
    await officer.wait_for_selector(f"#sapps-result:has-text('{receipt}')")
    assert words["replied"] in await officer.locator("#sapps-result").inner_text()

    # The prisoner is told in the inbox, and reads the reply on the Applications screen.
    await live.app[JOBS].run_due()
    await device.get_by_role("link", name="Home" if lang == "en" else "Hafan").first.click()
    notice = device.locator("#inbox li[data-kind='application_answered']")
    await notice.wait_for()
    assert f"{words['notice']} {receipt}" in await notice.inner_text()
    await device.get_by_role("link", name=words["tile"]).click()
    answered = device.locator(f"#apps-list li[data-receipt='{receipt}']")
    await answered.locator(".reply").wait_for()
    assert "collect it from the wing office at 5pm" in await answered.inner_text()

    # Not happy: a confidential complaint, for the governor alone.
    await answered.locator("summary").click()
    await answered.get_by_label(words["complaint_label"]).fill("The officer ignored me twice.")
    await answered.get_by_label(words["confidential"]).check()
    await answered.get_by_role("button", name=words["complain"]).click()
    complaint = device.locator("#apps-list li[data-stage='complaint']")
    await complaint.wait_for()
    complaint_receipt = await complaint.get_attribute("data-receipt")
    await check_accessibility(device, axe_source, f"device complaint {lang}")
    await screenshot(device, f"device-applications-complaint{suffix}")

    await officer.reload()
    await officer.wait_for_selector("body[data-ready='true']")
    await officer.locator("#sapps-list li").first.wait_for()
    assert await officer.locator("#sapps-list").inner_text() == words["empty"]

    desk = await _staff_page(browser, watch, live, governor)
    secret = desk.locator(f"#sapps-list li[data-receipt='{complaint_receipt}']")
    await secret.wait_for()
    text = await secret.inner_text()
    assert words["from"] in text and "The officer ignored me twice." in text
    await check_accessibility(desk, axe_source, f"governor queue {lang}")
    await screenshot(desk, f"governor-applications-confidential{suffix}")
    assert watch.problems == []
