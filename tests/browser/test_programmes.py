"""Programmes on the device and the keyworker's desk, EN and CY, axe-clean, screenshots.

A prisoner put on the substance-misuse programme by their keyworker opens its first session,
writes a free-text answer and picks a choice, reloads (the answers are still there), finishes it,
then writes a personal plan in session 2 and comes back to it after a reload. The keyworker sees
their progress and latest scores, the trend chart, and their answers; an officer gets nowhere.
"""

from __future__ import annotations

from typing import Any

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
from tests.world import PASSWORD, new_staff
from web.demo_programmes import _audit, _phq9, create_programmes
from web.interventions import INTERVENTIONS, PROGRAMMES
from web.state import ACCESS, CLOCK

pytestmark = pytest.mark.slow


async def _device(page: Any, live: Any, world: Any) -> None:
    await page.goto(live.url("/healthz"))
    await page.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", world.prisoner.device_credential
    )
    await visit(page, live.url("/device"))
    await page.get_by_label("Your prison number").fill(world.prisoner.prison_number)
    await page.get_by_label("Your PIN").fill(world.prisoner.pin)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-home:not([hidden])")


async def _staff(page: Any, live: Any, staff: Any, path: str) -> None:
    await visit(page, live.url(path))
    await page.get_by_label("Username").fill(staff.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(staff.code(live.app))
    await page.get_by_role("button", name="Sign in").click()


async def _ready(page: Any, screen: str) -> None:
    await page.wait_for_selector(f"body[data-ready='true'] #{screen}:not([hidden])")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_prisoner_works_a_session_and_the_keyworker_follows(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    app = live.app
    ids = await create_programmes(app[PROGRAMMES], None)
    kw = await new_staff(app, Role.KEYWORKER, "kw.programmes", world.est)
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, session_id="t")
    await app[ACCESS].caseloads.set_caseload(officer, kw.account_id, [world.prisoner.account_id])
    keyworker = Principal(kw.account_id, Role.KEYWORKER, world.est, session_id="t")
    await app[PROGRAMMES].enrol(keyworker, world.prisoner.account_id, ids[0])
    # A baseline and two progress checks a fortnight apart: the charts show a trend.
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, session_id="t")
    for audit_total, phq_total in ((22, 17), (15, 11), (9, 6)):
        await app[INTERVENTIONS].submit(prisoner, "audit", _audit(audit_total))
        await app[INTERVENTIONS].submit(prisoner, "phq9", _phq9(phq_total))
        app[CLOCK].advance(days=14)

    watch = PageWatch()
    device = await new_page(browser, watch)
    await _device(device, live, world)
    await device.click("a.tile-programmes")
    await _ready(device, "screen-list")
    await device.click("#to-work")
    await _ready(device, "screen-overview")
    mine = device.locator(f"#mine li[data-programme='{ids[0]}']")
    assert "0 of 3 sessions done" in await mine.text_content()
    # Thinking skills may be joined by oneself; the violence programme only by staff.
    assert await device.locator("#available li").count() == 1
    await screenshot(device, "programme-overview-en")
    await check_accessibility(device, axe_source, "programme overview en")
    await mine.locator("a").click()
    await _ready(device, "screen-programme")
    states = await device.locator("#sessions li").evaluate_all(
        "items => items.map(i => i.dataset.state)"
    )
    assert states == ["open", "locked", "locked"]
    await device.click("#sessions li[data-position='1'] a")
    await _ready(device, "screen-session")
    await device.get_by_label("What would you like to change, and why?").fill(
        "Stop drinking every day so I can see my kids."
    )
    await device.locator("[data-exercise='change'] button").click()
    await device.wait_for_selector("[data-exercise='change'][data-saved='true']")
    # Refused words keep what was saved and say why.
    await device.get_by_label("What would you like to change, and why?").fill("<b>shout</b>")
    await device.locator("[data-exercise='change'] button").click()
    error = device.locator("#ex-change-error")
    await error.wait_for()
    assert await error.text_content() == "Use plain words, without the < and > signs."
    await device.get_by_label("Thinking about it").check()
    # A double tap saves once (the button is off while saving) and the answer stays.
    await device.locator("[data-exercise='ready'] button").dblclick()
    await device.wait_for_selector("[data-exercise='ready'][data-saved='true']")
    await device.reload()
    await _ready(device, "screen-session")
    assert (
        await device.get_by_label("What would you like to change, and why?").input_value()
        == "Stop drinking every day so I can see my kids."
    )
    assert await device.get_by_label("Thinking about it").is_checked()
    await screenshot(device, "programme-session-en")
    await check_accessibility(device, axe_source, "programme session en")
    await device.click("#session-finish")
    await _ready(device, "screen-programme")
    states = await device.locator("#sessions li").evaluate_all(
        "items => items.map(i => i.dataset.state)"
    )
    assert states == ["done", "open", "locked"]

    # Session 2 in Welsh: the personal plan; a reload keeps it.
    await device.click("#lang-switch")
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await device.click("#sessions li[data-position='2'] a")
    await _ready(device, "screen-session")
    assert await device.text_content("#session-heading") == "Sesiwn 2: Fy sbardunau a fy nghynllun"
    await device.get_by_label("Beth sy'n fy sbarduno").fill("Diwrnod cyflog\nGweld hen ffrindiau")
    await device.get_by_label("Sut galla i ei osgoi").fill("Rhoi fy arian i fy chwaer")
    await device.get_by_label("Sut galla i ymdopi").fill("Ffonio fy noddwr")
    await device.locator("[data-exercise='plan'] button").click()
    await device.wait_for_selector("[data-exercise='plan'][data-saved='true']")
    await device.reload()
    await _ready(device, "screen-session")
    assert (
        await device.get_by_label("Beth sy'n fy sbarduno").input_value()
        == "Diwrnod cyflog\nGweld hen ffrindiau"
    )
    # Finishing with an exercise unanswered says so, and the session stays open.
    await device.click("#session-finish")
    await device.wait_for_selector("#session-error:not([hidden])")
    await screenshot(device, "programme-plan-cy")
    await check_accessibility(device, axe_source, "programme plan cy")

    # The keyworker: progress, latest scores, the trend chart and the answers.
    desk = await new_page(browser, watch)
    await _staff(desk, live, kw, "/programmes/caseload")
    await _ready(desk, "screen-caseload")
    person = desk.locator(f"tr[data-person='{world.prisoner.account_id}']")
    text = await person.text_content()
    assert "1 of 3 sessions done" in text
    assert "PHQ-9: 6 (Mild)" in text and "AUDIT: 9 (Zone II)" in text
    await person.get_by_role("button", name="Open").click()
    await desk.get_by_role("button", name="Show their answers").click()
    answers = desk.locator("#answers section[data-session='1']")
    await answers.wait_for()
    assert "Stop drinking every day so I can see my kids." in await answers.text_content()
    plan = desk.locator("#answers section[data-session='2'] .plan-answer")
    assert "Diwrnod cyflog; Gweld hen ffrindiau" in await plan.text_content()
    await screenshot(desk, "programme-caseload-en")
    await check_accessibility(desk, axe_source, "programme caseload en")
    # The keyworker puts them on the violence programme too; a second time says so.
    await desk.select_option("#enrol-programme", ids[2])
    await desk.get_by_role("button", name="Enrol").click()
    await desk.wait_for_selector(f"tr[data-person] li[data-programme='{ids[2]}']")
    assert "0 of 1 sessions done" in await person.text_content()
    await desk.select_option("#enrol-programme", ids[2])
    await desk.get_by_role("button", name="Enrol").click()
    await desk.wait_for_selector("#enrol-error:not([hidden])")
    await desk.click("#lang-switch")
    await desk.wait_for_selector("html[lang='cy'] body[data-ready='true'] #screen-caseload")
    assert "1 o 3 sesiwn wedi'u gwneud" in await person.text_content()
    await screenshot(desk, "programme-caseload-cy")
    await check_accessibility(desk, axe_source, "programme caseload cy")
    await person.get_by_role("link").click()
    chart = desk.locator("section[data-kind='audit']")
    await chart.wait_for()
    assert await chart.locator("svg circle").count() == 3
    assert await chart.locator("tbody td:nth-child(2)").all_text_contents() == [
        "22 / 40",
        "15 / 40",
        "9 / 40",
    ]
    await screenshot(desk, "programme-trend-cy")
    await check_accessibility(desk, axe_source, "programme trend cy")

    # An officer: the desk says it is not for them, and the API gives no answers.
    office = await new_page(browser, watch)
    await _staff(office, live, world.officer, "/programmes/caseload")
    await _ready(office, "screen-wrong-role")
    status = await office.evaluate(
        """async ([pid, prog]) => (await fetch(
            `/api/prisoners/${pid}/programmes/${prog}/answers`)).status""",
        [world.prisoner.account_id, ids[0]],
    )
    assert status == 403
    assert "Stop drinking" not in await office.content()
    await screenshot(office, "programme-caseload-officer-en")
    assert watch.problems == []
