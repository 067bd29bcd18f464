"""Admins keep roles, establishments served, departments and verified email; a clinician
who serves two establishments chooses one on the desk (issue 13), in a real browser,
in English and Welsh, axe-clean, with screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from core.identity import Role
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    visit,
)
from tests.smtp import smtp_server
from tests.world import PASSWORD, Staff, build_world
from web.state import ACCESS, IDENTITY

pytestmark = pytest.mark.slow


async def _sign_in(page: Any, live: Any, staff: Staff) -> None:
    await page.get_by_label("Username").fill(staff.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(staff.code(live.app))
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_admin_keeps_roles_establishments_departments_and_email(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    async with smtp_server() as inbox:
        live = await make_live(smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_tls="none")
        world = await build_world(live.app)
        identity = live.app[IDENTITY]
        kw_id, _ = await identity.create_staff(
            role=Role.KEYWORKER,
            establishment_id=world.est,
            username="kit.keyworker",
            display_name="Kit Keyworker",
            password=PASSWORD,
        )
        watch = PageWatch()
        page = await new_page(browser, watch)
        await visit(page, live.url("/"))
        await page.get_by_role("link", name="Admins").click()
        await page.wait_for_selector("body[data-ready='true'] #screen-signin:not([hidden])")
        await _sign_in(page, live, world.staff["admin"])
        await page.wait_for_selector(f"tr[data-staff='{kw_id}']")

        # A role, from the table's own list.
        await page.locator("#role-staff").select_option(kw_id)
        await page.get_by_label("New role").select_option("healthcare_admin")
        await page.get_by_role("button", name="Change role").click()
        await page.get_by_text("Kit Keyworker is now: Healthcare administrator.").wait_for()
        row = page.locator(f"tr[data-staff='{kw_id}']")
        assert "Healthcare administrator" in await row.inner_text()

        # The clinician serves the second establishment too.
        clinician = world.staff["clinician"].account_id
        await page.locator("#serves-staff").select_option(clinician)
        await page.get_by_label("HMP Two (HMP-TWO)").check()
        await page.get_by_role("button", name="Save establishments").click()
        await page.get_by_text("Establishments saved for Clinician One.").wait_for()
        assert (
            "HMP-ONE, HMP-TWO" in await page.locator(f"tr[data-staff='{clinician}']").inner_text()
        )
        # An officer cannot: the server says why, and nothing changes.
        officer = world.staff["officer"].account_id
        await page.locator("#serves-staff").select_option(officer)
        await page.get_by_label("HMP Two (HMP-TWO)").check()
        await page.get_by_role("button", name="Save establishments").click()
        await page.locator("#serves-error:not([hidden])").wait_for()
        assert "HMP-TWO" not in await page.locator(f"tr[data-staff='{officer}']").inner_text()

        # Departments: the built-in ones, one of the establishment's own, a member.
        await page.locator("li[data-department='wing-office']").wait_for()
        await page.get_by_label("New department name").fill("Gym")
        await page.get_by_label("Short code").fill("gym")
        await page.get_by_role("button", name="Add department").click()
        await page.locator("li[data-department='gym']").wait_for()
        await page.locator("#member-department").select_option(label="Gym")
        await page.locator("#member-staff").select_option(officer)
        await page.get_by_role("button", name="Add to department").click()
        await page.get_by_text("Added to Gym.").wait_for()
        assert "Officer One" in await page.locator("li[data-department='gym']").inner_text()
        assert "Gym" in await page.locator(f"tr[data-staff='{officer}']").inner_text()

        # Email: a link sent by SMTP, opened once.
        await page.locator("#email-staff").select_option(clinician)
        await page.get_by_label("Email address").fill("clinician.one@nhs.example")
        await page.get_by_role("button", name="Send verification link").click()
        await page.get_by_text(
            "A verification link was sent to clinician.one@nhs.example."
        ).wait_for()
        roles = page.locator("tr[data-role='governor']")
        assert "security.confirm" in await roles.inner_text()
        await check_accessibility(page, axe_source, "admin")
        await screenshot(page, "admin-en")

        link = inbox.link_in()
        opened = await new_page(browser, watch)
        await visit(opened, link)
        await opened.get_by_text(
            "Thank you. clinician.one@nhs.example is now your verified address."
        ).wait_for()
        assert "#token" not in opened.url
        await check_accessibility(opened, axe_source, "verify-email")
        await screenshot(opened, "verify-email-en")
        again = await new_page(browser, watch)
        await visit(again, link)
        await again.get_by_text("This link does not work.", exact=False).wait_for()

        await page.reload()
        await page.wait_for_selector("body[data-ready='true'] #screen-admin:not([hidden])")
        assert (
            "clinician.one@nhs.example"
            in await page.locator(f"tr[data-staff='{clinician}']").inner_text()
        )
        # A mail server that refuses: a clear error, and the address stays.
        inbox.refuse = True
        await page.locator("#email-staff").select_option(clinician)
        await page.get_by_label("Email address").fill("other@nhs.example")
        await page.get_by_role("button", name="Send verification link").click()
        error = page.locator("#email-error:not([hidden])")
        await error.wait_for()
        assert "could not be sent" in await error.inner_text()

        async with page.expect_navigation():
            await page.locator("#lang-switch").click()
        await page.wait_for_selector("body[data-ready='true'] #screen-admin:not([hidden])")
        await page.get_by_role("heading", name="Gweinyddu").wait_for()
        assert (
            "Gweinyddwr gofal iechyd"
            in await page.locator(f"tr[data-staff='{kw_id}']").inner_text()
        )
        assert "Swyddfa'r adain" in await page.locator("#department-list").inner_text()
        await check_accessibility(page, axe_source, "admin-cy")
        await screenshot(page, "admin-cy")
        assert watch.problems == [] or all("502" in p for p in watch.problems)


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_clinician_chooses_the_establishment_the_desk_acts_in(
    make_live: LiveFactory, browser: Any, axe_source: str
) -> None:
    from core.identity import Principal
    from core.identity.types import SYSTEM_ACTOR

    live = await make_live()
    world = await build_world(live.app)
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    clinician = world.staff["clinician"]
    await live.app[ACCESS].staff.set_served(system, clinician.account_id, [world.other_est])
    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/clinician"))
    await _sign_in(page, live, clinician)
    await page.wait_for_selector("#screen-list:not([hidden])")
    chooser = page.get_by_label("Establishment you are working in")
    await chooser.wait_for()
    assert await chooser.input_value() == world.est
    await check_accessibility(page, axe_source, "desk-chooser")
    await screenshot(page, "desk-chooser-en")
    await chooser.select_option(label="HMP Two (HMP-TWO)")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Switch").click()
    await page.wait_for_selector("body[data-ready='true'] #screen-list:not([hidden])")
    await page.get_by_label("Establishment you are working in").wait_for()
    assert await page.get_by_label("Establishment you are working in").input_value() == (
        world.other_est
    )
    me = await page.evaluate("async () => (await fetch('/api/me')).json()")
    assert me["establishment_id"] == world.other_est

    async with page.expect_navigation():
        await page.locator("#lang-switch").click()
    await page.wait_for_selector("body[data-ready='true'] #screen-list:not([hidden])")
    chooser_cy = page.get_by_label("Y sefydliad rydych chi'n gweithio ynddo")
    await chooser_cy.wait_for()
    assert await chooser_cy.input_value() == world.other_est
    await check_accessibility(page, axe_source, "desk-chooser-cy")
    await screenshot(page, "desk-chooser-cy")
    assert watch.problems == []
