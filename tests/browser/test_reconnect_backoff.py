"""A page told to back off waits as long as it was told, then comes back by itself.

The patient's socket is dropped by the server again and again in a call; each time
the page reconnects and resumes, until it passes the per-identity limit (set low
here, THROUGHCARE_WS_CONNECT_PER_IDENTITY). The server then answers
`too_many_connections` with `retry_after_s` and closes 1013. The page must not
come back before that many seconds (its usual backoff would be a few hundred
milliseconds), must not alarm the patient meanwhile (only the usual "trying to
connect again"), and must be back in the call after the wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from core.clock import FakeClock
from signalling.errors import Close
from signalling.reconnects import Reconnects
from tests.browser.conftest import Kiosks, LiveFactory
from tests.browser.journeys import both_screens, in_a_call, journey
from tests.turn import Turn
from web.state import SIGNALLING

pytestmark = pytest.mark.slow

LIMIT = 5
"""Connections per minute for one person: one every 12 s once spent."""


class Watched(Reconnects):
    """The node's limits, noting when one person's hellos came and what they were told."""

    __slots__ = ("who", "seen")

    def __init__(self, who: str) -> None:
        super().__init__(LIMIT, 2000)
        self.who = who
        self.seen: list[tuple[float, int | None]] = []

    async def identity(self, account_id: str) -> int | None:
        wait = await super().identity(account_id)
        if account_id == self.who:
            self.seen.append((time.monotonic(), wait))
        return wait


async def _until(check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("waited too long")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_page_told_to_back_off_waits_as_told_and_comes_back_by_itself(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    j = await journey(make_live, kiosks, coturn, clock, ws_connect_per_identity=LIMIT)
    await in_a_call(j)
    hub = j.live.app[SIGNALLING]
    patient = j.world.prisoner.account_id
    limits = Watched(patient)
    hub.reconnects = limits  # a fresh count: the limit is spent by the drops below

    def patients_socket() -> Any:
        return next(
            (c for c in hub._conns.values() if c.participant == patient and not c.closed), None
        )

    # Dropped by the server, the page comes back at once, until it is refused.
    for _ in range(LIMIT + 1):
        await _until(lambda: patients_socket() is not None, 30)
        heard = len(limits.seen)
        await hub._close(patients_socket(), Close.RESTART)
        await _until(lambda: len(limits.seen) > heard, 30)  # noqa: B023 (awaited here)
        if limits.seen[-1][1] is not None:
            break
    refused_at, wait = limits.seen[-1]
    assert wait is not None, "the limit was never reached"
    assert [told for _, told in limits.seen] == [None] * LIMIT + [wait]

    # Waiting: the patient sees only that the page is trying to connect again.
    device = j.device.page
    await (
        device.locator("#status")
        .get_by_text("The connection dropped. Trying to connect again")
        .wait_for(timeout=5000)
    )
    await both_screens(j, "told-to-wait", axe_source)
    shown = await device.locator("body").inner_text()
    for alarming in ("did not work", "went wrong", "busy", "Too many"):
        assert alarming not in shown

    # Its next attempt comes no sooner than it was told, and is let in; the call goes on.
    await _until(lambda: len(limits.seen) > LIMIT + 1, wait + 30)
    came_back_at, told = limits.seen[LIMIT + 1]
    assert came_back_at - refused_at >= wait, "the page came back before it was told"
    assert told is None
    await device.locator("#status").get_by_text("Connected again.").wait_for(timeout=30000)
    await j.clinician.page.locator("#peer-status").wait_for(state="hidden", timeout=10000)
    assert len(limits.seen) == LIMIT + 2, "the page hammered the server"
    await both_screens(j, "told-to-wait-back")
    assert j.watch.problems == []
