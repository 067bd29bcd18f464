"""Quality both ways, with real loss: the device's own reports reach the clinician live, beside
what the clinician's page receives, and a visible alert comes up when either direction loses
more than 10% of its packets.

The device here is a Python participant (aiortc), relay-only through coturn, whose UDP goes
through a relay that drops a set share of the datagrams (tests/browser/netcut.py `lossy`):
first of what it sends, then of what it receives. Nothing is simulated on the page.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import aioice.ice
import pytest

from audit.review import ReviewQuery, search
from core.clock import FakeClock
from core.events import Action
from core.identity import Principal, Role
from media.participant import Participant
from tests.browser.conftest import Kiosks, LiveFactory, PageWatch, check_accessibility, screenshot
from tests.browser.journeys import (
    PEERS_WATCHED,
    Journey,
    RoutedTurn,
    Side,
    clinician_signs_in,
    media_flows,
    waiting_member,
)
from tests.browser.netcut import NetCut
from tests.browser.seed import consult_world
from tests.media.conftest import AIORTC_BLOCKING
from tests.media.nodes import loopback_host_addresses
from tests.turn import Turn
from web.state import AUDIT, SCHEDULING
from web.ws import ICE_SERVERS

pytestmark = pytest.mark.slow

LOSS = 0.35
"""Of the datagrams dropped each way when the link is lossy: well past the 10% alert, also
once the receiver's retransmission requests (NACK) have won some video packets back."""


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The device is aiortc: its bounded thread joins are accepted (tests/media)."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        for filename, name in AIORTC_BLOCKING:
            function.can_block_in(filename, name)


async def numbers(page: Any, selector: str) -> str:
    text: str = await page.locator(selector).inner_text()
    return text


async def wait_for_report(page: Any, within: float = 30) -> str:
    """The device's numbers on the clinician's page, once a report with a bitrate is in."""
    for _ in range(int(within * 4)):
        text = await numbers(page, "#quality-to")
        kbps = text.split(": ", 1)[1].split(" kbit/s")[0] if " kbit/s" in text else "0"
        if kbps.isdigit() and int(kbps) > 0:
            return text
        await asyncio.sleep(0.25)
    raise AssertionError(f"no report from the device with a bitrate: {text!r}")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_clinician_sees_both_directions_live_and_an_alert_on_real_loss(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)
    # coturn checks a credential's expiry against the real time, so the service must agree.
    clock.set(datetime.now(UTC))
    lossy = NetCut(upstream=("127.0.0.1", coturn.port), udp=True)
    await lossy.start()
    kiosks.on_close(lossy.close)
    routed = RoutedTurn(coturn)

    def configure(app: Any) -> None:
        app[ICE_SERVERS] = routed

    live = await make_live(configure)
    world = await consult_world(live.app, relay_only=True)
    routed.via[world.prisoner.account_id] = [f"turn:127.0.0.1:{lossy.port}?transport=udp"]
    patient = Principal(
        world.prisoner.account_id,
        Role.PRISONER,
        world.est,
        "seed",
        device_id=world.prisoner.device_id,
    )
    await live.app[SCHEDULING].record_consent(
        patient,
        prisoner_id=world.prisoner.account_id,
        scope_value="telehealth",
        version=1,
        decision="given",
    )
    async with aiohttp.ClientSession() as http:
        signed = await http.post(
            live.url("/api/auth/prisoner"),
            json={
                "prison_number": world.prisoner.prison_number,
                "pin": world.prisoner.pin,
                "device_credential": world.prisoner.device_credential,
            },
        )
        assert signed.status == 200, await signed.text()
        token = (await signed.json())["access_token"]

    device = Participant([live.url("/ws")], token, name="device", quality_interval_s=2)
    kiosks.on_close(device.close)
    await device.connect()
    await device.join(world.appointment_id, {"camera": "ok", "microphone": "ok", "network": "ok"})

    watch = PageWatch()
    j = Journey(
        live,
        world,
        clock,
        watch,
        device=Side(kiosks("unused", watch), live.origin),
        clinician=Side(kiosks("clinician", watch, init_script=PEERS_WATCHED), live.origin),
    )
    await j.clinician.kiosk.open()
    clinician = await clinician_signs_in(j)
    await clinician.locator(
        f"tr[data-appointment='{world.appointment_id}'] button[data-open]"
    ).click()
    member = waiting_member(j)
    await member.wait_for()
    await member.locator("button[data-admit]").click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await media_flows(j, clinician)
    await device.received["video"].wait_for(20)

    # Both directions, live: the device's report arrives with a real bitrate.
    good = await wait_for_report(clinician)
    assert "0% lost" in good
    assert await clinician.locator("#quality-alert").is_hidden()
    await check_accessibility(clinician, axe_source, "quality good")
    await screenshot(clinician, "quality-good-clinician")

    # Real loss on what the device sends: the clinician's own getStats shows it.
    lossy.lossy(up=LOSS)
    alert = clinician.locator("#quality-alert")
    await alert.get_by_text("of what Patient").wait_for(timeout=30000)
    measured = await clinician.evaluate("() => window.tcLastQuality.loss_pct")
    assert measured > 10
    assert lossy.counters.dropped > 0
    await check_accessibility(clinician, axe_source, "quality loss from the device")
    await screenshot(clinician, "quality-loss-from-device-clinician")

    # Real loss on what the device receives: only the device can tell, and its reports do.
    lossy.lossy(down=LOSS)
    await alert.get_by_text("of what you send to").wait_for(timeout=30000)
    to_patient = await numbers(clinician, "#quality-to")
    lost = float(to_patient.split("kbit/s, ", 1)[1].split("% lost")[0])
    assert lost > 10
    await screenshot(clinician, "quality-loss-to-device-clinician")

    # The log keeps the device's reports with the bitrate it measured (it used to say 0.0).
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "test")
    events = await search(
        live.app[AUDIT],
        manager,
        ReviewQuery(action=Action.QUALITY_REPORT, appointment=world.appointment_id),
    )
    from_device = [e for e in events if e["actor"] == world.prisoner.account_id]
    assert from_device and all(e["details"]["bitrate_kbps"] > 0 for e in from_device)
    from_clinician = [e for e in events if e["actor"] == world.clinician.account_id]
    assert from_clinician and all(e["details"]["bitrate_kbps"] > 0 for e in from_clinician)
    assert watch.problems == []
