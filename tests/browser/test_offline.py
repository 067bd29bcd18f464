"""The programmes screen offline: a device loses its link mid-questionnaire, carries on, and
its answers reach the server by themselves when the link returns; a cellmate on the same
device can neither read nor send them. EN and CY, axe-clean, screenshots.

The browser reaches the app only through a TCP proxy the test controls (tests/proxy.py):
Playwright's `set_offline` would not stop the service worker's requests, the proxy stops
everything. The app counts the requests it receives, to show it received none while the
link was down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web as aioweb
from sqlalchemy import select

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from core.identity import Principal, Role
from interventions.tables import questionnaire_responses, risk_alerts
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import consult_world
from tests.proxy import TcpProxy
from web.interventions import INTERVENTIONS
from web.state import CLOCK, DATABASE, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


class Received:
    """Every request the app received, in order (a middleware added before start-up)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def install(self, app: aioweb.Application) -> None:
        @aioweb.middleware
        async def count(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
            self.paths.append(f"{request.method} {request.path}")
            return await handler(request)

        app.middlewares.insert(0, count)


async def _linked(make_live: LiveFactory) -> tuple[Any, TcpProxy, Received]:
    proxy = TcpProxy("127.0.0.1", 0)
    await proxy.start()
    received = Received()
    live = await make_live(received.install, extra_origins=(f"http://127.0.0.1:{proxy.port}",))
    proxy.upstream = ("127.0.0.1", int(live.origin.rsplit(":", 1)[1]))
    return live, proxy, received


def _problems(watch: PageWatch) -> list[str]:
    # With the link cut, the browser reports each request that could not connect.
    return [p for p in watch.problems if "net::ERR_" not in p]


async def _sign_in(page: Any, origin: str, credential: str, number: str, pin: str) -> None:
    await page.goto(origin + "/healthz")
    await page.evaluate("c => localStorage.setItem('tc_device_credential', c)", credential)
    await visit(page, origin + "/device")
    await page.get_by_label("Your prison number").fill(number)
    await page.get_by_label("Your PIN").fill(pin)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-home:not([hidden])")


async def _programmes(page: Any, origin: str) -> None:
    await visit(page, origin + "/device/programmes")
    await page.wait_for_selector("#screen-list:not([hidden])")
    # The worker is in charge and has the definitions: the screen can open offline.
    for _ in range(600):
        ready = await page.evaluate(
            """async () => Boolean(navigator.serviceWorker.controller) &&
                Boolean(await (await caches.open('tc-device-v2')).match('/api/questionnaires'))"""
        )
        if ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the service worker never took charge of the programmes screen")


async def _waiting(page: Any, n: int, wait_ms: int = 20_000) -> None:
    await page.wait_for_selector(
        f"#sync-status[data-waiting='{n}']", state="attached", timeout=wait_ms
    )


async def _answer(
    page: Any,
    kind: str,
    choices: list[int],
    *,
    cut_after: int = -1,
    cut: Callable[[], None] | None = None,
) -> None:
    await page.click(f"button[data-kind='{kind}']")
    for n, choice in enumerate(choices):
        if n == cut_after and cut is not None:
            cut()
        await page.wait_for_selector("#screen-question:not([hidden])")
        await page.check(f"#option-{choice}")
        await page.click("#question-next")
    await page.wait_for_selector("#screen-finish:not([hidden])")


async def _scores(app: Any, prisoner: Any, est: str) -> list[tuple[str, int]]:
    me = Principal(prisoner.account_id, Role.PRISONER, est, session_id="t")
    return [(p.kind, p.score) for p in await app[INTERVENTIONS].scores(me)]


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_questionnaire_finished_offline_is_sent_by_itself_when_the_link_returns(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live, proxy, received = await _linked(make_live)
    origin = f"http://127.0.0.1:{proxy.port}"
    try:
        world = await consult_world(live.app, relay_only=False)
        p = world.prisoner
        watch = PageWatch()
        page = await new_page(browser, watch)
        await _sign_in(page, origin, p.device_credential, p.prison_number, p.pin)
        await _programmes(page, origin)

        # PHQ-9: the link drops at question 5; question 9's risk answer shows help at once.
        await _answer(page, "phq9", [1] * 8 + [2], cut_after=4, cut=proxy.down)
        assert not await page.is_hidden("#risk-help")
        assert "116 123" in await page.text_content("#risk-help")
        before = len(received.paths)
        await page.click("#finish-send")
        await page.wait_for_selector("#screen-saved:not([hidden])")
        await _waiting(page, 1)
        status = await page.text_content("#sync-status")
        assert "Waiting to send: 1" in status
        await screenshot(page, "offline-saved-en")
        await check_accessibility(page, axe_source, "offline saved en")

        # A reload with the link still down: the screen comes from the worker, the queue stays.
        await page.reload()
        await page.wait_for_selector("body[data-ready='true'] #screen-list:not([hidden])")
        await _waiting(page, 1)
        await screenshot(page, "offline-reloaded-en")
        await check_accessibility(page, axe_source, "offline reloaded en")
        assert received.paths[before:] == []
        async with live.app[DATABASE].connect() as conn:
            assert list(await conn.execute(select(questionnaire_responses.c.id))) == []

        # The link returns: the queue goes by itself, once; the alert is raised on arrival.
        proxy.up()
        await _waiting(page, 0)
        await page.wait_for_selector("#sync-note:not([hidden])")
        assert await _scores(live.app, p, world.est) == [("phq9", 10)]
        assert received.paths.count("POST /api/sync") == 1
        async with live.app[DATABASE].connect() as conn:
            assert len(list(await conn.execute(select(risk_alerts.c.id)))) == 1
        await screenshot(page, "offline-sent-en")

        # In Welsh: GAD-7 answered with the link down from the start.
        await page.click("#lang-switch")
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
        await page.wait_for_selector("#screen-list:not([hidden])")
        proxy.down()
        await _answer(page, "gad7", [1] * 7)
        await page.click("#finish-send")
        await page.wait_for_selector("#screen-saved:not([hidden])")
        await _waiting(page, 1)
        assert "Yn aros i'w anfon: 1" in await page.text_content("#sync-status")
        assert await page.text_content("#saved-heading") == "Wedi'i gadw ar y ddyfais hon"
        await screenshot(page, "offline-saved-cy")
        await check_accessibility(page, axe_source, "offline saved cy")
        await page.reload()
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
        await _waiting(page, 1)
        proxy.up()
        await _waiting(page, 0)
        # Both at the test clock's one instant: compare without order.
        assert sorted(await _scores(live.app, p, world.est)) == [("gad7", 7), ("phq9", 10)]
        await screenshot(page, "offline-sent-cy")
        await check_accessibility(page, axe_source, "offline sent cy")
        assert _problems(watch) == []
    finally:
        await proxy.close()


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_cellmate_can_neither_read_nor_send_anothers_queue(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live, proxy, received = await _linked(make_live)
    origin = f"http://127.0.0.1:{proxy.port}"
    try:
        world = await consult_world(live.app, relay_only=False)
        a = world.prisoner
        b_id = await live.app[IDENTITY].create_prisoner(
            establishment_id=world.est, prison_number="E7777ZZ", display_name="Cellmate", pin="8642"
        )
        watch = PageWatch()
        page = await new_page(browser, watch)
        await _sign_in(page, origin, a.device_credential, a.prison_number, a.pin)
        await _programmes(page, origin)
        proxy.down()
        await _answer(page, "gad7", [2] * 7)
        await page.click("#finish-send")
        await page.wait_for_selector("#screen-saved:not([hidden])")
        await _waiting(page, 1)
        queued = await page.evaluate(
            """() => new Promise((resolve) => {
                const open = indexedDB.open('tc-offline');
                open.onsuccess = () => {
                  const all = open.result.transaction('queue').objectStore('queue').getAll();
                  all.onsuccess = () => resolve(all.result);
                };
              })"""
        )
        assert len(queued) == 1
        # Sealed: nothing of the answers is readable in the store.
        assert "gad7" not in str(queued) and "answers" not in str(queued)
        a_item = queued[0]["id"]

        # The link returns, but A signs out before anything is sent (sync held back).
        async def hold(route: Any) -> None:
            await route.abort()

        await page.route("**/api/sync", hold)
        proxy.up()
        await visit(page, origin + "/device")
        await page.click("#sign-out")
        await page.wait_for_selector("#screen-signin:not([hidden])")
        await page.unroute("**/api/sync", hold)
        sent: list[str] = []
        page.on(
            "request",
            lambda r: sent.append(r.post_data or "") if r.url.endswith("/api/sync") else None,
        )

        # B, on the same device: sees nothing waiting, sends nothing of A's, cannot open it.
        await page.get_by_label("Your prison number").fill("E7777ZZ")
        await page.get_by_label("Your PIN").fill("8642")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_selector("#screen-home:not([hidden])")
        await _programmes(page, origin)
        await _waiting(page, 0)
        assert await page.is_hidden("#sync-status")
        await screenshot(page, "offline-cellmate-en")
        await check_accessibility(page, axe_source, "offline cellmate en")
        opened = await page.evaluate(
            """async () => {
                const data = await (await fetch('/api/me/offline-key')).json();
                const raw = Uint8Array.from(atob(data.key), (c) => c.charCodeAt(0));
                const key = await crypto.subtle.importKey(
                  'raw', raw, {name: 'AES-GCM'}, false, ['decrypt']);
                const record = await new Promise((resolve) => {
                  const open = indexedDB.open('tc-offline');
                  open.onsuccess = () => {
                    const one = open.result.transaction('queue').objectStore('queue').getAll();
                    one.onsuccess = () => resolve(one.result[0]);
                  };
                });
                const bytes = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
                try {
                  await crypto.subtle.decrypt(
                    {name: 'AES-GCM', iv: bytes(record.nonce),
                     additionalData: new TextEncoder().encode('tc-offline-v1:' + record.id)},
                    key, bytes(record.data));
                  return 'opened';
                } catch {
                  return 'refused';
                }
            }"""
        )
        assert opened == "refused"
        await _answer(page, "gad7", [0] * 7)
        await page.click("#finish-send")
        await page.wait_for_selector("#screen-result:not([hidden])")
        assert len(sent) == 1 and a_item not in sent[0]
        assert await _scores(live.app, a, world.est) == []
        b = type(a)(b_id, "E7777ZZ", "8642", world.est, a.device_id, a.device_credential)
        assert await _scores(live.app, b, world.est) == [("gad7", 0)]

        # A signs in again on this device: their answers go by themselves.
        await visit(page, origin + "/device")
        await page.click("#sign-out")
        await page.wait_for_selector("#screen-signin:not([hidden])")
        await page.get_by_label("Your prison number").fill(a.prison_number)
        await page.get_by_label("Your PIN").fill(a.pin)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_selector("#screen-home:not([hidden])")
        await _programmes(page, origin)
        await _waiting(page, 0)
        assert await _scores(live.app, a, world.est) == [("gad7", 14)]
        assert a_item in sent[-1]
        assert _problems(watch) == []
    finally:
        await proxy.close()


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_during_a_lockdown_answers_wait_on_the_device_until_it_lifts(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    live, proxy, _ = await _linked(make_live)
    origin = f"http://127.0.0.1:{proxy.port}"
    try:
        world = await consult_world(live.app, relay_only=False)
        p = world.prisoner
        watch = PageWatch()
        page = await new_page(browser, watch)
        await _sign_in(page, origin, p.device_credential, p.prison_number, p.pin)
        await _programmes(page, origin)
        officer = Principal(world.officer.account_id, Role.OFFICER, world.est, session_id="t")
        scheduling = live.app[SCHEDULING]
        lockdown = await scheduling.declare_lockdown(
            officer,
            world.est,
            starts_at=None,
            ends_at=live.app[CLOCK].now() + timedelta(hours=2),
        )
        for name in ("en", "cy"):
            if name == "cy":
                await page.click("#lang-switch")
                await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
            await _answer(page, "gad7", [1] * 7)
            await page.click("#finish-send")
            await page.wait_for_selector("#screen-saved:not([hidden])")
            await page.wait_for_selector("#sync-status[data-state='lockdown']")
            words = await page.text_content("#sync-status")
            if name == "en":
                assert "Waiting to send: 1" in words
                assert "paused during the lockdown" in words
            else:
                assert "Yn aros i'w anfon: 2" in words
                assert "cyfyngiadau symud" in words
            await screenshot(page, f"offline-lockdown-{name}")
            await check_accessibility(page, axe_source, f"offline lockdown {name}")
            await page.click("#screen-saved a[href='/device/programmes']")
            await page.wait_for_selector("body[data-ready='true'] #screen-list:not([hidden])")
        assert await _scores(live.app, p, world.est) == []
        await scheduling.lift_lockdown(officer, lockdown.id)
        # A device in a lockdown asks again every 20 s (each refusal is logged).
        await _waiting(page, 0, wait_ms=60_000)
        assert await _scores(live.app, p, world.est) == [("gad7", 7), ("gad7", 7)]
        assert _problems(watch) == []
    finally:
        await proxy.close()
