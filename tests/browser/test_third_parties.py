"""Consults with third parties in real browsers (issue 18 item 1).

A 3-way consult: the device, the clinician and an interpreter, every pair on its own
browser-to-browser link (the device relay-only through coturn); audio and video flow
between all three, read from `getStats` on each page. Then an officer's identity check:
once the clinician confirms it the officer is on hold, its received bytes stop while
the others' go on.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from core.clock import FakeClock
from core.db.schema import establishments
from core.identity import Role
from media.turn import IceServers
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.browser.seed import consult_world
from tests.browser.test_consult import run_consult
from tests.media.consults import principal_of
from tests.turn import Turn
from tests.world import PASSWORD, Staff, new_staff
from web.state import DATABASE, SCHEDULING
from web.ws import ICE_SERVERS

pytestmark = pytest.mark.slow

# Every link of the page: bytes in and out (audio and video apart), per peer.
STATS = """async () => {
  const pcs = [];
  const main = window.tcMainPc;
  if (main && main.connectionState !== "closed") pcs.push(["main", main]);
  if (window.tcMesh) for (const p of window.tcMesh.peers()) pcs.push([p.role, p.pc]);
  const out = {};
  for (const [name, pc] of pcs) {
    const row = { audio_in: 0, video_in: 0, bytes_out: 0, state: pc.connectionState };
    (await pc.getStats()).forEach((r) => {
      const kind = r.kind === "audio" ? "audio_in" : "video_in";
      if (r.type === "inbound-rtp") row[kind] += r.bytesReceived || 0;
      if (r.type === "outbound-rtp") row.bytes_out += r.bytesSent || 0;
    });
    out[name] = row;
  }
  return out;
}"""


async def stats(page: Any) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = await asyncio.wait_for(page.evaluate(STATS), 10)
    return result


async def sound_only(page: Any) -> bool:
    """The main pair's call went to sound only (the fallback ladder, on a loaded machine)."""
    shown: bool = await page.evaluate(
        "() => [...document.querySelectorAll('#call-mode, #mode-status')]"
        ".some((e) => !e.hidden && e.textContent.startsWith('Sound only'))"
    )
    return shown


async def growing(page: Any, peers: set[str], seconds: float = 3.0) -> dict[str, Any]:
    """Audio and video bytes from each of `peers` grow on this page (waits up to 30 s).

    Video on the main pair's link only while that call is in video: on a loaded machine the
    fallback ladder may move it to sound only, which its own tests cover (test_ladder.py).
    Links to and from third parties must carry both.
    """
    for _ in range(10):
        before = await stats(page)
        await asyncio.sleep(seconds)
        after = await stats(page)
        audio_only = await sound_only(page)
        # A link made anew in between (a page's socket came back) counts from its next sample.
        ok = (
            set(before) >= peers
            and set(after) >= peers
            and all(
                after[p]["audio_in"] > before[p]["audio_in"]
                and (
                    after[p]["video_in"] > before[p]["video_in"]
                    or (p in ("main", "clinician", "patient") and audio_only)
                )
                for p in peers
            )
        )
        if ok:
            print(json.dumps({"flowing": after, "sound_only": audio_only}), flush=True)
            return after
    raise AssertionError(f"media not flowing from {peers}: {before} -> {after}")


async def sign_in_attendee(page: Any, live: Any, staff: Staff) -> None:
    await visit(page, live.url("/attend"))
    await page.get_by_label("Username").fill(staff.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(staff.code(live.app))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#screen-list:not([hidden])")


async def upstream_kbps(page: Any, seconds: float = 5.0) -> float:
    before = await stats(page)
    await asyncio.sleep(seconds)
    after = await stats(page)
    sent: int = sum(
        after[p]["bytes_out"] - before.get(p, {"bytes_out": 0})["bytes_out"] for p in after
    )
    return sent * 8 / 1000 / seconds


async def live_with_turn(make_live: LiveFactory, coturn: Turn, clock: FakeClock) -> Any:
    clock.set(datetime.now(UTC))  # coturn checks credentials against the real time

    def with_turn(app: Any) -> None:
        app[ICE_SERVERS] = IceServers([coturn.url], coturn.secret)

    return await make_live(with_turn)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_three_way_consult_with_an_interpreter(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    live = await live_with_turn(make_live, coturn, clock)
    world = await consult_world(live.app, relay_only=True)
    interpreter = await new_staff(live.app, Role.INTERPRETER, "ines.interp", world.est)
    await live.app[SCHEDULING].set_attendees(
        principal_of(world.clinician), world.appointment_id, [interpreter.account_id]
    )
    clinician, device = await run_consult(live, world, browser, None, "tp-")

    watch = PageWatch()
    attend = await new_page(browser, watch)
    await sign_in_attendee(attend, live, interpreter)
    card = attend.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.wait_for()
    await check_accessibility(attend, axe_source, "attend list")
    await screenshot(attend, "tp-attend-list")
    await card.get_by_role("button", name="Join").click()
    await attend.get_by_text("Please wait: the health worker will let you in.").wait_for()
    await check_accessibility(attend, axe_source, "attend waiting")

    admit = clinician.get_by_role("button", name="Admit: Interpreter")
    await admit.wait_for()
    await check_accessibility(clinician, axe_source, "clinician with an interpreter waiting")
    await screenshot(clinician, "tp-clinician-interpreter-waiting")
    await admit.click()
    await attend.get_by_text("You are in the consult.").wait_for()

    # Audio and video flow between all three: each page receives from both others.
    on_clinician = await growing(clinician, {"main", "interpreter"})
    on_device = await growing(device, {"main", "interpreter"})
    on_interpreter = await growing(attend, {"clinician", "patient"})
    for page in (clinician, device, attend):
        assert await page.locator("#call-tiles figcaption").count() >= 1
    assert await device.locator("#call-tiles figcaption").all_inner_texts() == ["Interpreter"]
    assert await clinician.locator("#call-tiles figcaption").all_inner_texts() == ["Interpreter"]
    assert sorted(await attend.locator("#call-tiles figcaption").all_inner_texts()) == [
        "Health worker",
        "Patient",
    ]
    kbps = await upstream_kbps(device)
    print(json.dumps({"people": 3, "device_upstream_kbps": round(kbps, 1)}))
    assert kbps <= 1500, kbps
    await check_accessibility(attend, axe_source, "attend call")
    await check_accessibility(clinician, axe_source, "clinician call with interpreter")
    await check_accessibility(device, axe_source, "device call with interpreter")
    await screenshot(attend, "tp-attend-call")
    await screenshot(clinician, "tp-clinician-call")
    await screenshot(device, "tp-device-call")
    assert {"main", "interpreter"} <= set(on_clinician) and {"main"} <= set(on_device)
    assert on_interpreter["patient"]["state"] == "connected"

    # Welsh: the interpreter's page says the same in Welsh, and is as accessible.
    cy = await new_page(browser, watch)
    await cy.context.add_cookies(await attend.context.cookies())
    await visit(cy, live.url("/attend"))
    await cy.locator("#lang-switch").click()
    await cy.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await cy.locator("#screen-list:not([hidden])").wait_for()
    assert await cy.locator("#attend-heading").inner_text() == (
        "Ymgynghoriadau y cewch eich gwahodd iddynt"
    )
    await check_accessibility(cy, axe_source, "attend list (Welsh)")
    await screenshot(cy, "tp-attend-list-cy")
    assert watch.problems == []


# On the officer's page: every link's received bytes, remembered after the link is gone.
RECEIVED = """async () => {
  window.tcSeen = window.tcSeen || new Map();
  for (const p of window.tcMesh ? window.tcMesh.peers() : []) {
    if (p.pc.connectionState === "closed") continue;
    let bytes = 0;
    (await p.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp") bytes += r.bytesReceived || 0;
    });
    window.tcSeen.set(p.pc, bytes);
  }
  return [...window.tcSeen.values()].reduce((a, b) => a + b, 0);
}"""


async def received(page: Any) -> int:
    total: int = await asyncio.wait_for(page.evaluate(RECEIVED), 10)
    return total


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_an_officer_checks_identity_then_is_on_hold_and_receives_nothing(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    live = await live_with_turn(make_live, coturn, clock)
    world = await consult_world(live.app, relay_only=True)
    async with live.app[DATABASE].engine.begin() as conn:
        await conn.execute(
            update(establishments)
            .where(establishments.c.id == world.est)
            .values(identity_check=True)
        )
    officer = await new_staff(live.app, Role.OFFICER, "otto.officer", world.est)
    await live.app[SCHEDULING].set_attendees(
        principal_of(world.clinician), world.appointment_id, [officer.account_id]
    )
    clinician, device = await run_consult(live, world, browser, None, "officer-")

    watch = PageWatch()
    attend = await new_page(browser, watch)
    await sign_in_attendee(attend, live, officer)
    card = attend.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("button", name="Join").click()
    admit = clinician.get_by_role("button", name="Admit: Officer")
    await admit.click()
    await attend.get_by_text("You are in the consult.").wait_for()
    await growing(attend, {"clinician", "patient"})
    confirm = clinician.get_by_role("button", name="Identity confirmed: put the officer on hold")
    await confirm.wait_for()
    await check_accessibility(clinician, axe_source, "clinician with an officer")
    await screenshot(clinician, "officer-clinician-before-hold")
    await received(attend)
    await confirm.click()

    await attend.get_by_text("You are on hold.", exact=False).wait_for()
    await clinician.get_by_role("button", name="Bring back: Officer").wait_for()
    await asyncio.sleep(1)  # what was in flight lands
    held = await received(attend)
    await asyncio.sleep(4)
    assert await received(attend) == held  # the officer receives nothing
    # The others closed their links to the officer, and go on between themselves.
    assert "officer" not in await stats(clinician)
    assert "officer" not in await stats(device)
    after = await growing(device, {"main"})
    assert set(after) == {"main"}
    assert "Chest" not in await attend.locator("body").inner_text()
    await check_accessibility(attend, axe_source, "officer on hold")
    await check_accessibility(clinician, axe_source, "clinician, officer on hold")
    await screenshot(attend, "officer-on-hold")
    await screenshot(clinician, "officer-clinician-on-hold")
    assert watch.problems == []
