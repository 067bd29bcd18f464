"""The clinician's browser reloads or restarts mid-call, and consults get stuck.

The patient is told within seconds that the health worker has lost connection and,
past the reclaim window, that the health worker has left, with a choice to wait or
leave (in Welsh here). The list shows the consult in progress with "Rejoin", and
rejoining resumes the call. From the list, any consult in progress or stuck can be
admitted, rejoined, or ended with an outcome: seen, or did not attend with a reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FakeClock
from core.identity import Principal, Role
from scheduling.tables import appointments
from tests.browser.conftest import Kiosks, LiveFactory
from tests.browser.journeys import (
    Journey,
    both_screens,
    clinician_signs_in,
    device_goes_to_waiting_room,
    device_signs_in,
    in_a_call,
    journey,
    media_flows,
    visit,
)
from tests.turn import Turn
from web.state import DATABASE, IDENTITY

pytestmark = pytest.mark.slow


async def speaks_welsh(j: Journey, account_id: str, role: Role) -> None:
    who = Principal(account_id=account_id, role=role, establishment_id=j.world.est, session_id="")
    await j.live.app[IDENTITY].set_locale(who, "cy")


def row(page: Any, j: Journey) -> Any:
    return page.locator(f"tr[data-appointment='{j.world.appointment_id}']")


async def status_of(j: Journey) -> tuple[str, str | None]:
    async with j.live.app[DATABASE].connect() as conn:
        found = (
            await conn.execute(
                select(appointments.c.status, appointments.c.outcome_category).where(
                    appointments.c.id == j.world.appointment_id
                )
            )
        ).one()
    return str(found.status), found.outcome_category


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_clinician_who_closes_the_browser_mid_call_rejoins_from_the_list_in_welsh(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    """Regression: a clinician who closed the tab mid-call found "Happening now" and Open
    said "Nobody is waiting"; the patient sat over a frozen frame with no word, although
    the server had sent `away` and `left`."""
    j = await journey(make_live, kiosks, coturn, clock)
    await speaks_welsh(j, j.world.prisoner.account_id, Role.PRISONER)
    await speaks_welsh(j, j.world.clinician.account_id, Role.CLINICIAN)
    await in_a_call(j)
    device = j.device.page
    peer = device.locator("#call-peer")

    await j.clinician.kiosk.close()
    await peer.get_by_text(
        "Mae'r gweithiwr iechyd wedi colli cysylltiad. Arhoswch, os gwelwch yn dda."
    ).wait_for(timeout=5000)
    await both_screens(j, "clinician-restart-lost-cy", axe_source)

    # Past the reclaim window: "has left", and the patient may wait or leave.
    clock.advance(seconds=31)
    await peer.get_by_text("Mae'r gweithiwr iechyd wedi gadael yr apwyntiad.").wait_for(
        timeout=10000
    )
    assert await device.get_by_role("button", name="Aros", exact=True).is_visible()
    assert await device.locator("#peer-leave").is_visible()
    await both_screens(j, "clinician-restart-left-cy", axe_source)
    await device.get_by_role("button", name="Aros", exact=True).click()
    await peer.get_by_text("Yn aros i'r gweithiwr iechyd ddod yn ôl.").wait_for()

    # The browser starts again, still signed in: the list says the consult is happening
    # without them, and Rejoin puts them back in the call.
    clinician = await j.clinician.kiosk.open()
    await visit(clinician, j.clinician.url("/clinician"))
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    listed = row(clinician, j)
    await listed.get_by_text("y claf yn yr alwad, ond nid chi").wait_for(timeout=10000)
    await both_screens(j, "clinician-restart-list-cy", axe_source)
    await listed.get_by_role("button", name="Ailymuno").click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await media_flows(j)
    await peer.wait_for(state="hidden")
    await both_screens(j, "clinician-rejoined-cy", axe_source)

    # The clinician's own words, in Welsh, when the patient goes.
    await j.device.kiosk.close()
    await (
        clinician.locator("#peer-status")
        .get_by_text(
            f"Mae {j.world.prisoner_name} ({j.world.prisoner.prison_number}) wedi colli cysylltiad."
        )
        .wait_for(timeout=5000)
    )
    await both_screens(j, "clinician-patient-lost-cy")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_clinician_page_that_reloads_mid_call_rejoins_and_the_call_resumes(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    await in_a_call(j)
    clinician = j.clinician.page
    await clinician.reload()
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    listed = row(clinician, j)
    await listed.get_by_role("button", name="Rejoin").click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await media_flows(j)
    await j.device.page.locator("#call-peer").wait_for(state="hidden")
    await both_screens(j, "clinician-reload-rejoined")
    assert j.watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_from_the_list_the_clinician_admits_and_records_a_stuck_consult(
    make_live: LiveFactory,
    kiosks: Kiosks,
    coturn: Turn,
    clock: FakeClock,
    axe_source: str,
) -> None:
    j = await journey(make_live, kiosks, coturn, clock)
    device = await j.device.kiosk.open()
    clinician = await j.clinician.kiosk.open()
    await clinician_signs_in(j)
    await device_signs_in(j)
    await device_goes_to_waiting_room(j)

    # Waiting, and the clinician never opened the consult: Admit is beside the name.
    waiting = clinician.locator(f"#waiting-all li[data-waiting='{j.world.appointment_id}']")
    await waiting.wait_for(timeout=15000)
    name = waiting.locator(".card-title")
    admit = waiting.get_by_role("button", name="Admit")
    name_box, admit_box = await name.bounding_box(), await admit.bounding_box()
    assert name_box and admit_box
    assert (
        abs((name_box["y"] + name_box["height"] / 2) - (admit_box["y"] + admit_box["height"] / 2))
        < admit_box["height"]
    ), (name_box, admit_box)
    assert admit_box["x"] > name_box["x"] + name_box["width"]
    await row(clinician, j).get_by_text("in the waiting room since").wait_for()
    await both_screens(j, "stuck-waiting", axe_source)
    await admit.click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await device.wait_for_selector("#step-call:not([hidden])")
    await media_flows(j)

    # The clinician's browser dies; the consult is stuck in progress. From the list:
    # Rejoin is there, and so is Record outcome, which ends the consult with it.
    await j.clinician.kiosk.close()
    clinician = await j.clinician.kiosk.open()
    await visit(clinician, j.clinician.url("/clinician"))
    listed = row(clinician, j)
    await listed.get_by_role("button", name="Rejoin").wait_for(timeout=10000)
    await listed.get_by_role("button", name="Record outcome").click()
    await clinician.wait_for_selector("#screen-outcome:not([hidden])")
    assert await clinician.locator("#outcome-live").is_visible()
    await clinician.get_by_label("Did not attend").check()
    await clinician.get_by_label("Reason").select_option("network_failure")
    await both_screens(j, "stuck-outcome", axe_source)
    await clinician.get_by_role("button", name="Record outcome").click()
    await clinician.locator("#outcome-done").wait_for()
    await device.wait_for_selector("#step-ended:not([hidden])", timeout=10000)
    assert await device.locator("#ended-text").inner_text() == (
        "The appointment has ended. Thank you."
    )
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    assert "Missed" in await row(clinician, j).inner_text()
    assert await status_of(j) == ("did_not_attend", "prison")
    await both_screens(j, "stuck-recorded", axe_source)
    assert j.watch.problems == []
