"""An interpreter is told when the consult is recorded (issue 18 item 1), in a real browser.

The clinician, the device and an interpreter in a consult through coturn; the clinician
asks to record, the device says yes, and the interpreter's page says "This consult is
being recorded" in a live region; it still says so after the interpreter reloads and
joins again (the room snapshot carries the state), and stops saying so when the
clinician stops the recording.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.clock import FakeClock
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
from tests.browser.test_consult import run_consult
from tests.browser.test_third_parties import live_with_turn, sign_in_attendee
from tests.media.consults import principal_of
from tests.turn import Turn
from tests.world import new_staff
from web.recordings_api import RECORDINGS
from web.state import SCHEDULING

pytestmark = pytest.mark.slow

NOTICE = "This consult is being recorded"


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The recorder is aiortc in this process: its receivers join their decoder threads when
    they stop, a short bounded wait the media tests accept too (tests/media/conftest.py)."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        function.can_block_in("aiortc/rtcrtpreceiver.py", "__stop_decoder")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_interpreter_is_told_while_the_consult_is_recorded(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    live = await live_with_turn(make_live, coturn, clock)
    world = await consult_world(live.app, relay_only=True)
    interpreter = await new_staff(live.app, Role.INTERPRETER, "iolo.interp", world.est)
    await live.app[SCHEDULING].set_attendees(
        principal_of(world.clinician), world.appointment_id, [interpreter.account_id]
    )
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, session_id="")
    await live.app[SCHEDULING].record_consent(
        manager,
        prisoner_id=world.prisoner.account_id,
        scope_value="recording",
        version=2,
        decision="given",
        appointment_id=world.appointment_id,
    )
    clinician, device = await run_consult(live, world, browser, None, "rec-tp-")

    watch = PageWatch()
    attend = await new_page(browser, watch)
    await sign_in_attendee(attend, live, interpreter)
    card = attend.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("button", name="Join").click()
    await clinician.get_by_role("button", name="Admit: Interpreter").click()
    await attend.get_by_text("You are in the consult.").wait_for()
    notice = attend.get_by_role("status").filter(has_text=NOTICE)
    assert not await attend.get_by_text(NOTICE).is_visible()

    await clinician.get_by_role("button", name="Record this consult").click()
    question = device.get_by_role("alertdialog", name="May this appointment be recorded?")
    await question.get_by_role("button", name="Yes, record it").click()
    await clinician.locator("#recording-on").get_by_text("Recording this consult").wait_for()
    await notice.wait_for()
    assert await attend.get_by_text(NOTICE).is_visible()
    await check_accessibility(attend, axe_source, "interpreter, consult recorded")
    await screenshot(attend, "attend-recording-on")

    # A reload: the page joins again and the room snapshot says it records.
    await visit(attend, live.url("/attend"))
    await attend.wait_for_selector("#screen-list:not([hidden])")
    await card.get_by_role("button", name="Join").click()
    await attend.get_by_text(NOTICE).wait_for()

    await clinician.get_by_role("button", name="Stop recording").click()
    await clinician.locator("#recording-on").wait_for(state="hidden")
    await attend.get_by_text(NOTICE).wait_for(state="hidden")
    await check_accessibility(attend, axe_source, "interpreter, recording stopped")
    await screenshot(attend, "attend-recording-off")
    assert watch.problems == []
    await stored(live, world)


async def stored(live: Any, world: Any, within: float = 120) -> None:
    """The stopped recording is finalised before the app shuts down under it."""
    clinician = Principal(world.clinician.account_id, Role.CLINICIAN, world.est, session_id="")
    for _ in range(int(within * 5)):
        if await live.app[RECORDINGS].of_appointment(clinician, world.appointment_id):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the recording was not stored")
