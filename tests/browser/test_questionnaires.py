"""A prisoner answers PHQ-9 on the device, one question at a time; choosing a question 9
answer above 0 shows where to get help at once, with the API cut off (so no round trip);
the duty clinician sees the alert and acknowledges it. EN and CY, axe-clean, screenshots."""

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
from web.interventions import INTERVENTIONS
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


async def _answer_phq9_with_risk(page: Any, axe_source: str, name: str) -> None:
    await page.click("button[data-kind='phq9']")
    for n in range(1, 9):
        await page.wait_for_selector("#screen-question:not([hidden])")
        assert await page.text_content("#question-progress") in (
            f"Question {n} of 9",
            f"Cwestiwn {n} o 9",
        )
        await page.check("#option-1")
        assert await page.is_hidden("#risk-help")
        await page.click("#question-next")
    # Question 9, with every API request refused: the help must come from the page itself.
    blocked: list[str] = []

    async def refuse(route: Any) -> None:
        blocked.append(route.request.url)
        await route.abort()

    await page.route("**/api/**", refuse)
    await page.check("#option-2")
    await page.wait_for_selector("#risk-help:not([hidden])")
    assert blocked == []
    text = await page.text_content("#risk-help")
    assert "116 123" in text
    await screenshot(page, f"questionnaire-risk-help-{name}")
    await check_accessibility(page, axe_source, f"questionnaire risk help {name}")
    await page.unroute("**/api/**", refuse)
    await page.click("#question-next")
    await page.wait_for_selector("#screen-finish:not([hidden])")
    await page.click("#finish-send")
    await page.wait_for_selector("#screen-result:not([hidden])")
    await page.wait_for_selector("#risk-help-told:not([hidden])")
    # 8 x 1 + 2 = 10: PHQ-9's moderate band (10-14).
    score = await page.text_content("#result-score")
    assert "10" in score and "27" in score
    await screenshot(page, f"questionnaire-result-{name}")
    await check_accessibility(page, axe_source, f"questionnaire result {name}")


async def _acknowledge(desk: Any, axe_source: str, name: str, prisoner: str) -> None:
    card = desk.locator("li[data-acknowledged='false']")
    await card.first.wait_for()
    assert prisoner in await card.first.text_content()
    await screenshot(desk, f"risk-queue-{name}")
    await check_accessibility(desk, axe_source, f"risk queue {name}")
    await card.first.locator("button").click()
    await desk.wait_for_function("() => !document.querySelector(\"li[data-acknowledged='false']\")")
    assert await desk.locator("li[data-acknowledged='true']").count() >= 1
    await screenshot(desk, f"risk-queue-acknowledged-{name}")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_risk_answer_shows_help_at_once_and_the_clinician_acknowledges_it(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    watch = PageWatch()

    device = await new_page(browser, watch)
    await _device(device, live, world)
    await device.click("a.tile-programmes")
    await device.wait_for_selector("body[data-ready='true'] #screen-list:not([hidden])")
    await check_accessibility(device, axe_source, "programmes list en")
    await screenshot(device, "programmes-list-en")
    await _answer_phq9_with_risk(device, axe_source, "en")

    desk = await new_page(browser, watch)
    await visit(desk, live.url("/healthcare/risk-alerts"))
    await desk.get_by_label("Username").fill(world.clinician.username)
    await desk.get_by_label("Password").fill(PASSWORD)
    await desk.get_by_label("6-digit code").fill(world.clinician.code(live.app))
    await desk.get_by_role("button", name="Sign in").click()
    await desk.wait_for_selector("#screen-risk:not([hidden])")
    await _acknowledge(desk, axe_source, "en", world.prisoner_name)

    # In Welsh: the items stay in English (no validated translation) and say so.
    await visit(device, live.url("/device/programmes"))
    await device.click("#lang-switch")
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await device.wait_for_selector("#screen-list:not([hidden])")
    await device.click("button[data-kind='phq9']")
    await device.wait_for_selector("#not-welsh:not([hidden])")
    assert await device.get_attribute("#question-text", "lang") == "en"
    await check_accessibility(device, axe_source, "questionnaire question cy")
    await screenshot(device, "questionnaire-question-cy")
    await device.click("#question-back")
    await _answer_phq9_with_risk(device, axe_source, "cy")
    assert await device.text_content("#risk-help-heading") == "Cael help nawr"

    await desk.click("#lang-switch")
    await desk.wait_for_selector("html[lang='cy'] #screen-risk:not([hidden])")
    await _acknowledge(desk, axe_source, "cy", world.prisoner_name)
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_keyworker_sees_the_trend_of_each_score_as_a_chart_and_a_table(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    clock = live.app[CLOCK]
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, session_id="t")
    # A baseline and two progress checks, two weeks apart: a falling PHQ-9.
    for total in (18, 12, 7):
        answers = {str(n): 0 for n in range(1, 10)}
        for n in range(total):
            answers[str(n % 8 + 1)] += 1
        await live.app[INTERVENTIONS].submit(prisoner, "phq9", answers)
        clock.advance(days=14)
    kw = await new_staff(live.app, Role.KEYWORKER, "kw.trend", world.est)
    officer = await new_staff(live.app, Role.OFFICER, "officer.trend", world.est)
    await live.app[ACCESS].caseloads.set_caseload(
        Principal(officer.account_id, Role.OFFICER, world.est, session_id="t"),
        kw.account_id,
        [world.prisoner.account_id],
    )

    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/scores"))
    await page.get_by_label("Username").fill(kw.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(kw.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-scores:not([hidden]) #person-field:not([hidden])")
    for name in ("en", "cy"):
        if name == "cy":
            await page.click("#lang-switch")
            await page.wait_for_selector("html[lang='cy'] #screen-scores:not([hidden])")
        await page.select_option("#person", world.prisoner.account_id)
        panel = page.locator("section[data-kind='phq9']")
        await panel.wait_for()
        assert await panel.locator("svg circle").count() == 3
        scores = await panel.locator("tbody td:nth-child(2)").all_text_contents()
        assert scores == ["18 / 27", "12 / 27", "7 / 27"]
        # A keyworker never sees the person's own words.
        assert await panel.locator("thead th").count() == 3
        await screenshot(page, f"scores-trend-{name}")
        await check_accessibility(page, axe_source, f"scores trend {name}")
        if name == "en":
            # The keyworker plans fortnightly progress checks; the next is due at once.
            await page.select_option("#checks-kind", "phq9")
            await page.fill("#checks-weeks", "2")
            await page.click("#checks-form button[type='submit']")
            await page.wait_for_selector("#checks-list li:has-text('every 2 week')")

    device = await new_page(browser, watch)
    await _device(device, live, world)
    await visit(device, live.url("/device/programmes"))
    due = device.locator("button[data-kind='phq9'][data-due='true']")
    await due.wait_for()
    assert "Due now" in await due.text_content()
    assert await device.locator("button[data-due='true']").count() == 1
    await screenshot(device, "programmes-due-en")
    await check_accessibility(device, axe_source, "programmes due en")
    assert watch.problems == []
