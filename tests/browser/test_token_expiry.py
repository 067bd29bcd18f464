"""Tokens never end a consult: a call as long as five access tokens' lives, with a browser
restart of each side in the middle of it.

With 20-second access tokens renewed 8 seconds before they run out (settings set for the
test, below the 30 seconds THROUGHCARE_ACCESS_TOKEN_SECONDS allows, so that the call crosses
as many expiries in 100 seconds as a five-minute call on one-minute tokens did), each page
renews its token every 12 seconds or so, over the socket. Each browser is closed
when its access cookie is about to run out and opened again after it has: the page must
renew the session from the refresh cookie (the CSRF cookie must have survived the
restart for that) and go back into the call. The clock runs in real time, as tokens and
cookies are judged by it and by the browser.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FakeClock
from scheduling.tables import appointments
from tests.browser.conftest import Kiosk, Kiosks, LiveFactory
from tests.browser.journeys import Journey, both_screens, in_a_call, journey, media_flows, visit
from tests.turn import Turn
from web.state import DATABASE

pytestmark = pytest.mark.slow

TOKEN_S = 20
CALL_S = 5 * TOKEN_S
RENEW_LEAD_S = 8
RECLAIM_S = 60


class RunningClock(FakeClock):
    """A clock that runs in real time from wherever it is set."""

    def __init__(self) -> None:
        super().__init__()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        self._offset = when - datetime.now(UTC)

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._offset += timedelta(seconds=seconds, **kwargs)
        return self.now()


@pytest.fixture
def clock() -> FakeClock:
    return RunningClock()


async def access_cookie_left(kiosk: Kiosk) -> float:
    """Seconds until the browser drops its access cookie."""
    for cookie in await kiosk.context.cookies():
        if cookie["name"] == "tc_access":
            return float(cookie["expires"]) - time.time()
    return 0.0


async def restart_past_the_access_cookie(kiosk: Kiosk, base: str, path: str) -> Any:
    """Close the browser just before its page would renew the token; open it again once its
    access cookie has run out (the refresh cookie, and the CSRF cookie, remain)."""
    left = await access_cookie_left(kiosk)
    if left > RENEW_LEAD_S + 1:
        await asyncio.sleep(left - RENEW_LEAD_S - 1)
        left = await access_cookie_left(kiosk)
    await kiosk.close()
    await asyncio.sleep(left + 2)
    page = await kiosk.open()
    assert "tc_access" not in {c["name"] for c in await kiosk.context.cookies()}
    await visit(page, base + path)
    return page


async def still_in_call(j: Journey) -> None:
    for page in (j.device.page, j.clinician.page):
        assert await page.locator("#step-ended, #screen-outcome").evaluate_all(
            "nodes => nodes.every(n => n.hidden)"
        )
    await media_flows(j, within=20)


@pytest.mark.timeout(CALL_S + 300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_call_five_tokens_long_survives_a_restart_of_each_side(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    """Regression: the CSRF cookie was a session cookie, so after a restart the refresh was
    refused `csrf_failed`; the token ran out, the server ended the call (`token_expired`),
    marked the appointment completed and put the clinician on the outcome form."""
    j = await journey(
        make_live,
        kiosks,
        coturn,
        clock,
        access_token_seconds=TOKEN_S,
        ws_reauth_lead_seconds=RENEW_LEAD_S,
        # A browser stays closed for as long as its access cookie had left (up to 11 s),
        # then starts again: a window longer than that keeps it within the call.
        ws_reclaim_seconds=RECLAIM_S,
    )
    await in_a_call(j)
    started = time.monotonic()

    device = await restart_past_the_access_cookie(j.device.kiosk, j.device.base, "/device")
    await device.wait_for_selector("#step-call:not([hidden])", timeout=20000)
    await media_flows(j)
    await both_screens(j, "tokens-device-restarted")

    clinician = await restart_past_the_access_cookie(
        j.clinician.kiosk, j.clinician.base, "/clinician"
    )
    row = clinician.locator(f"tr[data-appointment='{j.world.appointment_id}']")
    await row.locator("button[data-open]").click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await media_flows(j)
    await both_screens(j, "tokens-clinician-restarted")

    while time.monotonic() - started < CALL_S:
        await asyncio.sleep(TOKEN_S)
        await still_in_call(j)
    await both_screens(j, "tokens-five-lifetimes")

    async with j.live.app[DATABASE].connect() as conn:
        status = (
            await conn.execute(
                select(appointments.c.status).where(appointments.c.id == j.world.appointment_id)
            )
        ).scalar_one()
    assert status == "in_progress"
    await clinician.locator("#end-call").click()
    await clinician.wait_for_selector("#screen-outcome:not([hidden])")
    await clinician.get_by_label("Seen").check()
    await clinician.get_by_role("button", name="Record outcome").click()
    await clinician.locator("#outcome-done").wait_for()
    assert j.watch.problems == []
