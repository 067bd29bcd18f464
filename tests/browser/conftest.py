"""The real app on a loopback port, and Debian's Chromium driven by Playwright.

Chromium comes from `scripts/debian-packages.txt`, axe-core from the npm
registry (`package-lock.json`, fetched by `scripts/install --test`); neither is
downloaded here. Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from core.clock import FakeClock
from core.config import Settings
from core.identity.passwords import SecretHasher
from tests.turn import Turn, free_port
from tests.turn import start_turnserver as _start_turnserver
from tests.world import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-gpu",
]


def start_turnserver(workdir: Path) -> tuple[subprocess.Popen[bytes], Turn]:
    """coturn on loopback, verbose enough to log each allocation's username."""
    return _start_turnserver(workdir, verbose=True)


@dataclass
class Live:
    """The app serving on a loopback port, as the browser reaches it."""

    server: TestServer
    origin: str
    settings: Settings

    @property
    def app(self) -> Any:
        return self.server.app

    def url(self, path: str) -> str:
        return self.origin + path


LiveFactory = Callable[..., Awaitable[Live]]


@pytest.fixture
async def make_live(
    settings: Settings, clock: FakeClock, hasher: SecretHasher
) -> AsyncIterator[LiveFactory]:
    """Start the app; `configure` may set optional app keys (ICE servers) before start-up."""
    from web.app import create_app

    servers: list[TestServer] = []

    async def start(
        configure: Callable[[Any], None] | None = None,
        *,
        extra_origins: tuple[str, ...] = (),
        **overrides: Any,
    ) -> Live:
        """`extra_origins`: origins of relays in front of the app (tests/browser/netcut.py);
        `overrides`: settings to change (token lifetimes, say)."""
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        live_settings = replace(
            settings, public_origins=(origin, *extra_origins), port=port, **overrides
        )
        app = create_app(live_settings, clock=clock, hasher=hasher)
        if configure is not None:
            configure(app)
        server = TestServer(app, port=port)
        await server.start_server()
        servers.append(server)
        return Live(server=server, origin=origin, settings=live_settings)

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    """coturn on loopback for the tests of a module that relay media through it."""
    proc, turn = start_turnserver(tmp_path_factory.mktemp("coturn"))
    yield turn
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
async def live(make_live: LiveFactory) -> Live:
    return await make_live()


@pytest.fixture
async def live_world(live: Live) -> Any:
    from tests.world import build_world

    return await build_world(live.app)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        pytest.fail(
            "Chromium is missing: run scripts/install --test (it installs Debian's chromium)",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def axe_source() -> str:
    if not await asyncio.to_thread(AXE.exists):
        pytest.fail(
            "axe-core is missing: run scripts/install --test (npm ci from package-lock.json)",
            pytrace=False,
        )
    return await asyncio.to_thread(AXE.read_text, "utf-8")


class PageWatch:
    """Console errors and CSP refusals seen by a page: a test fails on any."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page: Any) -> Any:
        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            url = (message.location or {}).get("url", "")
            # A refusal from the API (a wrong PIN, signed out) is part of the test; a
            # missing script or stylesheet, or any other error, is not.
            if "status of 4" in message.text and "/api/" in url:
                return
            self.problems.append(f"{message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page


CONTEXT_ARGS: dict[str, Any] = {"permissions": ["camera", "microphone"], "locale": "en-GB"}


class Kiosk:
    """A browser whose restart is real: a persistent profile, closed and opened again.

    Closing it drops what a browser drops on a restart (session cookies, the page's
    state, its sockets and peer connections); cookies with a lifetime and local
    storage stay in `profile`, as on a kiosk. A context rebuilt from `storage_state`
    would keep session cookies, and so hide what a restart breaks.
    """

    def __init__(
        self,
        playwright: Any,
        profile: Path,
        watch: PageWatch,
        *,
        init_script: str | None = None,
        **args: Any,
    ) -> None:
        self.playwright, self.profile, self.watch, self.args = playwright, profile, watch, args
        self.init_script = init_script
        self.context: Any = None
        self.page: Any = None

    async def open(self) -> Any:
        self.context = await self.playwright.chromium.launch_persistent_context(
            str(self.profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            **{**CONTEXT_ARGS, **self.args},
        )
        if self.init_script:
            await self.context.add_init_script(self.init_script)
        pages = self.context.pages
        self.page = self.watch.attach(pages[0] if pages else await self.context.new_page())
        return self.page

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()
        self.context = self.page = None


@pytest.fixture
async def playwright() -> AsyncIterator[Any]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        pytest.fail(
            "Chromium is missing: run scripts/install --test (it installs Debian's chromium)",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        yield pw


class Kiosks:
    """Makes persistent browsers for one test; closes them, and whatever else the test
    hands over (`on_close`), when it ends, passed or not."""

    def __init__(self, playwright: Any, workdir: Path) -> None:
        self.playwright, self.workdir = playwright, workdir
        self.made: list[Kiosk] = []
        self.closers: list[Callable[[], Awaitable[None]]] = []

    def __call__(self, name: str, watch: PageWatch, **args: Any) -> Kiosk:
        kiosk = Kiosk(self.playwright, self.workdir / f"profile-{name}", watch, **args)
        self.made.append(kiosk)
        return kiosk

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self.closers.append(closer)

    async def close(self) -> None:
        for kiosk in self.made:
            await kiosk.close()
        for closer in self.closers:
            await closer()


@pytest.fixture
async def kiosks(playwright: Any, tmp_path: Path) -> AsyncIterator[Kiosks]:
    """Persistent browsers, each with a profile of its own, closed at the end."""
    made = Kiosks(playwright, tmp_path)
    yield made
    await made.close()


async def new_page(browser: Any, watch: PageWatch, **context_args: Any) -> Any:
    context = await browser.new_context(
        permissions=["camera", "microphone"], locale="en-GB", **context_args
    )
    return watch.attach(await context.new_page())


async def check_accessibility(page: Any, axe_source: str, name: str) -> None:
    """axe-core over the page as it is now: no serious or critical violations."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source)
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    assert result == [], f"{name}: {result}"


async def screenshot(page: Any, name: str) -> None:
    await asyncio.to_thread(ARTIFACTS.mkdir, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def visit(page: Any, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='true']")


async def sign_in_clinician(page: Any, live: Live, world: Any) -> None:
    await visit(page, live.url("/clinician"))
    await page.get_by_label("Username").fill(world.clinician.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(world.clinician.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-list:not([hidden])")


async def sign_in_device(page: Any, live: Live, world: Any) -> None:
    await page.goto(live.url("/healthz"))
    await page.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", world.prisoner.device_credential
    )
    await visit(page, live.url("/device"))
    await page.get_by_label("Your prison number").fill(world.prisoner.prison_number)
    await page.get_by_label("Your PIN").fill(world.prisoner.pin)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-home:not([hidden])")
