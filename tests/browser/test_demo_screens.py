"""Issue 15: the demo's month on the screens, and the links and settings form the staff
pages were missing. Each page is tried in English and Welsh with the demo's own sign-ins:
the manager's dashboard (figures in every section, the report settings form with its
refusals, the links to the desk), the clinician's list (links to the desk), the officer's
page (a link to the operations board)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser.conftest import Live, PageWatch, check_accessibility, new_page, screenshot, visit
from web.demo import seed
from web.demo_month import ESCORT_COST_SOURCE
from web.state import ACCESS, CLOCK, IDENTITY, PEOPLE, PLACES, SCHEDULING

pytestmark = pytest.mark.slow

DESK = {"/triage", "/booking", "/availability"}
# A clinician may also make a shop item unavailable to a patient (issue 16); a manager may not.
CLINICIAN_DESK = DESK | {"/shop-restrictions"}


async def _demo(live: Live, tmp_path: Path) -> dict[str, Any]:
    app = live.app
    data: dict[str, Any] = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        app[SCHEDULING],
        places=app[PLACES],
        people=app[PEOPLE],
        access=app[ACCESS],
    )
    return data


async def _sign_in(
    browser: Any, live: Live, data: dict[str, Any], role: str, path: str, ready: str
) -> tuple[Any, PageWatch]:
    person = next(p for p in data["staff"] if p["role"] == role)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url(path))
    await page.locator("#username").fill(person["username"])
    await page.locator("#password").fill(person["password"])
    code = pyotp.TOTP(person["totp_secret"]).at(live.app[CLOCK].now())
    await page.locator("#totp").fill(code)
    await page.locator("#staff-signin button[type='submit']").click()
    await page.wait_for_selector(f"{ready}:not([hidden])")
    return page, watch


async def _desk_links(page: Any, name: str) -> set[str]:
    nav = page.get_by_role("navigation", name=name)
    links = nav.get_by_role("link")
    return {await links.nth(i).get_attribute("href") for i in range(await links.count())}


async def _welsh(page: Any, ready: str) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector(f"html[lang='cy'] body[data-ready='true'] {ready}:not([hidden])")


def _counts(text: str) -> dict[str, int]:
    """'Label: 3; Other: 0' -> {'Label': 3, 'Other': 0}."""
    return {k.strip(): int(v) for k, v in re.findall(r"([^;:]+): (\d+)", text)}


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_managers_dashboard_shows_the_demo_month_and_sets_the_report_settings(
    live: Live, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    data = await _demo(live, tmp_path)
    page, watch = await _sign_in(browser, live, data, "manager", "/manager", "#screen-dashboard")
    await page.wait_for_selector("#volumes-chart[data-drawn='7']")
    volumes = _counts(await page.locator("#volumes-text").inner_text())
    assert all(n > 0 for n in volumes.values()), volumes  # misses three ways, not recorded
    cancelled = _counts(await page.locator("#cancelled-text").inner_text())
    assert cancelled["Prison"] and cancelled["Patient"] and cancelled["Clinician"]
    assert set(_counts(await page.locator("#precall-text").inner_text())) == {"A", "B"}
    assert "minutes" in await page.locator("#median-wait").inner_text()
    assert ESCORT_COST_SOURCE in await page.locator("#escorts").inner_text()
    assert await page.locator("#call-rows tr[data-appointment]").count() == 10
    assert await _desk_links(page, "Booking desk") == DESK

    # The settings the demo gave, in the form; a cost without its source is refused,
    # the field named, and nothing changes on the server.
    form = page.locator("#settings-form")
    await page.wait_for_function("document.getElementById('settings-cost').value !== ''")
    assert await form.get_by_label("Shortest consult (minutes)").input_value() == "3"
    assert await form.get_by_label("Cost of one escort journey (£)").input_value() == "420.00"
    source = form.get_by_label("Where the escort cost comes from")
    assert await source.input_value() == ESCORT_COST_SOURCE
    await source.fill("")
    await form.get_by_role("button", name="Save report settings").click()
    error = page.locator("#settings-error")
    await error.get_by_text("Where the escort cost comes from: say where").wait_for()
    assert await source.get_attribute("aria-invalid") == "true"
    est = data["establishment"]["id"]
    stored = await page.evaluate(
        f"fetch('/api/establishments/{est}/report-settings').then(r => r.json())"
    )
    assert (stored["escort_cost_pence"], stored["escort_cost_source"]) == (
        42000,
        ESCORT_COST_SOURCE,
    )
    await check_accessibility(page, axe_source, "manager report settings refused (en)")

    await form.get_by_label("Shortest consult (minutes)").fill("5")
    await form.get_by_label("Cost of one escort journey (£)").fill("380")
    await source.fill("Escort contract 2027")
    await form.get_by_role("button", name="Save report settings").click()
    await page.get_by_text(
        "Saved. The reports now use a shortest consult of 5 minutes and £380.00 per escort"
        " (Escort contract 2027)."
    ).wait_for()
    assert await error.is_hidden() and await source.get_attribute("aria-invalid") is None
    await page.locator("#escorts", has_text="Escort contract 2027").wait_for()
    await page.locator("#calls", has_text="of 5.0 minutes or more").wait_for()
    await check_accessibility(page, axe_source, "manager dashboard with the demo (en)")
    await screenshot(page, "demo-manager-en")

    await _welsh(page, "#screen-dashboard")
    await page.wait_for_selector("#volumes-chart[data-drawn='7']")
    assert await _desk_links(page, "Desg drefnu") == DESK
    welsh = page.locator("#settings-form")
    assert await welsh.get_by_label("Ymgynghoriad byrraf (munudau)").input_value() == "5"
    await welsh.get_by_label("Ymgynghoriad byrraf (munudau)").fill("90")
    await welsh.get_by_role("button", name="Cadw gosodiadau adroddiadau").click()
    await error.get_by_text("Ymgynghoriad byrraf: rhowch nifer o funudau o 0 i 60.").wait_for()
    await check_accessibility(page, axe_source, "manager dashboard with the demo (cy)")
    await screenshot(page, "demo-manager-cy")

    # The desk from the manager's page: the demo's requests wait in the queue.
    await page.get_by_role("link", name="Ceisiadau iechyd").click()
    await page.wait_for_selector("#screen-triage:not([hidden])")
    await page.locator("#queue tr[data-request]").first.wait_for()
    assert await page.locator("#queue tr[data-request]").count() >= 4
    await check_accessibility(page, axe_source, "triage from the manager's page (cy)")
    await screenshot(page, "demo-triage-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_clinician_reaches_the_desk_and_the_officer_the_operations_board(
    live: Live, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    data = await _demo(live, tmp_path)
    page, watch = await _sign_in(browser, live, data, "clinician", "/clinician", "#screen-list")
    assert await _desk_links(page, "Booking desk") == CLINICIAN_DESK
    await check_accessibility(page, axe_source, "clinician list with desk links (en)")
    await screenshot(page, "demo-clinician-en")
    await page.get_by_role("link", name="My availability").click()
    await page.wait_for_url("**/availability")
    await page.wait_for_selector("body[data-ready='true']")
    await page.go_back()
    await page.wait_for_selector("#screen-list:not([hidden])")
    await _welsh(page, "#screen-list")
    assert await _desk_links(page, "Desg drefnu") == CLINICIAN_DESK
    assert await page.get_by_role("link", name="Fy argaeledd").count() == 1
    await check_accessibility(page, axe_source, "clinician list with desk links (cy)")
    await screenshot(page, "demo-clinician-cy")
    assert watch.problems == []

    officer, seen = await _sign_in(browser, live, data, "officer", "/staff", "#screen-officer")
    board = officer.get_by_role("link", name="Today's consults")
    assert await board.get_attribute("href") == "/operations"
    await check_accessibility(officer, axe_source, "officer page with the board link (en)")
    await screenshot(officer, "demo-officer-en")
    await board.click()
    await officer.wait_for_selector("#screen-operations:not([hidden])")
    await screenshot(officer, "demo-operations-en")
    await officer.go_back()
    await officer.wait_for_selector("#screen-officer:not([hidden])")
    await _welsh(officer, "#screen-officer")
    assert await officer.get_by_role("link", name="Ymgynghoriadau heddiw").count() == 1
    await check_accessibility(officer, axe_source, "officer page with the board link (cy)")
    await screenshot(officer, "demo-officer-cy")
    assert seen.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_new_user_books_a_consult_as_the_readme_says(
    live: Live, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    """README, "To book a consult as a new user", step by step with the demo's sign-ins."""
    data = await _demo(live, tmp_path)
    page, watch = await _sign_in(
        browser, live, data, "healthcare_admin", "/booking", "#screen-booking"
    )
    await page.get_by_label("Name or prison number").fill("B2345CD")
    await page.get_by_role("button", name="Find").click()
    await page.get_by_role("button", name="Choose: Sam Sample").click()
    await page.wait_for_selector("#patient:not([hidden])")
    await page.get_by_label("Service").select_option(label="GP")
    await page.get_by_role("button", name="Search").click()
    first = page.locator("#slots li[data-slot]").first
    await first.wait_for()
    await check_accessibility(page, axe_source, "booking with the demo (en)")
    await screenshot(page, "demo-booking-en")
    await first.get_by_role("button", name="Book").click()
    await page.locator("#booking-status").get_by_text("Booked:").wait_for()
    await page.locator("#upcoming tr[data-appointment]").first.wait_for()
    await screenshot(page, "demo-booked-en")
    assert watch.problems == []
