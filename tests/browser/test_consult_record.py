"""The consult screen as a clinician uses it, in English and Welsh (issue 15 items 3-5).

At admit and in the call: the reason, the health request's text, the pre-call test and the
identity check. Notes typed in the call are saved as they are typed, survive a reload, and a
save from another window is not silently overwritten. The outcome form shows only what
applies, marks the field that is wrong, records once however often it is clicked, books the
follow-up through the slot search, and can be changed for 24 hours (then says why not). The
calendar link is made, copied, revoked (then 404) and made again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from audit.review import ReviewQuery, search
from core.clock import FakeClock
from core.identity import Principal, Role
from scheduling.tables import appointments
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import ConsultWorld, consult_world
from tests.people_photos import jpeg
from tests.world import PASSWORD
from web.state import AUDIT, DATABASE, IDENTITY, PEOPLE, SCHEDULING

pytestmark = pytest.mark.slow

I18N = Path(__file__).resolve().parents[2] / "web" / "i18n"
REQUEST_TEXT = "My leg wound is red and hot since Monday"
REASON = "Wound check after dressing change"


def words(lang: str) -> dict[str, str]:
    return dict(json.loads((I18N / f"{lang}.json").read_text("utf-8")))


async def from_a_request(live: Live, world: ConsultWorld) -> ConsultWorld:
    """The consult booked from the prisoner's health request, with identity details on file."""
    scheduling = live.app[SCHEDULING]
    est = world.est
    prisoner = Principal(world.prisoner.account_id, Role.PRISONER, est, "")
    manager = Principal(world.manager.account_id, Role.MANAGER, est, "")
    officer = Principal(world.officer.account_id, Role.OFFICER, est, "")
    first = await scheduling.appointment(manager, world.appointment_id)
    await scheduling.cancel(manager, first.id, "booking_error")
    asked = await scheduling.make_request(prisoner, category="general", text_value=REQUEST_TEXT)
    booked = await scheduling.book(
        manager,
        prisoner_id=prisoner.account_id,
        service_id=world.service_id,
        clinician_id=world.clinician.account_id,
        starts_at=first.starts_at.isoformat(),
        reason_text=REASON,
        request_id=asked.id,
    )
    people = live.app[PEOPLE]
    await people.details.record_date_of_birth(officer, prisoner.account_id, "1990-01-31")
    await people.details.record_photo(officer, prisoner.account_id, jpeg(300, 400), "image/jpeg")
    return dataclasses.replace(world, appointment_id=booked.id)


async def clinician_page(browser: Any, watch: PageWatch, live: Live, world: Any, lang: str) -> Any:
    """The clinician's page in `lang` (their saved choice wins over the cookie once signed in)."""
    who = Principal(world.clinician.account_id, Role.CLINICIAN, world.est, "")
    await live.app[IDENTITY].set_locale(who, lang)
    page = await new_page(browser, watch)
    await page.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    await visit(page, live.url("/clinician"))
    await page.fill("#username", world.clinician.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", world.clinician.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector("#screen-list:not([hidden])")
    return page


async def device_to_waiting_room(device: Any, live: Live, world: ConsultWorld) -> None:
    await sign_in_device(device, live, world)
    await device.get_by_role("link", name="Health").click()
    card = device.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("link", name="Join").click()
    await device.get_by_role("button", name="Yes, I agree").click()
    await device.wait_for_selector("#join-waiting:not([disabled])", timeout=15000)
    await device.get_by_role("button", name="Go to the waiting room").click()
    await device.wait_for_selector("#step-waiting:not([hidden])")


async def other_window_saves(page: Any, appointment_id: str, text: str) -> int:
    """Another window of the same clinician saves the notes (the API call its page makes)."""
    return int(
        await page.evaluate(
            """async ([id, text]) => {
                const csrf = document.cookie.split('; ').find(c => c.startsWith('tc_csrf='))
                  .split('=')[1];
                const path = `/api/appointments/${id}/consult-notes`;
                const now = await (await fetch(path)).json();
                const r = await fetch(path, {method: 'PUT', headers: {
                  'Content-Type': 'application/json', 'X-CSRF-Token': decodeURIComponent(csrf)},
                  body: JSON.stringify({text, version: now.version})});
                return r.status;
            }""",
            [appointment_id, text],
        )
    )


async def actions(live: Live, world: ConsultWorld) -> list[str]:
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    found = await search(
        live.app[AUDIT],
        manager,
        ReviewQuery(establishment=world.est, appointment=world.appointment_id, limit=500),
    )
    return [str(e["action"]) for e in found]


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_consult_screen_context_notes_outcome_and_calendar(
    live: Live, browser: Any, axe_source: str, clock: FakeClock, lang: str
) -> None:
    w = words(lang)
    world = await from_a_request(live, await consult_world(live.app, relay_only=False))
    watch = PageWatch()
    clinician = await clinician_page(browser, watch, live, world, lang)
    row = clinician.locator(f"tr[data-appointment='{world.appointment_id}']")
    await row.get_by_role("button", name=w["clinician.open"]).click()

    device = await new_page(browser, watch)
    await device_to_waiting_room(device, live, world)

    # At admit: who (photo, date of birth) and why (reason, request, pre-call test).
    card = clinician.locator(f"#waiting-all li[data-waiting='{world.appointment_id}']")
    context = card.locator(".consult-context")
    await context.get_by_text(REQUEST_TEXT).wait_for()
    shown = await context.inner_text()
    assert REASON in shown and w["context.heading"] in shown
    assert "31" in await card.locator("[data-born]").inner_text()
    await card.locator("img.photo").wait_for()
    await check_accessibility(clinician, axe_source, f"clinician admit ({lang})")
    await screenshot(clinician, f"consult-record-admit-{lang}")
    waiting = clinician.locator(f"li[data-participant='{world.prisoner.account_id}']")
    await waiting.get_by_role("button", name=w["clinician.admit"]).click()

    # In the call: the same context, and notes saved as they are typed.
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await device.wait_for_selector("#step-call:not([hidden])")
    call_context = clinician.locator("#call-context")
    await call_context.get_by_text(REQUEST_TEXT).wait_for()
    assert REASON in await call_context.inner_text()
    notes = clinician.get_by_label(w["notes.label"], exact=True)
    await notes.fill("Wound edges red, 2 cm. No fever.")
    await clinician.wait_for_selector("#consult-notes[data-saved='true']")
    saved_word = w["notes.saved"].split("{")[0].strip()
    assert saved_word in await clinician.locator("#notes-status").inner_text()
    await check_accessibility(clinician, axe_source, f"clinician call with notes ({lang})")
    await screenshot(clinician, f"consult-record-call-{lang}")

    # A reload mid-call: back in the consult, the saved notes are there.
    await clinician.reload()
    await clinician.wait_for_selector("body[data-ready='true']")
    await row.get_by_role("button", name=w["clinician.rejoin"]).click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await clinician.wait_for_function(
        "() => document.getElementById('consult-notes').value.startsWith('Wound edges red')"
    )
    # Typed and reloaded at once, before the pause that saves: the page sends it as it goes.
    await notes.press("End")
    await notes.type(" Pulse 80.")
    await clinician.reload()
    await clinician.wait_for_selector("body[data-ready='true']")
    await row.get_by_role("button", name=w["clinician.rejoin"]).click()
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await clinician.wait_for_function(
        "() => document.getElementById('consult-notes').value.endsWith('Pulse 80.')"
    )

    # Another window saves meanwhile: this one's next save is refused, nothing is lost.
    other = await clinician.context.new_page()
    await visit(other, live.url("/clinician"))
    assert await other_window_saves(other, world.appointment_id, "From the other window") == 200
    await notes.press("End")
    await notes.type(" Dressing renewed.")
    conflict = clinician.locator("#notes-conflict")
    await conflict.wait_for()
    assert await clinician.locator("#notes-theirs").inner_text() == "From the other window"
    assert (await notes.input_value()).endswith("Dressing renewed.")
    await check_accessibility(clinician, axe_source, f"notes conflict ({lang})")
    await screenshot(clinician, f"consult-record-notes-conflict-{lang}")
    await clinician.get_by_role("button", name=w["notes.keep_mine"]).click()
    await clinician.wait_for_selector("#consult-notes[data-saved='true']")
    await other.reload()
    await other.wait_for_selector("body[data-ready='true']")
    mine = "Wound edges red, 2 cm. No fever. Dressing renewed."
    assert await other_window_saves(other, world.appointment_id, mine) == 200
    await other.close()

    # The outcome: only what applies, the wrong field marked, one record for a double click.
    await clinician.get_by_role("button", name=w["clinician.end"]).click()
    await clinician.wait_for_selector("#screen-outcome:not([hidden])")
    reason = clinician.locator("#dna-reason")
    assert not await reason.is_visible()
    await clinician.get_by_label(w["clinician.outcome_dna"]).check()
    assert await reason.is_visible()
    await clinician.get_by_role("button", name=w["clinician.outcome_save"]).click()
    await clinician.get_by_text(w["outcome.error_reason"]).wait_for()
    assert await reason.get_attribute("aria-invalid") == "true"
    await check_accessibility(clinician, axe_source, f"outcome with an error ({lang})")
    await screenshot(clinician, f"consult-record-outcome-error-{lang}")
    await clinician.get_by_label(w["clinician.outcome_seen"]).check()
    assert not await reason.is_visible()
    await clinician.get_by_label(w["clinician.follow_up"]).check()
    await clinician.get_by_role("button", name=w["outcome.find_times"]).click()
    slots = clinician.locator("#follow-up-slots input[type='radio']")
    await slots.first.wait_for()
    await slots.first.check()
    await check_accessibility(clinician, axe_source, f"outcome with follow-up ({lang})")
    await screenshot(clinician, f"consult-record-outcome-follow-up-{lang}")
    await clinician.get_by_role("button", name=w["clinician.outcome_save"]).dblclick()
    await clinician.locator("#outcome-done").wait_for()
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    assert (await actions(live, world)).count("attended") == 1
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    later = await live.app[SCHEDULING].appointments(
        manager,
        start=clock.now(),
        end=clock.now() + timedelta(days=9),
        clinician_id=world.clinician.account_id,
    )
    follow_ups = [
        a for a in later if a.id != world.appointment_id and a.status.value != "cancelled"
    ]
    assert [a.status.value for a in follow_ups] == ["booked"]

    # Amended within 24 hours, logged; after 24 hours, a clear refusal at the outcome field.
    await row.get_by_role("button", name=w["outcome.amend"]).click()
    await clinician.get_by_text(w["outcome.amending"]).wait_for()
    await clinician.get_by_label(w["clinician.outcome_dna"]).check()
    await reason.select_option("unwell")
    await clinician.get_by_role("button", name=w["outcome.amend_save"]).click()
    await clinician.wait_for_selector("#screen-list:not([hidden])")
    assert "outcome_amended" in await actions(live, world)
    # The outcome as if recorded 25 hours ago (moving the clock a day would end the session).
    async with live.app[DATABASE].begin() as conn:
        await conn.execute(
            update(appointments)
            .where(appointments.c.id == world.appointment_id)
            .values(outcome_at=clock.now() - timedelta(hours=25))
        )
    await row.get_by_role("button", name=w["outcome.amend"]).click()
    await clinician.get_by_label(w["clinician.outcome_seen"]).check()
    await clinician.get_by_role("button", name=w["outcome.amend_save"]).click()
    await clinician.get_by_text(w["outcome.amend_closed"]).wait_for()
    assert await clinician.locator("#outcome-choice").get_attribute("aria-invalid") == "true"
    await check_accessibility(clinician, axe_source, f"amendment refused ({lang})")
    await screenshot(clinician, f"consult-record-amend-closed-{lang}")
    done = await live.app[SCHEDULING].appointment(manager, world.appointment_id)
    assert done.status.value == "did_not_attend"
    await clinician.get_by_role("button", name=w["clinician.back_to_list"]).click()

    # The calendar link: made, copied, revoked (then gone), made again.
    panel = clinician.locator("#calendar")
    await panel.get_by_role("button", name=w["calendar.make"]).click()
    await clinician.wait_for_function("() => document.getElementById('calendar-url').value")
    url = await clinician.locator("#calendar-url").input_value()
    assert url.startswith(live.url("/calendar/tcc_"))
    await panel.get_by_role("button", name=w["calendar.copy"]).click()
    status = clinician.locator("#calendar-status")
    await clinician.wait_for_function(
        "words => words.includes(document.getElementById('calendar-status').textContent)",
        arg=[w["calendar.copied"], w["calendar.copy_by_hand"]],
    )
    await check_accessibility(clinician, axe_source, f"calendar link ({lang})")
    await screenshot(clinician, f"consult-record-calendar-{lang}")
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200 and "BEGIN:VCALENDAR" in await resp.text()
        links = panel.locator("li[data-calendar-link]")
        assert await links.count() == 1
        await links.first.get_by_role("button").click()
        await status.get_by_text(w["calendar.revoked"]).wait_for()
        async with http.get(url) as resp:
            assert resp.status == 404
        await panel.get_by_role("button", name=w["calendar.make"]).click()
        await clinician.wait_for_function("() => document.getElementById('calendar-url').value")
        again = await clinician.locator("#calendar-url").input_value()
        assert again != url
        async with http.get(again) as resp:
            assert resp.status == 200
    await asyncio.sleep(0)
    assert watch.problems == []
