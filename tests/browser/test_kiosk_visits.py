"""Issue 16 item 3 in a real browser, English and Welsh, axe-clean: the prisoner asks for a
visitor from the device's Visits tile (a double tap is one request); the visits officer
approves it; the prisoner books a time with free places (a double tap is one booking, a
reload shows the same); the officer's day list shows the visit and the hall's letter to
post. Then a lockdown over the visit cancels it: the device says booking is closed,
offers a new time after the lockdown, and the visitor's cancellation letter is there."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import consult_world
from tests.world import PASSWORD
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.kiosk.visits import VISITS
from web.state import CLOCK, IDENTITY, JOBS, SCHEDULING

pytestmark = pytest.mark.slow

WORDS = {
    "en": {
        "tile": "Visits",
        "home": "Home",
        "name": "Their full name",
        "relationship": "Who they are to you (for example: mother, friend)",
        "ask": "Ask for this visitor",
        "no_html": "Write plain words only, without < and > around words.",
        "asked": "Asked. Staff will approve or say no.",
        "waiting": "Waiting for staff to approve",
        "approve": "Approve",
        "approved": "Jane Smith is approved.",
        "book": "Book this visit",
        "need_time": "Choose a time first.",
        "booked": "Booked. Your reference is",
        "show": "Show",
        "day": "Day",
        "closed": "Booking visits is closed during the lockdown.",
        "offer": "was cancelled because of the lockdown",
        "take": "Book ",
        "lockdown_line": "Cancelled because of the lockdown.",
        "letter": "your visit to",
    },
    "cy": {
        "tile": "Ymweliadau",
        "home": "Hafan",
        "name": "Ei enw llawn",
        "relationship": "Pwy yw e neu hi i chi (er enghraifft: mam, ffrind)",
        "ask": "Gofyn am yr ymwelydd hwn",
        "no_html": "Ysgrifennwch eiriau plaen yn unig, heb < a > o amgylch geiriau.",
        "asked": "Wedi gofyn. Bydd staff yn cymeradwyo neu'n dweud na.",
        "waiting": "Yn aros i staff gymeradwyo",
        "approve": "Cymeradwyo",
        "approved": "Mae Jane Smith wedi'i gymeradwyo.",
        "book": "Trefnu'r ymweliad hwn",
        "need_time": "Dewiswch amser yn gyntaf.",
        "booked": "Wedi'i drefnu. Eich cyfeirnod yw",
        "show": "Dangos",
        "day": "Diwrnod",
        "closed": "Mae trefnu ymweliadau ar gau yn ystod y cyfyngiadau symud.",
        "offer": "ei ganslo oherwydd y cyfyngiadau symud",
        "take": "Trefnu ",
        "lockdown_line": "Wedi'i ganslo oherwydd y cyfyngiadau symud.",
        "letter": "mae eich ymweliad â",
    },
}


async def _visits_page(browser: Any, watch: PageWatch, live: Any, who: Any) -> Any:
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff/visits"))
    await page.fill("#username", who.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", who.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector("#screen-visits:not([hidden])")
    await page.wait_for_selector("body[data-ready='true']")
    return page


async def _open_visits(device: Any, words: dict[str, str]) -> None:
    await device.get_by_role("link", name=words["tile"]).click()
    await device.wait_for_selector("#screen-visits:not([hidden])")
    await device.locator("#visits-visitors li").first.wait_for()


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_prisoner_asks_staff_approve_prisoner_books_and_a_lockdown_offers_a_new_time(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    for person, role in ((world.officer, Role.OFFICER), (world.prisoner, Role.PRISONER)):
        await live.app[IDENTITY].set_locale(Principal(person.account_id, role, world.est, ""), lang)
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    visits = live.app[VISITS]
    tomorrow = live.app[CLOCK].now().date() + timedelta(days=1)
    first = datetime.combine(tomorrow, time(14, 0), tzinfo=live.app[CLOCK].now().tzinfo)
    sessions = [
        await visits.create_session(
            officer,
            world.est,
            starts_at=(first + timedelta(days=d)).isoformat(),
            ends_at=(first + timedelta(days=d, hours=2)).isoformat(),
            capacity=5,
        )
        for d in (0, 2)
    ]
    words = WORDS[lang]
    watch = PageWatch()
    suffix = "" if lang == "en" else "-cy"

    # The prisoner asks for a visitor: HTML is refused, a double tap is one request.
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name=words["tile"]).click()
    await device.wait_for_selector("#screen-visits:not([hidden])")
    await device.get_by_label(words["name"]).fill("<b>Jane</b>")
    await device.get_by_label(words["relationship"]).fill("Sister")
    await device.get_by_role("button", name=words["ask"]).click()
    await device.wait_for_selector("#visits-ask-error:not([hidden])")
    assert await device.locator("#visits-ask-error").inner_text() == words["no_html"]
    await device.get_by_label(words["name"]).fill("Jane Smith")
    await device.get_by_role("button", name=words["ask"]).dblclick()
    await device.wait_for_selector("#visits-done:not([hidden])")
    assert words["asked"] in await device.locator("#visits-done").inner_text()
    cards = device.locator("#visits-visitors li.visitor")
    await cards.first.wait_for()
    assert await cards.count() == 1
    assert words["waiting"] in await cards.first.inner_text()
    await check_accessibility(device, axe_source, f"device visits asked {lang}")
    await screenshot(device, f"device-visits-asked{suffix}")

    # The visits officer approves it from the requests queue.
    desk = await _visits_page(browser, watch, live, world.officer)
    request = desk.locator("#svisits-requests li.visitor-request")
    await request.wait_for()
    assert "Jane Smith" in await request.inner_text()
    await check_accessibility(desk, axe_source, f"staff visits requests {lang}")
    await screenshot(desk, f"staff-visits-requests{suffix}")
    await request.get_by_role("button", name=words["approve"]).click()
    await desk.wait_for_selector(f'#svisits-result:has-text("{words["approved"]}")')

    # The prisoner books: no time chosen is a clear answer; a double tap is one booking.
    await device.reload()
    await device.wait_for_selector("body[data-ready='true']")
    await device.wait_for_selector("#screen-visits:not([hidden])")
    await device.locator("#visits-who input[type=checkbox]").first.wait_for()
    await device.locator("#visits-who label.choice").first.click()
    await device.get_by_role("button", name=words["book"]).click()
    await device.wait_for_selector("#visits-book-error:not([hidden])")
    assert await device.locator("#visits-book-error").inner_text() == words["need_time"]
    await device.locator("#visits-sessions label.choice").first.click()
    await device.get_by_role("button", name=words["book"]).dblclick()
    await device.wait_for_selector(f'#visits-done:has-text("{words["booked"]}")')
    booked = device.locator("#visits-list li.visit[data-status='booked']")
    await booked.first.wait_for()
    assert await booked.count() == 1
    reference = await booked.first.get_attribute("data-reference")
    assert reference and reference in await device.locator("#visits-done").inner_text()
    await check_accessibility(device, axe_source, f"device visits booked {lang}")
    await screenshot(device, f"device-visits-booked{suffix}")
    # Reload and come back: the same one visit.
    await device.reload()
    await device.wait_for_selector("body[data-ready='true']")
    await device.get_by_role("link", name=words["home"]).first.click()
    await _open_visits(device, words)
    await device.locator("#visits-list li.visit").first.wait_for()
    assert await device.locator("#visits-list li.visit[data-status='booked']").count() == 1

    # The officer's day list shows it, and the letter to post to Jane (no email given).
    await desk.get_by_label(words["day"], exact=True).fill(tomorrow.isoformat())
    await desk.get_by_role("button", name=words["show"]).click()
    row = desk.locator(f"#svisits-day-list tr[data-reference='{reference}']")
    await row.wait_for()
    assert "Jane Smith" in await row.inner_text()
    await desk.reload()
    await desk.wait_for_selector("body[data-ready='true']")
    letter = desk.locator("#svisits-letters li.letter[data-event='confirmed']")
    await letter.wait_for()
    assert reference in await letter.inner_text()
    await desk.get_by_label(words["day"], exact=True).fill(tomorrow.isoformat())
    await desk.get_by_role("button", name=words["show"]).click()
    await row.wait_for()
    await check_accessibility(desk, axe_source, f"staff visits day list {lang}")
    await screenshot(desk, f"staff-visits-day-list{suffix}")

    # A lockdown over the visit: closed, cancelled, a new time offered after it.
    await live.app[SCHEDULING].declare_lockdown(
        officer,
        world.est,
        starts_at=None,
        ends_at=(first + timedelta(hours=3)).isoformat(),
    )
    await live.app[JOBS].run_due()
    await device.get_by_role("link", name=words["home"]).first.click()
    notice = device.locator("#inbox li[data-kind='visits_offered']")
    await notice.wait_for()
    assert reference in await notice.inner_text()
    await _open_visits(device, words)
    await device.wait_for_selector("#visits-closed:not([hidden])")
    assert words["closed"] in await device.locator("#visits-closed").inner_text()
    offer = device.locator(f"#visits-offer-list li.offer[data-reference='{reference}']")
    await offer.wait_for()
    assert words["offer"] in await offer.inner_text()
    await check_accessibility(device, axe_source, f"device visits offer {lang}")
    await screenshot(device, f"device-visits-lockdown-offer{suffix}")
    await offer.get_by_role("button").filter(has_text=words["take"]).first.click()
    await device.wait_for_selector(f'#visits-done:has-text("{words["booked"]}")')
    cancelled = device.locator(f"#visits-list li.visit[data-reference='{reference}']")
    assert words["lockdown_line"] in await cancelled.inner_text()
    rebooked = device.locator("#visits-list li.visit[data-status='booked']")
    assert await rebooked.count() == 1
    assert await rebooked.first.get_attribute("data-reference") != reference
    assert await device.locator("#visits-offers").is_hidden()
    await screenshot(device, f"device-visits-rebooked{suffix}")
    assert [b.session_id for b in await visits.mine(_prisoner(world))] == [s.id for s in sessions]

    await desk.reload()
    await desk.wait_for_selector("body[data-ready='true']")
    gone = desk.locator("#svisits-letters li.letter[data-event='cancelled']")
    await gone.wait_for()
    assert reference in await gone.inner_text()
    assert words["letter"] in (await gone.inner_text()).lower() or words["letter"] in (
        await gone.inner_text()
    )
    await check_accessibility(desk, axe_source, f"staff visits letters {lang}")
    await screenshot(desk, f"staff-visits-letters{suffix}")
    assert watch.problems == []


def _prisoner(world: Any) -> Principal:
    return Principal(world.prisoner.account_id, Role.PRISONER, world.est, "")
