"""Either side loses its whole network, signalling and media, for 10 seconds.

The browser reaches the app and coturn through relays the test cuts (tests/browser/
netcut.py): nothing gets through, nothing is refused, as on a dead link. Playwright's
`set_offline` would not do: it stops neither WebRTC media nor an open WebSocket. Each
page's own `getStats` byte counters show the media stop and start again; both sides say
in words what is happening while it is down, and the call resumes by itself.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.clock import FakeClock
from tests.browser.conftest import Kiosks, LiveFactory
from tests.browser.journeys import (
    both_screens,
    bytes_in,
    in_a_call,
    journey,
    media_flows,
    media_stopped,
)
from tests.turn import Turn

pytestmark = pytest.mark.slow

CUT_S = 10.0


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("side", ["device", "clinician"])
async def test_ten_seconds_without_a_network_and_the_call_resumes_by_itself(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    side: str,
    axe_source: str,
) -> None:
    j = await journey(
        make_live,
        kiosks,
        coturn,
        clock,
        cut_device=side == "device",
        cut_clinician=side != "device",
    )
    await in_a_call(j)
    device, clinician = j.device.page, j.clinician.page
    cut = j.device if side == "device" else j.clinician
    assert cut.app_link is not None and cut.turn_link is not None
    through = cut.turn_link.counters.up + cut.turn_link.counters.down
    assert through > 0, "the media did not go through the relay the test cuts"

    cut.cut()
    started = time.monotonic()
    await asyncio.sleep(1.5)  # what was already on its way, and the pages' next samples
    await asyncio.gather(media_stopped(device), media_stopped(clinician))
    # The side without a network says its connection dropped; the other, that the
    # person on the far side has lost theirs.
    own, far = (
        (device.locator("#status"), clinician.locator("#peer-status"))
        if side == "device"
        else (clinician.locator("#call-status"), device.locator("#call-peer"))
    )
    await own.get_by_text("The connection dropped. Trying to connect again").wait_for(
        timeout=(CUT_S - 1) * 1000
    )
    await far.get_by_text("lost connection").wait_for(timeout=1000)
    stopped = {p: await bytes_in(p) for p in (device, clinician)}
    await both_screens(j, f"network-loss-{side}-down", axe_source)
    await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - started)))
    for page, count in stopped.items():
        assert await bytes_in(page) == count, "media came through a cut link"

    cut.restore()
    restored = time.monotonic()
    await own.get_by_text("Connected again.").wait_for(timeout=30000)
    await media_flows(j, within=30)
    print(f"media again {time.monotonic() - restored:.1f} s after the link came back")
    await far.wait_for(state="hidden", timeout=10000)
    await both_screens(j, f"network-loss-{side}-back")
    assert j.watch.problems == []
