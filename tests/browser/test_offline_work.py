"""Lessons and programme sessions offline (issue 17 item 3): the device loses its link
mid-lesson and mid-session, the learner carries on (the lesson's picture comes from the
service worker's cache), what they did waits sealed on the device and the screen says so, the
server receives nothing meanwhile; when the link returns it goes by itself and the screen shows
nothing waiting. EN and CY, axe-clean, screenshots.

The browser reaches the app only through a TCP proxy the test controls (tests/proxy.py), as in
tests/browser/test_offline.py: Playwright's `set_offline` would not stop the service worker's
requests, the proxy stops everything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from campus.tables import campus_progress
from core.identity import Principal, Role
from interventions.programme_tables import programme_answers, programme_completions
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
)
from tests.browser.seed import consult_world
from tests.browser.test_offline import _linked, _problems, _sign_in, _waiting
from tests.campus import files
from tests.kiosk.money_world import join_department
from tests.world import new_staff
from web.campus import CATALOGUE, LEARNING
from web.demo_programmes import create_programmes
from web.interventions import PROGRAMMES
from web.state import DATABASE, IDENTITY

pytestmark = pytest.mark.slow


async def _course(app: Any, est: str, learner: Principal) -> list[str]:
    """A course of two lessons (the first with an approved picture), the learner on it."""
    teacher = await new_staff(app, Role.DEPARTMENT_STAFF, "teacher.off", est)
    approver = await new_staff(app, Role.DEPARTMENT_STAFF, "teacher.app", est)
    for who in (teacher, approver):
        await join_department(app, est, "education", who.account_id)
    t = Principal(teacher.account_id, Role.DEPARTMENT_STAFF, est, "t")
    a = Principal(approver.account_id, Role.DEPARTMENT_STAFF, est, "t")
    catalogue = app[CATALOGUE]
    course = await catalogue.add_course(t, title="Reading a payslip", summary="Each line")
    one, _ = await catalogue.add_lesson(
        t, course.id, title="What it shows", body_html="<p>Your pay, before and after tax.</p>"
    )
    two, _ = await catalogue.add_lesson(
        t, course.id, title="Deductions", body_html="<p>Tax and National Insurance.</p>"
    )
    picture = await catalogue.upload(t, one.id, data=files.png(), claimed="image/png", name="pay")
    await catalogue.decide(a, picture.id, approve=True)
    await app[LEARNING].enrol(learner, course.id)
    return [one.id, two.id]


async def _progress(app: Any) -> list[tuple[str, int, bool]]:
    p = campus_progress.c
    async with app[DATABASE].connect() as conn:
        rows = await conn.execute(select(p.lesson_id, p.step, p.completed_at))
        return sorted((r.lesson_id, r.step, r.completed_at is not None) for r in rows)


async def _controlled(page: Any, cached: str) -> None:
    """The worker is in charge and holds `cached`: the screen can go on offline."""
    for _ in range(600):
        ready = await page.evaluate(
            """async (path) => Boolean(navigator.serviceWorker.controller) &&
                Boolean(await (await caches.open('tc-device-v2')).match(path))""",
            cached,
        )
        if ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the service worker never took charge with {cached} cached")


async def _open(page: Any, origin: str, path: str, screen: str) -> None:
    await page.goto(origin + path)
    await page.wait_for_selector(f"body[data-ready='true'] #{screen}:not([hidden])")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_lesson_finished_offline_is_sent_by_itself_when_the_link_returns(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live, proxy, received = await _linked(make_live)
    origin = f"http://127.0.0.1:{proxy.port}"
    app = live.app
    try:
        world = await consult_world(app, relay_only=False)
        p = world.prisoner
        me = Principal(p.account_id, Role.PRISONER, world.est, "t", p.device_id)
        one, two = await _course(app, world.est, me)
        watch = PageWatch()
        page = await new_page(browser, watch)
        await _sign_in(page, origin, p.device_credential, p.prison_number, p.pin)
        # The lesson is opened once with the link up, then the page's worker takes charge.
        await _open(page, origin, f"/device/learning#lesson/{one}", "screen-lesson")
        await _controlled(page, f"/api/campus/lessons/{one}")
        await page.reload()
        await page.wait_for_selector("body[data-ready='true'] #screen-lesson:not([hidden])")
        assert "Part 1 of 2" in await page.text_content("#lesson-part")

        # Mid-lesson the link drops: the next part (the picture) still shows, from the cache.
        proxy.down()
        before = len(received.paths)
        await page.click("#lesson-next")
        await page.wait_for_selector("#lesson-body img.lesson-image")
        await page.wait_for_function(
            "() => document.querySelector('#lesson-body img').naturalWidth > 0"
        )
        assert "Part 2 of 2" in await page.text_content("#lesson-part")
        await page.click("#lesson-done")
        await page.wait_for_selector("#screen-lesson-saved:not([hidden])")
        await _waiting(page, 2)
        words = await page.text_content("#sync-status")
        assert "Waiting to send: 2" in words and "No connection just now" in words
        await screenshot(page, "offline-lesson-saved-en")
        await check_accessibility(page, axe_source, "offline lesson saved en")
        # The server heard nothing while the link was down, and stored nothing.
        assert received.paths[before:] == []
        assert await _progress(app) == []

        # The link returns: it goes by itself, and the screen shows nothing waiting.
        proxy.up()
        await _waiting(page, 0)
        assert await page.is_hidden("#sync-status")
        assert await _progress(app) == [(one, 1, True)]
        assert received.paths.count("POST /api/sync") >= 1
        await screenshot(page, "offline-lesson-sent-en")
        await check_accessibility(page, axe_source, "offline lesson sent en")

        # In Welsh: the second lesson, opened, then the link drops before it is finished.
        await page.click("#lang-switch")
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
        await _open(page, origin, f"/device/learning#lesson/{two}", "screen-lesson")
        proxy.down()
        before = len(received.paths)
        await page.click("#lesson-done")
        await page.wait_for_selector("#screen-lesson-saved:not([hidden])")
        await _waiting(page, 1)
        assert "Yn aros i'w anfon: 1" in await page.text_content("#sync-status")
        assert await page.text_content("#lesson-saved-heading") == "Wedi'i gadw ar y ddyfais hon"
        await screenshot(page, "offline-lesson-saved-cy")
        await check_accessibility(page, axe_source, "offline lesson saved cy")
        assert received.paths[before:] == []
        proxy.up()
        await _waiting(page, 0)
        assert await _progress(app) == sorted([(one, 1, True), (two, 0, True)])
        await screenshot(page, "offline-lesson-sent-cy")
        assert _problems(watch) == []
    finally:
        await proxy.close()


async def _answers(app: Any) -> int:
    async with app[DATABASE].connect() as conn:
        return len(list(await conn.execute(select(programme_answers.c.id))))


async def _completions(app: Any) -> int:
    async with app[DATABASE].connect() as conn:
        return len(list(await conn.execute(select(programme_completions.c.session_id))))


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_programme_session_worked_offline_is_sent_by_itself_and_a_cellmate_cannot_send_it(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live, proxy, received = await _linked(make_live)
    origin = f"http://127.0.0.1:{proxy.port}"
    app = live.app
    try:
        world = await consult_world(app, relay_only=False)
        p = world.prisoner
        me = Principal(p.account_id, Role.PRISONER, world.est, "t", p.device_id)
        ids = await create_programmes(app[PROGRAMMES], None)
        programme = ids[1]
        await app[PROGRAMMES].enrol_self(me, programme)
        view = await app[PROGRAMMES].my_programme(me, programme)
        s1, s2 = (s.id for s in view.sessions)
        watch = PageWatch()
        page = await new_page(browser, watch)
        await _sign_in(page, origin, p.device_credential, p.prison_number, p.pin)
        at = f"/device/programme-work#p={programme}&s={s1}"
        await _open(page, origin, at, "screen-session")
        await _controlled(page, f"/api/me/programmes/{programme}")
        await page.reload()
        await page.wait_for_selector("body[data-ready='true'] #screen-session:not([hidden])")
        # Never an answer in the cache: it holds the sessions only.
        kept = await page.evaluate(
            """async (path) => (await (await caches.open('tc-device-v2')).match(path)).text()""",
            f"/api/me/programmes/{programme}",
        )
        assert "Stop and think" in kept and '"answers":{}' in kept

        # Mid-session the link drops: both answers and the finished session wait on the device.
        proxy.down()
        before = len(received.paths)
        await page.fill("#ex-last_time", "I shouted at my cellmate")
        await page.click("[data-exercise='last_time'] button")
        await page.wait_for_selector("#ex-last_time-saved:has-text('Saved on this device')")
        await page.check("#ex-often-sometimes")
        await page.click("[data-exercise='often'] button")
        await page.wait_for_selector("#ex-often-saved:has-text('Saved on this device')")
        await page.click("#session-finish")
        await page.wait_for_selector("#status:has-text('Session finished on this device')")
        await _waiting(page, 3)
        assert "Waiting to send: 3" in await page.text_content("#sync-status")
        await screenshot(page, "offline-session-saved-en")
        await check_accessibility(page, axe_source, "offline session saved en")
        assert received.paths[before:] == []
        assert (await _answers(app), await _completions(app)) == (0, 0)
        queued = await page.evaluate(
            """() => new Promise((resolve) => {
                const open = indexedDB.open('tc-offline');
                open.onsuccess = () => {
                  const all = open.result.transaction('queue').objectStore('queue').getAll();
                  all.onsuccess = () => resolve(all.result);
                };
              })"""
        )
        # Sealed: nothing of the answers is readable on the device.
        assert len(queued) == 3 and "cellmate" not in str(queued) and "often" not in str(queued)

        proxy.up()
        await _waiting(page, 0)
        assert await page.is_hidden("#sync-status")
        done = await app[PROGRAMMES].my_programme(me, programme)
        assert done.sessions[0].answers == {
            "last_time": "I shouted at my cellmate",
            "often": "sometimes",
        }
        assert [s.state for s in done.sessions] == ["done", "open"]
        await screenshot(page, "offline-session-sent-en")

        # In Welsh: the next session, the link down from its start.
        await page.click("#lang-switch")
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
        await _open(page, origin, f"/device/programme-work#p={programme}&s={s2}", "screen-session")
        proxy.down()
        await page.fill("#ex-their_view", "Roedd e wedi blino hefyd")
        await page.click("[data-exercise='their_view'] button")
        await page.wait_for_selector("#ex-their_view-saved:has-text('Wedi')")
        await page.click("#session-finish")
        await _waiting(page, 2)
        assert "Yn aros i'w anfon: 2" in await page.text_content("#sync-status")
        await screenshot(page, "offline-session-saved-cy")
        await check_accessibility(page, axe_source, "offline session saved cy")

        # Signed out before the link returns; a cellmate signs in on this device. They see
        # nothing waiting, and what they send carries none of the first person's items.
        queued = await page.evaluate(
            """() => new Promise((resolve) => {
                const open = indexedDB.open('tc-offline');
                open.onsuccess = () => {
                  const all = open.result.transaction('queue').objectStore('queue').getAll();
                  all.onsuccess = () => resolve(all.result.map((r) => r.id));
                };
              })"""
        )

        async def hold(route: Any) -> None:
            await route.abort()

        await page.route("**/api/sync", hold)
        proxy.up()
        await page.goto(origin + "/device")
        await page.wait_for_selector("body[data-ready='true']")
        await page.click("#sign-out")
        await page.wait_for_selector("#screen-signin:not([hidden])")
        await page.unroute("**/api/sync", hold)
        sent: list[str] = []
        page.on(
            "request",
            lambda r: sent.append(r.post_data or "") if r.url.endswith("/api/sync") else None,
        )
        await app[PROGRAMMES].enrol_self(
            Principal(
                await app[IDENTITY].create_prisoner(
                    establishment_id=world.est,
                    prison_number="E7777ZZ",
                    display_name="Cellmate",
                    pin="8642",
                ),
                Role.PRISONER,
                world.est,
                "t",
            ),
            programme,
        )
        await page.fill("#prison-number", "E7777ZZ")
        await page.fill("#pin", "8642")
        await page.locator("#screen-signin button[type='submit']").click()
        await page.wait_for_selector("#screen-home:not([hidden])")
        await _open(page, origin, f"/device/programme-work#p={programme}", "screen-programme")
        await _waiting(page, 0)
        assert await page.is_hidden("#sync-status")
        await screenshot(page, "offline-session-cellmate")
        await check_accessibility(page, axe_source, "offline session cellmate")
        assert all(item not in body for body in sent for item in queued)
        assert (await app[PROGRAMMES].my_programme(me, programme)).sessions[1].state == "open"

        # The first person signs in here again: their session goes by itself.
        await page.goto(origin + "/device")
        await page.wait_for_selector("body[data-ready='true']")
        await page.click("#sign-out")
        await page.wait_for_selector("#screen-signin:not([hidden])")
        await page.fill("#prison-number", p.prison_number)
        await page.fill("#pin", p.pin)
        await page.locator("#screen-signin button[type='submit']").click()
        await page.wait_for_selector("#screen-home:not([hidden])")
        await _open(page, origin, f"/device/programme-work#p={programme}", "screen-programme")
        await _waiting(page, 0)
        finished = await app[PROGRAMMES].my_programme(me, programme)
        assert finished.sessions[1].answers == {"their_view": "Roedd e wedi blino hefyd"}
        assert finished.progress.completed_at is not None
        assert _problems(watch) == []
    finally:
        await proxy.close()
