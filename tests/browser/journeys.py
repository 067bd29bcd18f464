"""What the recovery journeys share: a consult whose media relays through coturn, two
browsers that can be restarted, and network links the test can cut.

The device is relay-only, as devices are; its browser reaches the app and coturn
through `NetCut` relays when a journey cuts its network, and the clinician's too
(then also relay-only, as on a network where only the relay gets through: a page
init script asks its peer connections for relay candidates only).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.clock import FakeClock
from core.identity import Principal
from media.turn import AppointmentWindow, IceServers
from tests.browser.conftest import (
    Kiosk,
    Kiosks,
    Live,
    LiveFactory,
    PageWatch,
    check_accessibility,
    screenshot,
)
from tests.browser.netcut import NetCut
from tests.browser.seed import ConsultWorld, consult_world
from tests.turn import Turn
from tests.world import PASSWORD
from web.ws import ICE_SERVERS

DEVICE_SCREEN = {"width": 1024, "height": 768}
RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  function RelayOnly(config, ...rest) {
    return new Native({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  RelayOnly.generateCertificate = Native.generateCertificate;
  window.RTCPeerConnection = RelayOnly;
})();"""

PEERS_WATCHED = """(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.tcPeers = made;
  class Watched extends Native {
    constructor(...args) {
      super(...args);
      made.push(this);
    }
  }
  window.RTCPeerConnection = Watched;
})();"""
"""Keeps every peer connection a page makes, so the test reads their `getStats` itself."""

INBOUND = """async () => {
  const open = (window.tcPeers || []).filter((pc) => pc.connectionState !== "closed");
  const total = { bytes: 0, frames: 0, audio: 0, peers: open.length };
  for (const pc of open) {
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      total.bytes += s.bytesReceived || 0;
      if (s.kind === "video") total.frames += s.framesDecoded || 0;
      else total.audio += s.packetsReceived || 0;
    });
  }
  return total;
}"""
"""What a page has received over its open peer connections, from `getStats`."""


class RoutedTurn:
    """TURN credentials as the app issues them, with the URLs of a relay for some people."""

    def __init__(self, turn: Turn) -> None:
        self.direct = IceServers([turn.url], turn.secret)
        self.via: dict[str, list[str]] = {}

    def __call__(
        self, principal: Principal, appointment: AppointmentWindow
    ) -> list[dict[str, Any]]:
        servers = self.direct(principal, appointment)
        urls = self.via.get(principal.account_id)
        return [{**s, "urls": urls} for s in servers] if urls else servers


@dataclass
class Side:
    """One person's browser, and the links in front of it if the journey can cut them."""

    kiosk: Kiosk
    base: str
    app_link: NetCut | None = None
    turn_link: NetCut | None = None

    @property
    def page(self) -> Any:
        return self.kiosk.page

    def url(self, path: str) -> str:
        return self.base + path

    def cut(self) -> None:
        for link in (self.app_link, self.turn_link):
            assert link is not None
            link.cut()

    def restore(self) -> None:
        for link in (self.app_link, self.turn_link):
            assert link is not None
            link.restore()


@dataclass
class Journey:
    live: Live
    world: ConsultWorld
    clock: FakeClock
    watch: PageWatch
    device: Side
    clinician: Side
    links: list[NetCut] = field(default_factory=list)
    """Closed with the test's browsers (`Kiosks`), whether the test passed or not."""


async def journey(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    *,
    cut_device: bool = False,
    cut_clinician: bool = False,
    device_locale: str = "en-GB",
    **overrides: Any,
) -> Journey:
    # coturn checks a credential's expiry against the real time, so the service must agree.
    clock.set(datetime.now(UTC))
    links: list[NetCut] = []

    async def relay_pair() -> tuple[NetCut, NetCut]:
        app_link, turn_link = NetCut(), NetCut(upstream=("127.0.0.1", coturn.port), udp=True)
        await app_link.start()
        await turn_link.start()
        links.extend([app_link, turn_link])
        kiosks.on_close(app_link.close)
        kiosks.on_close(turn_link.close)
        return app_link, turn_link

    device_links = await relay_pair() if cut_device else None
    clinician_links = await relay_pair() if cut_clinician else None
    routed = RoutedTurn(coturn)

    def configure(app: Any) -> None:
        app[ICE_SERVERS] = routed

    origins = tuple(pair[0].origin for pair in (device_links, clinician_links) if pair)
    live = await make_live(configure, extra_origins=origins, **overrides)
    for link in links:
        if not link.udp:
            link.upstream = ("127.0.0.1", live.settings.port)
    world = await consult_world(live.app, relay_only=True)
    for pair, who in ((device_links, world.prisoner.account_id), (clinician_links, None)):
        if pair is None:
            continue
        urls = [
            f"turn:127.0.0.1:{pair[1].port}?transport=udp",
            f"turn:127.0.0.1:{pair[1].port}?transport=tcp",
        ]
        routed.via[who or world.clinician.account_id] = urls
    watch = PageWatch()
    device = Side(
        kiosks(
            "device",
            watch,
            init_script=PEERS_WATCHED,
            viewport=DEVICE_SCREEN,
            locale=device_locale,
        ),
        device_links[0].origin if device_links else live.origin,
        *(device_links or (None, None)),
    )
    clinician = Side(
        kiosks(
            "clinician",
            watch,
            init_script=PEERS_WATCHED + (RELAY_ONLY if cut_clinician else ""),
        ),
        clinician_links[0].origin if clinician_links else live.origin,
        *(clinician_links or (None, None)),
    )
    return Journey(live, world, clock, watch, device, clinician, links)


# ------------------------------------------------------------------ people


async def visit(page: Any, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("body[data-ready='true']")


async def clinician_signs_in(j: Journey) -> Any:
    page = j.clinician.page
    await visit(page, j.clinician.url("/clinician"))
    await page.get_by_label("Username").fill(j.world.clinician.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(j.world.clinician.code(j.live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-list:not([hidden])")
    return page


async def device_signs_in(j: Journey) -> Any:
    page = j.device.page
    await page.goto(j.device.url("/healthz"))
    await page.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", j.world.prisoner.device_credential
    )
    await visit(page, j.device.url("/device"))
    await page.locator("#prison-number").fill(j.world.prisoner.prison_number)
    await page.locator("#pin").fill(j.world.prisoner.pin)
    await page.locator("#signin-form button[type='submit']").click()
    await page.wait_for_selector("#screen-home:not([hidden])")
    return page


async def device_goes_to_waiting_room(j: Journey) -> None:
    page = j.device.page
    await visit(page, j.device.url(f"/device#consult/{j.world.appointment_id}"))
    await page.locator("#consent-yes").click()
    await page.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    await page.locator("#join-waiting").click()
    await page.wait_for_selector("#step-waiting:not([hidden])")


def waiting_member(j: Journey) -> Any:
    return j.clinician.page.locator(
        f"#waiting li[data-participant='{j.world.prisoner.account_id}']"
    )


async def clinician_opens_and_admits(j: Journey) -> None:
    page = j.clinician.page
    row = page.locator(f"tr[data-appointment='{j.world.appointment_id}']")
    await row.locator("button[data-open]").click()
    member = waiting_member(j)
    await member.wait_for()
    await member.locator("button[data-admit]").click()
    await page.wait_for_selector("#screen-call:not([hidden])")
    await j.device.page.wait_for_selector("#step-call:not([hidden])")


async def in_a_call(j: Journey) -> None:
    """Both signed in, the patient admitted, media flowing both ways."""
    await j.device.kiosk.open()
    await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)
    await clinician_opens_and_admits(j)
    await media_flows(j)


# ------------------------------------------------------------------- media


async def inbound(page: Any) -> dict[str, int]:
    found: dict[str, int] = await page.evaluate(INBOUND)
    return found


async def bytes_in(page: Any) -> int:
    return (await inbound(page))["bytes"]


async def media_flows(j: Journey, *pages: Any, within: float = 30) -> float:
    """Waits until video frames, audio and bytes come in, and keep coming, on each page,
    by the page's own `getStats`; returns the seconds it took."""
    started = time.monotonic()
    for page in pages or (j.device.page, j.clinician.page):
        deadline = time.monotonic() + within
        while True:
            before = await inbound(page)
            await asyncio.sleep(1)
            after = await inbound(page)
            if (
                after["peers"] == before["peers"]
                and after["frames"] > before["frames"]
                and after["audio"] > before["audio"]
                and after["bytes"] > before["bytes"] + 5000
            ):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no media on {page.url}: {after}; {j.watch.problems}")
    return time.monotonic() - started


async def media_stopped(page: Any, seconds: float = 2.5) -> None:
    """No byte comes in over `seconds`."""
    before = await bytes_in(page)
    await asyncio.sleep(seconds)
    after = await bytes_in(page)
    assert after == before, f"bytes still arriving: {before} -> {after}"


async def both_screens(j: Journey, name: str, axe_source: str | None = None) -> None:
    """Screenshots of both faces (and axe over each, when asked)."""
    for who, side in (("device", j.device), ("clinician", j.clinician)):
        if side.page is None:
            continue
        if axe_source:
            await check_accessibility(side.page, axe_source, f"{name} {who}")
        await screenshot(side.page, f"{name}-{who}")
